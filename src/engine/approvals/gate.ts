/**
 * @module The approval gate in front of a step: asks for an approval (the step waits), lets an
 * approved, unchanged action through exactly once, or reports the rejection or expiry for the
 * step to fail with. It returns data (what to commit and announce); the step pipeline commits.
 * An approved action whose hash changed before execution voids the approval and asks again.
 */
import { AirunError } from "../../core/errors.js";
import { canonicalJson } from "../../core/hash.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { Reason, StepStatus } from "../../core/status.js";
import type { WriteOp } from "../../store/store.js";
import { EventType } from "../events.js";
import { type ApprovalData, ApprovalStatus, approvalOf } from "../state/approval-record.js";
import type { RunState } from "../state/run-state.js";
import type { ApprovalNotice } from "./notify.js";

/** What a gated step asks approval for. */
export interface ApprovalRequest {
  /** The approval is bound to exactly this action (the step's context hash, unless told). */
  readonly actionHash: string;
  /**
   * The step's context hash, when the approval binds more than the step's own call (its
   * declared compensation's canonical paths); else `actionHash` is it.
   */
  readonly contextHash?: string;
  /** The gatekeeper's recorded decision. */
  readonly decision: JsonObject;
  /** Approvers named by the deciding rules (the step's own list wins). */
  readonly approvers: readonly string[];
  readonly message: string;
  /** The step's inputs as recorded (secrets masked). */
  readonly recordInputs: JsonValue;
}

/** What the gate decided. */
export type GateResult =
  /** Approved and unchanged: the step may act (the approval is consumed: USED). */
  | { readonly state: "approved"; readonly approval: ApprovalData }
  /** The step waits for a person: commit `ops` (none when already asked), then announce. */
  | {
      readonly state: "waiting";
      readonly ops: WriteOp[];
      readonly notices: readonly ApprovalNotice[];
    }
  /** Rejected or expired: the step fails with this error and reason. */
  | { readonly state: "rejected"; readonly error: AirunError; readonly reason: Reason };

/** Passes (or asks for) the approval of `ps` (see module doc). */
export function approvalGate(state: RunState, ps: PlanStep, req: ApprovalRequest): GateResult {
  const rec = state.step(ps.id);
  const current = approvalOf(rec.decision);
  if (
    current &&
    (current.status === ApprovalStatus.APPROVED || current.status === ApprovalStatus.USED)
  ) {
    if (current.action_hash === req.actionHash) {
      return { state: "approved", approval: { ...current, status: ApprovalStatus.USED } };
    }
    // The action changed since it was approved: void that approval and ask again, saying why.
    const voided = { ...current, status: ApprovalStatus.VOID };
    const why = whatChanged(rec.inputs, rec.decision, req);
    const asked = request(
      state,
      ps,
      {
        ...req,
        message: `${req.message} (asked again: approval ${current.id} was voided: ${why})`,
      },
      voided,
    );
    return {
      state: "waiting",
      ops: [
        state.event(EventType.APPROVAL_VOIDED, ps.id, {
          approval: current.id,
          approved_hash: current.action_hash,
          action_hash: req.actionHash,
          why,
        }),
        ...asked.ops,
      ],
      notices: [{ type: "approval.voided", stepId: ps.id, approval: voided }, ...asked.notices],
    };
  }
  if (current?.status === ApprovalStatus.REJECTED || current?.status === ApprovalStatus.EXPIRED) {
    const expired = current.status === ApprovalStatus.EXPIRED;
    return {
      state: "rejected",
      reason: expired ? Reason.APPROVAL_EXPIRED : Reason.APPROVAL_REJECTED,
      error: new AirunError(
        expired ? "APPROVAL_EXPIRED" : "APPROVAL_REJECTED",
        expired
          ? `approval ${current.id} expired`
          : `rejected by ${current.decided_by}${current.comment ? `: ${current.comment}` : ""}`,
      ),
    };
  }
  if (current?.status === ApprovalStatus.PENDING) return { state: "waiting", ops: [], notices: [] };
  return request(state, ps, req, current);
}

