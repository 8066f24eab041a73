/**
 * @module `io.fs.move`: renames a file, symlink or directory inside the sandbox. Undo moves it
 * back and restores a target it overwrote.
 */
import { lstatSync } from "node:fs";
import { lstat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { type CapabilityContext, defineCapability } from "../../core/capability.js";
import { CapabilityError, DriftError, SandboxError } from "../../core/errors.js";
import { DirFd, withDir } from "./fs-dirfd.js";
import { parentsToCreate } from "./fs-dirs.js";
import { withFsErrors } from "./fs-errors.js";
import { removeLeftovers, renameNoReplaceAt } from "./fs-io.js";
import {
  driftError,
  parsePlan,
  reconcileWith,
  resolveAuthorized,
  sandboxFor,
  touching,
} from "./fs-plan.js";
import {
  ABSENT,
  contentHash,
  probe,
  removeNode,
  restoreImage,
  sameContent,
  stateType,
} from "./fs-state.js";
import {
  prepareTransfer,
  type TransferInput,
  type TransferPlan,
  transferInputSchema,
  transferPlanSchema,
} from "./fs-transfer.js";
import { type FsSandbox, isWithin } from "./sandbox.js";

const NAME = "io.fs.move";

/** Undo data of `io.fs.move` (shared with its sibling, see fs-transfer.ts). */
export const movePlanSchema = transferPlanSchema;
/** Undo data of `io.fs.move`. */
export type MovePlan = TransferPlan;
const inputSchema = transferInputSchema;
type MoveInput = TransferInput;

/** Resolves and checks both ends of a move (links are moved, never followed). */
async function endpoints(sb: FsSandbox, input: MoveInput, ctx: CapabilityContext) {
  const from = await resolveAuthorized(sb, ctx, "from", input.from, { followFinal: false });
  const to = await resolveAuthorized(sb, ctx, "to", input.to, { followFinal: false });
  if (!from.exists) {
    throw new CapabilityError("FS_NOT_FOUND", `${from.path} does not exist`, {
      context: { path: from.path },
    });
  }
  if (sb.isRoot(from.path))
    throw new SandboxError(`refusing to move the sandbox root ${from.path}`);
  if (to.path === from.path || isWithin(from.path, to.path)) {
    throw new CapabilityError("FS_INVALID", `cannot move ${from.path} onto or into itself`, {
      context: { from: from.path, to: to.path },
    });
  }
  await parentsToCreate(sb, to.path, false);
  const toStat = await lstat(to.path).catch(() => null);
  if (toStat) {
    if (!input.overwrite) {
      throw new CapabilityError("FS_EXISTS", `${to.path} already exists`, {
        context: { path: to.path },
      });
    }
    if (toStat.isDirectory()) {
      throw new CapabilityError("FS_IS_DIR", `${to.path} is a directory; will not overwrite it`, {
        context: { path: to.path },
      });
    }
  }
  return { from: from.path, to: to.path, toExists: toStat !== null };
}

/**
 * Moves a file, symlink or directory (within one filesystem: `FS_CROSS_DEVICE` otherwise).
 *
 * @example { from: "drafts/a.md", to: "final/a.md" } → { from, to, type: "file", sha256 }
 */
export const move = defineCapability({
  name: NAME,
  description: "Moves a file or directory inside the sandbox; undo moves it back.",
  input: inputSchema,
  touches: touching({ from: { followFinal: false }, to: { followFinal: false } }),
  output: z.object({
    from: z.string(),
    to: z.string(),
    type: z.enum(["file", "dir", "symlink", "other"]),
    sha256: z.string(),
  }),
  risk: "MEDIUM",
  effect: "write",
  idempotent: false,
  undo: "builtin",
  prepare: prepareTransfer(NAME, endpoints),
  async execute(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.from }, async () => {
      const sb = await sandboxFor(ctx);
      const ends = await endpoints(sb, input, ctx);
      // What is moved, read at its checked source path just before (after the move, `to`
      // may be reached through a folder swapped meanwhile; the move itself cannot be).
      const moved = await probe(sb, ends.from, ctx.signal);
      await renameAt(sb, ends.from, ends.to, input.overwrite);
      return { from: ends.from, to: ends.to, type: stateType(moved), sha256: contentHash(moved) };
    });
  },
  async revert(ctx) {
    const plan = parsePlan(movePlanSchema, ctx.data, NAME);
    await withFsErrors({ capability: NAME, path: plan.to }, async () => {
      const sb = await sandboxFor(ctx);
      await sb.recheck(plan.from);
      await sb.recheck(plan.to);
      await removeLeftovers(sb, plan.from);
      await removeLeftovers(sb, plan.to);
      const atFrom = await probe(sb, plan.from, ctx.signal);
      const atTo = await probe(sb, plan.to, ctx.signal);
      const over = plan.overwritten;
      if (sameContent(atFrom, plan.source)) {
        // Already moved back (or never moved): only the overwritten target may be missing.
        if (sameContent(atTo, over.state)) return;
        if (atTo.type !== "absent" && !ctx.force)
          throw driftError(NAME, plan.to, over.state, atTo, ctx);
        await restoreImage(sb, plan.to, over, ctx.blobs, ctx.signal);
        return;
      }
      const intact = sameContent(atTo, plan.source) && atFrom.type === "absent";
      if (!intact && !ctx.force) {
        if (atFrom.type !== "absent") throw driftError(NAME, plan.from, ABSENT, atFrom, ctx);
        throw driftError(NAME, plan.to, plan.source, atTo, ctx);
      }
      if (atTo.type === "absent") {
        throw new DriftError(`${plan.to} no longer exists: there is nothing to move back`, {
          capability: NAME,
          path: plan.to,
          runId: ctx.runId,
          stepId: ctx.stepId,
        });
      }
      if (atFrom.type !== "absent") await removeNode(sb, plan.from);
      await renameAt(sb, plan.to, plan.from, true);
      if (over.state.type !== "absent") {
        await restoreImage(sb, plan.to, over, ctx.blobs, ctx.signal);
      }
    });
  },
  async reconcile(_input, undoPlan, ctx) {
    if (!undoPlan) return "unknown";
    const plan = parsePlan(movePlanSchema, undoPlan.data, NAME);
    return reconcileWith(NAME, async () => {
      const sb = await sandboxFor(ctx);
      await sb.recheck(plan.from);
      await sb.recheck(plan.to);
      if (plan.overwritten.state.type === "absent" && sameFileAtBoth(plan.from, plan.to)) {
        // A no-clobber move is link(from, to) then unlink(from); a crash between the two left
        // one file under both names. Finish the interrupted move (roll it forward), so the
        // capability stays atomic: the effect happened, and undo can move it back.
        await withDir(sb, path.dirname(plan.from), async (dir) => {
          dir.unlink(path.basename(plan.from));
          await dir.fsync();
        });
      }
      const atFrom = await probe(sb, plan.from, ctx.signal);
      const atTo = await probe(sb, plan.to, ctx.signal);
      if (atFrom.type === "absent" && sameContent(atTo, plan.source)) return "applied";
      if (sameContent(atFrom, plan.source) && sameContent(atTo, plan.overwritten.state)) {
        return "not_applied";
      }
      return "unknown";
    });
  },
});

