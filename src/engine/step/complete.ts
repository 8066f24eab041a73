/**
 * @module Stage 6 of a step, complete: the ops of its completion commit — the step SUCCEEDED
 * with its outputs masked (secrets it read, redacted keys), its compensation ARMED (a declared
 * compensation gets its inputs resolved, possibly from the step's own outputs), its spend
 * settled, and the `step.succeeded` entry. A side-effect-free step writes its decision here too
 * (it had no intent), so it costs one commit.
 */
import { type AirunError, toAirunError } from "../../core/errors.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { redact } from "../../core/redact.js";
import { CompensationStatus, StepStatus } from "../../core/status.js";
import { resolveTemplates } from "../../core/template.js";
import type { CompensationRecord, StepRecord, WriteOp } from "../../store/store.js";
import { auditInto } from "../audit.js";
import { EventType } from "../events.js";
import { runGovernance } from "../governance/run-governance.js";
import { errorJson } from "../state/run-records.js";
import type { RunState } from "../state/run-state.js";
import { scopeWithOwnOutputs, secretValues } from "../state/scope.js";
import type { Resolved } from "./resolve.js";

/** What a completed attempt brings to its commit. */
export interface Completion {
  readonly decision: JsonObject;
  readonly rawOutputs: JsonValue;
  readonly attempts: number;
  /** When the step's first attempt was about to start (engine clock). */
  readonly started: number;
  /** The step wrote a write-ahead intent (its decision is already recorded). */
  readonly intent: boolean;
  /** Its compensation now needs more than was granted (`recheckCompensation`): not armed. */
  readonly unauthorized: AirunError | null;
}

/** The ops of a step's completion commit (see module doc). */
export function successOps(
  state: RunState,
  ps: PlanStep,
  call: Resolved,
  done: Completion,
): WriteOp[] {
  const settings = state.ctx.settings;
  // Every secret the run reads is masked by value: an output may hold one it read back.
  const outputs = redact(done.rawOutputs, {
    secrets: secretValues(state),
    keys: settings.redactKeys,
  });
  const now = state.now();
  const prior = state.step(ps.id);
  const step: StepRecord = {
    ...prior,
    status: StepStatus.SUCCEEDED,
    attempts: done.attempts,
    inputs: call.recordInputs,
    outputs,
    error: null,
    decision: done.decision,
    contextHash: call.contextHash,
    startedAt: prior.startedAt ?? done.started,
    finishedAt: now,
  };
  const ops: WriteOp[] = [{ op: "putStep", step }];
  if (!done.intent) ops.push(state.event(EventType.STEP_DECISION, ps.id, done.decision));
  const gov = runGovernance(state);
  if (gov) ops.push(...gov.successOps(ps.id, call, done.rawOutputs));
  const comp = state.compensations.get(ps.id);
  if (comp && comp.status === CompensationStatus.PENDING) {
    const record = armed(state, ps, comp, outputs);
    ops.push({
      op: "putCompensation",
      compensation: done.unauthorized
        ? { ...record, status: CompensationStatus.FAILED, error: errorJson(done.unauthorized) }
        : record,
    });
  }
  // Keys in canonical order (inputs before outputs), written in place: no object is made and
  // spread per field.
  const data: JsonObject = {
    attempts: done.attempts,
    context_hash: call.contextHash,
    duration_ms: now - done.started,
  };
  // A side effect's inputs are on its intent entry; an effect-free step has none.
  if (!done.intent) auditInto(data, settings.auditLevel, "inputs", call.recordInputs);
  auditInto(data, settings.auditLevel, "outputs", outputs);
  ops.push(state.event(EventType.STEP_SUCCEEDED, ps.id, data));
  return ops;
}

/** A compensation record armed: its effect happened; a declared one gets its recorded inputs. */
export function armed(
  state: RunState,
  ps: PlanStep,
  comp: CompensationRecord,
  outputs: JsonValue | null,
): CompensationRecord {
  let inputs: JsonValue | null = null;
  if (comp.kind === "declared" && ps.compensation) {
    const scope = scopeWithOwnOutputs(state, null, true, ps.id, outputs ?? {});
    try {
      inputs = resolveTemplates(ps.compensation.inputs, scope);
    } catch (err) {
      inputs = { unresolved: toAirunError(err).message };
    }
  }
  return { ...comp, status: CompensationStatus.ARMED, inputs, updatedAt: state.now() };
}
