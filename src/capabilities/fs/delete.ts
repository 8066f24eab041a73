/**
 * @module `io.fs.delete`: deletes a file, symlink or directory (recursively when asked).
 * `prepare` captures the whole before-image (bytes, modes, symlink targets); undo restores it.
 */
import { lstat, readdir } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { type CapabilityContext, defineCapability } from "../../core/capability.js";
import { CapabilityError, SandboxError } from "../../core/errors.js";
import { withDir } from "./fs-dirfd.js";
import { withFsErrors } from "./fs-errors.js";
import { removeLeftovers, removeLeftoversIn, tempNameFor } from "./fs-io.js";
import {
  driftError,
  parsePlan,
  reconcileWith,
  resolveAuthorized,
  sandboxFor,
  toJson,
  touching,
} from "./fs-plan.js";
import {
  ABSENT,
  capture,
  imageSchema,
  onlyModeDiffers,
  probe,
  restoreImage,
  sameContent,
} from "./fs-state.js";
import type { FsSandbox } from "./sandbox.js";

const NAME = "io.fs.delete";

/**
 * Undo data of `io.fs.delete`: the before-image. A directory's tree lists relative paths,
 * types, modes, sizes, SHA-256s and symlink targets; blobs hold each distinct file content,
 * keyed by its SHA-256.
 */
export const deletePlanSchema = z.object({
  v: z.literal(1),
  /** Canonical path deleted (a symlink itself, never what it points to). */
  path: z.string(),
  before: imageSchema,
});
/** Undo data of `io.fs.delete`. */
export type DeletePlan = z.infer<typeof deletePlanSchema>;

const inputSchema = z
  .object({ path: z.string().min(1), recursive: z.boolean().default(false) })
  .strict();
type DeleteInput = z.infer<typeof inputSchema>;

/** Resolves the target (a final symlink is the target itself) and checks it may go. */
async function target(sb: FsSandbox, input: DeleteInput, ctx: CapabilityContext) {
  const resolved = await resolveAuthorized(sb, ctx, "path", input.path, { followFinal: false });
  if (!resolved.exists) {
    throw new CapabilityError("FS_NOT_FOUND", `${resolved.path} does not exist`, {
      context: { path: resolved.path },
    });
  }
  if (sb.isRoot(resolved.path))
    throw new SandboxError(`refusing to delete the sandbox root ${resolved.path}`);
  const st = await lstat(resolved.path);
  if (st.isDirectory() && !input.recursive && (await readdir(resolved.path)).length > 0) {
    throw new CapabilityError("FS_NOT_EMPTY", `${resolved.path} is not empty (set recursive)`, {
      context: { path: resolved.path },
    });
  }
  return { path: resolved.path, isDir: st.isDirectory() };
}

/**
 * Deletes a path. HIGH risk: by default a person approves it.
 *
 * @example { path: "build", recursive: true } → { path, type: "dir", bytes }
 */
export const deletePath = defineCapability({
  name: NAME,
  description:
    "Deletes a file or directory inside the sandbox; undo restores it from a before-image.",
  input: inputSchema,
  touches: touching({ path: { followFinal: false } }),
  output: z.object({
    path: z.string(),
    type: z.enum(["file", "dir", "symlink"]),
    bytes: z.number().int(),
  }),
  risk: "HIGH",
  effect: "delete",
  // Not idempotent: a second run finds nothing to delete and fails; after a crash, reconcile
  // tells whether the deletion happened.
  idempotent: false,
  undo: "builtin",
  async prepare(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.path }, async () => {
      const sb = await sandboxFor(ctx);
      const t = await target(sb, input, ctx);
      const before = await capture(sb, t.path, ctx.sandbox.maxBeforeImageBytes, ctx.signal);
      const plan: DeletePlan = { v: 1, path: t.path, before: before.image };
      return { data: toJson(plan), blobs: before.blobs };
    });
  },
  async execute(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.path }, async () => {
      const sb = await sandboxFor(ctx);
      const t = await target(sb, input, ctx);
      const state = await probe(sb, t.path, ctx.signal);
      let bytes = state.type === "file" ? state.size : 0;
      if (t.isDir) bytes = await treeBytes(t.path);
      const name = path.basename(t.path);
      // Through the descriptor of the folder holding it: a folder on the way swapped for a
      // symlink since the check cannot redirect the removal (see fs-dirfd.ts).
      await withDir(sb, path.dirname(t.path), async (dir) => {
        if (t.isDir) {
          // Rename first so the directory disappears in one step; then remove the renamed copy.
          await removeLeftoversIn(dir, name);
          const trash = tempNameFor(name, "trash");
          dir.rename(name, dir, trash);
          await dir.fsync();
          if (input.recursive) await dir.removeTree(trash);
          else dir.rmdir(trash);
        } else {
          dir.unlink(name);
          await dir.fsync();
        }
      });
      const type = state.type === "dir" || state.type === "symlink" ? state.type : "file";
      return { path: t.path, type, bytes };
    });
  },
  async revert(ctx) {
    const plan = parsePlan(deletePlanSchema, ctx.data, NAME);
    await withFsErrors({ capability: NAME, path: plan.path }, async () => {
      const sb = await sandboxFor(ctx);
      await sb.recheck(plan.path);
      await removeLeftovers(sb, plan.path);
      const current = await probe(sb, plan.path, ctx.signal);
      const before = plan.before.state;
      if (sameContent(current, before) && !onlyModeDiffers(current, before)) return;
      if (current.type !== "absent" && !sameContent(current, before) && !ctx.force) {
        throw driftError(NAME, plan.path, ABSENT, current, ctx);
      }
      await restoreImage(sb, plan.path, plan.before, ctx.blobs, ctx.signal);
    });
  },
  async reconcile(_input, undoPlan, ctx) {
    if (!undoPlan) return "unknown";
    const plan = parsePlan(deletePlanSchema, undoPlan.data, NAME);
    return reconcileWith(NAME, async () => {
      const sb = await sandboxFor(ctx);
      await sb.recheck(plan.path);
      const current = await probe(sb, plan.path, ctx.signal);
      if (current.type === "absent") return "applied";
      if (sameContent(current, plan.before.state)) return "not_applied";
      return "unknown";
    });
  },
});

/** Total size of the regular files below `dir` (symlinks not followed). */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(p);
    else if (entry.isFile()) total += (await lstat(p)).size;
  }
  return total;
}
