/**
 * @module `io.fs.append_file`: appends to a file (creating it if absent). Undo truncates back
 * to the previous length once it has checked the file is exactly the old content plus the
 * appended tail, or removes the file when the call created it.
 */
import { closeSync, constants, fstatSync } from "node:fs";
import { lstat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { defineCapability, type UndoContext } from "../../core/capability.js";
import { DriftError } from "../../core/errors.js";
import { sha256Hex } from "../../core/hash.js";
import { CONTENT_ISSUE, contentDecodes, decodeContent, encodingSchema } from "./fs-content.js";
import { withDir } from "./fs-dirfd.js";
import { parentsToCreate } from "./fs-dirs.js";
import { errnoOf, withFsErrors } from "./fs-errors.js";
import {
  type FileDigest,
  fsyncFd,
  hashFileVerified,
  openVerified,
  openVerifiedFd,
  requireFileOrAbsent,
  requireRegular,
  requireRegularStats,
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
/** A FIFO swapped in for the file fails at once (`ENXIO`) instead of blocking the call. */
const O_NONBLOCK: number = constants.O_NONBLOCK ?? 0;

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
 * Appends `bytes` through `fd` (then closes it) and returns the file's new size. Raw
 * descriptor: the fstat, a small write and the close are synchronous, only the fsync waits
 * on the threadpool (see fs-io.ts).
 */
async function appendTo(fd: number, bytes: Uint8Array, p: string): Promise<number> {
  try {
    // The opened inode itself: a regular file with one link (one fstat, no path walk).
    requireRegularStats(fstatSync(fd), p);
    await writeAllFd(fd, bytes);
    await fsyncFd(fd);
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
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
      if (target.exists) {
        // An existing file is opened by its checked path WITHOUT O_CREAT (nothing can be
        // created); the descriptor check refuses a file reached through a swapped folder
        // before a byte is written.
        const fd = openVerifiedFd(
          sb,
          target.path,
          constants.O_WRONLY | constants.O_APPEND | O_NONBLOCK,
        );
        const size = await appendTo(fd, bytes, target.path);
        return { path: target.path, bytes_appended: bytes.length, size };
      }
      // A new file is created through the descriptor of its folder (see fs-dirfd.ts).
      const name = path.basename(target.path);
      const size = await withDir(sb, path.dirname(target.path), async (dir) => {
        let fd: number;
        let created = true;
        try {
          fd = dir.openFile(
            name,
            constants.O_WRONLY |
              constants.O_APPEND |
              constants.O_CREAT |
              constants.O_EXCL |
              O_NONBLOCK,
            0o666,
          );
        } catch (err) {
          if (errnoOf(err) !== "EEXIST") throw err;
          // Created by someone else since the check: append to it like to any existing file.
          fd = dir.openFile(name, constants.O_WRONLY | constants.O_APPEND | O_NONBLOCK);
          created = false;
        }
        const after = await appendTo(fd, bytes, target.path);
        if (created) {
          await dir.fsync();
          await dir.ensureInside(sb, () => dir.unlinkQuietly(name));
        }
        return after;
      });
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
        if (seen === "after") {
          await withDir(sb, path.dirname(plan.path), (dir) => dir.unlink(path.basename(plan.path)));
        } else await removeNode(sb, plan.path);
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
