/**
 * @module `io.fs.exists`: whether a path inside the sandbox exists, and what it is.
 */
import { z } from "zod";
import { defineCapability } from "../../core/capability.js";
import { withFsErrors } from "./fs-errors.js";
import { resolveAuthorizedWithStats, sandboxFor, touching } from "./fs-plan.js";
import { entryType } from "./list-dir.js";

const NAME = "io.fs.exists";

/**
 * Tells whether a path exists. Symlinks are followed (a link inside the sandbox reports what
 * it points to); a path outside the sandbox is an error, never `false`.
 */
export const exists = defineCapability({
  name: NAME,
  description: "Whether a path inside the sandbox exists, and its type.",
  input: z.object({ path: z.string().min(1) }).strict(),
  touches: touching({ path: {} }),
  output: z.object({
    exists: z.boolean(),
    type: z.enum(["file", "dir", "symlink", "other"]).nullable(),
  }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  async execute(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.path }, async () => {
      const sb = await sandboxFor(ctx);
      // The lstat the sandbox walk took of the checked path: no second, unchecked call.
      const { stats } = await resolveAuthorizedWithStats(sb, ctx, "path", input.path);
      return stats ? { exists: true, type: entryType(stats) } : { exists: false, type: null };
    });
  },
});
