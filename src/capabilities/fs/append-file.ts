/**
 * @module `io.fs.append_file`: appends to a file (creating it if absent). Undo truncates back
 * to the previous length once it has checked the file is exactly the old content plus the
 * appended tail, or removes the file when the call created it.
 */
import { closeSync, constants, fstatSync } from "node:fs";
import { lstat, unlink } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { defineCapability, type UndoContext } from "../../core/capability.js";
import { DriftError } from "../../core/errors.js";
import { sha256Hex } from "../../core/hash.js";
import { CONTENT_ISSUE, contentDecodes, decodeContent, encodingSchema } from "./fs-content.js";
import { parentsToCreate } from "./fs-dirs.js";
import { withFsErrors } from "./fs-errors.js";
import {
  type FileDigest,
  fsyncFd,
  hashFileVerified,
  openVerified,
  openVerifiedFd,
  requireFileOrAbsent,
  requireRegular,
  requireSingleLink,
  syncDir,
  writeAllFd,
} from "./fs-io.js";
import {
  parsePlan,
  reconcileWith,
  resolveAuthorizedWithStats,
  sandboxFor,
  toJson,
  touching,
} from "./fs-plan.js";
import { removeNode } from "./fs-state.js";
import type { FsSandbox } from "./sandbox.js";

const NAME = "io.fs.append_file";

/** Undo data of `io.fs.append_file` (no blobs: the before-image is a length and a hash). */
export const appendFilePlanSchema = z.object({
  v: z.literal(1),
  /** Canonical path appended to. */
  path: z.string(),
  /** Whether the file existed before (if not, undo removes it). */
  existed: z.boolean(),
  /** Length and SHA-256 of the file before the append (0 and the empty digest if absent). */
  prev_size: z.number().int(),
  prev_sha256: z.string(),
  /** Length and SHA-256 of the appended bytes. */
  appended: z.object({ size: z.number().int(), sha256: z.string() }),
});
/** Undo data of `io.fs.append_file`. */
export type AppendFilePlan = z.infer<typeof appendFilePlanSchema>;

type Observed = "before" | "after" | "other" | "absent";

/** Classifies the current file against the plan's before and after images. */
async function observe(
  sb: FsSandbox,
  plan: AppendFilePlan,
  signal: AbortSignal,
): Promise<{
  seen: Observed;
  digest: FileDigest | null;
}> {
  const st = await lstat(plan.path).catch(() => null);
  if (!st) return { seen: "absent", digest: null };
  if (!st.isFile()) return { seen: "other", digest: null };
  const d = await hashFileVerified(sb, plan.path, signal, plan.prev_size);
  const headOk = plan.existed ? d.headSha256 === plan.prev_sha256 : true;
  if (
    d.size === plan.prev_size + plan.appended.size &&
    headOk &&
    d.tailSha256 === plan.appended.sha256
  ) {
    return { seen: "after", digest: d };
  }
  if (plan.existed && d.size === plan.prev_size && headOk) return { seen: "before", digest: d };
  return { seen: "other", digest: d };
}

function drift(plan: AppendFilePlan, why: string, ctx: UndoContext): DriftError {
  return new DriftError(`${plan.path} changed since ${NAME} ran: ${why}`, {
    capability: NAME,
    path: plan.path,
    runId: ctx.runId,
    stepId: ctx.stepId,
  });
}

/**
 * Appends text or base64 bytes to a file. Not idempotent: a re-run appends again.
 *
 * @example { path: "logs/run.log", content: "done\n" } → { path, bytes_appended: 5, size }
 */
