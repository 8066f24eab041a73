/**
 * @module What people and agents ask of workflow runs, behind the façade: start one, resume it
 * (deciding its approval first), cancel it, undo it after the fact, and take over an orphan.
 * Each claims the run's lease for this process, drives it as far as it can go, and lets go.
 */

import {
  AirunError,
  ApprovalError,
  ConflictError,
  NotFoundError,
  ValidationError,
} from "../../core/errors.js";
import { governanceOf } from "../../core/governance.js";
import { jsonValueProblems, utf8Length } from "../../core/json-input.js";
import { LIMIT_KEYS, type Limits } from "../../core/limits.js";
import { requirePrincipal } from "../../core/principal.js";
import { isTerminal, Reason, RunStatus } from "../../core/status.js";
import type { RunRecord, WriteOp } from "../../store/store.js";
import { type DecisionInput, decideApproval, settleApprovals } from "../approvals/decide.js";
import type { EngineContext } from "../context.js";
import { EventType, eventOp } from "../events.js";
import { coerceInputs } from "../inputs.js";
import { claimRun } from "../recovery/claim.js";
import { prepareResume } from "../recovery/prepare-resume.js";
import { finishRollback } from "../run/driver.js";
import { sameRequestOrRefuse } from "../state/idempotency.js";
import { announceStart, creationOps, newRun } from "../state/run-records.js";
import { RunState } from "../state/run-state.js";
import type { ActiveRuns } from "./active-runs.js";
import { readSpec } from "./config-files.js";
import type { PlanCache } from "./plan-cache.js";
import type { PolicyRecords } from "./policy-records.js";

/** What the run commands work with (the façade's parts). */
export interface RunCommandsHost {
  readonly ctx: EngineContext;
  readonly runs: ActiveRuns;
  readonly plans: PlanCache;
  readonly policies: PolicyRecords;
  readonly limits: Limits;
}

/** What to run. */
export interface StartRunOptions {
  readonly specFile: string;
  /** Spec text; read from `specFile` when absent. */
  readonly specText?: string;
  /** Input values (strings from the CLI are coerced to the declared types). */
  readonly inputs?: Readonly<Record<string, unknown>>;
  readonly principal?: string;
  readonly idempotencyKey?: string;
  /**
   * Enqueue the run instead of driving it here: it is stored with no holder, for any
   * `airun worker` on the same store to claim (`airun run --detach`, the API's start).
   */
  readonly detach?: boolean;
}

/** How to resume a run: optionally deciding its pending approval first. */
export interface ResumeOptions extends Partial<DecisionInput> {
  /**
   * Record the decision, then hand the run to the workers (whichever is free claims it)
   * instead of driving it in this process.
   */
  readonly detach?: boolean;
}

/**
 * Starts a run and drives it until it is terminal or waits for an approval; returns its id. A
 * run started again with the same idempotency key is the same run.
 */
export async function startRun(
  host: RunCommandsHost,
  opts: StartRunOptions,
  defaultPrincipal: () => string,
): Promise<string> {
  const { ctx } = host;
  if (opts.principal !== undefined) requirePrincipal(opts.principal, "principal");
  const given = checkedInputs(opts.inputs ?? {}, host.limits, opts.specFile);
  const specText = opts.specText ?? (await readSpec(opts.specFile, host.limits.specBytes));
  const plan = host.plans.compile(opts.specFile, specText);
  // Checked again once coerced: an `--input o={...}` string becomes a nested value here.
  const inputs = checkedInputs(
    coerceInputs(plan, given, opts.specFile),
    host.limits,
    opts.specFile,
  );
  const principal = opts.principal ?? plan.principal ?? defaultPrincipal();
  const key = opts.idempotencyKey;
  const request = { kind: "workflow", specHash: plan.specHash, inputs, principal } as const;
  // The same run started again: left to the workers when detached, else driven on if orphaned.
  const again = async (same: RunRecord) => (opts.detach ? same.id : continueIfOrphaned(host, same));
  if (key) {
    const existing = await ctx.store.findRunByIdempotencyKey(key);
    if (existing) return again(sameRequestOrRefuse(existing, key, request));
  }
  const created = newRun(
    ctx,
    {
      kind: "workflow",
      plan,
      specText,
      principal,
      inputs,
      idempotencyKey: opts.idempotencyKey ?? null,
    },
    ctx.clock.now(),
  );
  const { steps } = created;
  // A detached run is stored with no holder: whichever worker is free claims it.
  const run = opts.detach
    ? { ...created.run, leaseOwner: null, leaseExpiresAt: null, leaseEpoch: 0 }
    : created.run;
  const policy = ctx.gatekeeper.policy;
  const objective = plan.governance ? { objective: governanceOf(plan)?.objective ?? null } : {};
  try {
    await ctx.store.commit([
      ...host.policies.blobOps(policy),
      ...creationOps(ctx, run, steps, objective),
    ]);
  } catch (err) {
    host.policies.notStored(policy.hash); // the blob went down with the batch
    if (err instanceof ConflictError && key) {
      const existing = await ctx.store.findRunByIdempotencyKey(key);
      if (existing) return again(sameRequestOrRefuse(existing, key, request));
    }
    throw err;
  }
  announceStart(ctx, run);
  if (opts.detach) return run.id;
  await host.runs.drive(RunState.created(ctx, run, plan, steps));
  return run.id;
}

