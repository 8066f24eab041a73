/**
 * `airun approvals list|show` on the built binary, in separate processes: the details a human
 * needs to decide (requester, action hash, approvers, expiry, on_timeout), the decision history,
 * a voided approval and its successor after the action changed in the database, and errors.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { type ApprovalJson, type Project, project, tempRoot } from "./project.js";

const root = tempRoot("approvals-show");
afterAll(() => root.cleanup());

const POLICY = `version: 1
default: DENY
rules:
  - id: deletes-need-sre
    principal: "*"
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
`;

const CONFIG = `principals:
  user:alice: { roles: [sre] }
approvals: { timeout: 1h, on_timeout: reject }
`;

const SPEC = `name: cleanup
version: 1
principal: agent:janitor
inputs:
  target: { type: string, default: victim.txt }
steps:
  - id: remove
    capability: io.fs.delete
    inputs: { path: "\${{ inputs.target }}" }
`;

interface ShowJson extends ApprovalJson {
  action_hash: string;
  on_timeout: string;
  decided_by: string | null;
  comment: string | null;
  run_name: string;
  history: { type: string; at: number; data: Record<string, unknown> }[];
  deliveries: unknown[];
}

function gated(): Project {
  const p = project(root.path, {
    policy: POLICY,
    config: CONFIG,
    files: { "ws/victim.txt": "v", "ws/other.txt": "o", "cleanup.yaml": SPEC },
  });
  return p;
}

const show = async (p: Project, ref: string) =>
  p.json<{ approval: ShowJson }>(["approvals", "show", ref]);

describe("airun approvals list|show", () => {
  it("shows a pending approval by run id and by approval id with requester, action hash, approvers, expiry and on_timeout; then the decision in its history", async () => {
    const p = gated();
    const run = await p.json(["run", "cleanup.yaml"]);
    expect(run.code).toBe(5);
    const runId = run.body.id;
    const hash = p.step(run.body, "remove").context_hash;

    const byRun = await show(p, runId);
    expect(byRun.code).toBe(0);
    expect(byRun.body.approval).toMatchObject({
      id: `${runId}/remove/1`,
      status: "PENDING",
      run_id: runId,
      run_name: "cleanup",
      step_id: "remove",
      requester: "agent:janitor",
      action_hash: hash,
      approvers: ["role:sre"],
      on_timeout: "reject",
      history: [{ type: "approval.requested" }],
    });
    // Times are ISO strings in every JSON output (issue 14: one time format).
    expect(Date.parse(String(byRun.body.approval.expires_at))).toBeGreaterThan(
      Date.now() + 3_500_000,
    );
    const byId = await show(p, `${runId}/remove/1`);
    expect(byId.body.approval).toEqual(byRun.body.approval);

    const human = await p.run(["approvals", "show", runId]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/status\s+PENDING/);
    expect(human.stdout).toMatch(/requester\s+agent:janitor/);
    expect(human.stdout).toContain(hash);
    expect(human.stdout).toMatch(/on timeout\s+reject/);

    const listed = await p.run(["approvals", "list"]);
    expect(listed.stdout).toContain(`${runId}/remove/1`);

    const decided = await p.run([
      "workflow",
      "resume",
      runId,
      "--decision",
      "approve",
      "--as",
      "user:alice",
      "--comment",
      "go",
    ]);
    expect(decided.code).toBe(0);
    const after = (await show(p, `${runId}/remove/1`)).body.approval;
    expect(after).toMatchObject({ status: "USED", decided_by: "user:alice", comment: "go" });
    expect(after.history.map((h) => h.type)).toEqual(["approval.requested", "approval.decided"]);
    expect(after.history[1]!.data).toMatchObject({ decision: "approve", by: "user:alice" });
    const text = (await p.run(["approvals", "show", runId])).stdout;
    expect(text).toMatch(/approval\.decided\s+approve by user:alice: go/);
    expect((await p.json<{ approvals: unknown[] }>(["approvals", "list"])).body.approvals).toEqual(
      [],
    );
  });

  it("lists a voided approval and its successor with --run after the run's inputs were edited in the database", async () => {
    const p = gated();
    const run = await p.json(["run", "cleanup.yaml"]);
    const runId = run.body.id;
    const d = new Database(join(p.dir, "home", "airun.db"));
    try {
      d.prepare("UPDATE runs SET inputs = ? WHERE id = ?").run('{"target":"other.txt"}', runId);
    } finally {
      d.close();
    }
    const approve = await p.run([
      "workflow",
      "resume",
      runId,
      "--decision",
      "approve",
      "--as",
      "user:alice",
    ]);
    expect(approve.code).toBe(5);
    const all = await p.json<{ approvals: ApprovalJson[] }>(["approvals", "list", "--run", runId]);
    expect(all.body.approvals.map((a) => [a.id, a.status])).toEqual([
      [`${runId}/remove/1`, "VOID"],
      [`${runId}/remove/2`, "PENDING"],
    ]);
    const first = (await show(p, `${runId}/remove/1`)).body.approval;
    expect(first.history.map((h) => h.type)).toEqual([
      "approval.requested",
      "approval.decided",
      "approval.voided",
    ]);
    const text = (await p.run(["approvals", "show", `${runId}/remove/1`])).stdout;
    expect(text).toMatch(/approval\.voided\s+action changed .*: its inputs changed \(path\)/);
    const second = (await show(p, `${runId}/remove/2`)).body.approval as { message: string };
    expect(second.message).toMatch(
      new RegExp(
        `asked again: approval ${runId}/remove/1 was voided: its inputs changed \\(path\\)`,
      ),
    );
  });

  it("exits 2 for an unknown run or approval id", async () => {
    const p = gated();
    const run = await p.json(["run", "cleanup.yaml"]);
    const missingRun = await p.run(["approvals", "show", "nope-123"]);
    expect(missingRun.code).toBe(2);
    expect(missingRun.stderr).toContain("NOT_FOUND");
    const missingApproval = await p.run(["approvals", "show", `${run.body.id}/remove/9`]);
    expect(missingApproval.code).toBe(2);
    expect(missingApproval.stderr).toContain(`approval ${run.body.id}/remove/9`);
  });
});
