/**
 * @module Comparing rows with what their entries recorded (`recorded-steps.ts`,
 * `core/ledger-run.ts`): a run's row field by field, its steps' and compensations' rows, and the
 * rows the ledger records that the tables lack (and the reverse). Each disagreement names the
 * run, step, field, what the row says, and the entry and what it records (a hashed field's
 * entry is read back to show its value; structured values name their first differing part).
 */
import { canonicalJson, hashJson, sha256Hex } from "../../core/hash.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { LedgerRow } from "../../core/ledger.js";
import type { Recorded, RecordedRun } from "../../core/ledger-run.js";
import type { Plan } from "../../core/plan.js";
import { computeSpecHash } from "../../core/plan-schema.js";
import type { CompensationRecord, RunRecord, StepRecord } from "../../store/store.js";
import { EventType } from "../events.js";
import { type HashSaid, newStep, type Said, type StepLedger, same } from "./recorded-steps.js";

/** A disagreement between committed state and the ledger. */
export interface StateMismatch {
  readonly runId: string;
  readonly stepId: string | null;
  /**
   * The field that disagrees: a column (`status`, `principal`, `outputs`, …), a compensation's
   * as `compensation.<column>`, or `(row)` / `compensation.(row)` / `(run.created)` for a row
   * or an entry that is missing.
   */
  readonly field: string;
  /** The entry whose record the row contradicts (null when no entry records the field). */
  readonly seq: number | null;
  readonly message: string;
}

/**
 * Workflow plans already found to hash to their spec hash, by that hash: another run of the same
 * workflow whose plan is equal to one of them needs no hashing of its own (a plan is large).
 */
export type VerifiedPlans = Map<string, JsonValue>;

/** Compares a run's row with its recorded creation and lifecycle. */
export function compareRun(
  row: RunRecord,
  run: RecordedRun,
  plans: VerifiedPlans,
  out: StateMismatch[],
): void {
  const created = run.created!;
  const at = { seq: created.seq, type: EventType.RUN_CREATED };
  const mismatch = (field: string, seq: number | null, message: string) =>
    out.push({ runId: row.id, stepId: null, field, seq, message });
  const value = (field: string, given: JsonValue, recorded: Recorded<JsonValue> | null) => {
    if (recorded === null || same(given, recorded.value)) return;
    mismatch(
      field,
      recorded.seq,
      `run ${row.id}: ${field} is ${show(given)} in the runs table, but entry ${recorded.seq} (${recorded.type}) records ${show(recorded.value)}`,
    );
  };
  const hash = (field: string, given: string, key: string, recorded: JsonValue) => {
    if (given === recorded) return;
    mismatch(
      field,
      created.seq,
      `run ${row.id}: ${field} hashes to ${short(given)} in the runs table, but entry ${created.seq} (run.created) records ${key} ${short(recorded)}`,
    );
  };
  value("kind", row.kind, { value: created.kind, ...at });
  value("name", row.name, { value: created.name, ...at });
  value("version", row.specVersion, { value: created.version, ...at });
  value("principal", row.principal, { value: created.principal, ...at });
  value("spec_hash", row.specHash, { value: created.specHash, ...at });
  value("created_at", row.createdAt, { value: created.at, ...at });
  hash("spec_text", sha256Hex(row.specText), "spec_text_sha256", created.specTextSha256);
  const known = typeof created.specHash === "string" ? plans.get(created.specHash) : undefined;
  if (row.kind !== "workflow" || known === undefined || !same(row.plan, known)) {
    const planned = planHash(row);
    hash("plan", planned, "spec_hash", created.specHash);
    if (row.kind === "workflow" && planned === created.specHash) plans.set(planned, row.plan);
  }
  if (created.inputsSha256 !== undefined) {
    hash("inputs", rowHash(row.inputs), "inputs_sha256", created.inputsSha256);
  }
  if (run.status?.value !== row.status) {
    mismatch(
      "status",
      run.status?.seq ?? null,
      `run ${row.id} is ${row.status}, but its last status entry is ${run.status?.type ?? "missing"}`,
    );
  }
  value("outcome", row.outcome, run.outcome);
  value("reason", row.reason, run.reason);
  difference(row.id, null, "runs", "reason_detail", row.reasonDetail, run.detail, out);
}

/** The hash of a run's stored plan; a session's covers the plan it opened with (no steps). */
function planHash(row: RunRecord): string {
  try {
    // Keys sorted first, so that hashing takes canonical JSON's fast path (a plan is large).
    const plan = keysSorted(row.plan) as unknown as Plan;
    return computeSpecHash(row.kind === "session" ? { ...plan, steps: [] } : plan);
  } catch {
    return "(malformed plan)";
  }
}

/** The SHA-256 of a row's JSON value, as `hashJson` (its keys sorted first: see `keysSorted`). */
function rowHash(value: JsonValue): string {
  return hashJson(keysSorted(value));
}

