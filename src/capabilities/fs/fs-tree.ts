/**
 * @module Directory trees as data: scan a directory into a serializable image (relative
 * paths, types, modes, content hashes, symlink targets; symlinks are recorded, never
 * followed), digest it for drift checks, and build a tree from an image (restore from a
 * before-image, or copy) into a temp directory renamed into place in one step.
 */
import { constants, fchmodSync } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { CapabilityError } from "../../core/errors.js";
import { hashJson, sha256Hex } from "../../core/hash.js";
import { DirFd } from "./fs-dirfd.js";
import { throwIfAborted } from "./fs-errors.js";
import {
  copyHandle,
  hashFileVerified,
  openVerified,
  readFileVerified,
  renameNoReplaceAt,
  requireRegular,
  tempNameFor,
  writeAll,
} from "./fs-io.js";
import type { FsSandbox } from "./sandbox.js";

/** One entry below a tree's root; `path` is relative, `/`-separated. */
export const treeEntrySchema = z.discriminatedUnion("type", [
  z.object({ path: z.string(), type: z.literal("dir"), mode: z.number().int() }),
  z.object({
    path: z.string(),
    type: z.literal("file"),
    mode: z.number().int(),
    size: z.number().int(),
    sha256: z.string(),
  }),
  z.object({ path: z.string(), type: z.literal("symlink"), target: z.string() }),
  z.object({ path: z.string(), type: z.literal("other") }),
]);
/** One entry below a tree's root. */
export type TreeEntry = z.infer<typeof treeEntrySchema>;

/** A directory tree: the root's mode and its entries in pre-order, sorted by name. */
export const treeImageSchema = z.object({
  mode: z.number().int(),
  entries: z.array(treeEntrySchema),
});
/** A directory tree as data. */
export type TreeImage = z.infer<typeof treeImageSchema>;

/** The result of scanning a tree. */
export interface ScannedTree {
  readonly image: TreeImage;
  /** File contents keyed by SHA-256 (only when scanned with content). */
  readonly blobs: Record<string, Buffer>;
  /** Total size of the regular files. */
  readonly bytes: number;
}

/** Options for `scanTree`. */
export interface ScanOptions {
  readonly signal?: AbortSignal;
  /** Keep file contents as blobs (a before-image) instead of hashing only. */
  readonly withContent?: boolean;
  /** Refuse with `FS_TOO_LARGE` when the files add up to more than this. */
  readonly maxBytes?: number;
}

/** Scans the directory `dir` (canonical, inside the sandbox) into an image. */
export async function scanTree(
  sb: FsSandbox,
  dir: string,
  options: ScanOptions = {},
): Promise<ScannedTree> {
  const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
  const entries: TreeEntry[] = [];
  const blobs: Record<string, Buffer> = {};
  let bytes = 0;
  const walk = async (abs: string, rel: string): Promise<void> => {
    const names = (await readdir(abs)).sort();
    for (const name of names) {
      if (options.signal) throwIfAborted(options.signal);
      const childAbs = path.join(abs, name);
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const st = await lstat(childAbs);
      if (st.isDirectory()) {
        entries.push({ path: childRel, type: "dir", mode: st.mode & 0o7777 });
        await walk(childAbs, childRel);
      } else if (st.isSymbolicLink()) {
        entries.push({ path: childRel, type: "symlink", target: await readlink(childAbs) });
      } else if (st.isFile()) {
        bytes += st.size;
        if (bytes > maxBytes) {
          throw new CapabilityError("FS_TOO_LARGE", `${dir} holds more than ${maxBytes} bytes`, {
            context: { path: dir, max_bytes: maxBytes },
          });
        }
        if (options.withContent) {
          const file = await readFileVerified(sb, childAbs, maxBytes);
          const sha256 = sha256Hex(file.bytes);
          blobs[sha256] = file.bytes;
          entries.push({
            path: childRel,
            type: "file",
            mode: file.mode,
            size: file.bytes.length,
            sha256,
          });
        } else {
          const d = await hashFileVerified(sb, childAbs, options.signal);
          entries.push({
            path: childRel,
            type: "file",
            mode: d.mode,
            size: d.size,
            sha256: d.sha256,
          });
        }
      } else {
        entries.push({ path: childRel, type: "other" });
      }
    }
  };
  const rootStat = await lstat(dir);
  await walk(dir, "");
  return { image: { mode: rootStat.mode & 0o7777, entries }, blobs, bytes };
}

/** Digest of a tree's shape and contents, compared to detect drift. Modes are excluded. */
export function treeDigest(image: TreeImage): string {
  return hashJson(
    image.entries.map((e) => (e.type === "dir" || e.type === "file" ? omitMode(e) : e)),
  );
}

function omitMode(e: TreeEntry): Record<string, unknown> {
  const { mode: _mode, ...rest } = e as TreeEntry & { mode?: number };
  return rest;
}

/** Refuses entries whose relative path could escape the tree being built. */
function checkRelative(rel: string): void {
  const parts = rel.split("/");
  if (rel === "" || parts.some((p) => p === "" || p === "." || p === "..") || rel.includes("\0")) {
    throw new CapabilityError(
      "UNDO_PLAN_INVALID",
      `tree entry path "${rel}" is not a plain relative path`,
    );
  }
}

/** Writes one regular file of a tree being built: `name` in the directory `dir`. */
export type FileWriter = (
  entry: Extract<TreeEntry, { type: "file" }>,
  dir: DirFd,
  name: string,
) => Promise<void>;

