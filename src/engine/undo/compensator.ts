/**
 * @module Saga rollback: runs the persisted compensation stack newest-first. Each compensation
 * is marked RUNNING (durably) before it acts, so an interrupted rollback resumes where it
 * stopped; undo is drift-safe (a target changed since the step is refused, not overwritten);
 * transient failures are retried with backoff. A rollback never waits for an approval: the
 * compensation was authorized together with its step.
 */

import type { AnyCapability, CapabilityContext } from "../../core/capability.js";
import { AirunError, CapabilityError, DriftError, toAirunError } from "../../core/errors.js";
import { isPlainObject, type JsonValue } from "../../core/json.js";
import { CompensationStatus, StepStatus } from "../../core/status.js";
import { resolveTemplates } from "../../core/template.js";
import type { CompensationRecord } from "../../store/store.js";
import { EventType } from "../events.js";
import { retryDelayMs, sleep } from "../retry.js";
import { beforeImages, undoData } from "../state/before-images.js";
import { errorJson } from "../state/run-records.js";
import { mustStop, type RunState } from "../state/run-state.js";
import { maskError, maskSecrets, scopeWithOwnOutputs } from "../state/scope.js";
import { traceCompensation } from "../telemetry.js";

/** Attempts per compensation before it is declared failed. */
const COMPENSATION_ATTEMPTS = 3;
const COMPENSATION_RETRY = {
  maxAttempts: COMPENSATION_ATTEMPTS,
  backoff: "exponential",
  initialDelayMs: 200,
  maxDelayMs: 2000,
} as const;

/** Result of a rollback pass. */
export interface RollbackResult {
  readonly ok: boolean;
  /** One entry per compensation that refused or failed. */
  readonly problems: JsonValue[];
}

/**
 * Compensates every armed (or interrupted) step of the run, newest first. Continues past a
 * refusal so that every undo that is safe still happens; the run then ends FAILED.
 */
export async function rollback(state: RunState, force: boolean): Promise<RollbackResult> {
  const problems: JsonValue[] = [];
  for (const comp of state.pendingCompensations()) {
    const code = (comp.error as { code?: string } | null)?.code;
    if (code === "IN_DOUBT" || code === "COMPENSATION_UNAUTHORIZED") {
      // Never attempted: nobody can tell what to undo, or the undo was never authorized.
      problems.push({
        step: comp.stepId,
        code,
        message:
          code === "IN_DOUBT"
            ? "effect of the step is unknown"
            : String((comp.error as { message?: unknown }).message),
      });
      continue;
    }
    const problem = await traceCompensation(state, comp, force, () =>
      compensateOne(state, comp, force),
    );
    if (problem) problems.push(problem);
  }
  return { ok: problems.length === 0, problems };
}

async function compensateOne(
  state: RunState,
  initial: CompensationRecord,
  force: boolean,
): Promise<JsonValue | null> {
  let comp = initial;
  for (let attempt = 1; ; attempt++) {
    comp = {
      ...comp,
      status: CompensationStatus.RUNNING,
      attempts: comp.attempts + 1,
      updatedAt: state.now(),
    };
    await state.commit([
      { op: "putCompensation", compensation: comp },
      state.event(EventType.COMPENSATION_STARTED, comp.stepId, {
        kind: comp.kind,
        capability: comp.capability,
        attempt: comp.attempts,
        force,
      }),
    ]);
    try {
      await state.confirmLease(); // a compensation acts too: not for a run we lost
      await perform(state, comp, force);
      await state.commit([
        {
          op: "putCompensation",
          compensation: {
            ...comp,
            status: CompensationStatus.DONE,
            error: null,
            updatedAt: state.now(),
          },
        },
        { op: "putStep", step: { ...state.step(comp.stepId), status: StepStatus.COMPENSATED } },
        state.event(EventType.COMPENSATION_DONE, comp.stepId, { attempts: comp.attempts }),
      ]);
      return null;
    } catch (err) {
      if (mustStop(err)) throw err;
      const e = maskError(state, toAirunError(err));
      const refused = e instanceof DriftError;
      const retryable = !refused && e instanceof CapabilityError && e.retryable;
      if (retryable && attempt < COMPENSATION_ATTEMPTS) {
        await sleep(retryDelayMs(COMPENSATION_RETRY, attempt + 1));
        continue;
      }
      const status = refused ? CompensationStatus.REFUSED : CompensationStatus.FAILED;
      await state.commit([
        {
          op: "putCompensation",
          compensation: { ...comp, status, error: errorJson(e), updatedAt: state.now() },
        },
        state.event(
          refused ? EventType.COMPENSATION_REFUSED : EventType.COMPENSATION_FAILED,
          comp.stepId,
          errorJson(e),
        ),
      ]);
      return { step: comp.stepId, status, ...errorJson(e) };
    }
  }
}

