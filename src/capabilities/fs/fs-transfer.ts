/**
 * @module What `io.fs.move` and `io.fs.copy` share: their input, the shape of their undo plan
 * (source and destination, what was transferred, what the destination held before) and how
 * that plan is captured.
 */
import { z } from "zod";
import type { CapabilityContext, UndoPlan } from "../../core/capability.js";
import { withFsErrors } from "./fs-errors.js";
import { sandboxFor, toJson } from "./fs-plan.js";
import { capture, imageSchema, nodeStateSchema, probe } from "./fs-state.js";
import type { FsSandbox } from "./sandbox.js";

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

/**
 * The `prepare` of a move or copy: resolves both ends (each capability decides how symlinks
 * are treated), records what is transferred and captures what the destination holds.
 */
export function prepareTransfer(
  capability: string,
  endpoints: (
    sb: FsSandbox,
    input: TransferInput,
    ctx: CapabilityContext,
  ) => Promise<{ from: string; to: string }>,
): (input: TransferInput, ctx: CapabilityContext) => Promise<UndoPlan> {
  return (input, ctx) =>
    withFsErrors({ capability, path: input.from }, async () => {
      const sb = await sandboxFor(ctx);
      const ends = await endpoints(sb, input, ctx);
      const source = await probe(sb, ends.from, ctx.signal);
      const overwritten = await capture(sb, ends.to, ctx.sandbox.maxBeforeImageBytes, ctx.signal);
      const plan: TransferPlan = {
        v: 1,
        from: ends.from,
        to: ends.to,
        source,
        overwritten: overwritten.image,
      };
      return { data: toJson(plan), blobs: overwritten.blobs };
    });
}
