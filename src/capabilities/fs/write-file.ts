/**
 * @module `io.fs.write_file`: writes a whole file atomically (temp file + rename). Undo puts
 * back the previous bytes and mode exactly, or removes the file (and any directories the call
 * created) when it did not exist.
 */
import { z } from "zod";
import {
  type CapabilityContext,
  defineCapability,
  type ReconcileResult,
  type UndoContext,
  type UndoPlan,
} from "../../core/capability.js";
import { sha256Hex } from "../../core/hash.js";
import { CONTENT_ISSUE, contentDecodes, decodeContent, encodingSchema } from "./fs-content.js";
import {
  createDirs,
  findForeignContent,
  foreignContentError,
  parentsToCreate,
  removeCreatedDirs,
} from "./fs-dirs.js";
import { withFsErrors } from "./fs-errors.js";
import { removeLeftovers, requireFileOrAbsent, writeFileAtomic } from "./fs-io.js";
import {
  driftError,
  parsePlan,
  reconcileWith,
  resolveAuthorizedWithStats,
  sandboxFor,
  toJson,
  touching,
} from "./fs-plan.js";
import {
  capture,
  imageSchema,
  type NodeState,
  probe,
  restoreImage,
  sameContent,
} from "./fs-state.js";

const NAME = "io.fs.write_file";

/** Undo data of `io.fs.write_file`. Blobs: the previous content, keyed by its SHA-256. */
export const writeFilePlanSchema = z.object({
  v: z.literal(1),
  /** Canonical path written. */
  path: z.string(),
  /** What was there before (absent, or a file with size, sha256 and mode). */
  before: imageSchema,
  /** What the write leaves there. */
  after: z.object({ size: z.number().int(), sha256: z.string() }),
  /** Directories the write will create (`create_dirs`), shallowest first. */
  created_dirs: z.array(z.string()),
});
/** Undo data of `io.fs.write_file`. */
export type WriteFilePlan = z.infer<typeof writeFilePlanSchema>;

const inputSchema = z
  .object({
    path: z.string().min(1),
    content: z.string(),
    encoding: encodingSchema,
    create_dirs: z.boolean().default(false),
  })
  .strict()
  .refine(contentDecodes, CONTENT_ISSUE);

/** The file state a finished write leaves (mode is not compared). */
function fileState(after: { size: number; sha256: string }): NodeState {
  return { type: "file", size: after.size, sha256: after.sha256, mode: 0 };
}

/** What a write needs: the path, the exact bytes (as content + encoding), whether to create folders. */
export interface WriteRequest {
  readonly path: string;
  readonly content: string;
  readonly encoding: "utf8" | "base64";
  readonly create_dirs: boolean;
}

/**
 * The whole-file write with byte-exact, drift-safe undo, for a capability named `name` whose
 * input `toRequest` maps to a `WriteRequest` (`io.fs.write_file`, `io.fs.write_bytes`). Its
 * path input field must be `path` (what `touches` resolves and the gate authorizes).
 */
