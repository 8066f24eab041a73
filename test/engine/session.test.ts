/**
 * Sessions (SPEC §1): an agent's calls, one at a time, through the same step path as workflow
 * steps, on a real SQLite home and real files; the session is the transaction (commit with
 * evidence, or rollback of everything, newest first).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ApprovalPendingError,
  BudgetExceededError,
  CallDeniedError,
  CallFailedError,
  EvidenceUnmetError,
  SessionClosedError,
  ValidationError,
} from "../../src/core/errors.js";
import { fromOutput, ref, secret } from "../../src/engine/sessions/session-plan.js";
import type { Workspace } from "./helpers.js";
import { bumps, entries, entryTypes, sessionWorkspace } from "./session-kit.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

const read = (name: string) => readFileSync(join(w.ws, name), "utf8");

/** Everything is allowed, except that deleting a file needs a person's approval. */
const DELETES_NEED_APPROVAL = `version: 1
default: ALLOW
rules:
  - id: deletes-need-ops
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
`;

describe("sessions", () => {
  it("commits a session's file writes as COMPLETED/ACCEPT, each call recorded like a workflow step", async () => {
    w = await sessionWorkspace();
    writeFileSync(join(w.ws, "notes.md"), "original notes\n");
    const rt = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:scribe", name: "scribe" });
      expect(s.status).toBe("RUNNING");
      const wrote = await s.call("io.fs.write_file", { path: "notes.md", content: "new notes\n" });
      expect(wrote).toMatchObject({ path: join(w.ws, "notes.md") });
      const appended = await s.call(
        "io.fs.append_file",
        { path: "log.txt", content: "one\n" },
        { id: "log" },
      );
      expect(appended).toBeTypeOf("object");
      const view = await s.commit();
      expect(view).toMatchObject({
        kind: "session",
        name: "scribe",
        status: "COMPLETED",
        outcome: "ACCEPT",
        reason: "COMPLETED",
        principal: "agent:scribe",
      });
      expect(view.steps.map((x) => [x.id, x.capability, x.status])).toEqual([
        ["call_1", "io.fs.write_file", "SUCCEEDED"],
        ["log", "io.fs.append_file", "SUCCEEDED"],
      ]);
      expect(view.steps.every((x) => /^[0-9a-f]{64}$/.test(x.context_hash ?? ""))).toBe(true);
      expect(view.steps.map((x) => x.compensation?.status)).toEqual(["ARMED", "ARMED"]);
      expect(read("notes.md")).toBe("new notes\n");
      const types = await entryTypes(rt, s.id);
      expect(types[0]).toBe("run.created");
      for (const t of ["step.decision", "step.intent", "step.attempt", "step.succeeded"]) {
        expect(types.filter((x) => x === t)).toHaveLength(2);
      }
      expect(types.at(-1)).toBe("run.completed");
      const [created] = await entries(rt, s.id, "run.created");
      expect(created).toMatchObject({ kind: "session", name: "scribe", principal: "agent:scribe" });
      await expect(s.call("sys.echo", {})).rejects.toBeInstanceOf(SessionClosedError);
      expect((await rt.listRuns()).map((r) => [r.id, r.kind])).toEqual([[s.id, "session"]]);

      // Undone after the fact, newest first, bytes restored.
      const undone = await rt.rollback(s.id, { principal: "user:ops" });
      expect(undone).toMatchObject({ status: "ROLLED_BACK", reason: "ROLLBACK_REQUESTED" });
      expect(read("notes.md")).toBe("original notes\n");
      expect(existsSync(join(w.ws, "log.txt"))).toBe(false);
      const done = (await rt.events(s.id)).filter((e) => e.type === "compensation.done");
      expect(done.map((e) => e.stepId)).toEqual(["log", "call_1"]);
      expect((await rt.verifyLedger()).ok).toBe(true);
    } finally {
      await rt.close();
    }
  });

  it("rollback() undoes everything newest first and ends ROLLED_BACK / REMEDIATE / CANCELLED, as a CLI cancel does", async () => {
    w = await sessionWorkspace();
    writeFileSync(join(w.ws, "a.txt"), "A0");
    const rt = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:x" });
      await s.call("io.fs.write_file", { path: "a.txt", content: "A1" });
      await s.call("io.fs.write_file", { path: "a.txt", content: "A2" });
      await s.call("io.fs.write_file", { path: "b.txt", content: "B1" });
      const view = await s.rollback({ reason: "the plan was wrong" });
      expect(view).toMatchObject({
        status: "ROLLED_BACK",
        outcome: "REMEDIATE",
        reason: "CANCELLED",
      });
      expect(view.reason_detail).toMatchObject({
        cancelled_by: "agent:x",
        requested: "session.rollback",
        message: "the plan was wrong",
      });
      expect(read("a.txt")).toBe("A0");
      expect(existsSync(join(w.ws, "b.txt"))).toBe(false);
      const done = (await rt.events(s.id)).filter((e) => e.type === "compensation.done");
      expect(done.map((e) => e.stepId)).toEqual(["call_3", "call_2", "call_1"]);
      await expect(s.commit()).rejects.toBeInstanceOf(SessionClosedError);
      expect((await rt.verifyLedger()).ok).toBe(true);
    } finally {
      await rt.close();
    }
  });

  it("refuses a forbidden tool at the call: CallDeniedError, nothing made or counted, the session stays open", async () => {
    w = await sessionWorkspace();
    writeFileSync(join(w.ws, "keep.txt"), "keep");
    const rt = await w.open();
    try {
      const s = await rt.openSession({
        principal: "agent:x",
        governance: {
          tools: { allowed: ["io.fs.*", "test.**"], forbidden: ["io.fs.delete"] },
          budgets: { max_tool_calls: 2 },
        },
      });
      await s.call("io.fs.write_file", { path: "new.txt", content: "n" });
      const err = await s.call("io.fs.delete", { path: "keep.txt" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CallDeniedError);
      expect(err).toMatchObject({
        code: "CALL_DENIED",
        deniedBy: "governance",
        capability: "io.fs.delete",
        stepId: "call_2",
        runId: s.id,
      });
      const notAllowed = await s.call("sys.echo", { a: 1 }).catch((e: unknown) => e);
      expect(notAllowed).toMatchObject({ code: "CALL_DENIED", deniedBy: "governance" });
      expect(existsSync(join(w.ws, "keep.txt"))).toBe(true);
      expect(s.status).toBe("RUNNING");
      // Still open, and the refusals spent nothing: a second call fits max_tool_calls 2.
      await s.call("test.count.bump", { tag: "after" });
      const view = await s.commit();
      expect(view).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
      expect(view.steps.find((x) => x.id === "call_2")).toMatchObject({
        status: "FAILED",
        attempts: 0,
        error: { code: "TOOL_FORBIDDEN" },
      });
      expect(existsSync(join(w.ws, "new.txt"))).toBe(true);
      expect(bumps(w)).toEqual(["after"]);
    } finally {
      await rt.close();
    }
  });

  it("refuses a call the policy denies, with the rule that decided, and the session stays open", async () => {
    w = await sessionWorkspace({
      policy: `version: 1
default: DENY
rules:
  - id: agents-write-out
    principal: "agent:*"
    capability: "io.fs.write_file"
    when: { "inputs.path": "out/**" }
    decision: ALLOW
  - id: no-etc
    principal: "agent:*"
    capability: "io.fs.write_file"
    when: { "inputs.path": "etc/**" }
    decision: DENY
    reason: agents never touch etc
`,
    });
    const rt = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:x" });
      const err = await s
        .call("io.fs.write_file", { path: "etc/passwd", content: "x", create_dirs: true })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CallDeniedError);
      expect(err).toMatchObject({ deniedBy: "policy", ruleIds: ["no-etc"] });
      expect(existsSync(join(w.ws, "etc"))).toBe(false);
      await s.call("io.fs.write_file", { path: "out/ok.txt", content: "ok", create_dirs: true });
      expect((await s.commit()).status).toBe("COMPLETED");
      const decisions = await entries(rt, s.id, "step.decision");
      expect(decisions[0]).toMatchObject({ decision: "DENY", rule_ids: ["no-etc"] });
    } finally {
      await rt.close();
    }
  });

  it("on a budget breach never makes the breaching call, undoes every earlier effect and records which budget with its figures", async () => {
    w = await sessionWorkspace();
    writeFileSync(join(w.ws, "a.txt"), "before");
    const rt = await w.open();
    try {
      const s = await rt.openSession({
        principal: "agent:runaway",
        governance: { budgets: { max_tool_calls: 3 } },
      });
      await s.call("io.fs.write_file", { path: "a.txt", content: "after" });
      await s.call("test.count.bump", { tag: "2" });
      await s.call("io.fs.append_file", { path: "b.txt", content: "x" });
      const err = await s.call("test.count.bump", { tag: "4" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BudgetExceededError);
      const b = err as BudgetExceededError;
      expect(b.code).toBe("BUDGET_EXCEEDED");
      expect(b.figures).toEqual({
        budget: "max_tool_calls",
        used: 3,
        reserved: 0,
        requested: 1,
        limit: 3,
        capability: "test.count.bump",
        stepId: "call_4",
      });
      expect(b.end).toMatchObject({ status: "ROLLED_BACK", outcome: "ABSTAIN" });
      // The 4th call was never made; the earlier effects are undone byte for byte.
      expect(bumps(w)).toEqual(["2"]);
      expect(read("a.txt")).toBe("before");
      expect(existsSync(join(w.ws, "b.txt"))).toBe(false);
      const view = await rt.getRun(s.id);
      expect(view).toMatchObject({
        status: "ROLLED_BACK",
        outcome: "ABSTAIN",
        reason: "BUDGET_EXCEEDED",
        reason_detail: {
          step: "call_4",
          governance: "budget",
          budget: "max_tool_calls",
          used: 3,
          limit: 3,
        },
      });
      expect(view.steps.find((x) => x.id === "call_4")).toMatchObject({
        status: "FAILED",
        attempts: 0,
      });
      expect(await entries(rt, s.id, "budget.breached")).toEqual([
        expect.objectContaining({ budget: "max_tool_calls", used: 3, limit: 3, requested: 1 }),
      ]);
      await expect(s.call("sys.echo", {})).rejects.toBeInstanceOf(BudgetExceededError);
      expect((await rt.verifyLedger()).ok).toBe(true);
    } finally {
      await rt.close();
    }
  });

  it("asks a person for a REQUIRE_APPROVAL call; approved by another principal, the call executes and wait() gives its outputs", async () => {
    w = await sessionWorkspace({
      policy: `${DELETES_NEED_APPROVAL}    approvers: ["user:*"]\n`,
    });
    writeFileSync(join(w.ws, "old.txt"), "old bytes");
    const rt = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:janitor" });
      await s.call("io.fs.write_file", { path: "new.txt", content: "n" });
      const err = await s.call("io.fs.delete", { path: "old.txt" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApprovalPendingError);
      const handle = (err as ApprovalPendingError).approval;
      expect(handle).toMatchObject({
        runId: s.id,
        stepId: "call_2",
        approvalId: `${s.id}/call_2/1`,
      });
      expect((await rt.getRun(s.id)).status).toBe("WAITING_APPROVAL");
      expect(existsSync(join(w.ws, "old.txt"))).toBe(true);
      // Other calls wait too; the agent itself cannot approve.
      await expect(s.call("sys.echo", {})).rejects.toBeInstanceOf(ApprovalPendingError);
      await expect(
        rt.decideApproval(handle.approvalId, { decision: "approve", principal: "agent:janitor" }),
      ).rejects.toMatchObject({ code: "SELF_APPROVAL" });
      const waited = handle.wait({ pollMs: 20 });
      const after = await rt.decideApproval(handle.approvalId, {
        decision: "approve",
        principal: "user:bob",
      });
      expect(after.status).toBe("RUNNING");
      expect(await waited).toMatchObject({ path: join(w.ws, "old.txt") });
      expect(existsSync(join(w.ws, "old.txt"))).toBe(false);
      // The session goes on where it was.
      await s.call("io.fs.write_file", { path: "third.txt", content: "3" });
      const view = await s.commit();
      expect(view.status).toBe("COMPLETED");
      expect(view.steps.map((x) => x.status)).toEqual(["SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]);
      await rt.rollback(s.id, { principal: "user:bob" });
      expect(read("old.txt")).toBe("old bytes");
      expect((await rt.verifyLedger()).ok).toBe(true);
    } finally {
      await rt.close();
    }
  });

  it("rolls the whole session back when a person rejects a call (REMEDIATE, APPROVAL_REJECTED)", async () => {
    w = await sessionWorkspace({
      policy: DELETES_NEED_APPROVAL,
    });
    writeFileSync(join(w.ws, "old.txt"), "old");
    const rt = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:janitor" });
      await s.call("io.fs.write_file", { path: "new.txt", content: "n" });
      const err = (await s
        .call("io.fs.delete", { path: "old.txt" })
        .catch((e) => e)) as ApprovalPendingError;
      const waited = err.approval.wait({ pollMs: 20 }).catch((e: unknown) => e);
      await rt.decideApproval(s.id, { decision: "reject", principal: "user:bob", comment: "no" });
      const outcome = await waited;
      expect(outcome).toBeInstanceOf(SessionClosedError);
      expect((outcome as SessionClosedError).end).toMatchObject({
        status: "ROLLED_BACK",
        outcome: "REMEDIATE",
        reason: "APPROVAL_REJECTED",
      });
      expect(existsSync(join(w.ws, "new.txt"))).toBe(false);
      expect(read("old.txt")).toBe("old");
    } finally {
      await rt.close();
    }
  });

  it("applies on_timeout itself while waiting: an approval that expires as approve runs the call", async () => {
    w = await sessionWorkspace({
      config: "approvals: { timeout: 300ms, on_timeout: approve }\n",
      policy: DELETES_NEED_APPROVAL,
    });
    writeFileSync(join(w.ws, "old.txt"), "old");
    const rt = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:janitor" });
      const err = await s.call("io.fs.delete", { path: "old.txt" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApprovalPendingError);
      const outputs = await (err as ApprovalPendingError).approval.wait({ pollMs: 50 });
      expect(outputs).toMatchObject({ path: join(w.ws, "old.txt") });
      expect(existsSync(join(w.ws, "old.txt"))).toBe(false);
      const decided = await entries(rt, s.id, "approval.decided");
      expect(decided).toEqual([
        expect.objectContaining({ by: "system:timeout", decision: "approve" }),
      ]);
      expect((await s.commit()).status).toBe("COMPLETED");
    } finally {
      await rt.close();
    }
  });

  it("rolls back a session whose call waits for approval without ever making that call", async () => {
    w = await sessionWorkspace({
      policy: DELETES_NEED_APPROVAL,
    });
    writeFileSync(join(w.ws, "old.txt"), "old");
    const rt = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:janitor" });
      await s.call("io.fs.write_file", { path: "new.txt", content: "n" });
      await expect(s.call("io.fs.delete", { path: "old.txt" })).rejects.toBeInstanceOf(
        ApprovalPendingError,
      );
      expect(await rt.listApprovals()).toHaveLength(1);
      const view = await s.rollback();
      expect(view).toMatchObject({ status: "ROLLED_BACK", reason: "CANCELLED" });
      expect(read("old.txt")).toBe("old");
      expect(existsSync(join(w.ws, "new.txt"))).toBe(false);
      expect(await rt.listApprovals()).toEqual([]);
    } finally {
      await rt.close();
    }
  });

  it("abstains at commit when evidence is unmet, listing each failed requirement with the values it read", async () => {
    w = await sessionWorkspace();
    const rt = await w.open();
    try {
      const s = await rt.openSession({
        principal: "agent:x",
        objective: "summarize",
        governance: {
          evidence: {
            required: ["len(evidence.source_refs) >= 2", "evidence.validator_pass == true"],
          },
        },
      });
      await s.call("test.count.bump", { tag: "one" }, { evidence: { source_refs: ["r1"] } });
      await s.call("io.fs.write_file", { path: "ticket.md", content: "t" });
      const err = await s.commit({ evidence: { validator_pass: false } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EvidenceUnmetError);
      const e = err as EvidenceUnmetError;
      expect(e.failed).toEqual([
        expect.objectContaining({
          expression: "len(evidence.source_refs) >= 2",
          result: false,
          values: { "evidence.source_refs": ["r1"] },
        }),
        expect.objectContaining({
          expression: "evidence.validator_pass == true",
          values: { "evidence.validator_pass": false },
        }),
      ]);
      expect(e.end).toMatchObject({
        status: "ROLLED_BACK",
        outcome: "ABSTAIN",
        reason: "EVIDENCE_UNMET",
      });
      expect(existsSync(join(w.ws, "ticket.md"))).toBe(false);
      expect(await entries(rt, s.id, "evidence.evaluated")).toEqual([
        expect.objectContaining({ met: false }),
      ]);
    } finally {
      await rt.close();
    }
  });

  it("accepts evidence taken from the calls' own outputs (fromOutput) plus evidence given at commit", async () => {
    w = await sessionWorkspace();
    const rt = await w.open();
    try {
      const s = await rt.openSession({
        principal: "agent:x",
        governance: {
          evidence: { required: ["len(evidence.source_refs) >= 2", "evidence.validator_pass"] },
        },
      });
      await s.call(
        "test.count.bump",
        { tag: "q" },
        { evidence: { source_refs: fromOutput("refs") } },
      );
      const echoed = await s.call("sys.echo", { got: ref("steps.call_1.outputs.tag") });
      expect(echoed).toEqual({ got: "q" });
      const view = await s.commit({ evidence: { validator_pass: true } });
      expect(view).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
      const [ev] = await entries(rt, s.id, "evidence.evaluated");
      expect(ev).toMatchObject({
        met: true,
        evidence: { source_refs: ["q#1", "q#2"], validator_pass: true },
      });
      expect(view.steps.map((x) => x.id)).toEqual(["call_1", "call_2", "session.evidence"]);
      expect((await rt.verifyLedger()).ok).toBe(true);
    } finally {
      await rt.close();
    }
  });

  it("writes text a model produced literally: a ${{ secrets.X }} inside it is never resolved", async () => {
    w = await sessionWorkspace();
    const rt = await w.open({ API_TOKEN: "s3cr3t-value" });
    try {
      const s = await rt.openSession({ principal: "agent:x" });
      const text = "leak: ${{ secrets.API_TOKEN }} and {{ secrets.API_TOKEN }}";
      await s.call("io.fs.write_file", { path: "out.txt", content: text });
      expect(read("out.txt")).toBe(text);
      // An explicit secret() is read at call time and masked in every record.
      const echoed = await s.call("sys.echo", { token: secret("API_TOKEN") });
      expect(echoed).toEqual({ token: "***" });
      const recorded = JSON.stringify(await rt.events(s.id));
      expect(recorded).not.toContain("s3cr3t-value");
      await s.commit();
    } finally {
      await rt.close();
    }
  });

  it("keeps the session open after a failed call (CallFailedError) and refuses malformed options before recording anything", async () => {
    w = await sessionWorkspace();
    const rt = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:x" });
      const failed = await s.call("io.fs.read_file", { path: "missing.txt" }).catch((e) => e);
      expect(failed).toBeInstanceOf(CallFailedError);
      expect(failed).toMatchObject({
        stepId: "call_1",
        effectApplied: false,
        capability: "io.fs.read_file",
      });
      const unknown = await s.call("no.such.tool", {}).catch((e) => e);
      expect(unknown).toMatchObject({ code: "CALL_FAILED", error: { code: "UNKNOWN_CAPABILITY" } });
      await expect(s.call("sys.echo", {}, { id: "call_1" })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(s.call("sys.echo", {}, { id: "bad id" })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(s.call("sys.echo", { f: () => 1 })).rejects.toBeInstanceOf(ValidationError);
      expect(await s.call("sys.echo", { ok: true })).toEqual({ ok: true });
      const view = await s.commit();
      expect(view.steps.map((x) => [x.id, x.status])).toEqual([
        ["call_1", "FAILED"],
        ["call_2", "FAILED"],
        ["call_3", "SUCCEEDED"],
      ]);
    } finally {
      await rt.close();
    }
  });

  it("rejects an invalid governance envelope with every problem, before anything is recorded", async () => {
    w = await sessionWorkspace();
    const rt = await w.open();
    try {
      const err = await rt
        .openSession({
          principal: "nobody",
          governance: { budgets: { max_tool_calls: -1 }, bogus: 1 } as never,
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      const fields = (err as ValidationError).problems.map((p) => p.field);
      expect(fields).toEqual(
        expect.arrayContaining([
          "principal",
          "governance.bogus",
          "governance.budgets.max_tool_calls",
        ]),
      );
      expect(await rt.listRuns()).toEqual([]);
    } finally {
      await rt.close();
    }
  });

  it("survives closing its runtime: reopened by id in a new runtime it calls on, commits, and is rolled back after the fact", async () => {
    w = await sessionWorkspace();
    writeFileSync(join(w.ws, "a.txt"), "A0");
    let id: string;
    const rt1 = await w.open();
    try {
      const s = await rt1.openSession({ principal: "agent:x", idempotencyKey: "job-7" });
      id = s.id;
      await s.call("io.fs.write_file", { path: "a.txt", content: "A1" });
    } finally {
      await rt1.close();
    }
    const rt2 = await w.open();
    try {
      expect((await rt2.getRun(id)).status).toBe("RUNNING");
      const again = await rt2.openSession({ principal: "agent:x", idempotencyKey: "job-7" });
      expect(again.id).toBe(id);
      const s = await rt2.resumeSession(id);
      expect(s).toBe(again);
      await s.call("io.fs.write_file", { path: "b.txt", content: "B1" });
      expect((await s.commit()).status).toBe("COMPLETED");
      await expect(rt2.resumeSession(id)).rejects.toBeInstanceOf(SessionClosedError);
      expect((await rt2.rollback(id, { principal: "user:ops" })).status).toBe("ROLLED_BACK");
      expect(read("a.txt")).toBe("A0");
      expect(existsSync(join(w.ws, "b.txt"))).toBe(false);
      expect((await rt2.verifyLedger()).ok).toBe(true);
    } finally {
      await rt2.close();
    }
  });

  it("detaches on close (calls then refused) and is held by one runtime at a time", async () => {
    w = await sessionWorkspace();
    const rt = await w.open();
    const other = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:x" });
      await s.call("sys.echo", { n: 1 });
      // A live holder keeps it: another runtime can neither resume nor re-drive it.
      await expect(other.resumeSession(s.id)).rejects.toMatchObject({ code: "CONFLICT" });
      await expect(rt.resume(s.id)).rejects.toMatchObject({ code: "CONFLICT" });
      await rt.close();
      await expect(s.call("sys.echo", {})).rejects.toBeInstanceOf(SessionClosedError);
      const again = await other.resumeSession(s.id);
      expect(await again.call("sys.echo", { n: 2 })).toEqual({ n: 2 });
      expect((await again.commit()).steps.map((x) => x.id)).toEqual(["call_1", "call_2"]);
    } finally {
      await other.close();
      await rt.close();
    }
  });

  it("is rolled back when its own runtime cancels it", async () => {
    w = await sessionWorkspace();
    const rt = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:x" });
      await s.call("io.fs.write_file", { path: "y.txt", content: "y" });
      const view = await rt.cancel(s.id, "user:ops", 10_000);
      expect(view).toMatchObject({ status: "ROLLED_BACK", reason: "CANCELLED" });
      expect(existsSync(join(w.ws, "y.txt"))).toBe(false);
    } finally {
      await rt.close();
    }
  });

  it("is rolled back when another process cancels it while the agent is idle", async () => {
    w = await sessionWorkspace();
    const rt = await w.open();
    const other = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:x" });
      await s.call("io.fs.write_file", { path: "x.txt", content: "x" });
      const view = await other.cancel(s.id, "user:ops", 10_000);
      expect(view).toMatchObject({ status: "ROLLED_BACK", reason: "CANCELLED" });
      expect(existsSync(join(w.ws, "x.txt"))).toBe(false);
      await expect(s.call("sys.echo", {})).rejects.toBeInstanceOf(SessionClosedError);
    } finally {
      await other.close();
      await rt.close();
    }
  });
});
