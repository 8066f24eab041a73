/**
 * @module Crash recovery (SPEC §9): takes over every non-terminal run whose lease lapsed or whose
 * owner died — never one a live process holds — and brings it to a correct state. Completed
 * steps are never run again; an in-flight step is re-run when that is safe (no side effect, or
 * idempotent), otherwise reconciled; if nobody can tell whether it took effect, the run ends
 * FAILED/IN_DOUBT after undoing what is known. An interrupted rollback resumes where it stopped.
 */
import { AirunError, ConflictError } from "../../core/errors.js";
import { CompensationStatus, RunStatus, StepStatus, UndoKind } from "../../core/status.js";
import type { RunRecord, WriteOp } from "../../store/store.js";
import { settleApprovals } from "../approvals/approvals.js";
import type { EngineContext } from "../context.js";
import { EventType, eventOp } from "../events.js";
import { isOwnerAlive } from "../owner.js";
import { RunExecution } from "../state/run-state.js";
import { armed, failStep, type Resolved, reconcileStep, resolveCall } from "../step/step-runner.js";

/** What recovery did with one run. */
export interface RecoveredRun {
  readonly runId: string;
  readonly action:
    | "resumed"
    | "skipped_live_owner"
    | "skipped_waiting"
    | "lost_race"
    /** An open session with no call in flight: left open (resumable by id), lease released. */
    | "skipped_open_session";
  readonly status: string;
}

/**
 * Claims a run for this process if its holder is gone: free, expired, or a dead owner on this
 * host. Returns the claimed run, or undefined if a live process holds it.
 */
export async function claimRun(
  ctx: EngineContext,
  run: RunRecord,
  now = Date.now(),
): Promise<RunRecord | undefined> {
  const holder = run.leaseOwner;
  if (holder && holder !== ctx.owner) {
    const expired = run.leaseExpiresAt !== null && run.leaseExpiresAt < now;
    if (!expired && isOwnerAlive(holder)) return undefined;
  }
  return ctx.store.acquireLease(
    run.id,
    ctx.owner,
    ctx.settings.leaseTtlMs,
    now,
    holder ?? undefined,
  );
}

/** Recovers every non-terminal run. */
export async function recoverAll(ctx: EngineContext): Promise<RecoveredRun[]> {
  const out: RecoveredRun[] = [];
  for (const run of await ctx.store.listActiveRuns()) out.push(await recoverRun(ctx, run));
  return out;
}

/** Recovers one run (see module doc). */
export async function recoverRun(ctx: EngineContext, run: RunRecord): Promise<RecoveredRun> {
  // A session this very process holds open is in use, not orphaned.
  if (run.kind === "session" && run.leaseOwner === ctx.owner) {
    return { runId: run.id, action: "skipped_live_owner", status: run.status };
  }
  const claimed = await claimRun(ctx, run);
  if (!claimed) return { runId: run.id, action: "skipped_live_owner", status: run.status };
  const exec = await RunExecution.load(ctx, claimed);
  if (claimed.status === RunStatus.WAITING_APPROVAL) {
    // Nothing to do unless an approval expired (its on_timeout applies now) or was decided.
    if (!(await settleApprovals(exec))) {
      await ctx.store.releaseLease(run.id, ctx.owner);
      return { runId: run.id, action: "skipped_waiting", status: claimed.status };
    }
  }
  // Sessions (engine/session.ts): an open session whose owner is gone stays open, resumable by
  // id, unless it was rolling back; only a call it left in flight is settled here.
  if (
    exec.run.kind === "session" &&
    exec.run.status === RunStatus.RUNNING &&
    ![...exec.steps.values()].some(
      (s) => s.status === StepStatus.RUNNING || s.status === StepStatus.PENDING,
    )
  ) {
    await ctx.store.releaseLease(run.id, ctx.owner);
    return { runId: run.id, action: "skipped_open_session", status: exec.run.status };
  }
  await prepareResume(exec);
  try {
    if ((await exec.drive()) === "open") await ctx.store.releaseLease(run.id, ctx.owner);
  } catch (err) {
    if (err instanceof ConflictError)
      return { runId: run.id, action: "lost_race", status: exec.run.status };
    throw err;
  }
  return { runId: run.id, action: "resumed", status: exec.run.status };
}

