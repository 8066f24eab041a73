/**
 * @module What a run's step entries record about each step and its compensation record, fed in
 * ledger order (`ledger-state.ts` drives it, `state-compare.ts` compares the rows with it): each
 * field's value (or hash, for inputs and outputs), which entry recorded it, and — where an
 * entry changes a field without recording the new value — that it is unknown until another
 * entry records it. The rules follow the engine's writes, entry by entry: the step pipeline
 * (`step/intent.ts`, `complete.ts`, `fail.ts`, `attempts.ts`), approvals (`approvals/gate.ts`,
 * `decide.ts`, `step/approval-step.ts`), the undo (`undo/compensator.ts`), recovery
 * (`recovery/prepare-resume.ts`), sessions' evidence and the drift gate.
 */
import { DRIFT_GATE_STEP } from "../../core/governance.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { LedgerRow } from "../../core/ledger.js";
import { CompensationStatus, StepStatus } from "../../core/status.js";
import { EventType } from "../events.js";
import { ApprovalStatus } from "../state/approval-record.js";

/**
 * What the ledger says a field must be and which entry said it; `seq` null for a step's value at
 * creation (PENDING, nothing recorded), which the run's `run.created` entry implies.
 */
export interface Said<T = JsonValue> {
  readonly value: T;
  readonly seq: number | null;
  readonly type: string | null;
}

/**
 * A step's inputs or outputs (or undo data) as an entry recorded them: the value itself, or at
 * audit level BASIC only the SHA-256 of its canonical JSON.
 */
export interface HashSaid extends Said {
  /** The key the entry recorded it under (`outputs`, or `outputs_sha256` for a hash). */
  readonly key: string;
  /** `value` is the hash (hex), not the value. */
  readonly hashed: boolean;
}

/** Set to a field the last entry changed without recording the new value. */
export const UNKNOWN = null;

/** What the entries say about one compensation record. */
export interface CompLedger {
  /** "maybe": a VOID record exists only if the capability prepared undo data. */
  exists: "yes" | "maybe";
  /** The statuses the entries leave possible. */
  status: Said<readonly CompensationStatus[]>;
  kind: Said | null;
  capability: Said | null;
  attempts: Said | null;
  error: Said | null;
  undo: HashSaid | null;
  blobs: HashSaid | null;
}

/** Two entries of a step recording different values of one field. */
export interface Contradiction {
  readonly key: string;
  readonly entry: { readonly seq: number; readonly type: string; readonly value: JsonValue };
  readonly other: { readonly seq: number; readonly type: string; readonly value: JsonValue };
}

/** What the entries say about one step. */
export interface StepLedger {
  /** The first entry naming the step (for a missing row). */
  readonly first: { readonly seq: number; readonly type: string };
  status: Said<string>;
  attempts: Said | null;
  inputs: HashSaid | null;
  outputs: HashSaid | null;
  error: Said | null;
  /** The decision; its `approval` part is tracked by `approval` below. */
  decision: Said<JsonObject | null> | null;
  /** Which entry last set or changed the decision's approval, and whether its time is known. */
  approval: { seq: number; type: string; decidedAtKnown: boolean } | null;
  contextHash: Said<string | null>;
  comp: CompLedger | undefined;
  /** Entries of the step that contradict each other (an approval decided by one, used as another's). */
  contradictions: Contradiction[];
}

export function said<T>(value: T, row: { seq: number; type: string }): Said<T> {
  return { value, seq: row.seq, type: row.type };
}

/** A field from an entry's `name` (its value) or `name_sha256` (its hash); undefined if absent. */
function hashed(data: JsonObject, name: string, row: LedgerRow): HashSaid | undefined {
  const hashKey = `${name}_sha256`;
  if (typeof data[hashKey] === "string") {
    return { value: data[hashKey], seq: row.seq, type: row.type, key: hashKey, hashed: true };
  }
  if (name in data) return hashedValue(data[name] as JsonValue, row, name);
  return undefined;
}