/**
 * Resumes a run: with a decision, decides its pending approval first (eligibility, self-approval
 * and expiry are checked); then drives it as far as it can go.
 */
export async function resumeRun(
  host: RunCommandsHost,
  runId: string,
  opts: ResumeOptions,
): Promise<void> {
  if (opts.decision && !opts.principal) {
    throw new AirunError("PRINCIPAL_REQUIRED", "a decision needs the principal who decides it", {
      runId,
    });
  }
  if (opts.principal !== undefined) requirePrincipal(opts.principal, "principal");
  const state = await claim(host, runId);
  try {
    // A decision refused because the approval expired still lets on_timeout take effect.
    let expired: ApprovalError | undefined;
    if (opts.decision && opts.principal) {
      try {
        await decideApproval(host.ctx, state, {
          decision: opts.decision,
          principal: opts.principal,
          ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
          ...(opts.stepId !== undefined ? { stepId: opts.stepId } : {}),
          ...(opts.approvalId !== undefined ? { approvalId: opts.approvalId } : {}),
        });
      } catch (err) {
        if (!(err instanceof ApprovalError && err.code === "APPROVAL_EXPIRED")) throw err;
        expired = err;
      }
    }
    if (state.run.status !== RunStatus.WAITING_APPROVAL || (await settleApprovals(state))) {
      if (opts.detach) {
        // Handed to the workers: RUNNING again (as the driver would record it) and, once
        // released below, claimable by whichever worker is free.
        if (state.run.status === RunStatus.WAITING_APPROVAL) {
          await state.commit(
            state.runUpdate({ status: RunStatus.RUNNING }, EventType.RUN_RESUMED, {
              from: RunStatus.WAITING_APPROVAL,
            }),
          );
        }
      } else {
        await prepareResume(state);
        await host.runs.drive(state);
      }
    }
    if (expired) throw expired;
  } finally {
    await release(host, runId);
  }
}

/**
 * Cancels a running or waiting run: in-flight calls are aborted and everything the run did is
 * rolled back (reason CANCELLED). A run another live process is executing is asked to cancel
 * (a durable request it sees at its next heartbeat); this waits up to `waitMs` for the end.
 */
