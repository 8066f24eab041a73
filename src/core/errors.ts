/**
 * @module The typed error family: every error class Airun raises, in one file so a caller sees
 * everything it may catch (which is why this file is longer than most). Each error carries a
 * stable `code` from the closed set in `error-codes.ts` (whose one table maps it to the CLI's
 * exit code, the HTTP status and the MCP answer) and readonly context; callers branch on
 * `code` and class, never on message text. Messages say what went wrong in product terms;
 * each surface adds its own hints (a flag to pass, an endpoint to call).
 */
import type { ErrorCode } from "./error-codes.js";
import { isPlainObject, type JsonObject, type JsonValue } from "./json.js";

/** Context carried by an error: which run, step, capability or source location it concerns. */
export interface ErrorContext {
  readonly runId?: string;
  readonly stepId?: string;
  readonly capability?: string;
  /** `file:line:col` of the offending source, when the error comes from a file. */
  readonly location?: string;
  readonly [key: string]: unknown;
}

/**
 * Where an error records the kinds of its class chain (`["AirunError", "CapabilityError"]`),
 * under a global symbol so that every copy of this module agrees on it.
 */
const KINDS = Symbol.for("airun.error.kinds");

/**
 * Base class of every Airun error.
 *
 * `instanceof` works across copies of this module: a plugin imports `CapabilityError` from the
 * `airun` package while the bundled `airun` binary carries its own copy of the class, and a
 * retryable error thrown by the plugin must still be recognised as one. Each class that declares
 * its own static `kind` is matched by that kind, recorded on every instance.
 */
export class AirunError extends Error {
  /** The class's stable kind, for `instanceof` across module copies. */
  static readonly kind: string = "AirunError";

  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic lint/complexity/noUselessThisAlias: the class right of `instanceof`, maybe a subclass; named once
    const cls: typeof AirunError = this;
    if (Function.prototype[Symbol.hasInstance].call(cls, value)) return true;
    if (!Object.hasOwn(cls, "kind")) return false;
    const kinds = (value as { [KINDS]?: unknown } | null | undefined)?.[KINDS];
    return Array.isArray(kinds) && kinds.includes(cls.kind);
  }

  override readonly name: string = "AirunError";
  /** One of `ErrorCode`; a plugin's `CapabilityError` may carry a code of its own. */
  readonly code: string;
  readonly context: ErrorContext;

  constructor(
    code: ErrorCode,
    message: string,
    context: ErrorContext = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.context = Object.freeze({ ...context });
    const kinds: string[] = [];
    for (let c: unknown = new.target; typeof c === "function"; c = Object.getPrototypeOf(c)) {
      if (Object.hasOwn(c, "kind")) kinds.push((c as typeof AirunError).kind);
    }
    Object.defineProperty(this, KINDS, { value: Object.freeze(kinds) });
  }
}

/** One problem found in a file (spec, policy, config), with its location. */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted path of the field, e.g. `steps[2].inputs.path`. */
  readonly field: string;
  readonly message: string;
}

