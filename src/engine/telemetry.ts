/**
 * @module OpenTelemetry tracing through `@opentelemetry/api`: one span per run drive
 * (`airun.run`), a child per step attempt (`airun.step <id>`) and per compensation
 * (`airun.compensate <id>`). Without an SDK registered by the host application every call is a
 * no-op: the run span is non-recording, so no step or compensation span is even started.
 *
 * Attributes hold only ids, capability names, codes, hashes, statuses and numbers: never
 * inputs, outputs or error messages, which may carry secrets. Parents are passed explicitly
 * (no reliance on an async-hooks context manager); a run span is a child of whatever span is
 * active when the run is driven, if the host has a context manager.
 */
import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { toAirunError } from "../core/errors.js";
import type { JsonObject, JsonValue } from "../core/json.js";
import type { PlanStep } from "../core/plan.js";
import { RunStatus } from "../core/status.js";
import type { CompensationRecord } from "../store/store.js";
import type { RunState } from "./state/run-state.js";

/** The instrumentation scope name of Airun's tracer. */
export const TRACER_NAME = "airun";
/** The instrumentation scope version: the package version (a test keeps them equal). */
export const TRACER_VERSION = "0.1.0";

/** Span attribute names. */
export const SpanAttr = {
  RUN_ID: "airun.run.id",
  WORKFLOW: "airun.workflow.name",
  SPEC_HASH: "airun.spec.hash",
  PRINCIPAL: "airun.principal",
  RUN_STATUS: "airun.run.status",
  RUN_OUTCOME: "airun.run.outcome",
  RUN_REASON: "airun.run.reason",
  STEP_ID: "airun.step.id",
  CAPABILITY: "airun.capability",
  ATTEMPT: "airun.step.attempt",
  CONTEXT_HASH: "airun.context_hash",
  DECISION: "airun.decision",
  COMPENSATION_KIND: "airun.compensation.kind",
  COMPENSATION_STATUS: "airun.compensation.status",
  COMPENSATION_ATTEMPTS: "airun.compensation.attempts",
  COMPENSATION_FORCED: "airun.compensation.forced",
  ERROR_CODE: "airun.error.code",
  /** The OpenTelemetry semantic-convention attribute for the kind of error (the code). */
  ERROR_TYPE: "error.type",
} as const;

/** The traced state of a run being driven (recording spans only). */
interface RunTrace {
  readonly tracer: Tracer;
  readonly span: Span;
  /** Parent context of the run's children. */
  readonly ctx: Context;
}

/**
 * Runs being driven (or rolled back) in this process: their trace, or null when their span is
 * not recording (no SDK registered, or sampled out), in which case no child span is started.
 */
const traced = new WeakMap<RunState, RunTrace | null>();

/**
 * Runs `fn` (a drive or rollback of the run) inside an `airun.run` span, ended with the run's
 * status, outcome and reason. Nested calls (a drive that rolls back) share the outer span.
 */
export async function traceRun<T>(state: RunState, fn: () => Promise<T>): Promise<T> {
  if (traced.has(state)) return fn();
  const tracer = trace.getTracer(TRACER_NAME, TRACER_VERSION);
  const parent = context.active();
  const run = state.run;
  const span = tracer.startSpan(
    "airun.run",
    {
      attributes: {
        [SpanAttr.RUN_ID]: run.id,
        [SpanAttr.WORKFLOW]: run.name,
        [SpanAttr.SPEC_HASH]: state.plan.specHash,
        [SpanAttr.PRINCIPAL]: run.principal,
      },
    },
    parent,
  );
  traced.set(state, span.isRecording() ? { tracer, span, ctx: trace.setSpan(parent, span) } : null);
  try {
    const result = await fn();
    const end = state.run;
    span.setAttribute(SpanAttr.RUN_STATUS, end.status);
    if (end.outcome !== null) span.setAttribute(SpanAttr.RUN_OUTCOME, end.outcome);
    if (end.reason !== null) span.setAttribute(SpanAttr.RUN_REASON, end.reason);
    if (end.status === RunStatus.FAILED || end.status === RunStatus.ROLLED_BACK) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: end.reason ?? end.status });
    }
    return result;
  } catch (err) {
    setError(span, toAirunError(err).code);
    throw err;
  } finally {
    traced.delete(state);
    span.end();
  }
}