/**
 * Renames `from` to `to` (canonical paths inside the sandbox) through the descriptors of their
 * folders (`DirFd`): replacing a file at `to` when `overwrite`, else refusing with
 * `FS_EXISTS`. Both folders are fsynced. If the destination folder has left the roots by
 * then, the entry is moved back and the call fails.
 */
async function renameAt(sb: FsSandbox, from: string, to: string, overwrite: boolean) {
  const fromName = path.basename(from);
  const toName = path.basename(to);
  const fromDir = DirFd.open(sb, path.dirname(from));
  try {
    const sameDir = path.dirname(from) === path.dirname(to);
    const toDir = sameDir ? fromDir : DirFd.open(sb, path.dirname(to));
    try {
      if (overwrite) fromDir.rename(fromName, toDir, toName);
      else {
        const isDir = fromDir.lstat(fromName)?.isDirectory() ?? false;
        renameNoReplaceAt(fromDir, fromName, toDir, toName, isDir);
      }
      await toDir.fsync();
      if (!sameDir) await fromDir.fsync();
      await toDir.ensureInside(sb, () => toDir.rename(toName, fromDir, fromName));
    } finally {
      if (!sameDir) toDir.close();
    }
  } finally {
    fromDir.close();
  }
}

/** True when `a` and `b` are two names of the same regular file (same device and inode). */
function sameFileAtBoth(a: string, b: string): boolean {
  const sa = lstatSync(a, { throwIfNoEntry: false });
  const sb = lstatSync(b, { throwIfNoEntry: false });
  return (
    sa !== undefined &&
    sb !== undefined &&
    sa.isFile() &&
    sb.isFile() &&
    sa.dev === sb.dev &&
    sa.ino === sb.ino
  );
}
