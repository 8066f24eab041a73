/**
 * @module The closed vocabularies of the runtime: statuses, outcomes, reasons, risk levels,
 * effect classes and decisions, as `as const` objects with derived union types.
 */

/** Lifecycle of a run (SPEC §3). */
export const RunStatus = {
  PENDING: "PENDING",
  RUNNING: "RUNNING",
  WAITING_APPROVAL: "WAITING_APPROVAL",
  COMPENSATING: "COMPENSATING",
  COMPLETED: "COMPLETED",
  ROLLED_BACK: "ROLLED_BACK",
  FAILED: "FAILED",
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/** Terminal run statuses: nothing happens to such a run unless a person asks (rollback). */
export const TERMINAL_RUN_STATUSES: ReadonlySet<RunStatus> = new Set([
  RunStatus.COMPLETED,
  RunStatus.ROLLED_BACK,
  RunStatus.FAILED,
]);

/** True when a run in this status is finished. */
export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_RUN_STATUSES.has(status);
}

/** Lifecycle of a step inside a run. */
export const StepStatus = {
  PENDING: "PENDING",
  WAITING_APPROVAL: "WAITING_APPROVAL",
  RUNNING: "RUNNING",
  SUCCEEDED: "SUCCEEDED",
  FAILED: "FAILED",
  SKIPPED: "SKIPPED",
  /** The step ran, then was undone by its compensation. */
  COMPENSATED: "COMPENSATED",
  /** The run ended before the step started (what a PENDING or waiting step of a finished run becomes). */
  NOT_RUN: "NOT_RUN",
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/** Lifecycle of a compensation record. */
export const CompensationStatus = {
  /** Written before the side effect; armed only once the effect is known to have happened. */
  PENDING: "PENDING",
  ARMED: "ARMED",
  RUNNING: "RUNNING",
  DONE: "DONE",
  /** The target changed since the step; the undo refused to overwrite it. */
  REFUSED: "REFUSED",
  FAILED: "FAILED",
  /** The step's effect never happened: nothing to undo. */
  VOID: "VOID",
} as const;
export type CompensationStatus = (typeof CompensationStatus)[keyof typeof CompensationStatus];

/** Outcome of a terminal run (SPEC §2). */
export const Outcome = {
  ACCEPT: "ACCEPT",
  ABSTAIN: "ABSTAIN",
  REMEDIATE: "REMEDIATE",
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** Machine-readable reason a run ended the way it did (SPEC §3). */
export const Reason = {
  COMPLETED: "COMPLETED",
  STEP_FAILED: "STEP_FAILED",
  POLICY_DENIED: "POLICY_DENIED",
  APPROVAL_REJECTED: "APPROVAL_REJECTED",
  APPROVAL_EXPIRED: "APPROVAL_EXPIRED",
  BUDGET_EXCEEDED: "BUDGET_EXCEEDED",
  EVIDENCE_UNMET: "EVIDENCE_UNMET",
  CANCELLED: "CANCELLED",
  DRIFT: "DRIFT",
  COMPENSATION_FAILED: "COMPENSATION_FAILED",
  IN_DOUBT: "IN_DOUBT",
  ROLLBACK_REQUESTED: "ROLLBACK_REQUESTED",
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** Risk levels, ordered from least to most dangerous. */
export const RiskLevel = {
  LOW: "LOW",
  MEDIUM: "MEDIUM",
  HIGH: "HIGH",
  CRITICAL: "CRITICAL",
} as const;
export type RiskLevel = (typeof RiskLevel)[keyof typeof RiskLevel];

const RISK_ORDER: readonly RiskLevel[] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];

/** The more dangerous of two risk levels. */
export function maxRisk(a: RiskLevel, b: RiskLevel): RiskLevel {
  return RISK_ORDER.indexOf(a) >= RISK_ORDER.indexOf(b) ? a : b;
}

/** What kind of side effect a capability has. */
export const EffectClass = {
  READ: "read",
  WRITE: "write",
  DELETE: "delete",
  NETWORK: "network",
  EXEC: "exec",
} as const;
export type EffectClass = (typeof EffectClass)[keyof typeof EffectClass];

/** How a capability's effect is undone. */
export const UndoKind = {
  /** No side effect: nothing to undo. */
  NONE: "none",
  /** The capability captures a before-image and restores it itself. */
  BUILTIN: "builtin",
  /** Only a compensation declared by the step can undo it. */
  COMPENSATION: "compensation",
  /** Cannot be undone. */
  IRREVERSIBLE: "irreversible",
} as const;
export type UndoKind = (typeof UndoKind)[keyof typeof UndoKind];

/** A gatekeeper's answer. */
export const Decision = {
  ALLOW: "ALLOW",
  DENY: "DENY",
  REQUIRE_APPROVAL: "REQUIRE_APPROVAL",
} as const;
export type Decision = (typeof Decision)[keyof typeof Decision];

/** Audit levels (SPEC §10). */
export const AuditLevel = {
  BASIC: "BASIC",
  DETAILED: "DETAILED",
  FORENSIC: "FORENSIC",
} as const;
export type AuditLevel = (typeof AuditLevel)[keyof typeof AuditLevel];

/** Outcome a reason implies when the run is rolled back (SPEC §2). */
export function outcomeFor(reason: Reason): Outcome {
  switch (reason) {
    case Reason.POLICY_DENIED:
    case Reason.BUDGET_EXCEEDED:
    case Reason.EVIDENCE_UNMET:
      return Outcome.ABSTAIN;
    case Reason.COMPLETED:
      return Outcome.ACCEPT;
    default:
      return Outcome.REMEDIATE;
  }
}

/**
 * True when an open session whose call failed for `reason` stays open: a refusal before any
 * effect (POLICY_DENIED) and a call that failed after its retries (STEP_FAILED). Everything
 * else (budget breach, drift, a rejected or expired approval, an unknowable effect, a cancel)
 * ends it.
 */
export function sessionSurvives(reason: Reason): boolean {
  return reason === Reason.POLICY_DENIED || reason === Reason.STEP_FAILED;
}
