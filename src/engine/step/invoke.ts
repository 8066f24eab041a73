/**
 * @module Stage 5 of a step, invoke: one attempt of the capability call, bounded by the step's
 * timeout. The capability receives a signal that aborts at the timeout, and the engine stops
 * waiting then even if the capability ignores it. When the run stops early (a cancel, a
 * sibling's failure) the signal aborts too, but the engine waits for the call to settle, up to
 * its timeout: stopping waiting on a call that may still act would let its effect land after
 * the rollback went past it. A capability that honours its signal settles at once; what it then
 * reports (its outputs, or an error) is recorded as for any call.
 */
import type { CapabilityContext } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import type { JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import type { RunState } from "../state/run-state.js";
import type { Resolved } from "./resolve.js";

/** Makes one attempt of the call; resolves with its outputs or rejects with its error. */
export function invoke(
  state: RunState,
  ps: PlanStep,
  call: Resolved,
  attempt: number,
  /** The run's `max_duration` ends sooner than the step's timeout: stop the call there. */
  budgetMs?: number,
): Promise<JsonValue> {
  const stepTimeoutMs = ps.timeoutMs ?? state.ctx.settings.defaultTimeoutMs;
  const timeoutMs = budgetMs === undefined ? stepTimeoutMs : Math.min(stepTimeoutMs, budgetMs);
  return new Promise<JsonValue>((resolve, reject) => {
    const ctx = new CallContext(
      state.ctx.settings.sandbox,
      state.run.id,
      ps.id,
      attempt,
      call.paths.length > 0 ? authorizedPaths(call) : undefined,
    );
    // The run's shared deadline timer and one cancel listener per run (RunState.trackCall)
    // replace a timer and an abort listener per call.
    const abort = (reason: unknown) => CallContext.abort(ctx, reason);
    const untrack = state.trackCall(abort, timeoutMs, () => {
      const timeout = new CapabilityError(
        "TIMEOUT",
        `step ${ps.id} timed out after ${timeoutMs}ms`,
        { retryable: true },
      );
      untrack();
      abort(timeout);
      reject(timeout);
    });
    let pending: Promise<unknown>;
    try {
      pending = call.cap.execute(call.input, ctx);
    } catch (err) {
      untrack();
      reject(err);
      return;
    }
    pending.then(
      (result: unknown) => {
        untrack();
        resolve((result ?? {}) as JsonValue);
      },
      (err: unknown) => {
        untrack();
        reject(err);
      },
    );
  });
}

/**
 * The context of one attempt. Its AbortController is made only when the capability reads
 * `signal` (most never do: creating the signal costs more than a whole echo call); once the
 * engine stopped waiting, a signal read later is born aborted with the same reason. A class,
 * not an object literal with a getter: V8 builds a literal with an accessor through a runtime
 * call, which cost ~2 µs per step (more than the rest of `invoke`); an instance is a plain
 * allocation. `signal` is a getter of the class, so `{ ...ctx }` does not copy it: pass the
 * context itself on, or name `signal: ctx.signal` in a copy.
 */
class CallContext implements CapabilityContext {
  readonly sandbox: CapabilityContext["sandbox"];
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  declare readonly paths?: Readonly<Record<string, string>>;
  #ac: AbortController | undefined;
  #abortReason: unknown;

  constructor(
    sandbox: CapabilityContext["sandbox"],
    runId: string,
    stepId: string,
    attempt: number,
    paths: Readonly<Record<string, string>> | undefined,
  ) {
    this.sandbox = sandbox;
    this.runId = runId;
    this.stepId = stepId;
    this.attempt = attempt;
    if (paths !== undefined) (this as { paths?: Readonly<Record<string, string>> }).paths = paths;
  }

  get signal(): AbortSignal {
    if (this.#ac === undefined) {
      this.#ac = new AbortController();
      if (this.#abortReason !== undefined) this.#ac.abort(this.#abortReason);
    }
    return this.#ac.signal;
  }

  /**
   * The engine stopped waiting (timeout, cancel): the signal aborts, now or when first read.
   * Static, so the capability's context carries no way to abort itself.
   */
  static abort(ctx: CallContext, reason: unknown): void {
    if (ctx.#abortReason !== undefined) return;
    ctx.#abortReason = reason;
    ctx.#ac?.abort(reason);
  }
}

/** The canonical paths the gate authorized, by input field (`ctx.paths`). */
function authorizedPaths(call: Resolved): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of call.paths) out[t.field] = t.path;
  return out;
}