/**
 * Why an approved action no longer matches its approval, in words: the recorded inputs that
 * differ (by field), the paths the call or its compensation touches, the policy in force. The context hash binds
 * all of these (and the spec and principal, fixed for a run).
 */
function whatChanged(approvedInputs: JsonValue, approved: JsonValue, req: ApprovalRequest): string {
  const was = isPlainObject(approved) ? approved : {};
  const reasons: string[] = [];
  const oldInputs = isPlainObject(approvedInputs) ? approvedInputs : {};
  const newInputs = isPlainObject(req.recordInputs) ? req.recordInputs : {};
  const fields = [...new Set([...Object.keys(oldInputs), ...Object.keys(newInputs)])].filter(
    (k) => canonicalJson(oldInputs[k] ?? null) !== canonicalJson(newInputs[k] ?? null),
  );
  if (fields.length > 0) reasons.push(`its inputs changed (${fields.sort().join(", ")})`);
  // Paths follow from the inputs; alone, they changed under the same spelling (a link moved).
  if (
    fields.length === 0 &&
    canonicalJson(was.paths ?? null) !== canonicalJson(req.decision.paths ?? null)
  ) {
    reasons.push("the paths it touches changed (a link or folder now resolves elsewhere)");
  }
  const compPaths = (d: JsonValue | undefined) =>
    canonicalJson((isPlainObject(d) ? d.paths : undefined) ?? null);
  if (
    fields.length === 0 &&
    compPaths(was.compensation_decision) !== compPaths(req.decision.compensation_decision)
  ) {
    reasons.push("the paths its compensation touches changed (a link or folder moved)");
  }
  if (was.policy_hash !== req.decision.policy_hash) {
    reasons.push(
      `the policy changed (${String(was.policy_hash).slice(0, 12)} → ${String(req.decision.policy_hash).slice(0, 12)})`,
    );
  }
  return reasons.length > 0 ? reasons.join("; ") : "the action it approved changed";
}

/** A new approval request on the step (the n-th of this step), WAITING_APPROVAL. */
function request(
  state: RunState,
  ps: PlanStep,
  req: ApprovalRequest,
  previous: ApprovalData | null,
): Extract<GateResult, { state: "waiting" }> {
  const rec = state.step(ps.id);
  const now = state.now();
  const settings = state.ctx.settings;
  const timeoutMs = ps.approval?.timeoutMs ?? settings.approvalTimeoutMs;
  const n = previous ? Number(previous.id.split("/").pop() ?? "0") + 1 : 1;
  const approvers = ps.approval?.approvers.length
    ? [...ps.approval.approvers]
    : req.approvers.length
      ? [...req.approvers]
      : [...settings.defaultApprovers];
  const approval: ApprovalData = {
    id: `${state.run.id}/${ps.id}/${n}`,
    status: ApprovalStatus.PENDING,
    run_id: state.run.id,
    step_id: ps.id,
    requester: state.run.principal,
    action_hash: req.actionHash,
    approvers,
    message: req.message,
    requested_at: now,
    expires_at: timeoutMs > 0 ? now + timeoutMs : null,
    on_timeout: ps.approval?.onTimeout ?? settings.approvalOnTimeout,
    decided_by: null,
    decided_at: null,
    comment: null,
  };
  return {
    state: "waiting",
    ops: [
      {
        op: "putStep",
        step: {
          ...rec,
          status: StepStatus.WAITING_APPROVAL,
          inputs: req.recordInputs,
          contextHash: req.contextHash ?? req.actionHash,
          decision: { ...req.decision, approval },
        },
      },
      state.event(EventType.STEP_DECISION, ps.id, req.decision),
      state.event(EventType.APPROVAL_REQUESTED, ps.id, approval),
    ],
    notices: [{ type: "approval.requested", stepId: ps.id, approval }],
  };
}
