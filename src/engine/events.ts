/**
 * @module The event vocabulary. Every state change the engine commits appends one of these to
 * the events table in the SAME batch, so state and history can never disagree after a crash.
 */
import type { JsonValue } from "../core/json.js";
import type { WriteOp } from "../store/store.js";

/** Event types, grouped by what they describe. */
export const EventType = {
  RUN_CREATED: "run.created",
  RUN_STARTED: "run.started",
  RUN_RESUMED: "run.resumed",
  RUN_RECOVERED: "run.recovered",
  RUN_WAITING: "run.waiting_approval",
  RUN_CANCEL_REQUESTED: "run.cancel_requested",
  RUN_COMPENSATING: "run.compensating",
  RUN_COMPLETED: "run.completed",
  RUN_ROLLED_BACK: "run.rolled_back",
  RUN_FAILED: "run.failed",
  STEP_SKIPPED: "step.skipped",
  STEP_DECISION: "step.decision",
  STEP_INTENT: "step.intent",
  STEP_ATTEMPT: "step.attempt",
  STEP_RETRY: "step.retry",
  STEP_SUCCEEDED: "step.succeeded",
  STEP_FAILED: "step.failed",
  STEP_RECONCILED: "step.reconciled",
  /** The run ended before the step started: NOT_RUN (with the approval it cancelled, if any). */
  STEP_NOT_RUN: "step.not_run",
  STEP_WAITING: "step.waiting_approval",
  APPROVAL_REQUESTED: "approval.requested",
  APPROVAL_DECIDED: "approval.decided",
  /** An approval nobody decided in time (its `on_timeout` rejects). */
  APPROVAL_EXPIRED: "approval.expired",
  APPROVAL_VOIDED: "approval.voided",
  COMPENSATION_STARTED: "compensation.started",
  COMPENSATION_DONE: "compensation.done",
  COMPENSATION_REFUSED: "compensation.refused",
  COMPENSATION_FAILED: "compensation.failed",
  COMPENSATION_VOID: "compensation.void",
  /** The policy file changed and the new version is in force (no run: `runId` is null). */
  POLICY_LOADED: "policy.loaded",
  /** The policy file changed but is broken; the previous policy stays in force. */
  POLICY_RELOAD_REFUSED: "policy.reload_refused",
  /**
   * An open session was let go by a client that went away without committing: it rolls back
   * once `rollback_at` has passed (whoever recovers it then), unless it is resumed before.
   */
  SESSION_IDLE: "session.idle",
  /** An MCP upstream tool pinned (first use) or re-pinned by a person (no run: `runId` is null). */
  MCP_TOOL_PINNED: "mcp.tool_pinned",
  /** An MCP upstream tool's definition differs from its pin: refused until re-pinned. */
  MCP_TOOL_CHANGED: "mcp.tool_changed",
  /** One webhook delivery attempt (engine/webhooks.ts), recorded after it ended. */
  WEBHOOK_DELIVERY: "webhook.delivery",
  /** Governance (governance/run-governance.ts): a call's worst-case spend reserved before it is made. */
  BUDGET_RESERVED: "budget.reserved",
  /** A call's reservation settled with its actual spend (or, after a crash, kept as spent). */
  BUDGET_SETTLED: "budget.settled",
  /** A call refused because it would breach a budget: which budget, used vs limit. */
  BUDGET_BREACHED: "budget.breached",
  /** The evidence map and each requirement's result, at commit. */
  EVIDENCE_EVALUATED: "evidence.evaluated",
  /** Run metrics beyond the drift threshold of their baseline, and the action taken. */
  DRIFT_DETECTED: "drift.detected",
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/**
 * An event append operation stamped `at` (the engine clock's now; `RunState.event` does this for
 * a run's entries). `runId` is null for events of no run (policy reloads).
 */
export function eventOp(
  type: EventType,
  runId: string | null,
  stepId: string | null,
  data: JsonValue,
  at: number,
): WriteOp {
  return { op: "appendEvent", event: { runId, stepId, type, at, data } };
}

/**
 * Key of `run.meta` holding an idle session's deadline (`{ since, rollback_at }`, epoch ms; null
 * once the session is held or detached plainly again): recovery rolls the session back after it.
 */
export const SESSION_IDLE_META = "session_idle";
