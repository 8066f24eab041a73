/**
 * Steering runs from the command line: cancel (waiting, and running in another live process),
 * recover, idempotency keys, the capability catalogue, and `init` → first run.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { airun } from "../support/cli.js";
import { background, project, type RunJson, tempRoot, waitFor } from "./project.js";

const root = tempRoot("steer");
afterAll(() => root.cleanup());

/** Fast heartbeats so a cancel request made by another process is seen within ~200 ms. */
const FAST = "engine: { heartbeat: 200ms, lease_ttl: 2s }\n";

describe("workflow cancel", () => {
  it("cancels a WAITING_APPROVAL run: exit 3, reason CANCELLED, earlier effects undone and the gated delete never run", async () => {
    const p = project(root.path, { files: { "ws/victim.txt": "v", "ws/existing.txt": "before" } });
    p.write(
      "wf.yaml",
      `name: waits
version: 1
principal: agent:e2e
steps:
  - id: edit
    capability: io.fs.write_file
    inputs: { path: existing.txt, content: "after" }
  - id: remove
    capability: io.fs.delete
    depends_on: [edit]
    inputs: { path: victim.txt }
`,
    );
    const run = await p.json(["run", "wf.yaml"]);
    expect(run.code).toBe(5);
    expect(readFileSync(join(p.ws, "existing.txt"), "utf8")).toBe("after");

    const cancelled = await p.json(["workflow", "cancel", run.body.id, "--as", "user:ops"]);
    expect(cancelled.code).toBe(3);
    expect(cancelled.body).toMatchObject({
      status: "ROLLED_BACK",
      outcome: "REMEDIATE",
      reason: "CANCELLED",
    });
    expect(readFileSync(join(p.ws, "existing.txt"), "utf8")).toBe("before");
    expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("v");
    const approvals = await p.json<{ approvals: unknown[] }>(["approvals", "list"]);
    expect(approvals.body.approvals).toEqual([]);

    const again = await p.run(["workflow", "cancel", run.body.id]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("RUN_TERMINAL");
  });

  it("cancels a run that another live process is executing: that process stops its sleep, rolls back the write and exits 3 long before the sleep would end", async () => {
    const p = project(root.path, { config: FAST });
    p.write(
      "slow.yaml",
      `name: slow
version: 1
principal: agent:e2e
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: written.txt, content: "x" }
  - id: nap
    capability: sys.sleep
    depends_on: [write]
    inputs: { ms: 600000 }
`,
    );
    // Create the state database first: two processes opening a brand-new home at the same
    // moment can fail with "database is locked" (reported separately; see the report).
    expect((await p.run(["workflow", "list"])).code).toBe(0);
    const bg = background(["run", "slow.yaml", "--json"], p.dir);
    try {
      const runId = await waitFor("the run to be RUNNING with its write done", async () => {
        const list = await p.json<{ runs: { id: string; status: string }[] }>(["workflow", "list"]);
        const r = list.body.runs[0];
        return r?.status === "RUNNING" && existsSync(join(p.ws, "written.txt")) ? r.id : undefined;
      });
      const cancelled = await p.json(["workflow", "cancel", runId]);
      expect(cancelled.code).toBe(3);
      expect(cancelled.body).toMatchObject({ status: "ROLLED_BACK", reason: "CANCELLED" });
      expect(p.step(cancelled.body, "write").status).toBe("COMPENSATED");
      expect(existsSync(join(p.ws, "written.txt"))).toBe(false);

      const first = await bg.done;
      expect(first.code).toBe(3);
      const finished = JSON.parse(first.stdout) as RunJson;
      expect(finished.reason).toBe("CANCELLED");
      // The ten-minute nap did not run to its end (the test's own timeout is 30 s): it was cut.
      expect(p.step(finished, "nap").status).not.toBe("COMPLETED");
    } finally {
      bg.kill();
    }
  });
});

describe("recover", () => {
  it('prints "nothing to recover" and exits 0 when no run was interrupted', async () => {
    const p = project(root.path);
    const r = await p.run(["recover"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("nothing to recover\n");
    const j = await p.json<{ runs: unknown[] }>(["recover"]);
    expect(j.code).toBe(0);
    expect(j.body).toEqual({ runs: [] });
  });
});

describe("--idempotency-key", () => {
  it("returns the same run for the same key and applies the append once; a new key is a new run", async () => {
    const p = project(root.path, { files: { "ws/log.txt": "start\n" } });
    p.write(
      "append.yaml",
      `name: append
version: 1
principal: agent:e2e
steps:
  - id: add
    capability: io.fs.append_file
    inputs: { path: log.txt, content: "line\\n" }
`,
    );
    const first = await p.json(["run", "append.yaml", "--idempotency-key", "job-42"]);
    const second = await p.json(["run", "append.yaml", "--idempotency-key", "job-42"]);
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    expect(second.body.id).toBe(first.body.id);
    expect(readFileSync(join(p.ws, "log.txt"), "utf8")).toBe("start\nline\n");

    const third = await p.json(["run", "append.yaml", "--idempotency-key", "job-43"]);
    expect(third.body.id).not.toBe(first.body.id);
    expect(readFileSync(join(p.ws, "log.txt"), "utf8")).toBe("start\nline\nline\n");
    const list = await p.json<{ runs: unknown[] }>(["workflow", "list"]);
    expect(list.body.runs).toHaveLength(2);
  });
});

describe("capabilities", () => {
  it("lists the standard library in --json with risk, effect class and undo", async () => {
    const p = project(root.path);
    const { code, body } = await p.json<{
      capabilities: { name: string; risk: string; effect: string; undo: string }[];
    }>(["capabilities"]);
    expect(code).toBe(0);
    const byName = Object.fromEntries(body.capabilities.map((c) => [c.name, c]));
    const expected: [string, string, string, string][] = [
      ["io.fs.read_file", "LOW", "read", "none"],
      ["io.fs.list_dir", "LOW", "read", "none"],
      ["io.fs.exists", "LOW", "read", "none"],
      ["io.fs.hash_file", "LOW", "read", "none"],
      ["io.fs.write_file", "MEDIUM", "write", "builtin"],
      ["io.fs.append_file", "MEDIUM", "write", "builtin"],
      ["io.fs.make_dir", "MEDIUM", "write", "builtin"],
      ["io.fs.move", "MEDIUM", "write", "builtin"],
      ["io.fs.copy", "MEDIUM", "write", "builtin"],
      ["io.fs.delete", "HIGH", "delete", "builtin"],
      ["sys.exec.run", "HIGH", "exec", "irreversible"],
      ["sys.echo", "LOW", "read", "none"],
      ["sys.sleep", "LOW", "read", "none"],
      ["sys.fail", "LOW", "read", "none"],
      ["sys.assert", "LOW", "read", "none"],
    ];
    for (const [name, risk, effect, undo] of expected) {
      expect(byName[name], name).toMatchObject({ risk, effect, undo });
    }
    expect(byName["net.http.request"]).toMatchObject({ undo: "compensation" });
  });

  it("filters by a name glob with the policy's glob semantics: `sys.*` stays within one dotted segment and does not list sys.exec.run", async () => {
    const p = project(root.path);
    const r = await p.run(["capabilities", "sys.*"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.map((l) => l.split(/\s+/)[0]).sort()).toEqual([
      "sys.assert",
      "sys.echo",
      "sys.fail",
      "sys.sleep",
    ]);
    expect(r.stdout).toMatch(/sys\.echo\s+risk LOW\s+read\s+undo none/);
  });
});

describe("init", () => {
  it("creates a starter project in an empty folder whose example workflow then runs to completion (exit 0)", async () => {
    const dir = join(root.path, "fresh");
    mkdirSync(dir);
    const init = await airun(["init"], { cwd: dir });
    expect(init.code).toBe(0);
    expect(init.stdout).toContain("next: airun run workflows/hello.yaml");
    expect(readdirSync(dir).sort()).toEqual(["airun.yaml", "policies.yaml", "workflows"]);

    const run = await airun(["run", "workflows/hello.yaml"], { cwd: dir });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("COMPLETED ACCEPT");
    expect(readFileSync(join(dir, "out/hello.txt"), "utf8")).toBe("hello, world\n");
  });

  it("never overwrites existing files when run again", async () => {
    const dir = join(root.path, "again");
    mkdirSync(dir);
    expect((await airun(["init"], { cwd: dir })).code).toBe(0);
    const before = readFileSync(join(dir, "airun.yaml"));
    const second = await airun(["init"], { cwd: dir });
    expect(second.code).toBe(0);
    expect(second.stdout).not.toContain("created");
    expect(readFileSync(join(dir, "airun.yaml")).equals(before)).toBe(true);
  });
});
