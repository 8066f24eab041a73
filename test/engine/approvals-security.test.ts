/**
 * Approval security cases (SPEC §8, §13), each on a real SQLite file with a separate Runtime
 * instance per actor, as separate processes would: self-approval and ineligible approvers are
 * refused; an approval replayed for an action changed in the database (run inputs, the recorded
 * action hash, or the persisted plan) is voided and asked again with nothing executed; an
 * expired approval cannot be decided and on_timeout applies; an approval is used once.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import type { Runtime } from "../../src/engine/runtime/runtime.js";
import {
  SRE_APPROVAL_POLICY as POLICY,
  SRE_PRINCIPALS as PRINCIPALS,
} from "../support/approval-fixtures.js";
import { type Workspace, workspace } from "./helpers.js";

const CLEANUP = `name: cleanup
version: 1
principal: agent:janitor
inputs:
  target: { type: string, default: victim.txt }
steps:
  - id: note
    capability: io.fs.write_file
    inputs: { path: note.txt, content: "about to delete" }
  - id: remove
    capability: io.fs.delete
    depends_on: [note]
    inputs: { path: "\${{ inputs.target }}" }
`;

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

/** Opens a fresh Runtime on the workspace, runs `fn` with it, and closes it. */
async function as<T>(fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await w.open();
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

async function gatedRun(config = ""): Promise<string> {
  w = await workspace({ policy: POLICY, config: `${PRINCIPALS}${config}` });
  writeFileSync(join(w.ws, "victim.txt"), "v");
  writeFileSync(join(w.ws, "other.txt"), "o");
  const spec = await w.spec("cleanup.yaml", CLEANUP);
  const view = await as((rt) => rt.startRun({ specFile: spec }));
  expect(view.status).toBe("WAITING_APPROVAL");
  return view.id;
}

function db<T>(fn: (d: Database.Database) => T): T {
  const d = new Database(join(w.home, "airun.db"));
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code: string }).code;
  }
  return "NO_ERROR";
}

const victimKept = () => readFileSync(join(w.ws, "victim.txt"), "utf8") === "v";

describe("who may decide", () => {
  it("refuses the requester's own approval (SELF_APPROVAL) and leaves the gated step unexecuted", async () => {
    const runId = await gatedRun();
    expect(
      await codeOf(
        as((rt) => rt.decideApproval(runId, { decision: "approve", principal: "agent:janitor" })),
      ),
    ).toBe("SELF_APPROVAL");
    expect(victimKept()).toBe(true);
    const a = await as((rt) => rt.getApproval(runId));
    expect(a).toMatchObject({
      status: "PENDING",
      decided_by: null,
      history: [{ type: "approval.requested" }],
    });
  });

  it("refuses a user's approval of a run it started itself, even with the required role", async () => {
    w = await workspace({ policy: POLICY, config: PRINCIPALS });
    writeFileSync(join(w.ws, "victim.txt"), "v");
    const spec = await w.spec("cleanup.yaml", CLEANUP);
    const view = await as((rt) => rt.startRun({ specFile: spec, principal: "user:alice" }));
    expect(
      await codeOf(
        as((rt) => rt.decideApproval(view.id, { decision: "approve", principal: "user:alice" })),
      ),
    ).toBe("SELF_APPROVAL");
    expect(victimKept()).toBe(true);
  });

  it("refuses ineligible approvers (wrong role, unknown user, another agent) with NOT_ELIGIBLE", async () => {
    const runId = await gatedRun();
    for (const who of ["user:bob", "user:nobody", "agent:helper"]) {
      expect(
        await codeOf(as((rt) => rt.decideApproval(runId, { decision: "approve", principal: who }))),
        who,
      ).toBe("NOT_ELIGIBLE");
    }
    expect(victimKept()).toBe(true);
    expect((await as((rt) => rt.getApproval(runId))).status).toBe("PENDING");
  });
});

