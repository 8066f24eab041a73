/**
 * @module What `io.fs.move` and `io.fs.copy` share: their input and the shape of their undo
 * plan (source and destination, what was transferred, what the destination held before).
 */
import { z } from "zod";
import { imageSchema, nodeStateSchema } from "./fs-state.js";

/** Input of a move or copy. */
export const transferInputSchema = z
  .object({ from: z.string().min(1), to: z.string().min(1), overwrite: z.boolean().default(false) })
  .strict();
/** Input of a move or copy. */
export type TransferInput = z.infer<typeof transferInputSchema>;

/** Undo data of a move or copy. Blobs: an overwritten target's bytes, keyed by SHA-256. */
export const transferPlanSchema = z.object({
  v: z.literal(1),
  /** Canonical source and destination. */
  from: z.string(),
  to: z.string(),
  /** What was transferred (file digest, tree digest or link target): what `to` holds afterwards. */
  source: nodeStateSchema,
  /** What `to` held before (absent, or an overwritten file or symlink). */
  overwritten: imageSchema,
});
/** Undo data of a move or copy. */
export type TransferPlan = z.infer<typeof transferPlanSchema>;
