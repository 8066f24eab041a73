/**
 * @module Crash recovery of every interrupted run (SPEC §9): takes over each non-terminal run
 * whose lease lapsed or whose owner died — never one a live process holds — settles what it
 * had in flight (`prepare-resume.ts`) and drives it on. Runs are prepared concurrently, at
 * most `concurrency` at a time (taking leases and reconciling is I/O); each prepared run is
 * then driven like any other run of the process, and the sweep resolves once all have stopped.
 */
import { ConflictError } from "../../core/errors.js";
import { isPlainObject, type JsonObject } from "../../core/json.js";
import { Outcome, Reason, RunStatus, StepStatus } from "../../core/status.js";
import type { RunRecord } from "../../store/store.js";
import { settleApprovals } from "../approvals/decide.js";
import type { EngineContext } from "../context.js";
import { SESSION_IDLE_META } from "../events.js";
import type { DriveResult } from "../run/driver.js";
import { ApprovalStatus, approvalOf } from "../state/approval-record.js";
import { RunState } from "../state/run-state.js";
import { claimRun } from "./claim.js";
import { prepareResume } from "./prepare-resume.js";

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

/** How a sweep runs. */
export interface SweepOptions {
  /** Runs being prepared at once (at least 1). */
  readonly concurrency: number;
  /** Drives a run this process now holds (the runtime tracks it while it runs). */
  readonly drive: (state: RunState) => Promise<DriveResult>;
  /**
   * Reserves a run for this sweep; false when this process already has it (driven, claimed by a
   * command or another sweep, an open session's). A lease held by this very process looks free
   * to `claimRun`, so a long-lived process (`airun serve`) sweeping while it drives runs must
   * not take those over. Absent: every run may be taken (one command per process).
   */
  readonly take?: (runId: string) => boolean;
  /** Gives back what `take` reserved, once the sweep is done with the run. */
  readonly release?: (runId: string) => void;
  /**
   * Leave to the claim loop of `airun worker` the runs it claims itself (an unfinished workflow
   * run whose lease is free or lapsed), so they are taken at most `--concurrency` at a time;
   * the sweep still takes over runs of a dead owner on this host before their leases lapse,
   * settles waiting approvals that were decided or expired, and idle sessions.
   */
  readonly leaveQueued?: boolean;
}

/** Recovers every non-terminal run (see module doc). */
export async function recoverAll(ctx: EngineContext, opts: SweepOptions): Promise<RecoveredRun[]> {
  const runs = await ctx.store.listActiveRuns();
  const results: Promise<RecoveredRun>[] = [];
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < runs.length; i = next++) {
      const run = runs[i]!;
      if (opts.take && !opts.take(run.id)) {
        results[i] = Promise.resolve({
          runId: run.id,
          action: "skipped_live_owner",
          status: run.status,
        });
        continue;
      }
      const done = () => opts.release?.(run.id);
      // The lane moves on once this run is prepared (or failed to be), not when it ends.
      try {
        const p = await prepare(ctx, run);
        results[i] = (
          "result" in p ? Promise.resolve(p.result) : resume(ctx, p.state, opts)
        ).finally(done);
      } catch (err) {
        done();
        results[i] = Promise.resolve().then(() => lost(run, err));
      }
    }
  };
  if (opts.leaveQueued) {
    const now = ctx.clock.now();
    const queued = (r: RunRecord) =>
      r.kind === "workflow" &&
      r.status !== RunStatus.WAITING_APPROVAL &&
      (r.leaseOwner === null || r.leaseExpiresAt === null || r.leaseExpiresAt <= now);
    for (let i = runs.length - 1; i >= 0; i--) if (queued(runs[i]!)) runs.splice(i, 1);
  }
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, lane));
  const settled = await Promise.allSettled(results);
  const failed = settled.find((s) => s.status === "rejected");
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<RecoveredRun>).value);
}

type Prepared = { readonly result: RecoveredRun } | { readonly state: RunState };

/** Claims a run and settles what it left in flight, or says why it is left alone. */
async function prepare(ctx: EngineContext, run: RunRecord): Promise<Prepared> {
  const skip = (action: RecoveredRun["action"], status: string = run.status) => ({
    result: { runId: run.id, action, status },
  });
  // A session this very process holds open is in use, not orphaned.
  if (run.kind === "session" && run.leaseOwner === ctx.owner) return skip("skipped_live_owner");
  // A waiting run needs nothing unless an approval was decided or expired (its on_timeout
  // applies now): checked before taking its lease, so a sweep writes nothing for it.
  if (run.status === RunStatus.WAITING_APPROVAL && !(await approvalToSettle(ctx, run))) {
    return skip("skipped_waiting");
  }
  const claimed = await claimRun(ctx, run);
  if (!claimed) return skip("skipped_live_owner");
  const state = await RunState.load(ctx, claimed);
  if (claimed.status === RunStatus.WAITING_APPROVAL && !(await settleApprovals(state))) {
    await ctx.store.releaseLease(run.id, ctx.owner);
    return skip("skipped_waiting", claimed.status);
  }
  // Sessions: an open session whose owner is gone stays open, resumable by id, unless it was
  // rolling back, or its client went away and its idle time is over (rolled back now); only a
  // call it left in flight is settled here.
  if (
    state.run.kind === "session" &&
    state.run.status === RunStatus.RUNNING &&
    ![...state.steps.values()].some(
      (s) => s.status === StepStatus.RUNNING || s.status === StepStatus.PENDING,
    )
  ) {
    const idle = state.run.meta[SESSION_IDLE_META];
    const due =
      isPlainObject(idle) && typeof idle.rollback_at === "number" ? idle.rollback_at : null;
    if (due === null || due > ctx.clock.now()) {
      await ctx.store.releaseLease(run.id, ctx.owner);
      return skip("skipped_open_session", state.run.status);
    }
    // Its client went away without committing and its idle time is over: roll it back.
    const detail: JsonObject = { requested: "session.idle_timeout", ...(idle as JsonObject) };
    await state.commitFailure(
      state.compensatingOps(Reason.CANCELLED, detail, Outcome.ABSTAIN),
      { reason: Reason.CANCELLED, detail },
      true,
    );
    return { state };
  }
  await prepareResume(state);
  return { state };
}

/** Whether a waiting run has an approval decided, or pending past its expiry. */
async function approvalToSettle(ctx: EngineContext, run: RunRecord): Promise<boolean> {
  const now = ctx.clock.now();
  for (const s of await ctx.store.getSteps(run.id)) {
    if (s.status !== StepStatus.WAITING_APPROVAL) continue;
    const a = approvalOf(s.decision);
    if (!a) continue;
    if (a.status !== ApprovalStatus.PENDING) return true;
    if (a.expires_at !== null && now > a.expires_at) return true;
  }
  return false;
}

/** Drives a prepared run on; an open session is let go (resumable by id). */
async function resume(
  ctx: EngineContext,
  state: RunState,
  opts: SweepOptions,
): Promise<RecoveredRun> {
  const runId = state.run.id;
  try {
    if ((await opts.drive(state)) === "open") await ctx.store.releaseLease(runId, ctx.owner);
  } catch (err) {
    return lost(state.run, err);
  }
  return { runId, action: "resumed", status: state.run.status };
}

/** A run another process took first; any other error is rethrown. */
function lost(run: RunRecord, err: unknown): RecoveredRun {
  if (err instanceof ConflictError)
    return { runId: run.id, action: "lost_race", status: run.status };
  throw err;
}
