/**
 * The small stdlib the original project's workflows use (issue 14), through the built CLI: a
 * workflow chaining `sys.info.*`, `data.json.*`, `text.template.render`, `text.regex.match` and
 * `io.fs.write_bytes` completes with the expected outputs; the same workflow failing at its end
 * is undone byte for byte; an allowlisted environment value never reaches the state or output;
 * a variable outside the allowlist fails its step.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { project, type RunJson, tempRoot } from "./project.js";

const root = tempRoot("stdlib");
afterAll(() => root.cleanup());

const CANARY = "env-canary-4f1d9c2a";
const ENV = { DEPLOY_ENV: CANARY };

const SPEC = `name: stdlib
version: 1
principal: agent:bot
inputs:
  doc: { type: string }
  tpl: { type: string }
  fail: { type: boolean, default: false }
steps:
  - id: now
    capability: sys.info.get_time
    inputs: { format: unix }
  - id: os
    capability: sys.info.get_os
  - id: envvar
    capability: sys.info.get_env_var
    inputs: { name: DEPLOY_ENV }
  - id: parse
    capability: data.json.parse
    inputs: { json_string: "\${{ inputs.doc }}" }
  - id: pick
    capability: data.json.get
    inputs: { data: "\${{ steps.parse.outputs.data }}", path: "service.versions[1]" }
  - id: render
    capability: text.template.render
    inputs:
      template: "\${{ inputs.tpl }}"
      variables: { version: "\${{ steps.pick.outputs.value }}", env_set: "\${{ steps.envvar.outputs.found }}" }
  - id: version
    capability: text.regex.match
    inputs: { pattern: 'v(?P<major>\\d+)\\.(\\d+)', text: "\${{ steps.render.outputs.rendered }}" }
  - id: dump
    capability: data.json.stringify
    inputs: { data: { groups: "\${{ steps.version.outputs.groups }}" }, sort_keys: true }
  - id: bytes
    capability: io.fs.write_bytes
    inputs: { path: out/report.bin, content_base64: "AP8QgA==", create_dirs: true }
  - id: overwrite
    capability: io.fs.write_bytes
    inputs: { path: keep.bin, content_base64: "AAAA" }
  - id: boom
    capability: sys.fail
    when: "\${{ inputs.fail }}"
    depends_on: [dump, bytes, overwrite]
    inputs: { message: "failing on purpose" }
`;

const INPUTS = [
  "--input",
  'doc={"service":{"versions":["v1.0","v2.7"]}}',
  "--input",
  "tpl=release {{ version }} (env set: {{ env_set }})",
];

const KEEP = Buffer.from([0xde, 0xad, 0x00, 0xbe, 0xef]);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe("the small stdlib through the CLI", () => {
  const p = project(root.path, {
    config: "  env: { allow: [DEPLOY_ENV] }\n",
    files: { "wf.yaml": SPEC, "ws/keep.bin": KEEP },
  });

  it("airun capabilities lists each with its risk, effect and undo", async () => {
    const { body } = await p.json<{
      capabilities: { name: string; risk: string; effect: string; undo: string }[];
    }>(["capabilities"]);
    const byName = new Map(body.capabilities.map((c) => [c.name, c]));
    for (const name of [
      "data.json.parse",
      "data.json.stringify",
      "data.json.get",
      "text.template.render",
      "text.regex.match",
      "sys.info.get_time",
      "sys.info.get_os",
      "sys.info.get_env_var",
    ]) {
      expect(byName.get(name), name).toMatchObject({ risk: "LOW", effect: "read", undo: "none" });
    }
    expect(byName.get("io.fs.write_bytes")).toMatchObject({
      risk: "MEDIUM",
      effect: "write",
      undo: "builtin",
    });
  });

  it("a workflow using them completes with their outputs; the environment value stays masked", async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await p.run(["run", "wf.yaml", ...INPUTS, "--json"], ENV);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout) as RunJson;
    expect(run.status).toBe("COMPLETED");
    expect(p.step(run, "now").outputs?.timestamp).toBeGreaterThanOrEqual(before);
    expect(p.step(run, "os").outputs).toMatchObject({ platform: process.platform });
    expect(p.step(run, "envvar").outputs).toEqual({
      name: "DEPLOY_ENV",
      found: true,
      value: "***",
    });
    expect(p.step(run, "pick").outputs).toEqual({ value: "v2.7", found: true });
    expect(p.step(run, "render").outputs).toEqual({ rendered: "release v2.7 (env set: true)" });
    expect(p.step(run, "version").outputs).toMatchObject({
      matched: true,
      match: "v2.7",
      groups: ["2", "7"],
      named_groups: { major: "2" },
    });
    expect(p.step(run, "dump").outputs).toEqual({ json_string: '{"groups":["2","7"]}' });
    expect(p.step(run, "bytes").outputs).toMatchObject({ bytes_written: 4 });
    expect(readFileSync(join(p.ws, "out/report.bin"))).toEqual(Buffer.from([0, 0xff, 0x10, 0x80]));
    expect(readFileSync(join(p.ws, "keep.bin"))).toEqual(Buffer.from([0, 0, 0]));
    expect(r.stdout + r.stderr).not.toContain(CANARY);
    // A replay runs the pure ones again (and finds the same outputs); it serves the others.
    const replay = await p.run(["replay", run.id]);
    expect(replay.code, replay.stdout).toBe(0);
    expect(replay.stdout).toMatch(/render\s+text\.template\.render\s+SUCCEEDED \(executed\)/);
    expect(replay.stdout).toMatch(/version\s+text\.regex\.match\s+SUCCEEDED \(executed\)/);
    expect(replay.stdout).toMatch(
      /now\s+sys\.info\.get_time\s+SUCCEEDED \(recorded result served\)/,
    );
    const trace = await p.run(["trace", run.id]);
    expect(trace.stdout).not.toContain(CANARY);
    for (const file of filesUnder(join(p.dir, "home"))) {
      expect(readFileSync(file).includes(CANARY), file).toBe(false);
    }
  });

  it("the same workflow failing at its last step is undone byte for byte", async () => {
    const q = project(root.path, {
      config: "  env: { allow: [DEPLOY_ENV] }\n",
      files: { "wf.yaml": SPEC, "ws/keep.bin": KEEP },
    });
    const r = await q.run(["run", "wf.yaml", ...INPUTS, "--input", "fail=true", "--json"], ENV);
    const run = JSON.parse(r.stdout) as RunJson;
    expect(run.status).toBe("ROLLED_BACK");
    expect(q.step(run, "bytes").status).toBe("COMPENSATED");
    expect(existsSync(join(q.ws, "out"))).toBe(false);
    expect(readFileSync(join(q.ws, "keep.bin"))).toEqual(KEEP);
  });

  it("a variable outside sandbox.env.allow fails its step before anything runs", async () => {
    const q = project(root.path, {
      files: {
        "env.yaml": `name: env
version: 1
principal: agent:bot
steps:
  - id: home
    capability: sys.info.get_env_var
    inputs: { name: HOME }
`,
      },
    });
    const { body } = await q.json<RunJson>(["run", "env.yaml"]);
    expect(body.status).not.toBe("COMPLETED");
    expect(q.step(body, "home").error).toMatchObject({ code: "SANDBOX_VIOLATION" });
    expect(q.step(body, "home").error?.message).toMatch(/sandbox\.env\.allow/);
  });
});
