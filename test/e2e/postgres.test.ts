/**
 * The built CLI on a PostgreSQL store (issue 17): a saga rolled back, an approval requested by
 * one process and decided by another with its own home on the same database, replay and
 * `ledger verify` giving one root from either side. Skipped loudly where no server answers
 * (test/support/postgres.ts).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { usePostgres } from "../support/postgres.js";
import { project, type RunJson, tempRoot } from "./project.js";

const server = await usePostgres();
const root = tempRoot("postgres");
afterAll(() => root.cleanup());

const POLICY = `version: 1
default: ALLOW
rules:
  - id: deletes-need-sre
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
`;

const SAGA = `name: saga
version: 1
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: a.txt, content: "new" }
  - id: append
    capability: io.fs.append_file
    inputs: { path: log.txt, content: "+1" }
  - id: boom
    capability: sys.fail
    inputs: { message: planned }
`;

const GATED = `name: cleanup
version: 1
principal: agent:janitor
steps:
  - id: note
    capability: io.fs.write_file
    inputs: { path: note.txt, content: "cleaning" }
  - id: remove
    capability: io.fs.delete
    inputs: { path: victim.txt }
`;

/** A project whose store is `url` (its own home for keys; state in PostgreSQL). */
function onPostgres(url: string, files: Record<string, string>) {
  return project(root.path, {
    policy: POLICY,
    config: `store: "${url}"\nprincipals:\n  user:alice: { roles: [sre] }\n`,
    files,
  });
}

server.describe("the CLI on PostgreSQL", () => {
  it("rolls a failed saga back newest first, restoring every file byte-exactly; the ledger verifies; replay agrees", async () => {
    const p = onPostgres(server.urlFor(server.newSchema()), {
      "saga.yaml": SAGA,
      "ws/a.txt": "old",
      "ws/log.txt": "start",
    });
    const run = await p.json<RunJson>(["run", "saga.yaml"]);
    expect(run.code).toBe(3);
    expect(run.body).toMatchObject({ status: "ROLLED_BACK", reason: "STEP_FAILED" });
    expect(readFileSync(join(p.ws, "a.txt"), "utf8")).toBe("old");
    expect(readFileSync(join(p.ws, "log.txt"), "utf8")).toBe("start");
    const verify = await p.run(["ledger", "verify"]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/ledger verifies/);
    const replay = await p.run(["replay", run.body.id]);
    expect(replay.code).toBe(0);
  });

  it("an approval requested by one process is decided by another with its own home on the same database, which finishes the run", async () => {
    const url = server.urlFor(server.newSchema());
    const agent = onPostgres(url, { "cleanup.yaml": GATED, "ws/victim.txt": "v" });
    const run = await agent.json<RunJson>(["run", "cleanup.yaml"]);
    expect(run.code).toBe(5);
    expect(run.body.status).toBe("WAITING_APPROVAL");
    // Another machine: its own folder and home, the same database; the files it acts on are
    // the agent's (a shared volume), so its sandbox root is the agent's.
    const approver = project(root.path, {
      policy: POLICY,
      config: `store: "${url}"\nprincipals:\n  user:alice: { roles: [sre] }\n`,
    });
    approver.write(
      "airun.yaml",
      `home: home\npolicy: policies.yaml\nstore: "${url}"\nsandbox:\n  fs: { roots: [${JSON.stringify(agent.ws)}] }\nprincipals:\n  user:alice: { roles: [sre] }\n`,
    );
    const listed = await approver.json<{ approvals: { run_id: string }[] }>(["approvals", "list"]);
    expect(listed.body.approvals.map((a) => a.run_id)).toEqual([run.body.id]);
    const self = await approver.run([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "approve",
      "--as",
      "agent:janitor",
    ]);
    expect(self.code).toBe(2);
    const decided = await approver.run([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "approve",
      "--as",
      "user:alice",
    ]);
    expect(decided.code).toBe(0);
    expect(existsSync(join(agent.ws, "victim.txt"))).toBe(false);
    const shown = await agent.json<RunJson>(["workflow", "show", run.body.id]);
    expect(shown.body).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
    const roots = await Promise.all(
      [agent, approver].map(async (p) => {
        const v = await p.run(["ledger", "verify"]);
        expect(v.code).toBe(0);
        return /root ([0-9a-f]{64})/.exec(v.stdout)?.[1];
      }),
    );
    expect(roots[0]).toBeDefined();
    expect(roots[1]).toBe(roots[0]);
  });

  it("store copy moves a SQLite home to PostgreSQL: one ledger root on both sides, and a waiting approval continues there", async () => {
    const p = project(root.path, {
      policy: POLICY,
      config: "principals:\n  user:alice: { roles: [sre] }\n",
      files: { "saga.yaml": SAGA, "cleanup.yaml": GATED, "ws/victim.txt": "v" },
    });
    expect((await p.run(["run", "saga.yaml"])).code).toBe(3);
    const waiting = await p.json<RunJson>(["run", "cleanup.yaml"]);
    expect(waiting.code).toBe(5);
    const url = server.urlFor(server.newSchema());
    const copy = await p.json<{
      ok: boolean;
      runs: number;
      entries: number;
      source_root: string;
      target_root: string;
    }>(["store", "copy", "--to", url]);
    expect(copy.code).toBe(0);
    expect(copy.body).toMatchObject({ ok: true, runs: 2 });
    expect(copy.body.target_root).toBe(copy.body.source_root);
    const onPg = { AIRUN_STORE: url };
    const verify = await p.run(["ledger", "verify"], onPg);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain(copy.body.source_root);
    const approved = await p.run(
      ["workflow", "resume", waiting.body.id, "--decision", "approve", "--as", "user:alice"],
      onPg,
    );
    expect(approved.code).toBe(0);
    expect(existsSync(join(p.ws, "victim.txt"))).toBe(false);
    // The SQLite home still says the run waits: the copy moved it, it did not share it.
    const before = await p.json<RunJson>(["workflow", "show", waiting.body.id]);
    expect(before.body.status).toBe("WAITING_APPROVAL");
    const again = await p.run(["store", "copy", "--to", url]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/STORE_COPY_REFUSED.*not empty/);
  });
});