/**
 * Starts the span of one step attempt, a child of the run span; `undefined` when the run is
 * not traced (the hot path then builds nothing). End it with `endStepSpan`.
 */
export function startStepSpan(
  state: RunState,
  ps: PlanStep,
  call: { readonly cap: { readonly name: string }; readonly contextHash: string },
  decision: string,
  attempt: number,
): Span | undefined {
  const t = traced.get(state);
  if (!t) return undefined;
  return t.tracer.startSpan(
    `airun.step ${ps.id}`,
    {
      attributes: {
        [SpanAttr.RUN_ID]: state.run.id,
        [SpanAttr.STEP_ID]: ps.id,
        [SpanAttr.CAPABILITY]: call.cap.name,
        [SpanAttr.ATTEMPT]: attempt,
        [SpanAttr.CONTEXT_HASH]: call.contextHash,
        [SpanAttr.DECISION]: decision,
      },
    },
    t.ctx,
  );
}

/** Ends a step span; with an error, status ERROR and its code (never its message). */
export function endStepSpan(span: Span | undefined, err?: unknown): void {
  if (span === undefined) return;
  if (err !== undefined) setError(span, toAirunError(err).code);
  span.end();
}

/**
 * Records a step that failed without an attempt (denied, rejected, invalid inputs, a failed
 * before-image) as one span, ended at once, without an attempt number.
 */
export function traceStepFailure(
  state: RunState,
  ps: PlanStep,
  err: unknown,
  recorded?: { readonly decision: JsonObject; readonly contextHash: string },
): void {
  const t = traced.get(state);
  if (!t) return;
  const rec = state.steps.get(ps.id);
  const attributes: Attributes = {
    [SpanAttr.RUN_ID]: state.run.id,
    [SpanAttr.STEP_ID]: ps.id,
  };
  if (ps.capability !== null) attributes[SpanAttr.CAPABILITY] = ps.capability;
  const contextHash = recorded?.contextHash ?? rec?.contextHash ?? null;
  if (contextHash !== null) attributes[SpanAttr.CONTEXT_HASH] = contextHash;
  const decision = (recorded?.decision ?? rec?.decision ?? null) as JsonObject | null;
  if (typeof decision?.decision === "string") attributes[SpanAttr.DECISION] = decision.decision;
  endStepSpan(t.tracer.startSpan(`airun.step ${ps.id}`, { attributes }, t.ctx), err);
}

/**
 * Runs one compensation (`fn` returns its problem, or null when it was undone) inside an
 * `airun.compensate <step>` span, a child of the run span.
 */
export async function traceCompensation(
  state: RunState,
  comp: CompensationRecord,
  force: boolean,
  fn: () => Promise<JsonValue | null>,
): Promise<JsonValue | null> {
  const t = traced.get(state);
  if (!t) return fn();
  const span = t.tracer.startSpan(
    `airun.compensate ${comp.stepId}`,
    {
      attributes: {
        [SpanAttr.RUN_ID]: state.run.id,
        [SpanAttr.STEP_ID]: comp.stepId,
        [SpanAttr.CAPABILITY]: comp.capability,
        [SpanAttr.COMPENSATION_KIND]: comp.kind,
        [SpanAttr.COMPENSATION_FORCED]: force,
      },
    },
    t.ctx,
  );
  try {
    const problem = await fn();
    const after = state.compensations.get(comp.stepId);
    if (after) {
      span.setAttribute(SpanAttr.COMPENSATION_STATUS, after.status);
      span.setAttribute(SpanAttr.COMPENSATION_ATTEMPTS, after.attempts);
    }
    if (problem !== null) setError(span, problemCode(problem));
    return problem;
  } catch (err) {
    setError(span, toAirunError(err).code);
    throw err;
  } finally {
    span.end();
  }
}

function problemCode(problem: JsonValue): string {
  const code =
    typeof problem === "object" && problem !== null && !Array.isArray(problem)
      ? problem.code
      : undefined;
  return typeof code === "string" ? code : "COMPENSATION_FAILED";
}

function setError(span: Span, code: string): void {
  span.setAttribute(SpanAttr.ERROR_CODE, code);
  span.setAttribute(SpanAttr.ERROR_TYPE, code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}