export async function cancelRun(
  host: RunCommandsHost,
  runId: string,
  principal: string,
  waitMs: number,
): Promise<void> {
  const { ctx } = host;
  requirePrincipal(principal, "principal");
  const run = await requireActive(ctx, runId);
  // The request is durable on the run's row: whoever holds the run learns it with its next
  // lease renewal, and whoever takes the run over later finds it there.
  const request: WriteOp[] = [
    { op: "updateRun", runId, patch: { cancelRequestedBy: principal, updatedAt: ctx.clock.now() } },
    eventOp(EventType.RUN_CANCEL_REQUESTED, runId, null, { by: principal }, ctx.clock.now()),
  ];
  // A run this runtime already has (an open session, a run it drives, one a command or a sweep
  // of it claimed) is asked like one of another process: the worker's cancel poll hands the
  // request to it. Its own lease would look free to `claimRun`.
  const mine = host.runs.session(runId) || host.runs.get(runId) || host.runs.isClaimed(runId);
  const claimed = mine ? undefined : await claimRun(ctx, run);
  if (!claimed) {
    await ctx.store.commit(request);
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      const now = await ctx.store.getRun(runId);
      if (now && isTerminal(now.status)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    return;
  }
  const state = await RunState.load(ctx, claimed);
  try {
    await state.commit(request);
    await prepareResume(state);
    state.cancel(principal);
    await host.runs.drive(state);
  } finally {
    await release(host, runId);
  }
}

/**
 * Undoes a finished run after the fact (COMPLETED, or FAILED with effects still armed), newest
 * first, with the same drift check: a target changed since is refused unless `force`.
 */
export async function rollbackRun(
  host: RunCommandsHost,
  runId: string,
  opts: { readonly principal: string; readonly force?: boolean },
): Promise<void> {
  const { ctx } = host;
  requirePrincipal(opts.principal, "principal");
  const run = await ctx.store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`, { runId });
  if (run.status !== RunStatus.COMPLETED && run.status !== RunStatus.FAILED) {
    throw new AirunError(
      "NOT_ROLLBACKABLE",
      `run ${runId} is ${run.status}: only a finished run is undone after the fact (cancel an active one)`,
      { runId, status: run.status },
    );
  }
  const claimed = await ctx.store.acquireLease(
    runId,
    ctx.owner,
    ctx.settings.leaseTtlMs,
    ctx.clock.now(),
  );
  if (!claimed) throw new ConflictError(`run ${runId} is held by another process`, { runId });
  const state = await RunState.load(ctx, claimed);
  try {
    // A COMPLETED run is undone because someone asked; a FAILED one keeps the reason it
    // first had to roll back for (not the COMPENSATION_FAILED of the refused attempt).
    const original = (run.reasonDetail as { original_reason?: Reason } | null)?.original_reason;
    const reason: Reason =
      run.status === RunStatus.COMPLETED
        ? Reason.ROLLBACK_REQUESTED
        : (original ?? run.reason ?? Reason.ROLLBACK_REQUESTED);
    await state.commit(
      state.runUpdate(
        {
          status: RunStatus.COMPENSATING,
          reason,
          reasonDetail: { requested_by: opts.principal, previous_status: run.status },
        },
        EventType.RUN_COMPENSATING,
        { reason, requested_by: opts.principal, force: opts.force ?? false },
      ),
    );
    await finishRollback(state, opts.force ?? false);
  } finally {
    await release(host, runId);
  }
}

/**
 * Run inputs within `limits.input_depth` and `limits.input_bytes`, without a key that could
 * reach a prototype; a ValidationError (fields `inputs.…`) otherwise, before anything is read.
 */
function checkedInputs<T extends Readonly<Record<string, unknown>>>(
  inputs: T,
  limits: Limits,
  file: string,
): T {
  const problems = jsonValueProblems(inputs, limits.inputDepth, "inputs");
  if (problems.length === 0) {
    const bytes = utf8Length(JSON.stringify(inputs) ?? "");
    if (bytes > limits.inputBytes) {
      problems.push({
        field: "inputs",
        message: `the inputs are ${bytes} bytes as JSON; the limit is ${limits.inputBytes} bytes (${LIMIT_KEYS.inputBytes})`,
      });
    }
  }
  if (problems.length > 0) {
    throw new ValidationError(problems.map((p) => ({ file, line: 0, col: 0, ...p })));
  }
  return inputs;
}

/** A run that must exist and not have ended. */
async function requireActive(ctx: EngineContext, runId: string): Promise<RunRecord> {
  const run = await ctx.store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`, { runId });
  if (isTerminal(run.status)) {
    throw new AirunError(
      "RUN_TERMINAL",
      `run ${runId} already ended ${run.status} (${run.reason})`,
      { runId, status: run.status },
    );
  }
  return run;
}

/** Claims a run for a command of this runtime (refused while a live process holds it). */
async function claim(host: RunCommandsHost, runId: string): Promise<RunState> {
  const run = await requireActive(host.ctx, runId);
  if (host.runs.session(runId)) {
    throw new ConflictError(`run ${runId} is a session open in this process`, { runId });
  }
  // This process's own lease looks free to `claimRun`: a run another command or a recovery
  // sweep of this process has (a server deciding while its expiry timer fires) is busy.
  if (host.runs.isClaimed(runId) || host.runs.get(runId)) {
    throw new ConflictError(`run ${runId} is busy in this process; try again`, { runId });
  }
  host.runs.claim(runId);
  try {
    const claimed = await claimRun(host.ctx, run);
    if (!claimed) {
      throw new ConflictError(`run ${runId} is being executed by ${run.leaseOwner}`, { runId });
    }
    return await RunState.load(host.ctx, claimed);
  } catch (err) {
    host.runs.unclaim(runId);
    throw err;
  }
}

async function release(host: RunCommandsHost, runId: string): Promise<void> {
  host.runs.unclaim(runId);
  await host.ctx.store.releaseLease(runId, host.ctx.owner);
}

/** A run found by its idempotency key, driven on if nobody holds it; returns its id. */
async function continueIfOrphaned(host: RunCommandsHost, run: RunRecord): Promise<string> {
  if (!isTerminal(run.status) && run.status !== RunStatus.WAITING_APPROVAL) {
    const claimed = await claimRun(host.ctx, run);
    if (claimed) {
      const state = await RunState.load(host.ctx, claimed);
      await prepareResume(state);
      await host.runs.drive(state);
    }
  }
  return run.id;
}