/** A directory of a tree being built, held open while its entries are created. */
interface OpenDir {
  readonly rel: string;
  readonly dir: DirFd;
  readonly mode: number;
}

/** Sets an open directory's final mode (after its entries exist) and closes it. */
function finish(d: OpenDir): void {
  try {
    fchmodSync(d.dir.fd, d.mode);
  } finally {
    d.dir.close();
  }
}

/**
 * Builds `image` in a fresh temp directory next to `dest`, then renames it to `dest` (which
 * must not exist). `writeFile` fills each regular file. Symlinks are recreated as symlinks.
 *
 * Every entry is created through the descriptor of its parent (`DirFd`), the parents held
 * open along the current branch only (entries come in pre-order), so nothing below the temp
 * directory can be redirected by a folder swapped for a symlink, and a deep or wide tree
 * holds at most its depth in descriptors. A directory's mode is set once its entries exist.
 */
export async function buildTree(
  sb: FsSandbox,
  dest: string,
  image: TreeImage,
  writeFile: FileWriter,
  signal?: AbortSignal,
): Promise<void> {
  const name = path.basename(dest);
  const parent = DirFd.open(sb, path.dirname(dest));
  const tmp = tempNameFor(name);
  try {
    parent.mkdir(tmp, 0o700);
    const stack: OpenDir[] = [{ rel: "", dir: parent.openDir(tmp), mode: image.mode }];
    try {
      for (const entry of image.entries) {
        if (signal) throwIfAborted(signal);
        checkRelative(entry.path);
        const cut = entry.path.lastIndexOf("/");
        const rel = cut < 0 ? "" : entry.path.slice(0, cut);
        const leaf = entry.path.slice(cut + 1);
        while (stack.length > 0 && (stack.at(-1) as OpenDir).rel !== rel) {
          finish(stack.pop() as OpenDir);
        }
        const at = stack.at(-1);
        if (!at) {
          throw new CapabilityError(
            "UNDO_PLAN_INVALID",
            `tree entry "${entry.path}" comes before its directory`,
          );
        }
        if (entry.type === "dir") {
          at.dir.mkdir(leaf, 0o700);
          stack.push({ rel: entry.path, dir: at.dir.openDir(leaf), mode: entry.mode });
        } else if (entry.type === "file") {
          await writeFile(entry, at.dir, leaf);
        } else if (entry.type === "symlink") {
          at.dir.symlink(entry.target, leaf);
        } else {
          throw new CapabilityError(
            "FS_UNSUPPORTED_TYPE",
            `cannot recreate special file ${entry.path}`,
          );
        }
      }
      while (stack.length > 0) finish(stack.pop() as OpenDir);
    } finally {
      for (const d of stack) d.dir.close();
    }
    renameNoReplaceAt(parent, tmp, parent, name, true);
    await parent.fsync();
    await parent.ensureInside(sb, () => parent.removeTree(name));
  } catch (err) {
    await parent.removeTree(tmp).catch(() => undefined);
    throw err;
  } finally {
    parent.close();
  }
}

/** Creates the new file `name` in `dir` (`O_EXCL | O_NOFOLLOW`) with exactly `bytes` and `mode`. */
export async function writeNewFile(
  dir: DirFd,
  name: string,
  bytes: Uint8Array,
  mode: number,
): Promise<void> {
  const handle = await dir.openHandle(
    name,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    0o600,
  );
  try {
    await writeAll(handle, bytes);
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Restores a before-image tree at `dest` (which must not exist), verifying every blob. */
export async function restoreTree(
  sb: FsSandbox,
  dest: string,
  image: TreeImage,
  blobs: Readonly<Record<string, Uint8Array>>,
  signal?: AbortSignal,
): Promise<void> {
  await buildTree(
    sb,
    dest,
    image,
    async (entry, dir, name) => {
      const bytes = blobs[entry.sha256];
      if (!bytes || sha256Hex(bytes) !== entry.sha256) {
        throw new CapabilityError(
          "UNDO_BLOB_MISSING",
          `the before-image of ${entry.path} is missing or corrupt`,
          { context: { path: dest, entry: entry.path } },
        );
      }
      await writeNewFile(dir, name, bytes, entry.mode);
    },
    signal,
  );
}

/**
 * Copies the directory `src` to `dest` (which must not exist) and returns the image of what
 * was copied. A file that changes while being copied fails the copy (`FS_CHANGED`).
 */
export async function copyTree(
  sb: FsSandbox,
  src: string,
  dest: string,
  signal?: AbortSignal,
): Promise<TreeImage> {
  const { image } = await scanTree(sb, src, signal ? { signal } : {});
  if (image.entries.some((e) => e.type === "other")) {
    throw new CapabilityError("FS_UNSUPPORTED_TYPE", `${src} contains special files`, {
      context: { path: src },
    });
  }
  await buildTree(
    sb,
    dest,
    image,
    async (entry, dir, name) => {
      const from = await openVerified(
        sb,
        path.join(src, ...entry.path.split("/")),
        constants.O_RDONLY,
      );
      try {
        await requireRegular(from, entry.path);
        const to = await dir.openHandle(
          name,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
          0o600,
        );
        try {
          const copied = await copyHandle(from, to, signal);
          if (copied.sha256 !== entry.sha256) {
            throw new CapabilityError("FS_CHANGED", `${entry.path} changed while being copied`, {
              retryable: true,
              context: { path: src, entry: entry.path },
            });
          }
          await to.chmod(entry.mode);
          await to.sync();
        } finally {
          await to.close();
        }
      } finally {
        await from.close();
      }
    },
    signal,
  );
  return image;
}