/**
 * A copy of a JSON value read from a row with every object's keys in sorted order: the same
 * canonical JSON, but written by `canonicalJson`'s fast path (`JSON.stringify`) instead of its
 * general one, about three times faster for the values rows hold.
 */
function keysSorted(v: JsonValue): JsonValue {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(keysSorted);
  const out: JsonObject = {};
  for (const k of Object.keys(v).sort()) out[k] = keysSorted(v[k] as JsonValue);
  return out;
}

/** Compares a run's step and compensation rows with what their entries recorded. */
export function compareSteps(
  runId: string,
  ledger: ReadonlyMap<string, StepLedger>,
  steps: readonly StepRecord[],
  comps: readonly CompensationRecord[],
  out: StateMismatch[],
): void {
  const stepRows = new Map(steps.map((s) => [s.stepId, s]));
  const compRows = new Map(comps.map((c) => [c.stepId, c]));
  for (const [stepId, step] of ledger) {
    if (stepRows.has(stepId)) continue;
    out.push({
      runId,
      stepId,
      field: "(row)",
      seq: step.first.seq,
      message: `step ${runId}/${stepId}: entry ${step.first.seq} (${step.first.type}) records it, but the steps table has no row`,
    });
  }
  for (const row of steps) {
    const step = ledger.get(row.stepId) ?? newStep({ seq: 0, type: "" } as LedgerRow);
    const where = `step ${runId}/${row.stepId}`;
    const mismatch = (field: string, seq: number | null, message: string) =>
      out.push({ runId, stepId: row.stepId, field, seq, message });
    if (step.status.value !== row.status) {
      mismatch(
        "status",
        step.status.seq,
        `${where} is ${row.status}, but its last entry is ${step.status.type ?? "missing"}`,
      );
    }
    if (step.attempts && !same(row.attempts, step.attempts.value)) {
      mismatch(
        "attempts",
        step.attempts.seq,
        `${where}: attempts is ${row.attempts} in the steps table, but ${recordedBy(step.attempts)}`,
      );
    }
    compareHashed(where, "steps", "inputs", row.inputs, step.inputs, mismatch);
    compareHashed(where, "steps", "outputs", row.outputs, step.outputs, mismatch);
    difference(runId, row.stepId, "steps", "error", row.error, step.error, out);
    compareDecision(runId, row, step, out);
    if (!same(row.contextHash, step.contextHash.value)) {
      mismatch(
        "context_hash",
        step.contextHash.seq,
        `${where}: context_hash is ${show(row.contextHash)} in the steps table, but ${recordedBy(step.contextHash)}`,
      );
    }
    for (const c of step.contradictions) {
      mismatch(
        "decision",
        c.entry.seq,
        `${where}: ${c.key}: entry ${c.entry.seq} (${c.entry.type}) records ${show(c.entry.value)}, but entry ${c.other.seq} (${c.other.type}) records ${show(c.other.value)}`,
      );
    }
    compareCompensation(runId, row.stepId, step, compRows.get(row.stepId), out);
  }
  for (const comp of comps) {
    if (stepRows.has(comp.stepId)) continue;
    const step = ledger.get(comp.stepId) ?? newStep({ seq: 0, type: "" } as LedgerRow);
    compareCompensation(runId, comp.stepId, step, comp, out);
  }
}

/** "entry 12 (step.attempt) records 1", or, for a value no entry changed, "no entry changed it from 0". */
function recordedBy(s: Said): string {
  return s.seq === null
    ? `no entry changed it from ${show(s.value)}`
    : `entry ${s.seq} (${s.type}) records ${show(s.value)}`;
}

/** Compares a field recorded by value or by hash (inputs, outputs, undo data). */
function compareHashed(
  where: string,
  table: string,
  field: string,
  given: JsonValue | null,
  recorded: HashSaid | null,
  mismatch: (field: string, seq: number | null, message: string) => void,
): void {
  if (recorded === null) return;
  const by =
    recorded.seq === null ? "no entry records any" : `entry ${recorded.seq} (${recorded.type})`;
  if (!recorded.hashed) {
    if (same(given, recorded.value)) return;
    mismatch(
      field,
      recorded.seq,
      recorded.seq === null
        ? `${where}: ${field} is ${show(given)} in the ${table} table, but ${by}`
        : `${where}: ${field} is ${show(given)} in the ${table} table, but ${by} records ${show(recorded.value)}`,
    );
    return;
  }
  const hash = given === null ? null : rowHash(given);
  if (hash === recorded.value) return;
  mismatch(
    field,
    recorded.seq,
    `${where}: ${field} ${hash === null ? "is null" : `hash to ${short(hash)}`} in the ${table} table, but ${by} records ${recorded.key} ${short(recorded.value)}`,
  );
}