export function writeOperations<I>(name: string, toRequest: (input: I) => WriteRequest) {
  return {
    touches: touching({ path: {} }),
    async prepare(raw: I, ctx: CapabilityContext): Promise<UndoPlan> {
      const input = toRequest(raw);
      return withFsErrors({ capability: name, path: input.path }, async () => {
        const sb = await sandboxFor(ctx);
        const target = await resolveAuthorizedWithStats(sb, ctx, "path", input.path);
        requireFileOrAbsent(target);
        const created = target.exists
          ? []
          : await parentsToCreate(sb, target.path, input.create_dirs);
        // The lstat taken while resolving tells capture what is there: no second stat, and
        // the file is read (and hashed) once.
        const before = await capture(
          sb,
          target.path,
          ctx.sandbox.maxBeforeImageBytes,
          ctx.signal,
          target.stats,
        );
        const bytes = decodeContent(input.content, input.encoding);
        const plan: WriteFilePlan = {
          v: 1,
          path: target.path,
          before: before.image,
          after: { size: bytes.length, sha256: sha256Hex(bytes) },
          created_dirs: created,
        };
        return { data: toJson(plan), blobs: before.blobs };
      });
    },
    /** Writes the bytes; returns the canonical path, the byte count and their SHA-256. */
    async write(raw: I, ctx: CapabilityContext) {
      const input = toRequest(raw);
      return withFsErrors({ capability: name, path: input.path }, async () => {
        const sb = await sandboxFor(ctx);
        const target = await resolveAuthorizedWithStats(sb, ctx, "path", input.path);
        const mode = requireFileOrAbsent(target);
        if (!target.exists) {
          await createDirs(sb, await parentsToCreate(sb, target.path, input.create_dirs));
        }
        const bytes = decodeContent(input.content, input.encoding);
        // Temp files left by a killed call exist only after a crash or an interrupted attempt:
        // its re-run (attempt > 1) sweeps them here, and revert always does. A first attempt
        // skips the directory listing.
        await writeFileAtomic(sb, target.path, bytes, mode, { sweepLeftovers: ctx.attempt > 1 });
        return { path: target.path, bytes: bytes.length, sha256: sha256Hex(bytes) };
      });
    },
    async revert(ctx: UndoContext): Promise<void> {
      const plan = parsePlan(writeFilePlanSchema, ctx.data, name);
      await withFsErrors({ capability: name, path: plan.path }, async () => {
        const sb = await sandboxFor(ctx);
        await sb.recheck(plan.path);
        await removeLeftovers(sb, plan.path);
        const current = await probe(sb, plan.path, ctx.signal);
        const before = plan.before.state;
        const after = fileState(plan.after);
        if (!sameContent(current, before)) {
          if (!sameContent(current, after) && !ctx.force) {
            throw driftError(name, plan.path, after, current, ctx);
          }
          if (before.type === "absent" && !ctx.force) {
            const foreign = await findForeignContent(plan.created_dirs, plan.path);
            if (foreign) throw foreignContentError(foreign, ctx, name);
          }
          await restoreImage(sb, plan.path, plan.before, ctx.blobs, ctx.signal);
        } else if (
          before.type === "file" &&
          current.type === "file" &&
          current.mode !== before.mode
        ) {
          await restoreImage(sb, plan.path, plan.before, ctx.blobs, ctx.signal);
        }
        if (before.type === "absent") {
          await removeCreatedDirs(sb, plan.created_dirs, ctx.force, ctx, name);
        }
      });
    },
    async reconcile(
      _input: I,
      undoPlan: UndoPlan | undefined,
      ctx: CapabilityContext,
    ): Promise<ReconcileResult> {
      if (!undoPlan) return "unknown";
      const plan = parsePlan(writeFilePlanSchema, undoPlan.data, name);
      return reconcileWith(name, async () => {
        const sb = await sandboxFor(ctx);
        await sb.recheck(plan.path);
        const current = await probe(sb, plan.path, ctx.signal);
        if (sameContent(current, fileState(plan.after))) return "applied";
        if (sameContent(current, plan.before.state)) return "not_applied";
        return "unknown";
      });
    },
  };
}

const operations = writeOperations(NAME, (input: z.output<typeof inputSchema>) => input);

/**
 * Writes a file (text or base64 bytes). An existing file keeps its mode.
 *
 * @example { path: "conf/app.json", content: "{}" } → { path, bytes: 2, sha256 }
 */
export const writeFile = defineCapability({
  name: NAME,
  description: "Writes a file inside the sandbox atomically; undo restores the previous bytes.",
  input: inputSchema,
  touches: operations.touches,
  output: z.object({ path: z.string(), bytes: z.number().int(), sha256: z.string() }),
  risk: "MEDIUM",
  effect: "write",
  idempotent: true,
  undo: "builtin",
  prepare: operations.prepare,
  execute: operations.write,
  revert: operations.revert,
  reconcile: operations.reconcile,
});
