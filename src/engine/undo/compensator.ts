/**
 * @module Saga rollback: runs the persisted compensation stack newest-first. Each compensation
 * is marked RUNNING (durably) before it acts, so an interrupted rollback resumes where it
 * stopped; undo is drift-safe (a target changed since the step is refused, not overwritten);
 * transient failures are retried with backoff. A rollback never waits for an approval: the
 * compensation was authorized together with its step.
 */

import {
  AirunError,
  CapabilityError,
  ConflictError,
  DriftError,
  toAirunError,
} from "../../core/errors.js";
import type { JsonValue } from "../../core/json.js";
import { CompensationStatus, StepStatus } from "../../core/status.js";
import { resolveTemplates } from "../../core/template.js";
import type { CompensationRecord } from "../../store/store.js";
import { EventType, eventOp } from "../events.js";
import { retryDelayMs, sleep } from "../retry.js";
import type { RunExecution } from "../state/run-state.js";
import { beforeImages, errorJson, maskError, templateScope } from "../step/step-runner.js";
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
export async function rollback(exec: RunExecution, force: boolean): Promise<RollbackResult> {
  const problems: JsonValue[] = [];
  for (const comp of exec.pendingCompensations()) {
    if (comp.error && (comp.error as { code?: string }).code === "IN_DOUBT") {
      problems.push({
        step: comp.stepId,
        code: "IN_DOUBT",
        message: "effect of the step is unknown",
      });
      continue;
    }
    const problem = await traceCompensation(exec, comp, force, () =>
      compensateOne(exec, comp, force),
    );
    if (problem) problems.push(problem);
  }
  return { ok: problems.length === 0, problems };
}

async function compensateOne(
  exec: RunExecution,
  initial: CompensationRecord,
  force: boolean,
): Promise<JsonValue | null> {
  let comp = initial;
  for (let attempt = 1; ; attempt++) {
    comp = {
      ...comp,
      status: CompensationStatus.RUNNING,
      attempts: comp.attempts + 1,
      updatedAt: Date.now(),
    };
    await exec.commit([
      { op: "putCompensation", compensation: comp },
      eventOp(EventType.COMPENSATION_STARTED, exec.run.id, comp.stepId, {
        kind: comp.kind,
        capability: comp.capability,
        attempt: comp.attempts,
        force,
      }),
    ]);
    try {
      await perform(exec, comp, force);
      await exec.commit([
        {
          op: "putCompensation",
          compensation: {
            ...comp,
            status: CompensationStatus.DONE,
            error: null,
            updatedAt: Date.now(),
          },
        },
        { op: "putStep", step: { ...exec.step(comp.stepId), status: StepStatus.COMPENSATED } },
        eventOp(EventType.COMPENSATION_DONE, exec.run.id, comp.stepId, { attempts: comp.attempts }),
      ]);
      return null;
    } catch (err) {
      if (err instanceof ConflictError) throw err;
      const e = maskError(exec, toAirunError(err));
      const refused = e instanceof DriftError;
      const retryable = !refused && e instanceof CapabilityError && e.retryable;
      if (retryable && attempt < COMPENSATION_ATTEMPTS) {
        await sleep(retryDelayMs(COMPENSATION_RETRY, attempt + 1));
        continue;
      }
      const status = refused ? CompensationStatus.REFUSED : CompensationStatus.FAILED;
      await exec.commit([
        {
          op: "putCompensation",
          compensation: { ...comp, status, error: errorJson(e), updatedAt: Date.now() },
        },
        eventOp(
          refused ? EventType.COMPENSATION_REFUSED : EventType.COMPENSATION_FAILED,
          exec.run.id,
          comp.stepId,
          errorJson(e),
        ),
      ]);
      return { step: comp.stepId, status, ...errorJson(e) };
    }
  }
}

/** Performs one compensation: the capability's own revert, or the declared capability call. */
async function perform(
  exec: RunExecution,
  comp: CompensationRecord,
  force: boolean,
): Promise<void> {
  const cap = exec.ctx.catalog.get(comp.capability);
  if (!cap)
    throw new AirunError(
      "UNKNOWN_CAPABILITY",
      `compensation capability ${comp.capability} is not registered`,
    );
  const ctx = {
    signal: AbortSignal.timeout(exec.ctx.settings.defaultTimeoutMs),
    sandbox: exec.ctx.settings.sandbox,
    runId: exec.run.id,
    stepId: comp.stepId,
    attempt: comp.attempts,
  };
  if (comp.kind === "builtin") {
    if (!cap.revert) throw new AirunError("NO_UNDO", `${cap.name} has no builtin undo`);
    const blobs = await beforeImages(exec, comp, true);
    await cap.revert({ ...ctx, data: comp.undo, blobs, force });
    return;
  }
  // A declared compensation: resolve its inputs again with real secret values (only masked
  // values were recorded), from the persisted inputs and outputs.
  const ps = exec.planStep(comp.stepId);
  if (!ps.compensation)
    throw new AirunError("NO_COMPENSATION", `step ${comp.stepId} declares no compensation`);
  const scope = templateScope(exec, null);
  const own = exec.step(comp.stepId);
  const vars = {
    ...scope.vars,
    steps: { ...exec.stepScope, [comp.stepId]: { outputs: own.outputs ?? {} } },
  };
  const input = cap.input.parse(resolveTemplates(ps.compensation.inputs, { ...scope, vars }));
  await cap.execute(input, ctx);
}
