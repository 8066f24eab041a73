/**
 * @module The typed errors of a session (SPEC §1, §7, §8): what an agent loop catches to react
 * to a refused call, a failed call, a budget breach, a call waiting for a person, unmet evidence
 * at commit, or a session that has ended. Each has a stable `code` and carries the session's
 * run id (and the step/call concerned) in its fields and `context`.
 *
 * | error                  | code               | the session afterwards                      |
 * |------------------------|--------------------|---------------------------------------------|
 * | `CallDeniedError`      | `CALL_DENIED`      | open: the call was refused before any effect |
 * | `CallFailedError`      | `CALL_FAILED`      | open: the call failed (retries exhausted)    |
 * | `ApprovalPendingError` | `APPROVAL_PENDING` | WAITING_APPROVAL until a person decides      |
 * | `BudgetExceededError`  | `BUDGET_EXCEEDED`  | ended: ROLLED_BACK, ABSTAIN, BUDGET_EXCEEDED |
 * | `EvidenceUnmetError`   | `EVIDENCE_UNMET`   | ended: ROLLED_BACK, ABSTAIN, EVIDENCE_UNMET  |
 * | `SessionClosedError`   | `SESSION_CLOSED`   | ended (any other reason), or detached        |
 */
import { AirunError } from "../../core/errors.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";

/** How a session ended, as its run records it. */
export interface SessionEnd {
  readonly status: string;
  readonly outcome: string | null;
  readonly reason: string | null;
  readonly detail: JsonValue | null;
}

/** A call refused before it was made: policy DENY, or a tool outside the governance envelope. */
export class CallDeniedError extends AirunError {
  override readonly name = "CallDeniedError";
  readonly runId: string;
  readonly stepId: string;
  readonly capability: string;
  /** `policy` (the gatekeeper said DENY) or `governance` (tools.allowed / tools.forbidden). */
  readonly deniedBy: "policy" | "governance";
  /** Policy rule ids that decided (empty for a governance refusal or a default decision). */
  readonly ruleIds: readonly string[];

  constructor(
    message: string,
    f: { runId: string; stepId: string; capability: string; deniedBy: "policy" | "governance" },
    ruleIds: readonly string[],
  ) {
    super("CALL_DENIED", message, { ...f, ruleIds: [...ruleIds] });
    this.runId = f.runId;
    this.stepId = f.stepId;
    this.capability = f.capability;
    this.deniedBy = f.deniedBy;
    this.ruleIds = Object.freeze([...ruleIds]);
  }
}

/** A call that was made and failed (after its retries). The session stays open. */
export class CallFailedError extends AirunError {
  override readonly name = "CallFailedError";
  readonly runId: string;
  readonly stepId: string;
  readonly capability: string;
  /** The step's recorded error: `{ code, message, retryable }`. */
  readonly error: JsonObject;
  /** True when the failed call's effect happened anyway (its undo is armed for rollback). */
  readonly effectApplied: boolean;

  constructor(
    f: { runId: string; stepId: string; capability: string },
    error: JsonObject,
    effectApplied: boolean,
  ) {
    super(
      "CALL_FAILED",
      `call ${f.stepId} (${f.capability}) failed: ${String(error.code)}: ${String(error.message)}`,
      { ...f, error: error.code },
    );
    this.runId = f.runId;
    this.stepId = f.stepId;
    this.capability = f.capability;
    this.error = error;
    this.effectApplied = effectApplied;
  }
}

/** A call waiting for a person, as an agent sees it. */
export interface ApprovalHandle {
  /** `<runId>/<stepId>/<n>`: decide it with `Runtime.decideApproval` or `airun approvals`. */
  readonly approvalId: string;
  readonly runId: string;
  readonly stepId: string;
  readonly message: string;
  /** Who may decide (principals, globs, `role:x`); empty: the configured defaults. */
  readonly approvers: readonly string[];
  /** Epoch ms after which the approval's `on_timeout` applies, or null. */
  readonly expiresAt: number | null;
  /**
   * Waits until the approval is decided and the gated call has run (by whoever decided it, or
   * by this session after a restart), then resolves with the call's outputs; rejects with the
   * typed error of what happened instead (rejection ends the session: `SessionClosedError`
   * with reason APPROVAL_REJECTED). With `timeoutMs`, rejects with `ApprovalPendingError` if
   * still undecided by then. For a drift approval at commit it resolves with `{ approved: true }`
   * and the session can then be committed again.
   */
  wait(opts?: { readonly timeoutMs?: number; readonly pollMs?: number }): Promise<JsonValue>;
}

/** The call (or the commit) waits for a human approval; the session is WAITING_APPROVAL. */
export class ApprovalPendingError extends AirunError {
  override readonly name = "ApprovalPendingError";
  readonly approval: ApprovalHandle;