/** Formats a problem as `file:line:col: field: message`. */
export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.field ? `${p.field}: ` : ""}${p.message}`;
}

/** A file failed validation; `problems` lists every problem found, not just the first. */
export class ValidationError extends AirunError {
  static override readonly kind: string = "ValidationError";
  override readonly name = "ValidationError";
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[], context: ErrorContext = {}) {
    super(
      "VALIDATION_FAILED",
      problems.map(formatProblem).join("\n") || "validation failed",
      context,
    );
    this.problems = Object.freeze([...problems]);
  }
}

/**
 * A capability call failed. `retryable` tells the engine whether another attempt may help.
 * Built-in capabilities use the codes of `ErrorCode`; a plugin may use codes of its own
 * (UPPER_SNAKE_CASE), recorded on the step like any other.
 */
export class CapabilityError extends AirunError {
  static override readonly kind: string = "CapabilityError";
  override readonly name: string = "CapabilityError";
  readonly retryable: boolean;

  constructor(
    code: ErrorCode | (string & {}),
    message: string,
    options: { retryable?: boolean; context?: ErrorContext; cause?: unknown } = {},
  ) {
    super(code as ErrorCode, message, options.context ?? {}, { cause: options.cause });
    this.retryable = options.retryable ?? false;
  }
}

/** A path, host or binary was outside what the sandbox allows. Never retryable. */
export class SandboxError extends CapabilityError {
  static override readonly kind: string = "SandboxError";
  override readonly name: string = "SandboxError";
  constructor(message: string, context: ErrorContext = {}) {
    super("SANDBOX_VIOLATION", message, { retryable: false, context });
  }
}

/** An undo found its target changed since the step ran, and refused to overwrite the change. */
export class DriftError extends CapabilityError {
  static override readonly kind: string = "DriftError";
  override readonly name: string = "DriftError";
  constructor(message: string, context: ErrorContext = {}) {
    super("UNDO_DRIFT", message, { retryable: false, context });
  }
}

/** A write lost a race: a precondition (lease owner, expected status) no longer held. */
export class ConflictError extends AirunError {
  static override readonly kind: string = "ConflictError";
  override readonly name = "ConflictError";
  constructor(message: string, context: ErrorContext = {}) {
    super("CONFLICT", message, context);
  }
}

/** Something that was looked up does not exist. */
export class NotFoundError extends AirunError {
  static override readonly kind: string = "NotFoundError";
  override readonly name = "NotFoundError";
  constructor(what: string, context: ErrorContext = {}) {
    super("NOT_FOUND", `${what} not found`, context);
  }
}

/** A decision on an approval was refused: not waiting, self-approval, not eligible, expired. */
export class ApprovalError extends AirunError {
  static override readonly kind: string = "ApprovalError";
  override readonly name = "ApprovalError";
}

/** Codes of `PluginError`. */
export type PluginErrorCode =
  | "PLUGIN_NOT_FOUND"
  | "PLUGIN_LOAD_FAILED"
  | "PLUGIN_NO_CAPABILITY"
  | "PLUGIN_INVALID_CAPABILITY"
  | "CAPABILITY_DUPLICATE";

/** A plugin module could not be loaded or registered; `context.plugin` is the module path. */
export class PluginError extends AirunError {
  static override readonly kind: string = "PluginError";
  override readonly name = "PluginError";
  constructor(code: PluginErrorCode, message: string, context: ErrorContext, cause?: unknown) {
    super(code, message, context, { cause });
  }
}

/**
 * A capability could not be registered: code `CAPABILITY_DUPLICATE` (the name is taken) or
 * `CAPABILITY_INVALID` (the declaration is malformed).
 */
export class CapabilityRegistrationError extends AirunError {
  static override readonly kind: string = "CapabilityRegistrationError";
  override readonly name = "CapabilityRegistrationError";
  constructor(
    code: "CAPABILITY_DUPLICATE" | "CAPABILITY_INVALID",
    message: string,
    context: ErrorContext = {},
  ) {
    super(code, message, context);
  }
}

/** Codes of `ExpressionError`. */
export const ExpressionErrorCode = {
  /** The expression does not parse. */
  SYNTAX: "EXPRESSION_SYNTAX",
  /** A path does not resolve in the scope (never silently `undefined`). */
  UNRESOLVED: "UNRESOLVED_REFERENCE",
  /** An operator got operands of the wrong type (`1 < 'a'`, `len(3)`). */
  TYPE: "EXPRESSION_TYPE",
} as const;
export type ExpressionErrorCode = (typeof ExpressionErrorCode)[keyof typeof ExpressionErrorCode];

/** An expression failed to compile or to evaluate. */
export class ExpressionError extends AirunError {
  static override readonly kind: string = "ExpressionError";
  override readonly name = "ExpressionError";
  /** 1-based column in the expression source, when known. */
  readonly column: number | undefined;
  /** The unresolved path (`steps.a.outputs.x`), for `UNRESOLVED_REFERENCE`. */
  readonly path: string | undefined;

  constructor(
    code: ExpressionErrorCode,
    message: string,
    context: ErrorContext & { column?: number; path?: string; source?: string } = {},
  ) {
    super(code, message, context);
    this.column = context.column;
    this.path = context.path;
  }
}

// ---- sessions (SPEC §1, §7, §8): what an agent loop catches ------------------------------
//
// | error                  | code               | the session afterwards                      |
// |------------------------|--------------------|---------------------------------------------|
// | `CallDeniedError`      | `CALL_DENIED`      | open: the call was refused before any effect |
// | `CallFailedError`      | `CALL_FAILED`      | open: the call failed (retries exhausted)    |
// | `ApprovalPendingError` | `APPROVAL_PENDING` | WAITING_APPROVAL until a person decides      |
// | `BudgetExceededError`  | `BUDGET_EXCEEDED`  | ended: ROLLED_BACK, ABSTAIN, BUDGET_EXCEEDED |
// | `EvidenceUnmetError`   | `EVIDENCE_UNMET`   | ended: ROLLED_BACK, ABSTAIN, EVIDENCE_UNMET  |
// | `SessionClosedError`   | `SESSION_CLOSED`   | ended (any other reason), or detached        |

/** How a session ended, as its run records it. */
export interface SessionEnd {
  readonly status: string;
  readonly outcome: string | null;
  readonly reason: string | null;
  readonly detail: JsonValue | null;
}

/** A call refused before it was made: policy DENY, or a tool outside the governance envelope. */
export class CallDeniedError extends AirunError {
  static override readonly kind: string = "CallDeniedError";
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
  static override readonly kind: string = "CallFailedError";
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
  static override readonly kind: string = "ApprovalPendingError";
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
  static override readonly kind: string = "BudgetExceededError";
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
  static override readonly kind: string = "EvidenceUnmetError";
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
  static override readonly kind: string = "SessionClosedError";
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

/** Normalizes anything thrown into an `AirunError` (unknown errors become `INTERNAL`). */
export function toAirunError(err: unknown): AirunError {
  if (err instanceof AirunError) return err;
  if (err instanceof Error) return new AirunError("INTERNAL", err.message, {}, { cause: err });
  return new AirunError("INTERNAL", String(err));
}
