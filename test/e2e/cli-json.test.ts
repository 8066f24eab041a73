/**
 * `--json` is machine-readable whatever happens (issue 14): every failure prints one error
 * object on stdout (`{"error":{"code","message","details",…}}`), validation problems included;
 * times are ISO-8601 strings everywhere (runs, approvals, events); keys are snake_case in every
 * report (replay, evidence packs, checkpoints, recovery).
 */
import { afterAll, describe, expect, it } from "vitest";
import { project, type RunJson, tempRoot } from "./project.js";

const root = tempRoot("cli-json");
afterAll(() => root.cleanup());

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Every object key under `value` that is camelCase, with its path. */
function camelKeys(value: unknown, path = "$"): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => camelKeys(v, `${path}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => [
    ...(/[a-z][A-Z]/.test(k) ? [`${path}.${k}`] : []),
    ...camelKeys(v, `${path}.${k}`),
  ]);
}

interface ErrorJson {
  error: {
    code: string;
    message: string;
    details: Record<string, unknown>;
    hint?: string;
    problems?: { file: string; line: number; col: number; field: string; message: string }[];
  };
}

const WAITS = `name: waits
version: 1
principal: agent:e2e
steps:
  - id: note
    capability: io.fs.write_file
    inputs: { path: note.txt, content: "hi" }
  - id: remove
    capability: io.fs.delete
    depends_on: [note]
    inputs: { path: note.txt }
`;

describe("--json on failure", () => {
  it("an unknown run: one error object on stdout with code, message, details and hint; exit 2", async () => {
    const p = project(root.path);
    const { code, body } = await p.json<ErrorJson>(["workflow", "show", "nope"]);
    expect(code).toBe(2);
    expect(body.error.code).toBe("NOT_FOUND");
    expect(body.error.message).toContain("nope");
    expect(body.error.details).toEqual({ run_id: "nope" });
  });

  it("a spec that does not validate: the problems, located, inside the error object", async () => {
    const p = project(root.path);
    p.write(
      "bad.yaml",
      "name: bad\nversion: 1\nprincipal: agent:a\nsteps:\n  - id: a\n    capability: io.fs.nope\n",
    );
    const { code, body } = await p.json<ErrorJson>(["run", "bad.yaml"]);
    expect(code).toBe(2);
    expect(body.error.code).toBe("VALIDATION_FAILED");
    expect(body.error.problems?.[0]).toMatchObject({
      file: "bad.yaml",
      line: 6,
      field: "steps[0].capability",
    });
    expect(body.error.problems?.[0]?.message).toContain('unknown capability "io.fs.nope"');
  });

  it("a usage error (unknown option, bad status, broken config) is the same error object", async () => {
    const p = project(root.path);
    const option = await p.json<ErrorJson>(["workflow", "list", "--colour"]);
    expect(option.code).toBe(2);
    expect(option.body.error.code).toBe("USAGE");
    expect(option.body.error.message).toContain("--colour");
    const status = await p.json<ErrorJson>(["workflow", "list", "--status", "NAPPING"]);
    expect(status.code).toBe(2);
    expect(status.body.error).toMatchObject({ code: "USAGE" });
    p.write("airun.yaml", "home: home\nsandbox: { fs: { roots: [ws] } }\nbogus: 1\n");
    const config = await p.json<ErrorJson>(["workflow", "list"]);
    expect(config.code).toBe(2);
    expect(config.body.error.code).toBe("VALIDATION_FAILED");
    expect(config.body.error.problems?.[0]).toMatchObject({ line: 3, field: "bogus" });
  });

  it("a refused decision (no principal) carries its hint", async () => {
    const p = project(root.path);
    p.write("wf.yaml", WAITS);
    const run = await p.json(["run", "wf.yaml"]);
    const r = await p.run(["workflow", "resume", run.body.id, "--decision", "approve", "--json"], {
      AIRUN_PRINCIPAL: "",
    });
    const body = JSON.parse(r.stdout) as ErrorJson;
    expect(r.code).toBe(2);
    expect(body.error.code).toBe("PRINCIPAL_REQUIRED");
    expect(body.error.hint).toContain("--as");
  });
});

describe("one time format, one case style", () => {
  it("approval times are ISO strings like a run's, in list and show", async () => {
    const p = project(root.path);
    p.write("wf.yaml", WAITS);
    const run = await p.json<RunJson & { created_at: string }>(["run", "wf.yaml"]);
    expect(run.body.created_at).toMatch(ISO);
    const list = await p.json<{ approvals: Record<string, unknown>[] }>(["approvals", "list"]);
    const a = list.body.approvals[0]!;
    expect(a.requested_at).toMatch(ISO);
    expect(a.expires_at).toMatch(ISO);
    expect(a.decided_at).toBeNull();
    await p.run(["workflow", "resume", run.body.id, "--decision", "reject", "--as", "user:ops"]);
    const shown = await p.json<{
      approval: Record<string, unknown> & { history: { at: unknown }[] };
    }>(["approvals", "show", `${run.body.id}/remove/1`]);
    expect(shown.body.approval.decided_at).toMatch(ISO);
    for (const h of shown.body.approval.history) expect(h.at).toMatch(ISO);
    expect(camelKeys(shown.body)).toEqual([]);
  });

  it("events, replay, recovery, checkpoints and evidence packs: ISO times and snake_case keys", async () => {
    const p = project(root.path, { files: { "ws/a.txt": "a" } });
    p.write(
      "ok.yaml",
      "name: ok\nversion: 1\nprincipal: agent:a\nsteps:\n  - id: w\n    capability: io.fs.write_file\n    inputs: { path: b.txt, content: x }\n",
    );
    const run = await p.json(["run", "ok.yaml"]);
    expect(run.code).toBe(0);

    const shown = await p.json<{ events: { at: unknown; step_id?: unknown }[] }>([
      "workflow",
      "show",
      run.body.id,
      "--events",
    ]);
    for (const e of shown.body.events) expect(e.at).toMatch(ISO);
    expect(shown.body.events.some((e) => e.step_id === "w")).toBe(true);
    expect(camelKeys(shown.body)).toEqual([]);

    const replay = await p.json<{ run_id: string; spec: { recorded_hash: string } }>([
      "replay",
      run.body.id,
    ]);
    expect(replay.code).toBe(0);
    expect(replay.body.run_id).toBe(run.body.id);
    expect(replay.body.spec.recorded_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(camelKeys(replay.body)).toEqual([]);

    const checkpoint = await p.json<Record<string, unknown>>(["ledger", "checkpoint"]);
    expect(checkpoint.code).toBe(0);
    expect(camelKeys(checkpoint.body)).toEqual([]);
    expect(checkpoint.body.tree_size).toBeGreaterThan(0);

    expect((await p.run(["ledger", "export", run.body.id, "--out", "pack.json"])).code).toBe(0);
    const pack = await p.json<Record<string, unknown>>(["ledger", "verify-pack", "pack.json"]);
    expect(pack.code).toBe(0);
    expect(pack.body.run_id).toBe(run.body.id);
    expect(camelKeys(pack.body)).toEqual([]);

    const verify = await p.json<Record<string, unknown>>(["ledger", "verify"]);
    expect(camelKeys(verify.body)).toEqual([]);
    const recover = await p.json<Record<string, unknown>>(["recover"]);
    expect(camelKeys(recover.body)).toEqual([]);
  });
});
