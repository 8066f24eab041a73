/**
 * Human approval across separate `airun` processes (SPEC §8): a gated step waits with nothing
 * executed; only an eligible principal other than the requester may decide; approve EXECUTES
 * the gated step, reject rolls back; approvals survive the death (SIGKILL) of the process that
 * created them; expiry applies `on_timeout`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  SRE_PRINCIPALS as CONFIG,
  SRE_APPROVAL_POLICY as POLICY,
} from "../support/approval-fixtures.js";
import {
  type ApprovalJson,
  background,
  type Project,
  project,
  type RunJson,
  tempRoot,
  waitFor,
} from "./project.js";

const root = tempRoot("approvals");
afterAll(() => root.cleanup());

const CLEANUP = `name: cleanup
version: 1
principal: agent:janitor
steps:
  - id: note
    capability: io.fs.write_file
    inputs: { path: note.txt, content: "about to delete" }
  - id: remove
    capability: io.fs.delete
    depends_on: [note]
    inputs: { path: victim.txt }
`;

function gated(): Project {
  const p = project(root.path, { policy: POLICY, config: CONFIG, files: { "ws/victim.txt": "v" } });
  p.write("cleanup.yaml", CLEANUP);
  return p;
}

const decide = (p: Project, id: string, decision: string, as: string) =>
  p.run(["workflow", "resume", id, "--decision", decision, "--as", as]);

async function pending(p: Project): Promise<ApprovalJson[]> {
  return (await p.json<{ approvals: ApprovalJson[] }>(["approvals", "list"])).body.approvals;
}

describe("approvals across processes", () => {
  it("waits with the gated step not executed, lists the approval, refuses the requester and ineligible principals, then an sre's approve deletes the file and completes", async () => {
    const p = gated();
    const run = await p.json(["run", "cleanup.yaml"]);
    expect(run.code).toBe(5);
    expect(p.step(run.body, "remove")).toMatchObject({ status: "WAITING_APPROVAL", attempts: 0 });
    expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("v");

    const list = await pending(p);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      status: "PENDING",
      run_id: run.body.id,
      step_id: "remove",
      requester: "agent:janitor",
      approvers: ["role:sre"],
    });

    const self = await decide(p, run.body.id, "approve", "agent:janitor");
    expect(self.code).toBe(2);
    expect(self.stderr).toContain("SELF_APPROVAL");
    for (const who of ["agent:other", "user:bob", "user:nobody"]) {
      const r = await decide(p, run.body.id, "approve", who);
      expect(r.code, who).toBe(2);
      expect(r.stderr, who).toContain("NOT_ELIGIBLE");
    }
    expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("v");
    expect((await pending(p)).map((a) => a.id)).toEqual([list[0]?.id]);

    const approved = await p.json([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "approve",
      "--as",
      "user:alice",
    ]);
    expect(approved.code).toBe(0);
    expect(approved.body).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
    expect(p.step(approved.body, "remove")).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
    expect(existsSync(join(p.ws, "victim.txt"))).toBe(false);
    expect(await pending(p)).toEqual([]);
  });

  it("refuses a user's approval of its own request even when it holds the required role", async () => {
    const p = gated();
    const run = await p.json(["run", "cleanup.yaml", "--as", "user:alice"]);
    expect(run.code).toBe(5);
    const self = await decide(p, run.body.id, "approve", "user:alice");
    expect(self.code).toBe(2);
    expect(self.stderr).toContain("SELF_APPROVAL");
    expect(existsSync(join(p.ws, "victim.txt"))).toBe(true);
    const other = await decide(p, run.body.id, "approve", "user:sam");
    expect(other.code).toBe(0);
    expect(existsSync(join(p.ws, "victim.txt"))).toBe(false);
  });

  it("rolls back on reject (exit 3, APPROVAL_REJECTED): the earlier write is undone and the file is kept", async () => {
    const p = gated();
    const run = await p.json(["run", "cleanup.yaml"]);
    const rejected = await p.json([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "reject",
      "--as",
      "user:sam",
      "--comment",
      "keep it",
    ]);
    expect(rejected.code).toBe(3);
    expect(rejected.body).toMatchObject({
      status: "ROLLED_BACK",
      outcome: "REMEDIATE",
      reason: "APPROVAL_REJECTED",
    });
    expect(p.step(rejected.body, "remove").error?.message).toContain("keep it");
    expect(existsSync(join(p.ws, "note.txt"))).toBe(false);
    expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("v");
  });

  it("keeps an approval requested by a process killed with SIGKILL: after recover, the same approval is listed and approving it deletes the file", async () => {
    const p = gated();
    p.write(
      "slow.yaml",
      // nap runs beside the gated delete (depends_on: []: steps run in the order listed
      // unless they say otherwise), keeping the process alive while the approval waits.
      `${CLEANUP}  - id: nap
    capability: sys.sleep
    depends_on: []
    inputs: { ms: 3000 }
`,
    );
    expect((await p.run(["workflow", "list"])).code).toBe(0); // the home exists before the race
    const bg = background(["run", "slow.yaml"], p.dir);
    let approvalId = "";
    try {
      const runId = await waitFor("the delete to wait for approval", async () => {
        const list = await p.json<{ runs: { id: string }[] }>(["workflow", "list"]);
        const id = list.body.runs[0]?.id;
        if (!id) return undefined;
        const view = (await p.json<RunJson>(["workflow", "show", id])).body;
        const a = (p.step(view, "remove").decision as { approval?: { id: string } } | null)
          ?.approval;
        if (!a) return undefined;
        approvalId = a.id;
        return id;
      });
      bg.kill();
      expect((await bg.done).signal).toBe("SIGKILL");

      const rec = await p.run(["recover"]);
      expect(rec.code).toBe(0);
      expect(rec.stdout).toContain(runId);
      expect((await pending(p)).map((a) => a.id)).toEqual([approvalId]);
      expect(existsSync(join(p.ws, "victim.txt"))).toBe(true);

      const approved = await p.json([
        "workflow",
        "resume",
        runId,
        "--decision",
        "approve",
        "--as",
        "user:alice",
      ]);
      expect(approved.code).toBe(0);
      expect(approved.body.status).toBe("COMPLETED");
      expect(existsSync(join(p.ws, "victim.txt"))).toBe(false);
      expect(readFileSync(join(p.ws, "note.txt"), "utf8")).toBe("about to delete");
    } finally {
      bg.kill();
    }
  });
});

describe("approval steps", () => {
  const STEP = `name: ship
version: 1
principal: agent:e2e
inputs:
  release: { type: string, default: v1 }
steps:
  - id: stage
    capability: io.fs.write_file
    inputs: { path: staged.txt, content: "staged" }
  - id: gate
    type: approval
    depends_on: [stage]
    message: "Ship \${{ inputs.release }}?"
    approvers: ["user:bob"]
    timeout: TIMEOUT
    on_timeout: reject
`;

  it("lets only the named approver decide an approval step and records who approved", async () => {
    const p = project(root.path);
    p.write("ship.yaml", STEP.replace("TIMEOUT", "1h"));
    const run = await p.json(["run", "ship.yaml"]);
    expect(run.code).toBe(5);
    const carol = await decide(p, run.body.id, "approve", "user:carol");
    expect(carol.code).toBe(2);
    expect(carol.stderr).toContain("NOT_ELIGIBLE");
    const bob = await p.json([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    expect(bob.code).toBe(0);
    expect(p.step(bob.body, "gate").outputs).toMatchObject({
      approved: true,
      decided_by: "user:bob",
    });
  });

  it("renders the ${{ }} templates in an approval step's message", async () => {
    const p = project(root.path);
    p.write("ship.yaml", STEP.replace("TIMEOUT", "1h"));
    expect((await p.run(["run", "ship.yaml", "--input", "release=v2"])).code).toBe(5);
    const [approval] = await pending(p);
    expect(approval?.message).toBe("Ship v2?");
  });

  it("applies on_timeout: reject when `recover` finds the approval expired: the run rolls back with APPROVAL_EXPIRED", async () => {
    const p = project(root.path);
    p.write("ship.yaml", STEP.replace("TIMEOUT", "300ms"));
    const run = await p.json(["run", "ship.yaml"]);
    expect(run.code).toBe(5);
    await new Promise((r) => setTimeout(r, 400));
    expect((await p.run(["recover"])).code).toBe(0);
    const shown = await p.json(["workflow", "show", run.body.id]);
    expect(shown.code).toBe(3);
    expect(shown.body).toMatchObject({ status: "ROLLED_BACK", reason: "APPROVAL_EXPIRED" });
    expect(existsSync(join(p.ws, "staged.txt"))).toBe(false);
  });

  it("applies on_timeout after refusing a decision on an expired approval, instead of leaving the run WAITING_APPROVAL forever", async () => {
    const p = project(root.path);
    p.write("ship.yaml", STEP.replace("TIMEOUT", "300ms"));
    const run = await p.json(["run", "ship.yaml"]);
    expect(run.code).toBe(5);
    await new Promise((r) => setTimeout(r, 400));
    const late = await decide(p, run.body.id, "approve", "user:bob");
    expect(late.code).toBe(2);
    expect(late.stderr).toContain("APPROVAL_EXPIRED");
    expect((await p.run(["recover"])).code).toBe(0);
    const shown = await p.json(["workflow", "show", run.body.id]);
    expect(shown.body).toMatchObject({ status: "ROLLED_BACK", reason: "APPROVAL_EXPIRED" });
    expect(existsSync(join(p.ws, "staged.txt"))).toBe(false);
  });
});
