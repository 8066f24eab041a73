/**
 * @module The capability contract: what a capability declares (schemas, risk floor, effect
 * class, idempotency, how it is undone, how an in-flight call is reconciled after a crash) and
 * the context the engine hands it. Implementations live in `src/capabilities/`.
 */
import type { z } from "zod";
import type { CapabilityCompensation } from "./declared-compensation.js";
import type { JsonObject, JsonValue } from "./json.js";
import type { EffectClass, RiskLevel, UndoKind } from "./status.js";

/** Limits every capability call runs inside (compiled from the `sandbox:` config section). */
export interface SandboxConfig {
  /** Absolute, canonical directories that file capabilities may touch. */
  readonly fsRoots: readonly string[];
  /** Host globs `net.http.request` may reach (`*.example.com`). Empty: none. */
  readonly httpAllowHosts: readonly string[];
  /** Whether private, loopback and link-local addresses may be reached. Default false. */
  readonly httpAllowPrivate: boolean;
  /** Binaries `sys.exec.run` may start (names looked up on PATH, or absolute paths). */
  readonly execAllow: readonly string[];
  /** Environment variables `sys.info.get_env_var` may read (`sandbox.env.allow`). Empty: none. */
  readonly envAllow: readonly string[];
  /** Largest before-image a file undo keeps, in bytes; a bigger target refuses the step. */
  readonly maxBeforeImageBytes: number;
}

/** What the engine gives a capability for one call. */
export interface CapabilityContext {
  /** Aborted when the step's timeout elapses or the run is cancelled. Honour it. */
  readonly signal: AbortSignal;
  readonly sandbox: SandboxConfig;
  readonly runId: string;
  readonly stepId: string;
  /** 1-based attempt number. */
  readonly attempt: number;
  /**
   * The canonical paths the gate authorized, by input field (what `touches` answered before
   * the policy was asked). A capability that resolves a path to anything else now must refuse
   * (`FS_PATH_CHANGED`): the path changed between the decision and the call. Absent when the
   * capability declares no `touches`, and in `prepare`/`reconcile`/`revert`.
   */
  readonly paths?: Readonly<Record<string, string>>;
}

/** A path a call will touch, resolved inside the sandbox (SPEC §6). */
export interface TouchedPath {
  /** The input field naming it (`path`, `from`, `to`, …). */
  readonly field: string;
  /** Canonical absolute path: symlinks followed as the call will follow them. */
  readonly path: string;
  /** The same path relative to the sandbox root that contains it (POSIX; `.` is the root). */
  readonly relative: string;
}

/**
 * What `prepare` captures before a side effect: JSON data describing how to undo it, plus
 * optional binary before-images. The engine commits both durably BEFORE calling `execute`.
 */
export interface UndoPlan {
  readonly data: JsonValue;
  readonly blobs?: Readonly<Record<string, Uint8Array>>;
}

/** What `revert` receives: the persisted undo plan with its blobs. */
export interface UndoContext extends CapabilityContext {
  readonly data: JsonValue;
  readonly blobs: Readonly<Record<string, Uint8Array>>;
  /** Restore even if the target changed since the step (a person asked for it). */
  readonly force: boolean;
}

/**
 * What a call would change, read without any effect (a read-only transaction): `facts` that
 * policy conditions see as `facts.*` (`facts.rows`, `facts.table`), and the `rows` a person
 * approving the call is shown. The context hash, and so any approval, binds the preview: if
 * what the call would change is different when it is about to run, the approval is void.
 */
export interface CallPreview {
  readonly facts: JsonObject;
  readonly rows: readonly JsonObject[];
}

/** After a crash, whether an in-flight call took effect. */
export type ReconcileResult = "applied" | "not_applied" | "unknown";

/**
 * Resource use of one call, counted against a governance budget (`max_tokens`,
 * `max_cost_usd`). Tool calls and duration are counted by the engine itself.
 */
export interface Usage {
  readonly tokens?: number;
  readonly costUsd?: number;
}

/** Per-input overrides of a capability's static classification (e.g. HTTP GET vs POST). */
export interface Classification {
  readonly risk?: RiskLevel;
  readonly effect?: EffectClass;
  readonly undo?: UndoKind;
  readonly idempotent?: boolean;
}

/**
 * A capability: a named atomic operation `domain.group.verb`.
 *
 * `execute` either returns outputs or throws a `CapabilityError` (retryable or not); it never
 * "succeeds with an error inside". Capabilities with `undo: "builtin"` implement `prepare`
 * (capture, before the effect) and `revert` (undo, drift-safe: throw `DriftError` when the
 * target is no longer what the step left, unless `force`).
 */
