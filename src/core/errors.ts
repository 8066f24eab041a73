/**
 * @module The typed error family. Every error Airun raises carries a stable string `code` and
 * readonly context; callers branch on `code`, never on message text.
 */

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
  readonly code: string;
  readonly context: ErrorContext;

  constructor(code: string, message: string, context: ErrorContext = {}, options?: ErrorOptions) {
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

/** A capability call failed. `retryable` tells the engine whether another attempt may help. */
export class CapabilityError extends AirunError {
  static override readonly kind: string = "CapabilityError";
  override readonly name: string = "CapabilityError";
  readonly retryable: boolean;

  constructor(
    code: string,
    message: string,
    options: { retryable?: boolean; context?: ErrorContext; cause?: unknown } = {},
  ) {
    super(code, message, options.context ?? {}, { cause: options.cause });
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

/** Normalizes anything thrown into an `AirunError` (unknown errors become `INTERNAL`). */
export function toAirunError(err: unknown): AirunError {
  if (err instanceof AirunError) return err;
  if (err instanceof Error) return new AirunError("INTERNAL", err.message, {}, { cause: err });
  return new AirunError("INTERNAL", String(err));
}