  constructor(approval: ApprovalHandle) {
    super(
      "APPROVAL_PENDING",
      `call ${approval.stepId} waits for approval ${approval.approvalId}: ${approval.message}`,
      { runId: approval.runId, stepId: approval.stepId, approvalId: approval.approvalId },
    );
    this.approval = approval;
  }
}

/** Figures of a budget breach, as recorded in the run's reason detail and ledger. */
export interface BudgetFigures {
  readonly budget: string;
  readonly used: number;
  readonly reserved: number;
  readonly requested: number;
  readonly limit: number;
  /** The capability whose call was not made (absent when the breach was found at commit). */
  readonly capability: string | null;
  /** The call that was refused (absent at commit). */
  readonly stepId: string | null;
}

/**
 * A call would have breached a budget: it was NOT made, the session abstained and every earlier
 * effect was undone (ROLLED_BACK, ABSTAIN, BUDGET_EXCEEDED).
 */
export class BudgetExceededError extends AirunError {
  override readonly name = "BudgetExceededError";
  readonly runId: string;
  readonly figures: BudgetFigures;
  readonly end: SessionEnd;

  constructor(runId: string, end: SessionEnd) {
    const d = isPlainObject(end.detail) ? end.detail : {};
    const num = (v: unknown) => (typeof v === "number" ? v : 0);
    const figures: BudgetFigures = {
      budget: String(d.budget ?? "?"),
      used: num(d.used),
      reserved: num(d.reserved),
      requested: num(d.requested),
      limit: num(d.limit),
      capability: typeof d.capability === "string" ? d.capability : null,
      stepId: typeof d.step === "string" ? d.step : null,
    };
    super(
      "BUDGET_EXCEEDED",
      `session ${runId} abstained: ${figures.budget} would be exceeded (used ${figures.used} + requested ${figures.requested} > limit ${figures.limit})${figures.capability ? `; the call to ${figures.capability} was not made` : ""}; everything it did was ${end.status === "ROLLED_BACK" ? "rolled back" : `left ${end.status}`}`,
      { runId, ...(figures.stepId ? { stepId: figures.stepId } : {}), budget: figures.budget },
    );
    this.runId = runId;
    this.figures = figures;
    this.end = end;
  }
}

/** One evidence requirement that was not met at commit, with the values it read. */
export interface UnmetRequirement {
  readonly expression: string;
  readonly result: JsonValue;
  readonly values: JsonObject;
  readonly unresolved?: readonly string[];
  readonly error?: string;
}

/** The evidence requirements were not met at commit: the session abstained and was rolled back. */
export class EvidenceUnmetError extends AirunError {
  override readonly name = "EvidenceUnmetError";
  readonly runId: string;
  readonly failed: readonly UnmetRequirement[];
  /** The evidence map the requirements were evaluated against. */
  readonly evidence: JsonObject;
  readonly end: SessionEnd;

  constructor(runId: string, end: SessionEnd) {
    const d = isPlainObject(end.detail) ? end.detail : {};
    const failed = ((Array.isArray(d.failed) ? d.failed : []) as unknown[])
      .filter((f): f is Record<string, unknown> => isPlainObject(f))
      .map((f) => ({
        expression: String(f.expression),
        result: (f.result ?? null) as JsonValue,
        values: (isPlainObject(f.values) ? f.values : {}) as JsonObject,
        ...(Array.isArray(f.unresolved) ? { unresolved: f.unresolved.map(String) } : {}),
        ...(typeof f.error === "string" ? { error: f.error } : {}),
      }));
    super(
      "EVIDENCE_UNMET",
      `session ${runId} abstained: evidence unmet: ${failed
        .map((f) => `${f.expression} (${JSON.stringify(f.values)})`)
        .join("; ")}`,
      { runId },
    );
    this.runId = runId;
    this.failed = Object.freeze(failed);
    this.evidence = (isPlainObject(d.evidence) ? d.evidence : {}) as JsonObject;
    this.end = end;
  }
}

/**
 * The session has ended (or this object was detached by `Runtime.close()`): nothing more can be
 * called on it. `end` says how (status, outcome, reason, detail), e.g. ROLLED_BACK / REMEDIATE /
 * APPROVAL_REJECTED, ROLLED_BACK / ABSTAIN / DRIFT, FAILED / IN_DOUBT, COMPLETED / ACCEPT.
 */
export class SessionClosedError extends AirunError {
  override readonly name = "SessionClosedError";
  readonly runId: string;
  readonly end: SessionEnd;

  constructor(runId: string, end: SessionEnd, message?: string) {
    super(
      "SESSION_CLOSED",
      message ??
        `session ${runId} has ended: ${end.status}${end.outcome ? ` ${end.outcome}` : ""}${end.reason ? ` (${end.reason})` : ""}`,
      { runId, status: end.status, reason: end.reason },
    );
    this.runId = runId;
    this.end = end;
  }
}
