/**
 * @module What an undo reads back: the before-images of a compensation record, opened
 * (`keys/blob-seal.ts`), and its undo data — sealed the same way when it holds the value of a
 * secret (a secret inside a path: the undo needs the real path, the database must not hold it).
 */

import { AirunError } from "../../core/errors.js";
import { sha256Hex } from "../../core/hash.js";
import { isPlainObject, type JsonValue } from "../../core/json.js";
import type { CompensationRecord, WriteOp } from "../../store/store.js";
import type { EngineContext } from "../context.js";

/** The key of undo data kept in a sealed blob: `{ "$sealed": "<blob id>" }`. */
const SEALED = "$sealed";

/**
 * Undo data as a compensation record keeps it: as is, or, when it holds one of `secrets`,
 * sealed in a blob (the returned op) and referred to by id.
 */
export function undoForRecord(
  ctx: EngineContext,
  data: JsonValue | null,
  secrets: readonly string[],
): { undo: JsonValue | null; ops: WriteOp[] } {
  if (data === null || secrets.length === 0) return { undo: data, ops: [] };
  const text = JSON.stringify(data);
  if (!secrets.some((s) => text.includes(s))) return { undo: data, ops: [] };
  const sealed = ctx.blobs.seal(new TextEncoder().encode(text));
  const id = sha256Hex(sealed);
  return { undo: { [SEALED]: id }, ops: [{ op: "putBlob", id, bytes: sealed }] };
}

/** The undo data of a compensation record, opened when it was sealed (`undoForRecord`). */
export async function undoData(
  ctx: EngineContext,
  comp: CompensationRecord,
): Promise<JsonValue | null> {
  const undo = comp.undo;
  if (!isPlainObject(undo) || typeof undo[SEALED] !== "string" || Object.keys(undo).length !== 1) {
    return undo;
  }
  const id = undo[SEALED];
  const bytes = await ctx.store.getBlob(id);
  if (!bytes) {
    throw new AirunError("BLOB_MISSING", `undo data ${id} of step ${comp.stepId} is missing`);
  }
  return JSON.parse(new TextDecoder().decode(ctx.blobs.open(bytes, id))) as JsonValue;
}

/**
 * The before-images of `comp`, opened. With `required`, a missing one is an error (an undo
 * needs it); otherwise it is left out (reconciliation copes).
 */
export async function beforeImages(
  ctx: EngineContext,
  comp: CompensationRecord,
  required: boolean,
): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const [name, id] of Object.entries(comp.blobs)) {
    const bytes = await ctx.store.getBlob(id);
    if (bytes) out[name] = ctx.blobs.open(bytes, id);
    else if (required) {
      throw new AirunError("BLOB_MISSING", `before-image ${id} of step ${comp.stepId} is missing`);
    }
  }
  return out;
}
