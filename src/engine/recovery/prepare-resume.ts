/**
 * @module Puts the in-flight parts of an interrupted run into a state the driver can continue
 * from (SPEC §9): completed steps are never run again; a step in flight is re-run when that is
 * safe (no side effect, or idempotent), otherwise reconciled against its write-ahead record;
 * if nobody can tell whether it took effect, it fails IN_DOUBT (the run then undoes what is
 * known and ends FAILED). An interrupted declared compensation that is not idempotent is in
 * doubt too. Each status change is committed with its `step.reconciled` entry (naming the
 * status it set), so state and ledger agree after a crash here too.
 */
import { AirunError } from "../../core/errors.js";
import { CompensationStatus, RunStatus, StepStatus, UndoKind } from "../../core/status.js";
import type { WriteOp } from "../../store/store.js";
import { EventType } from "../events.js";
import type { RunState } from "../state/run-state.js";
import { armed } from "../step/complete.js";
import { failStep, reconcileStep, type Verdict } from "../step/fail.js";
import { type Resolved, resolveCall } from "../step/resolve.js";

/** Settles what the run had in flight when it was interrupted (see module doc). */
export async function prepareResume(state: RunState): Promise<void> {
  const decisions: Record<string, string> = {};
  const compensating = state.run.status === RunStatus.COMPENSATING;
  /** Ops committed together at the end (or before a failure, which commits on its own). */
  let pending: WriteOp[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const ops = pending;
    pending = [];
    await state.commit(ops);
  };
  if (compensating) {
    for (const comp of state.compensations.values()) {
      if (comp.status !== CompensationStatus.RUNNING || comp.kind === "builtin") continue;
      // Builtin reverts are idempotent; a declared compensation is re-run only if its capability is.
      if (state.ctx.catalog.get(comp.capability)?.idempotent) continue;
      pending.push({
        op: "putCompensation",
        compensation: {
          ...comp,
          status: CompensationStatus.FAILED,
          error: { code: "IN_DOUBT", message: `interrupted ${comp.capability} is not idempotent` },
          updatedAt: state.now(),
        },
      });
      decisions[comp.stepId] = "compensation_in_doubt";
    }
  }
  for (const rec of [...state.steps.values()]) {
    if (rec.status !== StepStatus.RUNNING) continue;
    const ps = state.planStep(rec.stepId);
    const comp = state.compensations.get(rec.stepId);
    let call: Resolved | undefined;
    try {
      call = resolveCall(state, ps);
    } catch {
      // Inputs no longer resolve: only reconciliation can tell.
    }
    const noEffect = call?.undo === UndoKind.NONE && ps.compensation === null;
    // A running run re-runs what is safe to re-run; a rolling-back run only needs to know
    // whether the interrupted call took effect, so that its undo runs.
    let verdict: Verdict | "rerun";
    if (noEffect) verdict = "not_applied";
    else if (!compensating && call?.idempotent) verdict = "rerun";
    else {
      const answer = await reconcileStep(state, ps, comp);
      pending.push(...answer.ops);
      verdict = answer.verdict;
    }
    decisions[rec.stepId] = verdict;
    const reconciled = (status: StepStatus) =>
      state.event(EventType.STEP_RECONCILED, rec.stepId, { verdict, status });
    if (verdict === "rerun" || (verdict === "not_applied" && !compensating)) {
      pending.push(
        { op: "putStep", step: { ...rec, status: StepStatus.PENDING } },
        reconciled(StepStatus.PENDING),
      );
    } else if (verdict === "applied") {
      pending.push(
        {
          op: "putStep",
          step: { ...rec, status: StepStatus.SUCCEEDED, outputs: null, finishedAt: state.now() },
        },
        reconciled(StepStatus.SUCCEEDED),
      );
      if (comp?.status === CompensationStatus.PENDING) {
        pending.push({ op: "putCompensation", compensation: armed(state, ps, comp, null) });
      }
    } else {
      await flush();
      const inDoubt = verdict === "unknown";
      await failStep(
        state,
        ps,
        inDoubt
          ? new AirunError(
              "IN_DOUBT",
              `step ${rec.stepId} was interrupted and its effect cannot be determined`,
            )
          : new AirunError(
              "INTERRUPTED",
              `step ${rec.stepId} was interrupted by a crash during rollback`,
            ),
        { effectUnknown: inDoubt, verdict },
      );
    }
  }
  pending.push(state.event(EventType.RUN_RECOVERED, null, { steps: decisions }));
  await flush();
}