/** Performs one compensation: the capability's own revert, or the declared capability call. */
async function perform(state: RunState, comp: CompensationRecord, force: boolean): Promise<void> {
  const cap = state.ctx.catalog.get(comp.capability);
  if (!cap)
    throw new AirunError(
      "UNKNOWN_CAPABILITY",
      `compensation capability ${comp.capability} is not registered`,
    );
  const ctx = {
    signal: AbortSignal.timeout(state.ctx.settings.defaultTimeoutMs),
    sandbox: state.ctx.settings.sandbox,
    runId: state.run.id,
    stepId: comp.stepId,
    attempt: comp.attempts,
  };
  if (comp.kind === "builtin") {
    if (!cap.revert) throw new AirunError("NO_UNDO", `${cap.name} has no builtin undo`);
    const blobs = await beforeImages(state.ctx, comp, true);
    await cap.revert({ ...ctx, data: await undoData(state.ctx, comp), blobs, force });
    return;
  }
  // A declared compensation: resolve its inputs again with real secret values (only masked
  // values were recorded), from the persisted inputs and outputs.
  const ps = state.planStep(comp.stepId);
  if (!ps.compensation)
    throw new AirunError("NO_COMPENSATION", `step ${comp.stepId} declares no compensation`);
  const own = state.step(comp.stepId);
  const scope = scopeWithOwnOutputs(state, null, false, comp.stepId, own.outputs ?? {});
  const input = cap.input.parse(resolveTemplates(ps.compensation.inputs, scope));
  const paths = await authorizedPaths(state, comp, cap, input, ctx);
  await cap.execute(input, paths ? { ...ctx, paths } : ctx);
}

/**
 * Holds a declared compensation to the canonical paths its step's gate authorized (recorded on
 * the step's `compensation_decision`): if a path now resolves elsewhere (a symlink on the way
 * re-pointed since), the undo is refused with `FS_PATH_CHANGED` and a person looks, rather
 * than touching what nobody allowed. Returns the paths for `execute` to hold to in turn (it
 * resolves again, just before acting); undefined when none were recorded.
 */
async function authorizedPaths(
  state: RunState,
  comp: CompensationRecord,
  cap: AnyCapability,
  input: unknown,
  ctx: CapabilityContext,
): Promise<Record<string, string> | undefined> {
  const decision = state.step(comp.stepId).decision;
  const granted = isPlainObject(decision) ? decision.compensation_decision : undefined;
  const recorded = isPlainObject(granted) && Array.isArray(granted.paths) ? granted.paths : [];
  if (!cap.touches || recorded.length === 0) return undefined;
  const now = await cap.touches(input, ctx);
  for (const r of recorded) {
    if (!isPlainObject(r)) continue;
    const found = now.find((t) => t.field === r.field);
    const masked = found ? maskSecrets(state, found.path) : null;
    if (masked !== r.path) {
      throw new CapabilityError(
        "FS_PATH_CHANGED",
        `the compensation ${cap.name} of step ${comp.stepId} was authorized to touch ${String(r.path)} (input "${String(r.field)}") but now resolves to ${masked ?? "nothing"}: a path component changed since its gate; not undoing`,
        { context: { field: String(r.field), authorized: r.path, actual: masked } },
      );
    }
  }
  return Object.fromEntries(now.map((t) => [t.field, t.path]));
}
