/**
 * @module `io.fs.list_dir`: the entries of a directory inside the sandbox, sorted by name.
 */
import type { Stats } from "node:fs";
import { z } from "zod";
import { defineCapability } from "../../core/capability.js";
import { withDir } from "./fs-dirfd.js";
import { throwIfAborted, withFsErrors } from "./fs-errors.js";
import { resolveAuthorized, sandboxFor, touching } from "./fs-plan.js";

const NAME = "io.fs.list_dir";

/** The type of a directory entry, as reported by the read capabilities. */
export type EntryType = "file" | "dir" | "symlink" | "other";

/** Classifies `lstat` results (symlinks are reported as symlinks, not followed). */
export function entryType(st: Stats): EntryType {
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  return "other";
}

/** Lists a directory: `{ name, type, size }` per entry (size of files and symlinks, else 0). */
export const listDir = defineCapability({
  name: NAME,
  description: "Lists the entries of a directory inside the sandbox, sorted by name.",
  input: z.object({ path: z.string().min(1) }).strict(),
  touches: touching({ path: {} }),
  output: z.object({
    path: z.string(),
    entries: z.array(
      z.object({
        name: z.string(),
        type: z.enum(["file", "dir", "symlink", "other"]),
        size: z.number().int(),
      }),
    ),
  }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  async execute(input, ctx) {
    return withFsErrors({ capability: NAME, path: input.path }, async () => {
      const sb = await sandboxFor(ctx);
      const { path: dir } = await resolveAuthorized(sb, ctx, "path", input.path);
      // Listed through the checked descriptor: a folder swapped for a symlink after the check
      // cannot make the listing show another folder's entries (see fs-dirfd.ts).
      const entries = await withDir(sb, dir, async (d) => {
        const names = (await d.readdir()).sort();
        const out: Array<{ name: string; type: EntryType; size: number }> = [];
        for (const name of names) {
          throwIfAborted(ctx.signal);
          const st = d.lstat(name);
          if (!st) continue; // removed while listing
          const type = entryType(st);
          out.push({ name, type, size: type === "file" || type === "symlink" ? st.size : 0 });
        }
        return out;
      });
      return { path: dir, entries };
    });
  },
});
