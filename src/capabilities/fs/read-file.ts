/**
 * @module `io.fs.read_file`: reads a file inside the sandbox as UTF-8 text or base64.
 */
import { z } from "zod";
import { defineCapability } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import { sha256Hex } from "../../core/hash.js";
import { encodingSchema } from "./fs-content.js";
import { withFsErrors } from "./fs-errors.js";
import { readFileVerified } from "./fs-io.js";
import { resolveAuthorized, sandboxFor, touching } from "./fs-plan.js";

/** Largest file `io.fs.read_file` returns when the call sets no `max_bytes` (10 MiB). */
export const DEFAULT_READ_MAX_BYTES = 10 * 1024 * 1024;

const NAME = "io.fs.read_file";

/**
 * Reads a file. UTF-8 content that is not valid UTF-8 is refused (`FS_NOT_UTF8`) instead of
 * being silently mangled; read it as base64.
 *
 * @example { path: "reports/today.md" } → { path, content, encoding: "utf8", bytes, sha256 }
 */
export const readFile = defineCapability({
  name: NAME,
  description: "Reads a file inside the sandbox (utf8 text or base64).",
  input: z
    .object({
      path: z.string().min(1),
      encoding: encodingSchema,
      max_bytes: z.number().int().positive().optional(),
    })
    .strict(),
  touches: touching({ path: {} }),
  output: z.object({
    path: z.string(),
    content: z.string(),
    encoding: z.enum(["utf8", "base64"]),
    bytes: z.number().int(),
    sha256: z.string(),
  }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  async execute(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.path }, async () => {
      const sb = await sandboxFor(ctx);
      const { path } = await resolveAuthorized(sb, ctx, "path", input.path);
      const { bytes } = await readFileVerified(sb, path, input.max_bytes ?? DEFAULT_READ_MAX_BYTES);
      let content: string;
      if (input.encoding === "base64") {
        content = bytes.toString("base64");
      } else {
        try {
          content = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
        } catch (err) {
          throw new CapabilityError(
            "FS_NOT_UTF8",
            `${path} is not valid UTF-8; read it as base64`,
            {
              context: { path },
              cause: err,
            },
          );
        }
      }
      return {
        path,
        content,
        encoding: input.encoding,
        bytes: bytes.length,
        sha256: sha256Hex(bytes),
      };
    });
  },
});
