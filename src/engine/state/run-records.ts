/**
 * @module The records a new run starts with, shared by workflows (`Runtime.startRun`) and
 * sessions (`openSession`): the run row, leased by this process, its steps PENDING, and the
 * batch that creates them with their `run.created` / `run.started` ledger entries.
 */
import { type AirunError, CapabilityError } from "../../core/errors.js";
import { hashJson, sha256Hex } from "../../core/hash.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import type { Plan } from "../../core/plan.js";
import { RunStatus, StepStatus } from "../../core/status.js";
import type { RunRecord, StepRecord, WriteOp } from "../../store/store.js";
import type { EngineContext } from "../context.js";
import { EventType, eventOp } from "../events.js";
import { newRunId } from "../owner.js";

/** A step not started yet. */
export function pendingStep(runId: string, stepId: string): StepRecord {
  return {
    runId,
    stepId,
    status: StepStatus.PENDING,
    attempts: 0,
    inputs: null,
    outputs: null,
    error: null,
    decision: null,
    contextHash: null,
    seq: null,
    startedAt: null,
    finishedAt: null,
  };
}

/** What a new run is made of. */
export interface NewRun {
  readonly kind: RunRecord["kind"];
  readonly plan: Plan;
  readonly specText: string;
  readonly principal: string;
  readonly inputs: RunRecord["inputs"];
  readonly idempotencyKey: string | null;
}

/** A new run, RUNNING and leased by this process, with every plan step PENDING. */
export function newRun(
  ctx: EngineContext,
  init: NewRun,
  now: number,
): { run: RunRecord; steps: StepRecord[] } {
  const { plan } = init;
  const run: RunRecord = {
    id: newRunId(now),
    kind: init.kind,
    name: plan.name,
    specVersion: plan.version,
    specHash: plan.specHash,
    specText: init.specText,
    plan: plan as unknown as JsonValue,
    principal: init.principal,
    inputs: init.inputs,
    status: RunStatus.RUNNING,
    outcome: null,
    reason: null,
    reasonDetail: null,
    idempotencyKey: init.idempotencyKey,
    leaseOwner: ctx.owner,
    leaseExpiresAt: now + ctx.settings.leaseTtlMs,
    leaseEpoch: 1,
    cancelRequestedBy: null,
    createdAt: now,
    updatedAt: now,
    meta: {},
  };
  return { run, steps: plan.steps.map((ps) => pendingStep(run.id, ps.id)) };
}

/** JSON form of an error, as recorded on steps and in events. */
export function errorJson(e: AirunError): JsonObject {
  const retryable = e instanceof CapabilityError ? e.retryable : false;
  return { code: e.code, message: e.message, retryable };
}

/**
 * The batch creating a run: its row, its steps, and the entries saying what it is (spec and
 * its text's hash, the hash of its inputs, principal, the policy in force) and who started it. `extra` adds to the
 * `run.created` entry (a session's kind, an objective).
 */
export function creationOps(
  ctx: EngineContext,
  run: RunRecord,
  steps: readonly StepRecord[],
  extra: JsonObject = {},
): WriteOp[] {
  const policy = ctx.gatekeeper.policy;
  return [
    { op: "insertRun", run },
    ...steps.map((step) => ({ op: "putStep" as const, step })),
    eventOp(
      EventType.RUN_CREATED,
      run.id,
      null,
      {
        ...extra,
        name: run.name,
        version: run.specVersion,
        spec_hash: run.specHash,
        spec_text_sha256: sha256Hex(run.specText),
        // What the run was started with: `airun ledger verify` checks the row against it.
        inputs_sha256: hashJson(run.inputs),
        principal: run.principal,
        policy_hash: policy.hash,
        policy_source: policy.source,
      },
      run.createdAt,
    ),
    eventOp(EventType.RUN_STARTED, run.id, null, { owner: ctx.owner }, run.createdAt),
  ];
}

/** Tells the live progress listener that a run started (once its creation is committed). */
export function announceStart(ctx: EngineContext, run: RunRecord, extra: JsonObject = {}): void {
  ctx.onProgress?.({
    type: EventType.RUN_STARTED,
    runId: run.id,
    stepId: null,
    at: run.createdAt,
    data: { name: run.name, ...extra },
  });
}