describe("an approval replayed for a changed action", () => {
  /** Approves in a new runtime: the step's hash is recomputed before execution. */
  async function approveAfterTamper(runId: string) {
    const view = await as((rt) =>
      rt.decideApproval(runId, { decision: "approve", principal: "user:alice" }),
    );
    const events = await as((rt) => rt.events(runId));
    const removeIntents = events.filter((e) => e.type === "step.intent" && e.stepId === "remove");
    return { view, types: events.map((e) => e.type), events, removeIntents };
  }

  it("voids the approval and asks again, executing nothing, when the run's inputs were edited in the database after the request", async () => {
    const runId = await gatedRun();
    db((d) =>
      d
        .prepare("UPDATE runs SET inputs = ? WHERE id = ?")
        .run(JSON.stringify({ target: "other.txt" }), runId),
    );
    const { view, types, events, removeIntents } = await approveAfterTamper(runId);
    expect(view.status).toBe("WAITING_APPROVAL");
    expect(victimKept()).toBe(true);
    expect(readFileSync(join(w.ws, "other.txt"), "utf8")).toBe("o");
    expect(types.filter((t) => t.startsWith("approval."))).toEqual([
      "approval.requested",
      "approval.decided",
      "approval.voided",
      "approval.requested",
    ]);
    const voided = events.find((e) => e.type === "approval.voided")!.data as Record<string, string>;
    expect(voided.approval).toBe(`${runId}/remove/1`);
    expect(voided.action_hash).not.toBe(voided.approved_hash);
    expect(removeIntents).toEqual([]);

    const list = await as((rt) => rt.listApprovals({ runId }));
    expect(list.map((a) => [a.id, a.status])).toEqual([
      [`${runId}/remove/1`, "VOID"],
      [`${runId}/remove/2`, "PENDING"],
    ]);
    // The new approval is for the new action; the old id cannot be decided any more.
    const second = await as((rt) => rt.getApproval(`${runId}/remove/2`));
    expect(second.action_hash).toBe(voided.action_hash);
    expect(
      await codeOf(
        as((rt) =>
          rt.decideApproval(`${runId}/remove/1`, { decision: "approve", principal: "user:sam" }),
        ),
      ),
    ).toBe("NO_PENDING_APPROVAL");
    expect(readFileSync(join(w.ws, "other.txt"), "utf8")).toBe("o");
  });

  it("voids the approval when its recorded action hash was altered in the database", async () => {
    const runId = await gatedRun();
    db((d) => {
      const row = d
        .prepare("SELECT decision FROM steps WHERE run_id = ? AND step_id = 'remove'")
        .get(runId) as { decision: string };
      const decision = JSON.parse(row.decision);
      decision.approval.action_hash = "0".repeat(64);
      d.prepare("UPDATE steps SET decision = ? WHERE run_id = ? AND step_id = 'remove'").run(
        JSON.stringify(decision),
        runId,
      );
    });
    const { view, types } = await approveAfterTamper(runId);
    expect(view.status).toBe("WAITING_APPROVAL");
    expect(victimKept()).toBe(true);
    expect(types).toContain("approval.voided");
    expect((await as((rt) => rt.getApproval(runId))).id).toBe(`${runId}/remove/2`);
  });

  it("voids the approval when the spec changed: the persisted plan's step inputs were edited after the request", async () => {
    const runId = await gatedRun();
    db((d) => {
      const row = d.prepare("SELECT plan FROM runs WHERE id = ?").get(runId) as { plan: string };
      const plan = JSON.parse(row.plan);
      const step = plan.steps.find((s: { id: string }) => s.id === "remove");
      step.inputs = { path: "other.txt" };
      d.prepare("UPDATE runs SET plan = ? WHERE id = ?").run(JSON.stringify(plan), runId);
    });
    const { view, types, removeIntents } = await approveAfterTamper(runId);
    expect(view.status).toBe("WAITING_APPROVAL");
    expect(types).toContain("approval.voided");
    expect(removeIntents).toEqual([]);
    expect(victimKept()).toBe(true);
    expect(readFileSync(join(w.ws, "other.txt"), "utf8")).toBe("o");
    const pending = await as((rt) => rt.getApproval(runId));
    expect(pending).toMatchObject({ id: `${runId}/remove/2`, status: "PENDING" });

    // Approving the new request (for the action as it now stands) executes exactly it.
    const done = await as((rt) =>
      rt.decideApproval(pending.id, { decision: "approve", principal: "user:sam" }),
    );
    expect(done.status).toBe("COMPLETED");
    expect(existsSync(join(w.ws, "other.txt"))).toBe(false);
    expect(victimKept()).toBe(true);
  });
});

