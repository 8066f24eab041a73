/**
 * @module Stamping `context_hash` (SPEC §7) on a step's ledger entries: every entry of a step
 * carries the hash of what the step acts on, so the ledger alone ties each entry to its action.
 */
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { StepRecord, WriteOp } from "../../store/store.js";

/**
 * Stamps `context_hash` (SPEC §7) on every entry of a step that does not carry it yet: the hash
 * the same batch gives the step, else the one it has. Entries written before a step's inputs
 * are resolved (a skip, a refusal of unresolvable inputs) have none to carry.
 */
export function stampContextHashes(ops: WriteOp[], steps: ReadonlyMap<string, StepRecord>): void {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as WriteOp;
    if (op.op !== "appendEvent" || op.event.stepId === null) continue;
    const data = op.event.data;
    if (!isPlainObject(data) || data.context_hash !== undefined) continue;
    const stepId = op.event.stepId;
    let hash = steps.get(stepId)?.contextHash ?? null;
    for (const other of ops) {
      if (other.op === "putStep" && other.step.stepId === stepId && other.step.contextHash) {
        hash = other.step.contextHash;
      }
    }
    if (hash !== null) {
      ops[i] = { op: "appendEvent", event: { ...op.event, data: withContextHash(data, hash) } };
    }
  }
}

/** `data` plus `context_hash`, inserted where it sorts, so sorted keys stay sorted. */
function withContextHash(data: JsonObject, hash: string): JsonObject {
  const out: JsonObject = {};
  let placed = false;
  for (const key of Object.keys(data)) {
    if (!placed && key > "context_hash") {
      out.context_hash = hash;
      placed = true;
    }
    out[key] = data[key] as JsonValue;
  }
  if (!placed) out.context_hash = hash;
  return out;
}