/** A field an entry records (or implies) by value. */
function hashedValue(value: JsonValue, row: LedgerRow, key: string): HashSaid {
  return { value, seq: row.seq, type: row.type, key, hashed: false };
}

/** `data` without the `context_hash` the engine stamps on every step entry. */
export function unstamped(data: JsonObject): JsonObject {
  if (!("context_hash" in data)) return data;
  const { context_hash: _stamp, ...rest } = data;
  return rest;
}

/** A step as created with its run: PENDING, nothing recorded. */
export function newStep(row: LedgerRow): StepLedger {
  const initial = <T>(value: T): Said<T> => ({ value, seq: null, type: null });
  return {
    first: { seq: row.seq, type: row.type },
    status: initial<string>(StepStatus.PENDING),
    attempts: initial<JsonValue>(0),
    inputs: { value: null, seq: null, type: null, key: "inputs", hashed: false },
    outputs: { value: null, seq: null, type: null, key: "outputs", hashed: false },
    error: initial<JsonValue>(null),
    decision: initial<JsonObject | null>(null),
    approval: null,
    contextHash: initial<string | null>(null),
    comp: undefined,
    contradictions: [],
  };
}

/** `run.recovered`: an interrupted declared compensation that is not idempotent is in doubt. */
export function recovered(
  steps: ReadonlyMap<string, StepLedger>,
  row: LedgerRow,
  data: JsonValue,
): void {
  const verdicts = isPlainObject(data) ? data.steps : undefined;
  if (!isPlainObject(verdicts)) return;
  for (const [stepId, verdict] of Object.entries(verdicts)) {
    const comp = steps.get(stepId)?.comp;
    if (verdict !== "compensation_in_doubt" || comp === undefined) continue;
    comp.status = said([CompensationStatus.FAILED], row);
    comp.error = UNKNOWN;
  }
}

/** One entry of a step: what it says the step (and its compensation) now is. */
export function stepEntry(step: StepLedger, row: LedgerRow, data: JsonObject): void {
  if (typeof data.context_hash === "string") step.contextHash = said(data.context_hash, row);
  switch (row.type) {
    case EventType.STEP_SKIPPED:
      step.status = said<string>(StepStatus.SKIPPED, row);
      return;
    case EventType.STEP_DECISION:
      decision(step, row, data);
      return;
    case EventType.STEP_INTENT:
      intent(step, row, data);
      return;
    case EventType.STEP_ATTEMPT:
      step.attempts = said(data.attempt ?? null, row);
      return;
    case EventType.STEP_RETRY:
      step.attempts = said(data.next_attempt ?? null, row);
      step.error = said(data.error ?? null, row);
      return;
    case EventType.STEP_SUCCEEDED:
      succeeded(step, row, data);
      return;
    case EventType.STEP_FAILED: {
      step.status = said<string>(StepStatus.FAILED, row);
      step.attempts = said(data.attempts ?? null, row);
      const { attempts: _a, ...error } = unstamped(data);
      step.error = said<JsonValue>(error, row);
      if (pendingComp(step.comp)) {
        step.comp.status = said([CompensationStatus.ARMED, CompensationStatus.FAILED], row);
        step.comp.error = UNKNOWN;
      }
      return;
    }
    case EventType.STEP_RECONCILED:
      if (data.status === StepStatus.PENDING) step.status = said<string>(StepStatus.PENDING, row);
      if (data.status === StepStatus.SUCCEEDED) {
        step.status = said<string>(StepStatus.SUCCEEDED, row);
        step.outputs = hashedValue(null, row, "outputs");
        if (pendingComp(step.comp)) step.comp.status = said([CompensationStatus.ARMED], row);
      }
      return;
    case EventType.APPROVAL_REQUESTED:
      step.status = said<string>(StepStatus.WAITING_APPROVAL, row);
      setApproval(step, row, unstamped(data), true);
      return;
    case EventType.APPROVAL_DECIDED: {
      const approve = data.decision === "approve";
      changeApproval(step, row, data.approval, {
        status: approve ? ApprovalStatus.APPROVED : ApprovalStatus.REJECTED,
        decided_by: data.by ?? null,
        ...("comment" in data ? { comment: data.comment ?? null } : {}),
      });
      return;
    }
    case EventType.APPROVAL_EXPIRED:
      changeApproval(step, row, data.approval, { status: ApprovalStatus.EXPIRED });
      return;
    case EventType.STEP_NOT_RUN:
      step.status = said<string>(StepStatus.NOT_RUN, row);
      if (data.approval !== undefined) {
        changeApproval(step, row, data.approval, { status: ApprovalStatus.CANCELLED });
      }
      return;
    default:
      compensationEntry(step, row, data);
  }
}