describe("expiry and single use", () => {
  it("refuses to decide an expired approval (APPROVAL_EXPIRED) and applies on_timeout: reject rolls the run back", async () => {
    const runId = await gatedRun("approvals: { timeout: 200ms }\n");
    await new Promise((r) => setTimeout(r, 300));
    expect(
      await codeOf(
        as((rt) => rt.decideApproval(runId, { decision: "approve", principal: "user:alice" })),
      ),
    ).toBe("APPROVAL_EXPIRED");
    const view = await as((rt) => rt.getRun(runId));
    expect(view).toMatchObject({ status: "ROLLED_BACK", reason: "APPROVAL_EXPIRED" });
    expect(victimKept()).toBe(true);
    expect(existsSync(join(w.ws, "note.txt"))).toBe(false);
    const a = await as((rt) => rt.getApproval(runId));
    expect(a).toMatchObject({ status: "EXPIRED", decided_by: null });
    expect(a.history.map((h) => h.type)).toEqual(["approval.requested", "approval.expired"]);
    expect(a.history[1]!.data).toMatchObject({ on_timeout: "reject", by: "system:timeout" });
  });

  it("applies on_timeout: approve when the approval expired: the step executes as approved by system:timeout", async () => {
    const runId = await gatedRun("approvals: { timeout: 200ms, on_timeout: approve }\n");
    await new Promise((r) => setTimeout(r, 300));
    await as((rt) => rt.recover());
    const view = await as((rt) => rt.getRun(runId));
    expect(view.status).toBe("COMPLETED");
    expect(existsSync(join(w.ws, "victim.txt"))).toBe(false);
    expect((await as((rt) => rt.getApproval(runId))).decided_by).toBe("system:timeout");
  });

  it("uses an approval once: after the approved step executed, approving again is refused and nothing runs twice", async () => {
    const runId = await gatedRun();
    const done = await as((rt) =>
      rt.decideApproval(runId, { decision: "approve", principal: "user:alice" }),
    );
    expect(done.status).toBe("COMPLETED");
    expect(done.steps.find((s) => s.id === "remove")).toMatchObject({
      status: "SUCCEEDED",
      attempts: 1,
    });
    const approval = await as((rt) => rt.getApproval(runId));
    expect(approval).toMatchObject({ status: "USED", decided_by: "user:alice" });
    for (const ref of [runId, approval.id]) {
      expect(
        await codeOf(
          as((rt) => rt.decideApproval(ref, { decision: "approve", principal: "user:sam" })),
        ),
      ).toBe("NOT_WAITING");
    }
    const events = await as((rt) => rt.events(runId));
    expect(events.filter((e) => e.type === "step.intent" && e.stepId === "remove")).toHaveLength(1);
    expect(events.filter((e) => e.type === "approval.decided")).toHaveLength(1);
  });

  it("refuses an executed approval's id while a later approval of the same run waits (NO_PENDING_APPROVAL)", async () => {
    w = await workspace({ policy: POLICY, config: PRINCIPALS });
    writeFileSync(join(w.ws, "a.txt"), "a");
    writeFileSync(join(w.ws, "b.txt"), "b");
    const spec = await w.spec(
      "two.yaml",
      `name: two
version: 1
principal: agent:janitor
steps:
  - id: first
    capability: io.fs.delete
    inputs: { path: a.txt }
  - id: second
    capability: io.fs.delete
    depends_on: [first]
    inputs: { path: b.txt }
`,
    );
    const run = await as((rt) => rt.startRun({ specFile: spec }));
    const firstId = `${run.id}/first/1`;
    const afterFirst = await as((rt) =>
      rt.decideApproval(firstId, { decision: "approve", principal: "user:alice" }),
    );
    expect(afterFirst.status).toBe("WAITING_APPROVAL");
    expect(existsSync(join(w.ws, "a.txt"))).toBe(false);
    expect(
      await codeOf(
        as((rt) => rt.decideApproval(firstId, { decision: "approve", principal: "user:sam" })),
      ),
    ).toBe("NO_PENDING_APPROVAL");
    expect(existsSync(join(w.ws, "b.txt"))).toBe(true);
    const pending = await as((rt) => rt.listApprovals());
    expect(pending.map((a) => a.id)).toEqual([`${run.id}/second/1`]);
    expect((await as((rt) => rt.getApproval(firstId))).status).toBe("USED");
  });
});