/**
 * Puts the in-flight parts of a crashed run into a state `drive()` can continue from.
 */
export async function prepareResume(exec: RunExecution): Promise<void> {
  const ctx = exec.ctx;
  const decisions: Record<string, string> = {};
  const compensating = exec.run.status === RunStatus.COMPENSATING;
  if (compensating) {
    for (const comp of exec.compensations.values()) {
      if (comp.status !== CompensationStatus.RUNNING || comp.kind === "builtin") continue;
      // Builtin reverts are idempotent; a declared compensation is re-run only if its capability is.
      const cap = ctx.catalog.get(comp.capability);
      if (!cap?.idempotent) {
        await exec.commit([
          {
            op: "putCompensation",
            compensation: {
              ...comp,
              status: CompensationStatus.FAILED,
              error: {
                code: "IN_DOUBT",
                message: `interrupted ${comp.capability} is not idempotent`,
              },
              updatedAt: Date.now(),
            },
          },
        ]);
        decisions[comp.stepId] = "compensation_in_doubt";
      }
    }
  }
  for (const rec of [...exec.steps.values()]) {
    if (rec.status !== StepStatus.RUNNING) continue;
    const ps = exec.planStep(rec.stepId);
    const comp = exec.compensations.get(rec.stepId);
    let call: Resolved | undefined;
    try {
      call = resolveCall(exec, ps);
    } catch {
      // Inputs no longer resolve: only reconciliation can tell.
    }
    const noEffect = call?.undo === UndoKind.NONE && ps.compensation === null;
    // A running run re-runs what is safe to re-run; a rolling-back run only needs to know
    // whether the interrupted call took effect, so that its undo runs.
    const verdict = noEffect
      ? "not_applied"
      : !compensating && call?.idempotent
        ? "rerun"
        : await reconcileStep(exec, ps, comp);
    decisions[rec.stepId] = verdict;
    // Each status change is committed with its ledger entry (`step.reconciled` names the status
    // the step moves to), so state and ledger agree after this crash too.
    const reconciled = (status: StepStatus) =>
      eventOp(EventType.STEP_RECONCILED, exec.run.id, rec.stepId, { verdict, status });
    if (verdict === "rerun" || (verdict === "not_applied" && !compensating)) {
      await exec.commit([
        { op: "putStep", step: { ...rec, status: StepStatus.PENDING } },
        reconciled(StepStatus.PENDING),
      ]);
    } else if (verdict === "applied") {
      const ops: WriteOp[] = [
        {
          op: "putStep",
          step: { ...rec, status: StepStatus.SUCCEEDED, outputs: null, finishedAt: Date.now() },
        },
        reconciled(StepStatus.SUCCEEDED),
      ];
      if (comp?.status === CompensationStatus.PENDING) {
        ops.push({ op: "putCompensation", compensation: armed(exec, ps, comp, null) });
      }
      await exec.commit(ops);
    } else if (verdict === "not_applied") {
      await failStep(
        exec,
        ps,
        new AirunError(
          "INTERRUPTED",
          `step ${rec.stepId} was interrupted by a crash during rollback`,
        ),
        { effectUnknown: false, verdict: "not_applied" },
      );
    } else {
      await failStep(
        exec,
        ps,
        new AirunError(
          "IN_DOUBT",
          `step ${rec.stepId} was interrupted and its effect cannot be determined`,
        ),
        { effectUnknown: true, verdict: "unknown" },
      );
    }
  }
  await exec.commit([eventOp(EventType.RUN_RECOVERED, exec.run.id, null, { steps: decisions })]);
}
