/**
 * @module How a session's calls and its end reach the agent: the typed error of a failed or
 * refused call, of an ended session, and the call waiting for a person.
 */
import {
  type AirunError,
  BudgetExceededError,
  CallDeniedError,
  CallFailedError,
  EvidenceUnmetError,
  SessionClosedError,
  type SessionEnd,
} from "../../core/errors.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import { CompensationStatus, Reason, StepStatus } from "../../core/status.js";
import type { RunRecord, StepRecord } from "../../store/store.js";
import { ApprovalStatus, approvalOf } from "../state/approval-record.js";
import { RunState } from "../state/run-state.js";

/** How a run ended, for the errors. */
function endOf(run: RunRecord): SessionEnd {
  return {
    status: run.status,
    outcome: run.outcome,
    reason: run.reason,
    detail: run.reasonDetail,
  };
}

/**
 * The typed error of an ended session: budget breach and unmet evidence have their own (also
 * when the rollback that followed could not finish), anything else is `SessionClosedError`.
 */
export function sessionEndError(run: RunRecord): AirunError {
  const end = endOf(run);
  const d = isPlainObject(run.reasonDetail) ? run.reasonDetail : {};
  const failedRollback = run.reason === Reason.COMPENSATION_FAILED;
  const reason = failedRollback ? d.original_reason : run.reason;
  const detail = failedRollback ? ((d.original_detail ?? null) as JsonValue) : run.reasonDetail;
  if (reason === Reason.BUDGET_EXCEEDED) return new BudgetExceededError(run.id, { ...end, detail });
  if (reason === Reason.EVIDENCE_UNMET) return new EvidenceUnmetError(run.id, { ...end, detail });
  return new SessionClosedError(run.id, end);
}

/** A step waiting for a person: its pending approval. */
export function pendingOf(steps: Iterable<StepRecord>): StepRecord | undefined {
  for (const s of steps) {
    if (
      s.status === StepStatus.WAITING_APPROVAL &&
      approvalOf(s.decision)?.status === ApprovalStatus.PENDING
    ) {
      return s;
    }
  }
  return undefined;
}

/** The typed error of a failed call of an open session. */
export function callError(
  runId: string,
  step: StepRecord,
  source: RunState | { comp: string | null; capability: string },
): AirunError {
  const error = (isPlainObject(step.error) ? step.error : {}) as JsonObject;
  const decision = isPlainObject(step.decision) ? step.decision : {};
  const capability =
    source instanceof RunState
      ? (source.planStep(step.stepId).capability ?? "?")
      : source.capability;
  const f = { runId, stepId: step.stepId, capability };
  if (
    error.code === "POLICY_DENIED" ||
    error.code === "TOOL_FORBIDDEN" ||
    error.code === "ROLLBACK_REQUIRED"
  ) {
    const ruleIds = Array.isArray(decision.rule_ids) ? decision.rule_ids.map(String) : [];
    return new CallDeniedError(
      `call ${step.stepId} (${capability}) denied: ${String(error.message)}`,
      { ...f, deniedBy: error.code === "POLICY_DENIED" ? "policy" : "governance" },
      error.code === "POLICY_DENIED" ? ruleIds : [],
    );
  }
  const comp =
    source instanceof RunState
      ? (source.compensations.get(step.stepId)?.status ?? null)
      : source.comp;
  return new CallFailedError(f, error, comp === CompensationStatus.ARMED);
}