/** A step's policy decision (with the approval that let it through, once used). */
function decision(step: StepLedger, row: LedgerRow, data: JsonObject): void {
  const value = unstamped(data);
  const used = value.approval;
  const known = step.decision?.value?.approval;
  if (isPlainObject(used) && isPlainObject(known) && used.id === known.id && step.approval) {
    // The approval the decision carries is the one the approval entries tell of.
    for (const key of ["decided_by", "comment", "action_hash"] as const) {
      if (key in known && !same(used[key] ?? null, known[key] ?? null)) {
        step.contradictions.push({
          key: `decision.approval.${key}`,
          entry: { seq: row.seq, type: row.type, value: used[key] ?? null },
          other: { seq: step.approval.seq, type: step.approval.type, value: known[key] ?? null },
        });
      }
    }
  }
  step.decision = said<JsonObject | null>(value, row);
  step.approval = isPlainObject(used)
    ? { seq: row.seq, type: row.type, decidedAtKnown: true }
    : null;
  // The inputs the step was decided on are recorded by its intent or result, if at all.
  step.inputs = UNKNOWN;
}

/** The write-ahead intent: RUNNING, its inputs, and the compensation record it creates. */
function intent(step: StepLedger, row: LedgerRow, data: JsonObject): void {
  step.status = said<string>(StepStatus.RUNNING, row);
  step.inputs = hashed(data, "inputs", row) ?? hashedValue(null, row, "inputs");
  if (step.comp !== undefined) return; // a resumed step keeps the record of its first intent
  const kind = data.compensation;
  const declared = step.decision?.value?.compensation;
  const forensic = "undo" in data;
  step.comp = {
    exists: typeof kind === "string" ? "yes" : "maybe",
    status: said(
      typeof kind === "string" ? [CompensationStatus.PENDING] : [CompensationStatus.VOID],
      row,
    ),
    kind: said(typeof kind === "string" ? kind : "builtin", row),
    capability: said(
      kind === "declared" && declared !== undefined ? declared : (data.capability ?? null),
      row,
    ),
    attempts: said<JsonValue>(0, row),
    error: said<JsonValue>(null, row),
    undo: forensic ? hashedValue(data.undo ?? null, row, "undo") : null,
    blobs: forensic ? hashedValue(data.before_images ?? {}, row, "before_images") : null,
  };
}

