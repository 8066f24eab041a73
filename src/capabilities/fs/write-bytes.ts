/**
 * @module `io.fs.write_bytes`: writes exact bytes given as base64, with the original project's
 * input and output names. The write and its undo are `io.fs.write_file`'s (same sandbox checks,
 * atomic write, byte-exact drift-safe undo, reconcile after a crash).
 */
import { z } from "zod";
import { defineCapability } from "../../core/capability.js";
import { isBase64 } from "./fs-content.js";
import { writeOperations } from "./write-file.js";

const NAME = "io.fs.write_bytes";

const inputSchema = z.strictObject({
  path: z.string().min(1),
  /** The bytes, as canonical padded base64. */
  content_base64: z.string().refine(isBase64, { message: "content_base64 is not valid base64" }),
  create_dirs: z.boolean().default(false),
});

const operations = writeOperations(NAME, (input: z.output<typeof inputSchema>) => ({
  path: input.path,
  content: input.content_base64,
  encoding: "base64",
  create_dirs: input.create_dirs,
}));

/**
 * Writes bytes (base64) to a file inside the sandbox; undo restores the previous bytes.
 *
 * @example { path: "img/logo.png", content_base64: "iVBORw0KGgo=" } → { path, bytes_written: 8, checksum }
 */
export const writeBytes = defineCapability({
  name: NAME,
  description:
    "Writes bytes given as base64 to a file inside the sandbox atomically; undo restores the previous bytes.",
  input: inputSchema,
  touches: operations.touches,
  output: z.object({
    path: z.string(),
    bytes_written: z.number().int(),
    checksum: z.string(),
  }),
  risk: "MEDIUM",
  effect: "write",
  idempotent: true,
  undo: "builtin",
  prepare: operations.prepare,
  async execute(input: z.output<typeof inputSchema>, ctx) {
    const done = await operations.write(input, ctx);
    return { path: done.path, bytes_written: done.bytes, checksum: done.sha256 };
  },
  revert: operations.revert,
  reconcile: operations.reconcile,
});
