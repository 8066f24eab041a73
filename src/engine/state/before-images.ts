/**
 * @module The before-images of a compensation record, read back from the store and opened
 * (`keys/blob-seal.ts`): what an undo restores and what reconciliation compares against.
 */
import { AirunError } from "../../core/errors.js";
import type { CompensationRecord } from "../../store/store.js";
import type { EngineContext } from "../context.js";

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
