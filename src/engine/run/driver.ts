/**
 * @module Drives a run this process holds: the scheduler (steps start in dependency order, up
 * to `engine.concurrency` at once), the commit gate of a governed run, the wait for a person,
 * and the terminal transitions (COMPLETED, or the rollback and ROLLED_BACK / FAILED). Every
 * change is committed through the run's `RunState`.
 */
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import {
  isTerminal,
  Outcome,
  outcomeFor,
  Reason,
  RunStatus,
  StepStatus,
} from "../../core/status.js";
import type { WriteOp } from "../../store/store.js";
import { EventType } from "../events.js";
import { commitGate } from "../governance/commit-gate.js";
import { keepsEffects } from "../governance/refusals.js";
import { ApprovalStatus, approvalOf } from "../state/approval-record.js";
import type { RunState } from "../state/run-state.js";
import { runStep } from "../step/pipeline.js";
import { traceRun } from "../telemetry.js";
import { rollback } from "../undo/compensator.js";

/** Why a run stopped making progress in this process (`open`: a session between calls). */
export type DriveResult = "terminal" | "waiting" | "open";

/** Step statuses that satisfy a dependency. */
const DONE: ReadonlySet<string> = new Set([StepStatus.SUCCEEDED, StepStatus.SKIPPED]);

/**
 * Drives the run until it is terminal, waits for an approval, or the lease is lost: schedules
 * every ready step (dependencies done) up to the concurrency limit; on the first failure stops
 * scheduling, lets in-flight steps finish, then rolls back.
 */
export function drive(state: RunState): Promise<DriveResult> {
  return traceRun(state, async () => {
    const result = await driveSteps(state);
    // A session's call ends without a commit of its own: what it deferred is written before
    // its caller hears of it.
    await state.flush();
    return result;
  });
}

async function driveSteps(state: RunState): Promise<DriveResult> {
  if (state.run.status === RunStatus.COMPENSATING) return finishRollback(state);
  if (isTerminal(state.run.status)) return "terminal";
  if (state.run.status !== RunStatus.RUNNING) {
    await state.commit(
      state.runUpdate({ status: RunStatus.RUNNING }, EventType.RUN_RESUMED, {
        from: state.run.status,
      }),
    );
  }
  await schedule(state);
  // No call in flight any more: drop the deadline timer (and its hold on this run).
  state.idle();
  if (state.run.kind === "session" && state.run.status === RunStatus.RUNNING) {
    // A session between calls stays open; a refused or failed call does not end it.
    state.forgiveFailure();
    if (!state.failure) return pauseSession(state);
  }
  if (state.failure) {
    // A cancel sets the failure without a commit of its own; record the transition now.
    if ((state.run.status as RunStatus) !== RunStatus.COMPENSATING) {
      await state.commit(state.compensatingOps(state.failure.reason, state.failure.detail));
    }
    return finishRollback(state);
  }
  if (state.plan.steps.every((ps) => DONE.has(state.step(ps.id).status))) {
    // A governed run passes its commit gate (budgets, evidence, drift) before COMPLETED.
    const gate = state.plan.governance === null ? null : await commitGate(state);
    if (gate === null || gate.verdict === "pass") {
      await finish(state, RunStatus.COMPLETED, Reason.COMPLETED, null, gate?.ops);
      return "terminal";
    }
    if (gate.verdict === "failed") return finishRollback(state);
  }
  const waiting = waitingSteps(state, () => true);
  if (waiting.length > 0) return waitForApproval(state, waiting);
  // Nothing ready, nothing running, nothing waiting: only possible if a step is stuck in a
  // status no path leads out of. Never leave it silently: a human must look.
  await finish(state, RunStatus.FAILED, Reason.IN_DOUBT, {
    message: "no step can make progress",
    steps: Object.fromEntries([...state.steps.values()].map((s) => [s.stepId, s.status])),
  });
  return "terminal";
}

