/**
 * @module `io.fs.copy`: copies a file, or a directory tree (symlinks inside are copied as
 * symlinks), inside the sandbox. Undo removes the copy and restores a target it overwrote.
 */
import { lstat } from "node:fs/promises";
import { z } from "zod";
import { type CapabilityContext, defineCapability } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import { parentsToCreate } from "./fs-dirs.js";
import { withFsErrors } from "./fs-errors.js";
import { copyFileAtomic, removeLeftovers, requireSingleLink } from "./fs-io.js";
import {
  driftError,
  parsePlan,
  reconcileWith,
  resolveAuthorized,
  sandboxFor,
  touching,
} from "./fs-plan.js";
import { onlyModeDiffers, probe, restoreImage, sameContent } from "./fs-state.js";
import {
  prepareTransfer,
  type TransferInput,
  type TransferPlan,
  transferInputSchema,
  transferPlanSchema,
} from "./fs-transfer.js";
import { copyTree, treeDigest } from "./fs-tree.js";
import { type FsSandbox, isWithin } from "./sandbox.js";

const NAME = "io.fs.copy";

/** Undo data of `io.fs.copy` (shared with its sibling, see fs-transfer.ts). */
export const copyPlanSchema = transferPlanSchema;
/** Undo data of `io.fs.copy`. */
export type CopyPlan = TransferPlan;
const inputSchema = transferInputSchema;
type CopyInput = TransferInput;

/** Resolves and checks both ends of a copy (symlinks are followed, as when reading/writing). */
async function endpoints(sb: FsSandbox, input: CopyInput, ctx: CapabilityContext) {
  const from = await resolveAuthorized(sb, ctx, "from", input.from);
  const to = await resolveAuthorized(sb, ctx, "to", input.to);
  const fromStat = await lstat(from.path).catch(() => null);
  if (!fromStat) {
    throw new CapabilityError("FS_NOT_FOUND", `${from.path} does not exist`, {
      context: { path: from.path },
    });
  }
  const isDir = fromStat.isDirectory();
  if (!isDir && !fromStat.isFile()) {
    throw new CapabilityError("FS_UNSUPPORTED_TYPE", `${from.path} is not a file or directory`, {
      context: { path: from.path },
    });
  }
  if (to.path === from.path || (isDir && isWithin(from.path, to.path))) {
    throw new CapabilityError("FS_INVALID", `cannot copy ${from.path} onto or into itself`, {
      context: { from: from.path, to: to.path },
    });
  }
  await parentsToCreate(sb, to.path, false);
  const toStat = await lstat(to.path).catch(() => null);
  if (toStat) {
    if (isDir || !input.overwrite) {
      throw new CapabilityError("FS_EXISTS", `${to.path} already exists`, {
        context: { path: to.path },
      });
    }
    if (toStat.isDirectory()) {
      throw new CapabilityError("FS_IS_DIR", `${to.path} is a directory; will not overwrite it`, {
        context: { path: to.path },
      });
    }
    // Its before-image would copy bytes shared with another name (see requireSingleLink).
    requireSingleLink(toStat, to.path);
  }
  return { from: from.path, to: to.path, isDir };
}

/**
 * Copies a file (keeping its mode) or a directory tree. A directory is never merged into an
 * existing one: its destination must not exist.
 *
 * @example { from: "templates/app", to: "apps/new" } → { from, to, type: "dir", sha256 }
 */
export const copy = defineCapability({
  name: NAME,
  description: "Copies a file or directory inside the sandbox; undo removes the copy.",
  input: inputSchema,
  touches: touching({ from: {}, to: {} }),
  output: z.object({
    from: z.string(),
    to: z.string(),
    type: z.enum(["file", "dir"]),
    sha256: z.string(),
  }),
  risk: "MEDIUM",
  effect: "write",
  // Not idempotent: a second run finds its own copy and refuses (overwrite: false); after a
  // crash, reconcile tells whether the copy happened.
  idempotent: false,
  undo: "builtin",
  prepare: prepareTransfer(NAME, endpoints),
  async execute(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.from }, async () => {
      const sb = await sandboxFor(ctx);
      const ends = await endpoints(sb, input, ctx);
      if (ends.isDir) {
        const image = await copyTree(sb, ends.from, ends.to, ctx.signal);
        return { from: ends.from, to: ends.to, type: "dir" as const, sha256: treeDigest(image) };
      }
      // Leftover temp files only follow a crash: a re-run (attempt > 1) or revert sweeps them.
      const copied = await copyFileAtomic(sb, ends.from, ends.to, input.overwrite, ctx.signal, {
        sweepLeftovers: ctx.attempt > 1,
      });
      return { from: ends.from, to: ends.to, type: "file" as const, sha256: copied.sha256 };
    });
  },
  async revert(ctx) {
    const plan = parsePlan(copyPlanSchema, ctx.data, NAME);
    await withFsErrors({ capability: NAME, path: plan.to }, async () => {
      const sb = await sandboxFor(ctx);
      await sb.recheck(plan.to);
      await removeLeftovers(sb, plan.to);
      const current = await probe(sb, plan.to, ctx.signal);
      const before = plan.overwritten.state;
      if (sameContent(current, before) && !onlyModeDiffers(current, before)) return;
      if (!sameContent(current, plan.source) && !sameContent(current, before) && !ctx.force) {
        throw driftError(NAME, plan.to, plan.source, current, ctx);
      }
      await restoreImage(sb, plan.to, plan.overwritten, ctx.blobs, ctx.signal);
    });
  },
  async reconcile(_input, undoPlan, ctx) {
    if (!undoPlan) return "unknown";
    const plan = parsePlan(copyPlanSchema, undoPlan.data, NAME);
    return reconcileWith(NAME, async () => {
      const sb = await sandboxFor(ctx);
      await sb.recheck(plan.to);
      const current = await probe(sb, plan.to, ctx.signal);
      if (sameContent(current, plan.source)) return "applied";
      if (sameContent(current, plan.overwritten.state)) return "not_applied";
      return "unknown";
    });
  },
});
