/**
 * @module How records map onto table rows, in every dialect: snake_case columns, epoch
 * milliseconds as integers, and JSON values as the JSON text written (TEXT columns, not JSONB,
 * so a ledger entry's data is hashed verbatim). Encoders give the values a store binds; decoders
 * turn the rows it reads back into records.
 */
import { AirunError } from "../core/errors.js";
import type { JsonObject, JsonValue } from "../core/json.js";
import type { LedgerRow, PendingLedgerRow } from "../core/ledger.js";
import { isTerminal } from "../core/status.js";
import type { CompensationRecord, EventRecord, RunRecord, StepRecord } from "./store.js";

/** A row of `runs`. */
export interface RunRow {
  id: string;
  kind: RunRecord["kind"];
  name: string;
  spec_version: string;
  spec_hash: string;
  spec_text: string;
  plan: string;
  principal: string;
  inputs: string;
  status: RunRecord["status"];
  outcome: RunRecord["outcome"];
  reason: RunRecord["reason"];
  reason_detail: string | null;
  idempotency_key: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  lease_epoch: number;
  cancel_requested_by: string | null;
  created_at: number;
  updated_at: number;
  meta: string;
}

/** A row of `steps`. */
export interface StepRow {
  run_id: string;
  step_id: string;
  status: StepRecord["status"];
  attempts: number;
  inputs: string | null;
  outputs: string | null;
  error: string | null;
  decision: string | null;
  context_hash: string | null;
  seq: number | null;
  started_at: number | null;
  finished_at: number | null;
}

/** A row of `compensations`. */
export interface CompensationRow {
  run_id: string;
  seq: number;
  step_id: string;
  kind: CompensationRecord["kind"];
  capability: string;
  inputs: string | null;
  undo: string | null;
  blobs: string;
  status: CompensationRecord["status"];
  attempts: number;
  error: string | null;
  updated_at: number;
}

/** A row of `events` without its chain hash. */
export interface EventRow {
  seq: number;
  run_id: string | null;
  step_id: string | null;
  type: string;
  at: number;
  data: string;
}

// ---- encoders ----------------------------------------------------------------------------

/** The row of a new run. A terminal run never holds a lease, whatever the record says. */
export function runRow(run: RunRecord): RunRow {
  const terminal = isTerminal(run.status);
  return {
    id: run.id,
    kind: run.kind,
    name: run.name,
    spec_version: run.specVersion,
    spec_hash: run.specHash,
    spec_text: run.specText,
    plan: jsonText(run.plan, "plan"),
    principal: run.principal,
    inputs: jsonText(run.inputs, "inputs"),
    status: run.status,
    outcome: run.outcome,
    reason: run.reason,
    reason_detail: jsonOrNull(run.reasonDetail),
    idempotency_key: run.idempotencyKey,
    lease_owner: terminal ? null : run.leaseOwner,
    lease_expires_at: terminal ? null : run.leaseExpiresAt,
    lease_epoch: run.leaseEpoch,
    cancel_requested_by: run.cancelRequestedBy,
    created_at: run.createdAt,
    updated_at: run.updatedAt,
    meta: jsonText(run.meta, "meta"),
  };
}

/**
 * The values of a step's row in column order: run_id, step_id, status, attempts, inputs,
 * outputs, error, decision, context_hash, seq, started_at, finished_at. Positional, because a
 * step is written on every step: binding a named-parameter object costs a property lookup per
 * column and an object per call.
 */
export function stepRow(step: StepRecord): unknown[] {
  return [
    step.runId,
    step.stepId,
    step.status,
    step.attempts,
    jsonOrNull(step.inputs),
    jsonOrNull(step.outputs),
    jsonOrNull(step.error),
    jsonOrNull(step.decision),
    step.contextHash,
    step.seq,
    step.startedAt,
    step.finishedAt,
  ];
}

/**
 * The values of a compensation's row in column order: run_id, seq, step_id, kind, capability,
 * inputs, undo, blobs, status, attempts, error, updated_at.
 */