/**
 * Runs every step that can run: dependency counting makes a step ready when its last
 * unfinished dependency is done; no new step starts once the run failed.
 */
async function schedule(state: RunState): Promise<void> {
  const running = new Map<string, Promise<void>>();
  const limit = Math.max(1, state.ctx.settings.concurrency);
  const unmet = new Map<string, number>();
  const ready: PlanStep[] = [];
  for (const ps of state.plan.steps) {
    if (DONE.has(state.step(ps.id).status)) continue;
    const n = ps.dependsOn.filter((d) => !DONE.has(state.steps.get(d)?.status ?? "")).length;
    unmet.set(ps.id, n);
    if (n === 0 && isLaunchable(state, ps)) ready.push(ps);
  }
  const settle = (ps: PlanStep) => {
    running.delete(ps.id);
    if (!DONE.has(state.step(ps.id).status)) return;
    for (const d of state.dependentsOf(ps.id)) {
      const n = (unmet.get(d.id) ?? 1) - 1;
      unmet.set(d.id, n);
      if (n === 0 && isLaunchable(state, d)) ready.push(d);
    }
  };
  for (;;) {
    while (!state.failure && running.size < limit && ready.length > 0) {
      const ps = ready.shift()!;
      // `then` with both handlers, not `finally`: the same settle, one promise fewer a step.
      running.set(
        ps.id,
        runStep(state, ps).then(
          () => settle(ps),
          (err: unknown) => {
            settle(ps);
            throw err;
          },
        ),
      );
    }
    if (running.size === 0) return;
    // One step in flight (a sequential chain): await it directly, no race promise per step.
    await (running.size === 1 ? running.values().next().value : Promise.race(running.values()));
  }
}

/** A step that may start once its dependencies are done: pending, or its approval decided. */
function isLaunchable(state: RunState, ps: PlanStep): boolean {
  const rec = state.steps.get(ps.id);
  if (!rec) return false;
  if (rec.status === StepStatus.PENDING) return true;
  return (
    rec.status === StepStatus.WAITING_APPROVAL &&
    approvalOf(rec.decision)?.status !== ApprovalStatus.PENDING
  );
}

/**
 * A session with no call left to run: WAITING_APPROVAL (lease released) while a call waits
 * for a person, else open (RUNNING, still leased: the session's owner calls on).
 */
function pauseSession(state: RunState): Promise<DriveResult> {
  const waiting = waitingSteps(
    state,
    (s) => approvalOf(s.decision)?.status === ApprovalStatus.PENDING,
  );
  return waiting.length === 0 ? Promise.resolve("open") : waitForApproval(state, waiting);
}

/** Ids of the steps waiting for approval that also satisfy `also`. */
function waitingSteps(
  state: RunState,
  also: (s: { readonly decision: JsonValue | null }) => boolean,
): string[] {
  return [...state.steps.values()]
    .filter((s) => s.status === StepStatus.WAITING_APPROVAL && also(s))
    .map((s) => s.stepId);
}

/** Puts the run in WAITING_APPROVAL for `waiting`, releasing its lease until a decision. */
async function waitForApproval(state: RunState, waiting: readonly string[]): Promise<DriveResult> {
  await state.commit(
    state.runUpdate(
      { status: RunStatus.WAITING_APPROVAL, leaseOwner: null, leaseExpiresAt: null },
      EventType.RUN_WAITING,
      { steps: [...waiting] },
    ),
  );
  return "waiting";
}

/** Runs (or resumes) the compensation stack and ends the run. */
export function finishRollback(state: RunState, force = false): Promise<DriveResult> {
  return traceRun(state, () => undoAndEnd(state, force));
}

