/**
 * @module Stage 4 of a step with a side effect, the write-ahead intent: the before-image
 * (sealed), the compensation record (PENDING) and the step in RUNNING with its attempt number,
 * plus the `step.decision` / `step.intent` / `step.attempt` entries — ops committed together
 * BEFORE the side effect. A step resumed after a crash keeps the compensation record written
 * before its first attempt.
 */
import type { UndoPlan } from "../../core/capability.js";
import { sha256Hex } from "../../core/hash.js";
import type { JsonObject } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { CompensationStatus, StepStatus, UndoKind } from "../../core/status.js";
import type { CompensationRecord, StepRecord, WriteOp } from "../../store/store.js";
import { audited, auditedUndo } from "../audit.js";
import { EventType } from "../events.js";
import { runGovernance } from "../governance/run-governance.js";
import { undoForRecord } from "../state/before-images.js";
import type { RunState } from "../state/run-state.js";
import { maskSecrets, secretValues } from "../state/scope.js";
import { capabilityContext, type Resolved } from "./resolve.js";

/** The ops of a step's write-ahead intent (see module doc). */
export async function intentOps(
  state: RunState,
  ps: PlanStep,
  call: Resolved,
  decision: JsonObject,
  attempt: number,
): Promise<WriteOp[]> {
  const ops: WriteOp[] = [];
  const existing = state.compensations.get(ps.id);
  const kind = ps.compensation ? "declared" : call.undo === UndoKind.BUILTIN ? "builtin" : null;
  // A capability whose prepare holds the effect open prepares again on a re-run (its recorded
  // plan was reconciled not applied): nothing of the old plan happened.
  const again =
    existing !== undefined &&
    call.cap.preparesEffect === true &&
    existing.status === CompensationStatus.PENDING;
  const record = (!existing || again) && (kind !== null || call.cap.prepare !== undefined);
  const plan: UndoPlan | undefined =
    record && call.cap.prepare
      ? await call.cap.prepare(call.input, capabilityContext(state, ps, attempt))
      : undefined;
  // The stack position is taken after the last await, so positions follow the order in which
  // intents are committed (concurrent steps never interleave between the two).
  const seq = existing?.seq ?? state.step(ps.id).seq ?? state.nextSeq();
  const blobs: Record<string, string> = {};
  const now = state.now();
  const secrets = secretValues(state);
  if (record) {
    for (const [name, bytes] of Object.entries(plan?.blobs ?? {})) {
      const sealed = state.ctx.blobs.seal(bytes);
      const id = sha256Hex(sealed);
      blobs[name] = id;
      ops.push({ op: "putBlob", id, bytes: sealed });
    }
    // A secret inside the undo data (a path built from one) is sealed, never kept in clear.
    const undo = undoForRecord(state.ctx, plan?.data ?? null, secrets);
    ops.push(...undo.ops);
    const comp: CompensationRecord = {
      runId: state.run.id,
      stepId: ps.id,
      seq,
      kind: kind ?? "builtin",
      capability: ps.compensation?.capability ?? call.cap.name,
      inputs: null,
      undo: undo.undo,
      blobs,
      // Without any way to undo, the record only serves reconciliation.
      status: kind ? CompensationStatus.PENDING : CompensationStatus.VOID,
      attempts: 0,
      error: null,
      updatedAt: now,
    };
    ops.push({ op: "putCompensation", compensation: comp });
  }
  const prior = state.step(ps.id);
  const step: StepRecord = {
    ...prior,
    status: StepStatus.RUNNING,
    attempts: attempt,
    inputs: call.recordInputs,
    decision,
    contextHash: call.contextHash,
    seq,
    startedAt: prior.startedAt ?? now,
  };
  const level = state.ctx.settings.auditLevel;
  ops.push(
    { op: "putStep", step },
    state.event(EventType.STEP_DECISION, ps.id, decision),
    // Keys in canonical (sorted) order, as in every entry built here: see the step's decision.
    state.event(EventType.STEP_INTENT, ps.id, {
      ...auditedUndo(level, maskSecrets(state, plan?.data ?? null), blobs),
      capability: call.cap.name,
      compensation: kind,
      context_hash: call.contextHash,
      ...audited(level, "inputs", call.recordInputs),
    }),
    state.event(EventType.STEP_ATTEMPT, ps.id, { attempt }),
  );
  const gov = runGovernance(state);
  if (gov) ops.push(...gov.intentOps(ps.id));
  return ops;
}