export interface CapabilityDefinition<I = unknown, O = unknown> {
  readonly name: string;
  readonly description: string;
  readonly input: z.ZodType<I>;
  readonly output?: z.ZodType<O>;
  /** Risk floor; a step may raise it, never lower it. */
  readonly risk: RiskLevel;
  readonly effect: EffectClass;
  /** Safe to run again with the same inputs (a re-run after a crash cannot double the effect). */
  readonly idempotent: boolean;
  readonly undo: UndoKind;
  /** Outputs depend on the outside world (HTTP, exec, time): replay serves recorded outputs. */
  readonly nondeterministic?: boolean;
  /**
   * Computes its outputs from its inputs alone, in memory: no I/O, no clock, no waiting. A crash
   * before its completion is written only means computing the same outputs again, so the engine
   * writes that completion with the run's next commit instead of one of its own, and checks no
   * lease before it (`RunState.defer`). Needs `undo: "none"` and `effect: "read"`.
   */
  readonly pure?: boolean;
  /** Input field names whose values are secret: redacted before anything is persisted. */
  readonly sensitive?: readonly string[];
  /**
   * The compensation that undoes a call, templated from its `inputs.*` and `outputs.*`: every
   * step using the capability without a compensation of its own gets this one, rewritten into
   * the step's terms (`core/declared-compensation.ts`). Set by capabilities declared in config.
   */
  readonly compensation?: CapabilityCompensation;
  /**
   * Worst-case usage of a call, RESERVED against the run's budgets before the call is made
   * (an LLM request reserves its `max_tokens` and their price). Absent: the call uses nothing.
   */
  estimateUsage?(input: I): Usage;
  /** Actual usage of a finished call, read from its outputs; it SETTLES the reservation. */
  actualUsage?(output: O, input: I): Usage;
  /** Refines risk/effect/undo/idempotency for particular inputs; may only raise risk. */
  classify?(input: I): Classification;
  /**
   * The paths the call will touch, one per path-typed input field, resolved exactly as
   * `execute` will resolve them (canonical, inside the sandbox). The engine asks before the
   * gate: policy conditions on paths see these (not the spelling given), the context hash and
   * so any approval bind them, and `ctx.paths` hands them back to `execute`. Throws
   * `SandboxError` for a path outside the sandbox: the step fails before anyone is asked.
   */
  touches?(input: I, ctx: CapabilityContext): Promise<readonly TouchedPath[]>;
  /**
   * Checks, without any effect, what would make the call fail whatever a person decides (a
   * binary not on the allowlist, a host outside the sandbox): throws the error `execute` would
   * throw. The engine asks before it requests an approval, so nobody is asked to approve a call
   * that cannot run.
   */
  preflight?(input: I, ctx: CapabilityContext): Promise<void>;
  /**
   * What the call would change, read without effect, before the gate (see `CallPreview`).
   * Throws the error the call would fail with (too many rows, an unknown table): the step fails
   * before anyone is asked.
   */
  preview?(input: I, ctx: CapabilityContext): Promise<CallPreview>;
  prepare?(input: I, ctx: CapabilityContext): Promise<UndoPlan>;
  /**
   * `prepare` makes the change inside a target transaction that `execute` commits (`db.row.*`),
   * so its plan holds before- AND after-images. A step re-run after a crash whose call was
   * reconciled `not_applied` prepares again, and the new plan replaces the recorded one (the
   * old one describes a change that never happened).
   */
  readonly preparesEffect?: boolean;
  execute(input: I, ctx: CapabilityContext): Promise<O>;
  revert?(ctx: UndoContext): Promise<void>;
  /** Tells whether an interrupted call took effect, given the undo plan captured before it. */
  reconcile?(
    input: I,
    plan: UndoPlan | undefined,
    ctx: CapabilityContext,
  ): Promise<ReconcileResult>;
}

/** A capability of any input/output type, as stored in a registry. */
// biome-ignore lint/suspicious/noExplicitAny: a registry holds capabilities of every input type.
export type AnyCapability = CapabilityDefinition<any, any>;

/**
 * Names of user-defined capabilities: two or more dotted lower-case words, `domain.verb`
 * (`crm.create_account`, `email.send`: the original project's domain capabilities) or
 * `domain.group.verb`.
 */
export const PLUGIN_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,}$/;

/**
 * Declares a capability with full type inference of its input and output.
 *
 * @example
 * export const greet = defineCapability({
 *   name: "demo.greet.say", description: "Says hello", input: z.object({ who: z.string() }),
 *   risk: "LOW", effect: "read", idempotent: true, undo: "none",
 *   async execute({ who }) { return { text: `hello ${who}` }; },
 * });
 */
export function defineCapability<I, O>(
  def: CapabilityDefinition<I, O>,
): CapabilityDefinition<I, O> {
  if (!PLUGIN_NAME.test(def.name)) {
    throw new TypeError(
      `capability name "${def.name}" must look like domain.verb or domain.group.verb`,
    );
  }
  if (def.undo === "builtin" && (!def.prepare || !def.revert)) {
    throw new TypeError(`capability "${def.name}" declares builtin undo without prepare/revert`);
  }
  return Object.freeze({ ...def });
}

/** The read-only view of capabilities the spec compiler and policy need. */
export interface CapabilityCatalog {
  get(name: string): AnyCapability | undefined;
  names(): readonly string[];
}

/**
 * `inputs` as `cap` will use them: its schema applied (defaults filled in, values it
 * normalizes normalized, e.g. an HTTP method upper-cased), so a policy condition sees the value
 * the call uses, not only how it was spelled. Inputs the schema refuses are returned as given.
 *
 * @example inputsAsUsed(httpRequest, { url, method: "delete" }) // { url, method: "DELETE", ... }
 */
export function inputsAsUsed(cap: AnyCapability, inputs: JsonValue): JsonValue {
  const parsed = cap.input.safeParse(inputs);
  return parsed.success ? (parsed.data as JsonValue) : inputs;
}
