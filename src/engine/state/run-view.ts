/**
 * @module The public view of a run: what `--json` prints, the SDK returns and (later) the HTTP
 * API serves. Field names are snake_case, stable, and documented in the README.
 */
import type { JsonObject, JsonValue } from "../../core/json.js";
import type { Plan } from "../../core/plan.js";
import type { CompensationRecord, RunRecord, StepRecord } from "../../store/store.js";

/** One step in a run view. */
export interface StepView {
  readonly id: string;
  readonly capability: string | null;
  readonly status: string;
  readonly attempts: number;
  readonly outputs: JsonValue | null;
  readonly error: JsonValue | null;
  readonly decision: JsonValue | null;
  readonly context_hash: string | null;
  readonly compensation: {
    readonly kind: string;
    readonly status: string;
    readonly error: JsonValue | null;
  } | null;
  readonly started_at: string | null;
  readonly finished_at: string | null;
}

/** A run as shown to people and machines. */
export interface RunView {
  readonly id: string;
  /** `workflow` (a YAML spec) or `session` (calls made one at a time through the SDK). */
  readonly kind: "workflow" | "session";
  readonly name: string;
  readonly version: string;
  readonly status: string;
  readonly outcome: string | null;
  readonly reason: string | null;
  readonly reason_detail: JsonValue | null;
  readonly principal: string;
  readonly inputs: JsonObject;
  readonly idempotency_key: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly steps: readonly StepView[];
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Builds the view from persisted records (steps in plan order). */
export function toRunView(
  run: RunRecord,
  steps: StepRecord[],
  comps: CompensationRecord[],
): RunView {
  const plan = run.plan as unknown as Plan;
  const byId = new Map(steps.map((s) => [s.stepId, s]));
  const compById = new Map(comps.map((c) => [c.stepId, c]));
  const ordered = steps.length === 0 ? [] : plan.steps.map((ps) => ({ ps, s: byId.get(ps.id) }));
  return {
    id: run.id,
    kind: run.kind,
    name: run.name,
    version: run.specVersion,
    status: run.status,
    outcome: run.outcome,
    reason: run.reason,
    reason_detail: run.reasonDetail,
    principal: run.principal,
    inputs: run.inputs,
    idempotency_key: run.idempotencyKey,
    created_at: new Date(run.createdAt).toISOString(),
    updated_at: new Date(run.updatedAt).toISOString(),
    steps: ordered.map(({ ps, s }) => {
      const c = compById.get(ps.id);
      return {
        id: ps.id,
        capability: ps.kind === "approval" ? "approval" : ps.capability,
        status: s?.status ?? "PENDING",
        attempts: s?.attempts ?? 0,
        outputs: s?.outputs ?? null,
        error: s?.error ?? null,
        decision: s?.decision ?? null,
        context_hash: s?.contextHash ?? null,
        compensation: c ? { kind: c.kind, status: c.status, error: c.error } : null,
        started_at: iso(s?.startedAt ?? null),
        finished_at: iso(s?.finishedAt ?? null),
      };
    }),
  };
}
