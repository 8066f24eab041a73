/**
 * @module The failure of a step: one commit recording the step FAILED, what became of its
 * compensation record, its spend settled and, when it decides the run's fate, the run's move
 * to COMPENSATING. When the effect of the failed call is unknown (a timeout, an untyped error,
 * an attempt interrupted by a crash), the capability's `reconcile` decides whether its
 * compensation must run; if nobody can tell, the run ends IN_DOUBT after undoing the rest.
 */
import type { UndoPlan } from "../../core/capability.js";
import type { AirunError } from "../../core/errors.js";
import type { JsonObject } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { CompensationStatus, type Outcome, Reason, StepStatus } from "../../core/status.js";
import { resolveTemplates } from "../../core/template.js";
import type { CompensationRecord, StepRecord, WriteOp } from "../../store/store.js";
import { EventType } from "../events.js";
import type { Refusal } from "../governance/refusals.js";
import { runGovernance } from "../governance/run-governance.js";
import { beforeImages, undoData } from "../state/before-images.js";
import { errorJson } from "../state/run-records.js";
import { mustStop, type RunState } from "../state/run-state.js";
import { maskError, templateScope } from "../state/scope.js";
import { traceStepFailure } from "../telemetry.js";
import { armed } from "./complete.js";
import type { Recorded } from "./gate.js";
import { capabilityContext } from "./resolve.js";

/** Whether an interrupted or timed-out call took effect. */
export type Verdict = "applied" | "not_applied" | "unknown";

/** How a step failed. */
export interface FailOptions {
  readonly effectUnknown: boolean;
  /** Already reconciled (recovery): skip asking the capability again. */
  readonly verdict?: Verdict;
  readonly reason?: Reason;
  /** Attempts made; default: as recorded (none for a step refused before any attempt). */
  readonly attempts?: number;
  /**
   * The decision, context hash and inputs of a step that failed before its intent was
   * written (denied, or side-effect free): recorded with the failure.
   */
  readonly recorded?: Recorded | undefined;
  /** Governance refusals: figures added to the run's reason detail, and the outcome. */
  readonly detail?: JsonObject;
  readonly outcome?: Outcome;
}

/** Records a step failure and, when decisive, the run's reason to roll back (see module doc). */
export async function failStep(
  state: RunState,
  ps: PlanStep,
  e: AirunError,
  opts: FailOptions,
): Promise<void> {
  // A failure before any attempt (refused, invalid, approval rejected) has no attempt span.
  maskError(state, e);
  if (opts.attempts === undefined) traceStepFailure(state, ps, e, opts.recorded);
  let reason = opts.reason ?? Reason.STEP_FAILED;
  /** The `step.reconciled` entry, when the capability was asked. */
  const reconciled: WriteOp[] = [];
  const compensation: WriteOp[] = [];
  const comp = state.compensations.get(ps.id);
  if (comp && comp.status === CompensationStatus.PENDING) {
    // Refused before any attempt in this process (policy, governance, a rejected approval), a
    // step whose write-ahead record is still PENDING was interrupted by a crash: that earlier
    // attempt may have taken effect, so it is reconciled rather than assumed away.
    const interrupted = opts.attempts === undefined;
    let verdict = opts.verdict ?? "not_applied";
    if ((opts.effectUnknown || interrupted) && !opts.verdict) {
      const answer = await reconcileStep(state, ps, comp);
      verdict = answer.verdict;
      reconciled.push(...answer.ops);
    }
    if (verdict === "applied") {
      compensation.push({ op: "putCompensation", compensation: armed(state, ps, comp, null) });
    } else if (verdict === "not_applied") {
      compensation.push(
        {
          op: "putCompensation",
          compensation: { ...comp, status: CompensationStatus.VOID, updatedAt: state.now() },
        },
        state.event(EventType.COMPENSATION_VOID, ps.id, { why: "effect did not happen" }),
      );
    } else {
      reason = Reason.IN_DOUBT;
      compensation.push({
        op: "putCompensation",
        compensation: {
          ...comp,
          status: CompensationStatus.FAILED,
          error: { code: "IN_DOUBT", message: "cannot tell whether the call took effect" },
          updatedAt: state.now(),
        },
      });
    }
  }
  const prev = state.step(ps.id);
  const unrecorded = prev.decision === null ? opts.recorded : undefined;
  const step: StepRecord = {
    ...prev,
    status: StepStatus.FAILED,
    attempts: opts.attempts ?? prev.attempts,
    ...(unrecorded
      ? {
          decision: unrecorded.decision,
          contextHash: unrecorded.contextHash,
          inputs: unrecorded.inputs,
        }
      : {}),
    error: errorJson(e),
    finishedAt: state.now(),
  };
  const ops: WriteOp[] = [
    ...reconciled,
    { op: "putStep", step },
    ...(unrecorded ? [state.event(EventType.STEP_DECISION, ps.id, unrecorded.decision)] : []),
    ...compensation,
    state.event(EventType.STEP_FAILED, ps.id, { ...errorJson(e), attempts: step.attempts }),
  ];
  const gov = runGovernance(state);
  if (gov) ops.push(...gov.failureOps(ps.id, e, step.attempts));
  // The first failure (or an in-doubt one, which overrides) moves the run to COMPENSATING in
  // the same transaction, so a crash right after it still rolls back.
  const detail = { step: ps.id, code: e.code, message: e.message, ...opts.detail };
  const decisive = state.isDecisive(reason);
  if (decisive) ops.push(...state.compensatingOps(reason, detail, opts.outcome));
  await state.commitFailure(ops, { reason, detail }, decisive);
}

/** Fails a step governance refused before its call (the run abstains; run-governance.ts). */
export function refuse(
  state: RunState,
  ps: PlanStep,
  r: Refusal,
  recorded: Recorded | undefined,
  opts: { attempts?: number; effectUnknown?: boolean } = {},
): Promise<void> {
  return failStep(state, ps, r.error, {
    effectUnknown: opts.effectUnknown ?? false,
    reason: r.reason,
    outcome: r.outcome,
    detail: r.detail,
    recorded,
    ...(opts.attempts !== undefined ? { attempts: opts.attempts } : {}),
  });
}

/**
 * Asks the capability whether an interrupted or timed-out call took effect. Returns the verdict
 * and the `step.reconciled` entry to commit with what follows from it.
 */
export async function reconcileStep(
  state: RunState,
  ps: PlanStep,
  comp: CompensationRecord | undefined,
): Promise<{ verdict: Verdict; ops: WriteOp[] }> {
  const cap = state.ctx.catalog.get(ps.capability ?? "");
  // Without a reconcile nobody can tell: a declared compensation does not say the call happened
  // (running it on a guess would undo what may never have been done).
  if (!cap?.reconcile) return { verdict: "unknown", ops: [] };
  try {
    const input = cap.input.parse(resolveTemplates(ps.inputs, templateScope(state, new Map())));
    const plan: UndoPlan | undefined = comp
      ? { data: await undoData(state.ctx, comp), blobs: await beforeImages(state.ctx, comp, false) }
      : undefined;
    const verdict = await cap.reconcile(
      input,
      plan,
      capabilityContext(state, ps, state.step(ps.id).attempts),
    );
    return { verdict, ops: [state.event(EventType.STEP_RECONCILED, ps.id, { verdict })] };
  } catch (err) {
    if (mustStop(err)) throw err;
    return { verdict: "unknown", ops: [] };
  }
}