async function undoAndEnd(state: RunState, force: boolean): Promise<DriveResult> {
  if (keepsEffects(state)) {
    // Governance `rollback.required: false`: the abstaining run keeps its effects.
    await finish(state, RunStatus.FAILED, state.run.reason ?? Reason.STEP_FAILED, {
      ...(state.run.reasonDetail as JsonObject),
      rollback: "not required by governance: effects kept (airun workflow rollback undoes them)",
    });
    return "terminal";
  }
  if (keepsEffectsOnFailure(state)) {
    await finish(state, RunStatus.FAILED, state.run.reason ?? Reason.STEP_FAILED, {
      ...(state.run.reasonDetail as JsonObject | null),
      rollback:
        "enable_auto_rollback is false: effects kept, their undo still armed (airun workflow rollback undoes them)",
    });
    return "terminal";
  }
  const result = await rollback(state, force);
  const reason = state.run.reason ?? Reason.STEP_FAILED;
  if (reason === Reason.IN_DOUBT) {
    await finish(state, RunStatus.FAILED, Reason.IN_DOUBT, {
      ...(state.run.reasonDetail as JsonObject | null),
      problems: result.problems,
    });
  } else if (result.ok) {
    await finish(state, RunStatus.ROLLED_BACK, reason, state.run.reasonDetail);
  } else {
    await finish(state, RunStatus.FAILED, Reason.COMPENSATION_FAILED, {
      original_reason: reason,
      original_detail: state.run.reasonDetail,
      problems: result.problems,
    });
  }
  return "terminal";
}

/**
 * A seed spec with `enable_auto_rollback: false`: a run that failed (a step, a refusal, a
 * rejection) ends FAILED with its effects kept and armed. A cancel, or a rollback a person
 * asked for after the fact (`workflow rollback`), still undoes everything.
 */
function keepsEffectsOnFailure(state: RunState): boolean {
  if (state.plan.autoRollback !== false || state.run.reason === Reason.CANCELLED) return false;
  const detail = state.run.reasonDetail;
  return !(isPlainObject(detail) && typeof detail.requested_by === "string");
}

/** Ends the run in a terminal status and releases its lease. */
export async function finish(
  state: RunState,
  status: RunStatus,
  reason: Reason,
  detail: JsonValue,
  extra: readonly WriteOp[] = [],
): Promise<void> {
  // The outcome recorded with the reason (e.g. ABSTAIN for a drift abstention) is kept.
  const run = state.run;
  const outcome =
    status === RunStatus.COMPLETED
      ? Outcome.ACCEPT
      : reason === run.reason && run.outcome && run.outcome !== Outcome.ACCEPT
        ? run.outcome
        : outcomeFor(reason);
  const type =
    status === RunStatus.COMPLETED
      ? EventType.RUN_COMPLETED
      : status === RunStatus.ROLLED_BACK
        ? EventType.RUN_ROLLED_BACK
        : EventType.RUN_FAILED;
  await state.commit([
    ...extra,
    ...notRunOps(state),
    ...state.runUpdate(
      { status, outcome, reason, reasonDetail: detail, leaseOwner: null, leaseExpiresAt: null },
      type,
      { status, outcome, reason, detail },
    ),
  ]);
}

/**
 * A finished run leaves no step pending or waiting: each that never started says NOT_RUN, and an
 * approval nobody decided is CANCELLED (it can no longer be decided, and is listed nowhere as
 * waiting).
 */
function notRunOps(state: RunState): WriteOp[] {
  const ops: WriteOp[] = [];
  for (const rec of state.steps.values()) {
    if (rec.status !== StepStatus.PENDING && rec.status !== StepStatus.WAITING_APPROVAL) continue;
    const approval = approvalOf(rec.decision);
    const open = approval?.status === ApprovalStatus.PENDING ? approval : null;
    const decision = open
      ? { ...(rec.decision as JsonObject), approval: { ...open, status: ApprovalStatus.CANCELLED } }
      : rec.decision;
    ops.push(
      { op: "putStep", step: { ...rec, status: StepStatus.NOT_RUN, decision } },
      state.event(EventType.STEP_NOT_RUN, rec.stepId, open ? { approval: open.id } : {}),
    );
  }
  return ops;
}