export function compensationRow(c: CompensationRecord): unknown[] {
  return [
    c.runId,
    c.seq,
    c.stepId,
    c.kind,
    c.capability,
    jsonOrNull(c.inputs),
    jsonOrNull(c.undo),
    JSON.stringify(c.blobs),
    c.status,
    c.attempts,
    jsonOrNull(c.error),
    c.updatedAt,
  ];
}

// ---- decoders ----------------------------------------------------------------------------

/** The run of a `runs` row. */
export function toRun(r: RunRow): RunRecord {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    specVersion: r.spec_version,
    specHash: r.spec_hash,
    specText: r.spec_text,
    plan: parse(r.plan),
    principal: r.principal,
    inputs: parse(r.inputs) as JsonObject,
    status: r.status,
    outcome: r.outcome,
    reason: r.reason,
    reasonDetail: parseOrNull(r.reason_detail),
    idempotencyKey: r.idempotency_key,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    leaseEpoch: Number(r.lease_epoch ?? 0),
    cancelRequestedBy: r.cancel_requested_by ?? null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    meta: parse(r.meta) as JsonObject,
  };
}

/** The step of a `steps` row. */
export function toStep(r: StepRow): StepRecord {
  return {
    runId: r.run_id,
    stepId: r.step_id,
    status: r.status,
    attempts: r.attempts,
    inputs: parseOrNull(r.inputs),
    outputs: parseOrNull(r.outputs),
    error: parseOrNull(r.error),
    decision: parseOrNull(r.decision),
    contextHash: r.context_hash,
    seq: r.seq,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/** The compensation of a `compensations` row. */
export function toCompensation(r: CompensationRow): CompensationRecord {
  return {
    runId: r.run_id,
    stepId: r.step_id,
    seq: r.seq,
    kind: r.kind,
    capability: r.capability,
    inputs: parseOrNull(r.inputs),
    undo: parseOrNull(r.undo),
    blobs: parse(r.blobs) as Record<string, string>,
    status: r.status,
    attempts: r.attempts,
    error: parseOrNull(r.error),
    updatedAt: r.updated_at,
  };
}

/** The event of an `events` row. */
export function toEvent(r: EventRow): EventRecord {
  return {
    seq: r.seq,
    runId: r.run_id,
    stepId: r.step_id,
    type: r.type,
    at: r.at,
    data: parse(r.data),
  };
}

/** The ledger row of an `events` row: its data kept as the text stored, with its chain hash. */
export function toLedgerRow(r: LedgerEventRow): LedgerRow {
  return {
    seq: Number(r.seq),
    at: Number(r.at),
    type: r.type,
    runId: r.run_id,
    stepId: r.step_id,
    data: r.data,
    hash: r.hash,
    runSeq: Number(r.run_seq),
    runHash: r.run_hash,
  };
}

/** An events row with its ledger columns. */
export interface LedgerEventRow extends EventRow {
  hash: string;
  run_seq: number;
  run_hash: string;
}

/** A pending events row (PostgreSQL, before integration): its row id and run link. */
export interface PendingEventRow extends Omit<EventRow, "seq"> {
  id: number;
  run_seq: number;
  run_hash: string;
}

/** A pending row as the ledger reads it. */
export function toPendingLedgerRow(r: PendingEventRow): PendingLedgerRow & { id: number } {
  return {
    id: Number(r.id),
    at: Number(r.at),
    type: r.type,
    runId: r.run_id,
    stepId: r.step_id,
    data: r.data,
    runSeq: Number(r.run_seq),
    runHash: r.run_hash,
  };
}

// ---- JSON columns ------------------------------------------------------------------------

/** JSON text of a value that must be present (`undefined` is a caller bug, not `null`). */
export function jsonText(value: unknown, field: string): string {
  const text = value === undefined ? undefined : JSON.stringify(value);
  if (text === undefined) {
    throw new AirunError("STORE_INVALID_RECORD", `field "${field}" is not a JSON value`, {
      field,
    });
  }
  return text;
}

/** JSON text of a value, or null for null (and undefined). */
export function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : jsonText(value, "value");
}

function parse(text: string): JsonValue {
  return JSON.parse(text) as JsonValue;
}

function parseOrNull(text: string | null): JsonValue | null {
  return text === null ? null : parse(text);
}