/** A step's success: a call's result, an approval step's approval, or a session's evidence. */
function succeeded(step: StepLedger, row: LedgerRow, data: JsonObject): void {
  step.status = said<string>(StepStatus.SUCCEEDED, row);
  if ("duration_ms" in data) {
    step.attempts = said(data.attempts ?? null, row);
    step.error = said<JsonValue>(null, row);
    step.outputs = hashed(data, "outputs", row) ?? hashedValue(null, row, "outputs");
    const inputs = hashed(data, "inputs", row);
    if (inputs) step.inputs = inputs;
    if (pendingComp(step.comp)) {
      step.comp.status = said([CompensationStatus.ARMED, CompensationStatus.FAILED], row);
      step.comp.error = UNKNOWN;
    }
  } else if (data.approval === true) {
    const approval = step.decision?.value?.approval;
    step.attempts = said<JsonValue>(1, row);
    if (isPlainObject(approval)) {
      const outputs: JsonObject = { approved: true, decided_by: approval.decided_by ?? null };
      if (row.stepId !== DRIFT_GATE_STEP) outputs.comment = approval.comment ?? null;
      step.outputs = hashedValue(outputs, row, "outputs");
    } else step.outputs = UNKNOWN;
    changeApproval(step, row, isPlainObject(approval) ? approval.id : null, {
      status: ApprovalStatus.USED,
    });
  } else if ("evidence" in data) {
    step.attempts = said<JsonValue>(0, row);
    step.error = said<JsonValue>(null, row);
    step.outputs = hashedValue(null, row, "outputs");
    step.inputs = hashedValue(data.evidence ?? null, row, "evidence");
  } else {
    step.attempts = UNKNOWN;
    step.error = UNKNOWN;
    step.outputs = UNKNOWN;
  }
}

/** `approval.requested`: the step's decision now carries this approval. */
function setApproval(step: StepLedger, row: LedgerRow, approval: JsonObject, known: boolean) {
  const base = step.decision?.value ?? {};
  step.decision = {
    value: { ...base, approval },
    seq: step.decision?.seq ?? row.seq,
    type: step.decision?.type ?? row.type,
  };
  step.approval = { seq: row.seq, type: row.type, decidedAtKnown: known };
}

/** An approval decided, expired or used: its fields change (the decision time is not recorded). */
function changeApproval(
  step: StepLedger,
  row: LedgerRow,
  id: JsonValue | undefined,
  change: JsonObject,
) {
  const current = step.decision?.value?.approval;
  if (!isPlainObject(current) || (id !== undefined && id !== null && current.id !== id)) return;
  const decidedAtKnown =
    change.status === ApprovalStatus.USED ? (step.approval?.decidedAtKnown ?? false) : false;
  setApproval(step, row, { ...(current as JsonObject), ...change }, decidedAtKnown);
}

function pendingComp(comp: CompLedger | undefined): comp is CompLedger {
  return (
    comp !== undefined &&
    comp.status.value.length === 1 &&
    comp.status.value[0] === CompensationStatus.PENDING
  );
}

/** `compensation.*`: the undo of a step, started, done, failed, refused or void. */
function compensationEntry(step: StepLedger, row: LedgerRow, data: JsonObject): void {
  const comp = step.comp;
  if (comp === undefined) return;
  comp.exists = "yes";
  switch (row.type) {
    case EventType.COMPENSATION_STARTED:
      comp.status = said([CompensationStatus.RUNNING], row);
      comp.attempts = said(data.attempt ?? null, row);
      comp.kind = said(data.kind ?? null, row);
      comp.capability = said(data.capability ?? null, row);
      return;
    case EventType.COMPENSATION_DONE:
      step.status = said<string>(StepStatus.COMPENSATED, row);
      comp.status = said([CompensationStatus.DONE], row);
      comp.attempts = said(data.attempts ?? null, row);
      comp.error = said<JsonValue>(null, row);
      return;
    case EventType.COMPENSATION_FAILED:
    case EventType.COMPENSATION_REFUSED:
      comp.status = said(
        [
          row.type === EventType.COMPENSATION_FAILED
            ? CompensationStatus.FAILED
            : CompensationStatus.REFUSED,
        ],
        row,
      );
      comp.error = said<JsonValue>(unstamped(data), row);
      return;
    case EventType.COMPENSATION_VOID:
      comp.status = said([CompensationStatus.VOID], row);
      return;
    default:
      return;
  }
}

/** Equal as JSON (key order aside). */
export function same(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!same(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) {
    if (!Object.hasOwn(b, k) || !same(a[k], (b as JsonObject)[k])) return false;
  }
  return true;
}
