/**
 * @module `io.fs.make_dir`: creates a directory and any missing parents. Undo removes exactly
 * the directories this call created, deepest first, and only while they are still empty.
 */
import { lstat } from "node:fs/promises";
import { z } from "zod";
import { defineCapability } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import {
  createDirs,
  findForeignContent,
  foreignContentError,
  missingDirs,
  removeCreatedDirs,
} from "./fs-dirs.js";
import { withFsErrors } from "./fs-errors.js";
import {
  parsePlan,
  reconcileWith,
  resolveAuthorized,
  sandboxFor,
  toJson,
  touching,
} from "./fs-plan.js";

const NAME = "io.fs.make_dir";

/** Undo data of `io.fs.make_dir`. */
export const makeDirPlanSchema = z.object({
  v: z.literal(1),
  /** Canonical directory asked for. */
  path: z.string(),
  /** Directories missing before the call (what it will create), shallowest first. */
  created: z.array(z.string()),
});
/** Undo data of `io.fs.make_dir`. */
export type MakeDirPlan = z.infer<typeof makeDirPlanSchema>;

async function isDir(p: string): Promise<boolean> {
  const st = await lstat(p).catch(() => null);
  return st?.isDirectory() ?? false;
}

/**
 * Creates a directory recursively; an existing directory is fine (nothing created).
 *
 * @example { path: "out/2024/05" } → { path, created: [".../out", ".../out/2024", ".../out/2024/05"] }
 */
export const makeDir = defineCapability({
  name: NAME,
  description:
    "Creates a directory (and missing parents) inside the sandbox; undo removes what it created.",
  input: z.object({ path: z.string().min(1) }).strict(),
  touches: touching({ path: {} }),
  output: z.object({ path: z.string(), created: z.array(z.string()) }),
  risk: "MEDIUM",
  effect: "write",
  idempotent: true,
  undo: "builtin",
  async prepare(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.path }, async () => {
      const sb = await sandboxFor(ctx);
      const target = await resolveAuthorized(sb, ctx, "path", input.path);
      const plan: MakeDirPlan = {
        v: 1,
        path: target.path,
        created: await missingDirs(sb, target.path),
      };
      return { data: toJson(plan) };
    });
  },
  async execute(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.path }, async () => {
      const sb = await sandboxFor(ctx);
      const target = await resolveAuthorized(sb, ctx, "path", input.path);
      const created = await createDirs(sb, await missingDirs(sb, target.path));
      if (!(await isDir(target.path))) {
        throw new CapabilityError("FS_NOT_DIR", `${target.path} is not a directory`, {
          context: { path: target.path },
        });
      }
      return { path: target.path, created };
    });
  },
  async revert(ctx) {
    const plan = parsePlan(makeDirPlanSchema, ctx.data, NAME);
    await withFsErrors({ capability: NAME, path: plan.path }, async () => {
      const sb = await sandboxFor(ctx);
      await sb.recheck(plan.path);
      if (!ctx.force) {
        const foreign = await findForeignContent(plan.created, null);
        if (foreign) throw foreignContentError(foreign, ctx, NAME);
      }
      await removeCreatedDirs(sb, plan.created, ctx.force, ctx, NAME);
    });
  },
  async reconcile(_input, undoPlan, ctx) {
    if (!undoPlan) return "unknown";
    const plan = parsePlan(makeDirPlanSchema, undoPlan.data, NAME);
    return reconcileWith(NAME, async () => {
      const sb = await sandboxFor(ctx);
      await sb.recheck(plan.path);
      if (plan.created.length === 0) return (await isDir(plan.path)) ? "applied" : "unknown";
      const present = await Promise.all(plan.created.map(isDir));
      if (present.every(Boolean)) return "applied";
      if (!present.some(Boolean)) return "not_applied";
      return "unknown";
    });
  },
});