/** Compares a step's decision, approval included (its decision time only once recorded). */
function compareDecision(runId: string, row: StepRecord, step: StepLedger, out: StateMismatch[]) {
  const recorded = step.decision;
  if (recorded === null) return;
  let expected: JsonValue = recorded.value;
  const given = row.decision;
  const approval = isPlainObject(expected) ? expected.approval : undefined;
  if (isPlainObject(approval) && step.approval && !step.approval.decidedAtKnown) {
    // The entries do not record when an approval not used yet was decided: take the row's.
    const rowApproval = isPlainObject(given) ? given.approval : undefined;
    const decidedAt = isPlainObject(rowApproval) ? rowApproval.decided_at : undefined;
    expected = {
      ...(expected as JsonObject),
      approval: { ...(approval as JsonObject), decided_at: decidedAt ?? null },
    };
  }
  const diff = firstDifference(given, expected, "decision");
  if (diff === undefined) return;
  const by = diff.path.startsWith("decision.approval") && step.approval ? step.approval : recorded;
  const seq = by.seq;
  out.push({
    runId,
    stepId: row.stepId,
    field: "decision",
    seq,
    message: `step ${runId}/${row.stepId}: ${diff.path} is ${show(diff.a)} in the steps table, but ${seq === null ? "no entry records any" : `entry ${seq} (${by.type}) records ${show(diff.b)}`}`,
  });
}

/** Compares a structured field (error, reason detail) and names its first differing part. */
function difference(
  runId: string,
  stepId: string | null,
  table: string,
  field: string,
  given: JsonValue | null,
  recorded: Recorded<JsonValue> | Said | null,
  out: StateMismatch[],
): void {
  if (recorded === null) return;
  const diff = firstDifference(given, recorded.value, field);
  if (diff === undefined) return;
  const where = stepId === null ? `run ${runId}` : `step ${runId}/${stepId}`;
  out.push({
    runId,
    stepId,
    field,
    seq: recorded.seq,
    message: `${where}: ${diff.path} is ${show(diff.a)} in the ${table} table, but ${recorded.seq === null ? "no entry records any" : `entry ${recorded.seq} (${recorded.type}) records ${show(diff.b)}`}`,
  });
}

/** Compares a compensation row (or its absence) with what the entries recorded. */
function compareCompensation(
  runId: string,
  stepId: string,
  step: StepLedger,
  row: CompensationRecord | undefined,
  out: StateMismatch[],
): void {
  const where = `compensation ${runId}/${stepId}`;
  const comp = step.comp;
  const mismatch = (field: string, seq: number | null, message: string) =>
    out.push({ runId, stepId, field: `compensation.${field}`, seq, message });
  if (comp === undefined) {
    if (row)
      mismatch("(row)", null, `${where} is in the compensations table, but no entry records it`);
    return;
  }
  if (row === undefined) {
    if (comp.exists === "yes") {
      mismatch(
        "(row)",
        comp.status.seq,
        `${where}: entry ${comp.status.seq} (${comp.status.type}) records it, but the compensations table has no row`,
      );
    }
    return;
  }
  if (!comp.status.value.includes(row.status)) {
    mismatch(
      "status",
      comp.status.seq,
      `${where} is ${row.status}, but its last entry ${comp.status.type} (entry ${comp.status.seq}) leaves it ${comp.status.value.join(" or ")}`,
    );
  }
  const value = (field: string, given: JsonValue, recorded: Said | null) => {
    if (recorded === null || same(given, recorded.value)) return;
    mismatch(
      field,
      recorded.seq,
      `${where}: ${field} is ${show(given)} in the compensations table, but ${recordedBy(recorded)}`,
    );
  };
  value("kind", row.kind, comp.kind);
  value("capability", row.capability, comp.capability);
  value("attempts", row.attempts, comp.attempts);
  difference(runId, stepId, "compensations", "compensation.error", row.error, comp.error, out);
  compareHashed(where, "compensations", "undo", row.undo, comp.undo, mismatch);
  compareHashed(where, "compensations", "blobs", row.blobs as JsonValue, comp.blobs, mismatch);
}

// ---- messages ------------------------------------------------------------------------------

/** The first path (depth first, keys in order) where two values differ. */
function firstDifference(
  a: JsonValue | undefined,
  b: JsonValue | undefined,
  path: string,
): { path: string; a: JsonValue | undefined; b: JsonValue | undefined } | undefined {
  if (same(a, b)) return undefined;
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) {
      const d = firstDifference((a as JsonObject)[k], (b as JsonObject)[k], `${path}.${k}`);
      if (d) return d;
    }
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
  }
  return { path, a, b };
}

/** A value for a message: its canonical JSON, cut at 300 characters; `absent` if missing. */
function show(v: JsonValue | undefined): string {
  if (v === undefined) return "absent";
  let text: string;
  try {
    text = canonicalJson(v);
  } catch {
    text = String(v);
  }
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** A hash for a message: its first 16 hex digits. */
function short(hash: JsonValue | undefined): string {
  return typeof hash === "string" ? `${hash.slice(0, 16)}…` : show(hash);
}
