/**
 * @module `io.fs.hash_file`: the SHA-256 and size of a file inside the sandbox, streamed.
 */
import { z } from "zod";
import { defineCapability } from "../../core/capability.js";
import { withFsErrors } from "./fs-errors.js";
import { hashFileVerified } from "./fs-io.js";
import { resolveAuthorized, sandboxFor, touching } from "./fs-plan.js";

const NAME = "io.fs.hash_file";

/** Hashes a file without loading it into memory. */
export const hashFile = defineCapability({
  name: NAME,
  description: "SHA-256 and size of a file inside the sandbox.",
  input: z.object({ path: z.string().min(1) }).strict(),
  touches: touching({ path: {} }),
  output: z.object({ path: z.string(), sha256: z.string(), bytes: z.number().int() }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  async execute(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.path }, async () => {
      const sb = await sandboxFor(ctx);
      const { path } = await resolveAuthorized(sb, ctx, "path", input.path);
      const digest = await hashFileVerified(sb, path, ctx.signal);
      return { path, sha256: digest.sha256, bytes: digest.size };
    });
  },
});
