/**
 * @module Stage 5 of a step, invoke: one attempt of the capability call, bounded by the step's
 * timeout. The capability receives a signal that aborts at the timeout or on cancel, and the
 * engine stops waiting at that moment even if the capability ignores it.
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
    let stopped = false;
    let stopReason: unknown;
    const stop = (reason: unknown) => {
      if (stopped) return;
      stopped = true;
      stopReason = reason;
      untrack();
      ac?.abort(reason);
      reject(reason);
    };
    // The run's shared deadline timer and one cancel listener per run (RunState.trackCall)
    // replace a timer and an abort listener per call.
    const untrack = state.trackCall(stop, timeoutMs, () => {
      stop(
        new CapabilityError("TIMEOUT", `step ${ps.id} timed out after ${timeoutMs}ms`, {
          retryable: true,
        }),
      );
    });
    const ctx: CapabilityContext = {
      get signal(): AbortSignal {
        if (ac === undefined) {
          ac = new AbortController();
          if (stopped) ac.abort(stopReason);
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
