/**
 * @module What a replay reads from a run's record: the recorded gatekeeper answers, errors and
 * statuses, where the recorded run stopped and which steps were in flight then, and whether a
 * recorded failure is the result of the call (served) or of something the replay decides
 * itself (resolution, the gatekeeper, a person).
 */
import { ExpressionErrorCode } from "../../core/errors.js";
import type { JsonValue } from "../../core/json.js";
import {
  type CompiledPolicy,
  decisionRank,
  type PolicyRequest,
  withCompensation,
} from "../../core/policy.js";
import { Decision, StepStatus } from "../../core/status.js";
import type { RunRecord, StepRecord } from "../../store/store.js";
import { approvalOf } from "../state/approval-record.js";
import type { ReplayDecision } from "./replay-types.js";

/** The gatekeeper answer recorded on a step (`decision` JSON), in report form. */
export function recordedDecision(decision: JsonValue | null): ReplayDecision | null {
  const d = decision as {
    decision?: unknown;
    rule_ids?: unknown;
    reason?: unknown;
    policy_hash?: unknown;
  } | null;
  if (d === null || typeof d !== "object" || typeof d.decision !== "string") return null;
  return {
    decision: d.decision,
    ruleIds: Array.isArray(d.rule_ids) ? d.rule_ids.map(String) : [],
    reason: typeof d.reason === "string" ? d.reason : null,
    policyHash: typeof d.policy_hash === "string" ? d.policy_hash : null,
    approval: approvalOf(decision)?.status ?? null,
  };
}

/** A step's recorded error, as `{ code, message }`. */
export function errorOf(rec: StepRecord | null): { code: string; message: string } | null {
  const e = rec?.error as { code?: unknown; message?: unknown } | null | undefined;
  if (!e || typeof e !== "object") return null;
  return { code: String(e.code ?? "UNKNOWN"), message: String(e.message ?? "") };
}

/** The status a record's step reached before any rollback (COMPENSATED steps had succeeded). */
export function reachedStatus(rec: StepRecord): StepStatus {
  return rec.status === StepStatus.COMPENSATED ? StepStatus.SUCCEEDED : rec.status;
}

/** The step whose failure stopped a terminal run, from the run's reason detail. */
export function stoppingStep(run: RunRecord): string | null {
  const d = run.reasonDetail as {
    step?: unknown;
    original_detail?: { step?: unknown } | null;
  } | null;
  const step = d?.step ?? d?.original_detail?.step;
  return typeof step === "string" ? step : null;
}

/** Whether a step was already in flight, in the record, when the replay's stopping step ended. */
export function inFlightAtStop(rec: StepRecord | null, stopRec: StepRecord | null): boolean {
  if (rec === null || rec.status === StepStatus.PENDING) return false;
  // The record failed there too: every step it reached had started before it stopped.
  if (stopRec?.status === StepStatus.FAILED) return true;
  const end = stopRec?.finishedAt ?? stopRec?.startedAt ?? null;
  const start = rec.startedAt ?? rec.finishedAt;
  return end !== null && start !== null && start <= end;
}

/** The policy's answer, made stricter by the decision hook's RECORDED answer (never asked again). */
export function decideAgain(
  policy: CompiledPolicy,
  request: PolicyRequest,
  rec: StepRecord | null,
  compensation: PolicyRequest | null = null,
): ReplayDecision {
  const own = policy.evaluate(request);
  const d = compensation
    ? withCompensation(own, policy.evaluate(compensation), compensation.capability)
    : own;
  let verdict: string = d.decision;
  let reason = d.reason;
  const hook = (rec?.decision as { hook?: { decision?: unknown } } | null)?.hook;
  if (hook && typeof hook === "object") {
    // A failed hook (null answer) failed closed: DENY.
    const answer = typeof hook.decision === "string" ? hook.decision : Decision.DENY;
    if (decisionRank(answer) > decisionRank(verdict)) {
      verdict = answer;
      reason = `${reason}; the decision hook's recorded answer ${answer} is stricter`;
    }
  }
  return {
    decision: verdict,
    ruleIds: [...d.ruleIds],
    reason,
    policyHash: d.policyHash,
    approval:
      verdict === Decision.REQUIRE_APPROVAL
        ? (approvalOf(rec?.decision ?? null)?.status ?? null)
        : null,
  };
}

/**
 * Failures that are not the result of the call (or of its `prepare`): the replay reaches these
 * itself (resolution, the gatekeeper, a person), so the record's are never served.
 */
export const DECIDED_BEFORE_THE_CALL: ReadonlySet<string> = new Set([
  "POLICY_DENIED",
  "APPROVAL_REJECTED",
  "APPROVAL_EXPIRED",
  "INVALID_INPUT",
  "UNKNOWN_CAPABILITY",
  ...Object.values(ExpressionErrorCode),
]);

/** Whether the record shows the call made, or prepared (it then passed the gatekeeper). */
export function passedGate(rec: StepRecord | null): boolean {
  if (rec === null) return false;
  if (rec.attempts > 0) return true;
  const error = errorOf(rec);
  return (
    reachedStatus(rec) === StepStatus.FAILED &&
    error !== null &&
    !DECIDED_BEFORE_THE_CALL.has(error.code)
  );
}
