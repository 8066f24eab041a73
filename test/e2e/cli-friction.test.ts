/**
 * What a new user hit (issue 14), through the built CLI: a plugin file next to `airun.yaml`
 * with no npm project around it; a path given twice into the sandbox root; `agent_name` and
 * `metadata.owner` naming different principals; the policy's reloads and refused edits shown
 * by `policy history`, `trace` and `workflow show --events`.
 */
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { background, type Project, project, type RunJson, tempRoot, waitFor } from "./project.js";

const root = tempRoot("cli-friction");
afterAll(() => root.cleanup());

const PLUGIN = `import { defineCapability } from "airun";
import { z } from "zod";

export const greet = defineCapability({
  name: "demo.greet.say",
  description: "says hello",
  risk: "LOW",
  effect: "read",
  undo: "none",
  idempotent: true,
  input: z.object({ who: z.string() }),
  output: z.object({ text: z.string() }),
  async execute({ who }) {
    return { text: \`hello, \${who}\` };
  },
});
`;

describe("plugins", () => {
  it("a plugin file next to airun.yaml, no npm project around it, loads with airun's own airun and zod", async () => {
    const p = project(root.path, {
      config: 'plugins: ["./greet.mjs"]\n',
      policy:
        'version: 1\nrules:\n  - { id: hi, principal: "*", capability: "demo.**", decision: ALLOW }\n',
      files: { "greet.mjs": PLUGIN },
    });
    expect(existsSync(join(p.dir, "node_modules"))).toBe(false);
    const caps = await p.json<{ capabilities: { name: string }[] }>(["capabilities", "demo.**"]);
    expect(caps.code).toBe(0);
    expect(caps.body.capabilities.map((c) => c.name)).toEqual(["demo.greet.say"]);
    p.write(
      "wf.yaml",
      "name: hi\nversion: 1\nprincipal: agent:a\nsteps:\n  - id: hi\n    capability: demo.greet.say\n    inputs: { who: ada }\n",
    );
    const run = await p.json(["run", "wf.yaml"]);
    expect(run.code).toBe(0);
    expect(p.step(run.body, "hi").outputs).toEqual({ text: "hello, ada" });
    // Each command imports the SDK for the plugin: slow on a loaded machine, never a figure.
  }, 90_000);

  it("a plugin that fails to load is exit 2 naming the module and the reason, and what to install", async () => {
    const p = project(root.path, {
      config: 'plugins: ["./needs.mjs"]\n',
      files: { "needs.mjs": 'import left from "left-pad-nowhere";\nexport const x = left;\n' },
    });
    const r = await p.run(["capabilities"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("PLUGIN_LOAD_FAILED");
    expect(r.stderr).toContain(join(p.dir, "needs.mjs"));
    expect(r.stderr).toContain(`npm install left-pad-nowhere" in ${p.dir}`);
    p.write("needs.mjs", "export const x = ;\n");
    const syntax = await p.run(["capabilities"]);
    expect(syntax.code).toBe(2);
    expect(syntax.stderr).toMatch(
      /PLUGIN_LOAD_FAILED: plugin .*needs\.mjs: cannot import: .*token/,
    );
  });
});

describe("paths and principals", () => {
  it("a path that resolves twice into the root says paths are relative to the first sandbox root", async () => {
    const p = project(root.path, { files: { "ws/a.txt": "a" } });
    p.write(
      "wf.yaml",
      "name: r\nversion: 1\nprincipal: agent:a\nsteps:\n  - id: r\n    capability: io.fs.read_file\n    inputs: { path: ws/a.txt }\n",
    );
    const run = await p.json(["run", "wf.yaml"]);
    const err = p.step(run.body, "r").error;
    expect(err?.code).toBe("FS_NOT_FOUND");
    expect(err?.message).toContain("paths are relative to the first sandbox root");
    expect(err?.message).toContain(join(p.ws, "ws", "a.txt"));
    expect(err?.message).toContain('did you mean "a.txt"?');
  });

  it("agent_name and a different metadata.owner: a warning naming both (validate and run)", async () => {
    const p = project(root.path);
    p.write(
      "seed.yaml",
      `name: seedy
version: "1"
agent_name: bot
metadata: { owner: alice }
steps:
  - name: hello
    capability_name: sys.echo
    inputs: { message: hi }
`,
    );
    const v = await p.run(["validate", "seed.yaml"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/warning: seed\.yaml:3:\d+: agent_name: .*agent:bot.*user:alice/);
    const run = await p.run(["run", "seed.yaml"]);
    expect(run.stderr).toMatch(/warning: seed\.yaml:3:\d+: agent_name: .*agent:bot.*user:alice/);
  });
});

const ALLOW = `version: 1
rules:
  - { id: work, principal: "agent:*", capabilities: ["sys.*", "io.fs.*"], decision: ALLOW }
`;

function rows(p: Project, sql: string): unknown[] {
  const file = join(p.dir, "home", "airun.db");
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events'").get()) return [];
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

function save(p: Project, text: string): void {
  const tmp = join(p.dir, ".policies.yaml.tmp");
  writeFileSync(tmp, text);
  renameSync(tmp, join(p.dir, "policies.yaml"));
}

describe("the policy's history", () => {
  it("policy history, trace and workflow show --events show a refused edit and a reload made during a run", async () => {
    const p = project(root.path, { policy: ALLOW });
    p.write(
      "wf.yaml",
      `name: nap
version: 1
principal: agent:bot
steps:
  - id: first
    capability: io.fs.write_file
    inputs: { path: first.txt, content: one }
  - id: nap
    capability: sys.sleep
    depends_on: [first]
    inputs: { ms: 4000 }
`,
    );
    const none = await p.run(["policy", "history"]);
    expect(none.stdout).toContain("no policy reloads recorded");
    const run = background(["run", "wf.yaml", "--json"], p.dir);
    await waitFor("the first step", async () =>
      rows(p, "SELECT 1 FROM events WHERE type = 'step.succeeded'").length > 0 ? true : undefined,
    );
    save(p, "version: 1\nrules: [ { decision: MAYBE } ]\n");
    await waitFor("the refused edit", async () =>
      rows(p, "SELECT 1 FROM events WHERE type = 'policy.reload_refused'").length > 0
        ? true
        : undefined,
    );
    save(
      p,
      `${ALLOW}  - { id: extra, principal: "user:*", capability: "sys.*", decision: ALLOW }\n`,
    );
    await waitFor("the reload", async () =>
      rows(p, "SELECT 1 FROM events WHERE type = 'policy.loaded'").length > 0 ? true : undefined,
    );
    const done = await run.done;
    expect(done.code).toBe(0);
    const id = (JSON.parse(done.stdout) as RunJson).id;

    const history = await p.run(["policy", "history"]);
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/policy edit refused: .*policies\.yaml/);
    expect(history.stdout).toMatch(/policy reloaded: .*policies\.yaml .*2 rules/);
    const json = await p.json<{ entries: { type: string; at: string }[] }>(["policy", "history"]);
    expect(json.body.entries.map((e) => e.type)).toEqual([
      "policy.reload_refused",
      "policy.loaded",
    ]);

    const trace = await p.run(["trace", id]);
    expect(trace.stdout).toMatch(/policy edit refused/);
    expect(trace.stdout).toMatch(/policy reloaded/);
    const shown = await p.run(["workflow", "show", id, "--events"]);
    expect(shown.stdout).toMatch(/policy\.reload_refused .*policy edit refused/);
    expect(shown.stdout).toMatch(/policy\.loaded .*policy reloaded/);
  });
});