export const appendFile = defineCapability({
  name: NAME,
  description: "Appends to a file inside the sandbox; undo truncates back to the previous length.",
  input: z
    .object({ path: z.string().min(1), content: z.string(), encoding: encodingSchema })
    .strict()
    .refine(contentDecodes, CONTENT_ISSUE),
  touches: touching({ path: {} }),
  output: z.object({ path: z.string(), bytes_appended: z.number().int(), size: z.number().int() }),
  risk: "MEDIUM",
  effect: "write",
  idempotent: false,
  undo: "builtin",
  async prepare(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.path }, async () => {
      const sb = await sandboxFor(ctx);
      const target = await resolveAuthorizedWithStats(sb, ctx, "path", input.path);
      const mode = requireFileOrAbsent(target);
      if (mode === null) await parentsToCreate(sb, target.path, false);
      const prev = mode === null ? null : await hashFileVerified(sb, target.path, ctx.signal);
      const bytes = decodeContent(input.content, input.encoding);
      const plan: AppendFilePlan = {
        v: 1,
        path: target.path,
        existed: prev !== null,
        prev_size: prev?.size ?? 0,
        prev_sha256: prev?.sha256 ?? sha256Hex(""),
        appended: { size: bytes.length, sha256: sha256Hex(bytes) },
      };
      return { data: toJson(plan) };
    });
  },
  async execute(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.path }, async () => {
      const sb = await sandboxFor(ctx);
      const target = await resolveAuthorizedWithStats(sb, ctx, "path", input.path);
      requireFileOrAbsent(target);
      const bytes = decodeContent(input.content, input.encoding);
      // Raw descriptor: open, write (when small), fstat and close are synchronous, only the
      // fsync waits on the threadpool (see fs-io.ts).
      const fd = openVerifiedFd(
        sb,
        target.path,
        constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT,
        0o666,
      );
      let size: number;
      try {
        // The opened inode itself: a regular file with one link (one fstat, no path walk).
        requireSingleLink(fstatSync(fd), target.path);
        await writeAllFd(fd, bytes);
        await fsyncFd(fd);
        size = fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
      if (!target.exists) await syncDir(path.dirname(target.path));
      return { path: target.path, bytes_appended: bytes.length, size };
    });
  },
  async revert(ctx) {
    const plan = parsePlan(appendFilePlanSchema, ctx.data, NAME);
    await withFsErrors({ capability: NAME, path: plan.path }, async () => {
      const sb = await sandboxFor(ctx);
      await sb.recheck(plan.path);
      const { seen, digest } = await observe(sb, plan, ctx.signal);
      if (!plan.existed) {
        if (seen === "absent") return;
        if (seen !== "after" && !ctx.force) {
          throw drift(plan, "it is no longer exactly the appended content", ctx);
        }
        if (seen === "after") await unlink(plan.path);
        else await removeNode(plan.path);
        return;
      }
      if (seen === "before") return;
      if (seen === "absent" || digest === null) {
        throw drift(plan, "it is gone or no longer a file; its earlier content was not kept", ctx);
      }
      if (seen !== "after") {
        if (!ctx.force) {
          throw drift(
            plan,
            `expected ${plan.prev_size + plan.appended.size} bytes ending in the appended tail, found ${digest.size} bytes`,
            ctx,
          );
        }
        if (digest.size < plan.prev_size) {
          throw drift(
            plan,
            "it is shorter than before the append; truncating cannot restore it",
            ctx,
          );
        }
      }
      const handle = await openVerified(sb, plan.path, constants.O_WRONLY);
      try {
        await requireRegular(handle, plan.path);
        await handle.truncate(plan.prev_size);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  },
  async reconcile(_input, undoPlan, ctx) {
    if (!undoPlan) return "unknown";
    const plan = parsePlan(appendFilePlanSchema, undoPlan.data, NAME);
    return reconcileWith(NAME, async () => {
      const sb = await sandboxFor(ctx);
      await sb.recheck(plan.path);
      const { seen } = await observe(sb, plan, ctx.signal);
      if (seen === "after") return "applied";
      if (seen === "before" || (seen === "absent" && !plan.existed)) return "not_applied";
      return "unknown";
    });
  },
});
