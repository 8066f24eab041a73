/**
 * @module Stages 5 and 6 of a step, repeated per attempt: invoke the capability, then commit
 * its completion, or its failure. A retryable `CapabilityError` is retried with backoff up to
 * `retry.max_attempts` (the next attempt number is committed before it starts, with governance
 * settling the failed attempt and reserving the next); a timeout is retried only for idempotent
 * capabilities. A `CapabilityError` is an atomic failure: no effect happened (principle 11);
 * a timeout or an untyped error leaves the effect unknown (then reconciled).
 */
import { CapabilityError, toAirunError } from "../../core/errors.js";
import { isPlainObject, type JsonObject } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import type { Decision } from "../../core/status.js";
import { EventType } from "../events.js";
import { runGovernance } from "../governance/run-governance.js";
import { retryDelayMs, sleep } from "../retry.js";
import { errorJson } from "../state/run-records.js";
import { mustStop, type RunState } from "../state/run-state.js";
import { maskError } from "../state/scope.js";
import { endStepSpan, startStepSpan } from "../telemetry.js";
import { recheckCompensation } from "./compensation-check.js";
import { successOps } from "./complete.js";
import { failStep, refuse } from "./fail.js";
import type { Recorded } from "./gate.js";
import { invoke } from "./invoke.js";
import type { Resolved } from "./resolve.js";

/** What the attempts of an admitted call start from. */
export interface Admitted {
  readonly decision: JsonObject;
  readonly verdict: Decision;
  readonly recorded: Recorded;
  /** The first attempt's number (attempts recorded so far + 1). */
  readonly attempt: number;
  readonly started: number;
  /** A write-ahead intent was committed before the first attempt. */
  readonly intent: boolean;
  /** The call has an effect worth reconciling (built-in undo or a declared compensation). */
  readonly sideEffect: boolean;
}

/** Runs the call's attempts until one completes or the step fails (see module doc). */
export async function runAttempts(
  state: RunState,
  ps: PlanStep,
  call: Resolved,
  admitted: Admitted,
): Promise<void> {
  const { decision, recorded, sideEffect } = admitted;
  // A pure call (in-memory computation, no intent) has nothing to guard and nothing to wait
  // for: its completion rides with the run's next commit (`RunState.defer`).
  const pure = call.cap.pure === true && !admitted.intent;
  const gov = runGovernance(state);
  let attempt = admitted.attempt;
  for (;;) {
    const span = startStepSpan(state, ps, call, admitted.verdict, attempt);
    try {
      if (!pure) {
        // Nothing leaves the process on state not yet written: deferred completions first.
        await state.flush();
        // The lease is checked again right before the call acts: a worker paused past its
        // lease (whose run another worker may hold now) stops here instead of acting twice.
        await state.confirmLease();
      }
      const rawOutputs = await invoke(state, ps, call, attempt, gov?.remainingMs());
      const granted = decision.compensation_decision;
      const unauthorized = isPlainObject(granted)
        ? await recheckCompensation(state, ps, call, granted, rawOutputs)
        : null;
      const ops = successOps(state, ps, call, {
        decision,
        rawOutputs,
        attempts: attempt,
        started: admitted.started,
        intent: admitted.intent,
        unauthorized,
      });
      if (pure) state.defer(ops);
      else await state.commit(ops);
      endStepSpan(span);
      return;
    } catch (err) {
      endStepSpan(span, err);
      if (mustStop(err)) throw err;
      const e = maskError(state, toAirunError(err));
      // The engine stopped waiting (a timeout, a cancel, a sibling's failure): the call may have
      // taken effect all the same. Only a capability's own typed failure says it did not.
      const effectUnknown =
        !(e instanceof CapabilityError) || e.code === "TIMEOUT" || e.code === "CANCELLED";
      // Stopped at the run's `max_duration`: the run abstains over its budget.
      const overBudget = e.code === "TIMEOUT" ? gov?.lateRefusal(ps) : null;
      if (overBudget) {
        return refuse(state, ps, overBudget, recorded, {
          attempts: attempt,
          effectUnknown: effectUnknown && sideEffect,
        });
      }
      const retryable =
        e instanceof CapabilityError && e.retryable && (!effectUnknown || call.idempotent);
      if (!retryable || attempt >= ps.retry.maxAttempts || state.signal.aborted || state.failure) {
        await failStep(state, ps, e, {
          effectUnknown: effectUnknown && sideEffect,
          attempts: attempt,
          recorded,
        });
        return;
      }
      const unknown = effectUnknown && sideEffect;
      const delayMs = retryDelayMs(ps.retry, attempt + 1);
      const next = gov?.retry(ps, call, e, attempt + 1);
      if (next && "refusal" in next) {
        return refuse(state, ps, next.refusal, recorded, {
          attempts: attempt,
          effectUnknown: unknown,
        });
      }
      await state.commit([
        ...(next?.ops ?? []),
        {
          op: "putStep",
          step: { ...state.step(ps.id), attempts: attempt + 1, error: errorJson(e) },
        },
        state.event(EventType.STEP_RETRY, ps.id, {
          failed_attempt: attempt,
          next_attempt: attempt + 1,
          delay_ms: delayMs,
          error: errorJson(e),
        }),
      ]);
      attempt += 1;
      try {
        await sleep(delayMs, state.signal);
      } catch {
        await failStep(state, ps, e, { effectUnknown: false, attempts: attempt - 1, recorded });
        return;
      }
      const late = gov?.lateRefusal(ps);
      if (late) {
        return refuse(state, ps, late, recorded, { attempts: attempt - 1, effectUnknown: unknown });
      }
    }
  }
}
