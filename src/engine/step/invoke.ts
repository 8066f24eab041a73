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
    // The capability's AbortController is made only when it reads `ctx.signal` (most never
    // do: creating one and wiring its listeners cost more than a whole echo call). Once the
    // engine stopped waiting, a signal read later is born aborted with the same reason.
    let ac: AbortController | undefined;
    let abortReason: unknown;
    const abort = (reason: unknown) => {
      if (abortReason !== undefined) return;
      abortReason = reason;
      ac?.abort(reason);
    };
    // The run's shared deadline timer and one cancel listener per run (RunState.trackCall)
    // replace a timer and an abort listener per call.
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
    const ctx: CapabilityContext = {
      get signal(): AbortSignal {
        if (ac === undefined) {
          ac = new AbortController();
          if (abortReason !== undefined) ac.abort(abortReason);
        }
        return ac.signal;
      },
      sandbox: state.ctx.settings.sandbox,
      runId: state.run.id,
      stepId: ps.id,
      attempt,
      ...(call.paths.length > 0 ? { paths: authorizedPaths(call) } : {}),
    };
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

/** The canonical paths the gate authorized, by input field (`ctx.paths`). */
function authorizedPaths(call: Resolved): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of call.paths) out[t.field] = t.path;
  return out;
}
