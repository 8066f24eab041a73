/**
 * @module The state of one path as data (`NodeState`): probe it, capture it with its bytes as
 * a before-image, compare two states for drift, and restore a captured state byte-exactly.
 * Every undo in `io.fs.*` is expressed with these.
 */
import type { Stats } from "node:fs";
import { readlinkSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { CapabilityError } from "../../core/errors.js";
import { sha256Hex } from "../../core/hash.js";
import { DirFd } from "./fs-dirfd.js";
import { errnoOf, throwIfAborted } from "./fs-errors.js";
import { hashFileVerified, readFileVerified, symlinkAtomic, writeFileAtomic } from "./fs-io.js";
import { restoreTree, scanTree, treeDigest, treeImageSchema } from "./fs-tree.js";
import { type FsSandbox, lstatOrNull } from "./sandbox.js";

/** What is at a path: nothing, a file, a directory tree, a symlink, or something else. */
export const nodeStateSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("absent") }),
  z.object({
    type: z.literal("file"),
    size: z.number().int(),
    sha256: z.string(),
    mode: z.number().int(),
  }),
  z.object({ type: z.literal("dir"), mode: z.number().int(), digest: z.string() }),
  z.object({ type: z.literal("symlink"), target: z.string() }),
  z.object({ type: z.literal("other") }),
]);
/** What is at a path. Files carry size, SHA-256 and mode; directories a tree digest. */
export type NodeState = z.infer<typeof nodeStateSchema>;

/** A captured before-image: the state, its tree (directories) and its bytes (by SHA-256). */
export const imageSchema = z.object({
  state: nodeStateSchema,
  tree: treeImageSchema.nullable(),
});
/** A before-image as stored in an undo plan's data. */
export type Image = z.infer<typeof imageSchema>;

/** A before-image plus the blobs it needs. */
export interface CapturedImage {
  readonly image: Image;
  readonly blobs: Record<string, Uint8Array>;
  /** Total bytes kept in blobs. */
  readonly bytes: number;
}

/** The absent state. */
export const ABSENT: NodeState = Object.freeze({ type: "absent" });

/**
 * Reads the state of `p` without following a final symlink (directories are digested).
 * `known` is an `lstat` of `p` the caller already holds (`ResolvedPath.stats`; null: absent);
 * omitted, `p` is stat'ed here (synchronously: a microsecond metadata call, see sandbox.ts).
 */
export async function probe(
  sb: FsSandbox,
  p: string,
  signal?: AbortSignal,
  known?: Stats | null,
): Promise<NodeState> {
  const st = known === undefined ? lstatOrNull(p) : known;
  if (st === null) return ABSENT;
  if (st.isSymbolicLink()) return { type: "symlink", target: readlinkSync(p) };
  if (st.isFile()) {
    const d = await hashFileVerified(sb, p, signal);
    return { type: "file", size: d.size, sha256: d.sha256, mode: d.mode };
  }
  if (st.isDirectory()) {
    const { image } = await scanTree(sb, p, signal ? { signal } : {});
    return { type: "dir", mode: image.mode, digest: treeDigest(image) };
  }
  return { type: "other" };
}

/**
 * Captures `p` with its bytes, refusing (`FS_TOO_LARGE`) when they exceed `maxBytes` and
 * (`FS_UNSUPPORTED_TYPE`) for sockets, FIFOs and devices, which cannot be restored. A file is
 * read once, through a verified descriptor, and hashed once from the bytes kept. `known` is
 * as for `probe`.
 */
export async function capture(
  sb: FsSandbox,
  p: string,
  maxBytes: number,
  signal?: AbortSignal,
  known?: Stats | null,
): Promise<CapturedImage> {
  const st = known === undefined ? lstatOrNull(p) : known;
  if (st === null) return { image: { state: ABSENT, tree: null }, blobs: {}, bytes: 0 };
  if (st.isSymbolicLink()) {
    const state: NodeState = { type: "symlink", target: readlinkSync(p) };
    return { image: { state, tree: null }, blobs: {}, bytes: 0 };
  }
  if (st.isFile()) {
    if (signal) throwIfAborted(signal);
    const file = await readFileVerified(sb, p, maxBytes);
    const sha256 = sha256Hex(file.bytes);
    return {
      image: {
        state: { type: "file", size: file.bytes.length, sha256, mode: file.mode },
        tree: null,
      },
      blobs: { [sha256]: file.bytes },
      bytes: file.bytes.length,
    };
  }
  if (st.isDirectory()) {
    const scanned = await scanTree(sb, p, {
      withContent: true,
      maxBytes,
      ...(signal ? { signal } : {}),
    });
    if (scanned.image.entries.some((e) => e.type === "other")) throw unsupported(p);
    const digest = treeDigest(scanned.image);
    return {
      image: { state: { type: "dir", mode: scanned.image.mode, digest }, tree: scanned.image },
      blobs: scanned.blobs,
      bytes: scanned.bytes,
    };
  }
  throw unsupported(p);
}

function unsupported(p: string): CapabilityError {
  return new CapabilityError("FS_UNSUPPORTED_TYPE", `${p} is or holds a special file`, {
    context: { path: p },
  });
}

/** True when two states have the same type and content (modes are not compared). */
export function sameContent(a: NodeState, b: NodeState): boolean {
  switch (a.type) {
    case "absent":
    case "other":
      return b.type === a.type;
    case "file":
      return b.type === "file" && a.sha256 === b.sha256 && a.size === b.size;
    case "dir":
      return b.type === "dir" && a.digest === b.digest;
    case "symlink":
      return b.type === "symlink" && a.target === b.target;
  }
}

/** A short human description of a state, for drift messages. */
export function describeState(s: NodeState): string {
  switch (s.type) {
    case "absent":
      return "nothing";
    case "file":
      return `a file of ${s.size} bytes (sha256 ${s.sha256.slice(0, 12)})`;
    case "dir":
      return `a directory (digest ${s.digest.slice(0, 12)})`;
    case "symlink":
      return `a symlink to ${s.target}`;
    case "other":
      return "a special file";
  }
}

/**
 * Removes whatever is at `p` (recursively; symlinks are removed, never followed), through
 * the descriptor of its directory (`DirFd.removeTree`). Nothing there, or no directory
 * there any more, is fine.
 */
export async function removeNode(sb: FsSandbox, p: string): Promise<void> {
  let dir: DirFd;
  try {
    dir = DirFd.open(sb, path.dirname(p));
  } catch (err) {
    if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENOTDIR") return;
    throw err;
  }
  try {
    await dir.removeTree(path.basename(p));
  } finally {
    dir.close();
  }
}

/**
 * Puts `image` back at `p` byte-exactly, replacing whatever is there: a file (bytes and mode,
 * atomically), a symlink, a whole directory tree, or nothing. Blobs are verified first.
 */
export async function restoreImage(
  sb: FsSandbox,
  p: string,
  image: Image,
  blobs: Readonly<Record<string, Uint8Array>>,
  signal?: AbortSignal,
): Promise<void> {
  const { state } = image;
  let current: Stats | null;
  try {
    current = lstatOrNull(p);
  } catch {
    current = null;
  }
  const clearDir = async () => {
    if (current?.isDirectory()) await removeNode(sb, p);
  };
  switch (state.type) {
    case "absent":
      if (current) await removeNode(sb, p);
      return;
    case "file": {
      const bytes = blobs[state.sha256];
      if (!bytes || sha256Hex(bytes) !== state.sha256) {
        throw new CapabilityError(
          "UNDO_BLOB_MISSING",
          `the before-image of ${p} is missing or corrupt`,
          {
            context: { path: p },
          },
        );
      }
      await clearDir();
      await writeFileAtomic(sb, p, bytes, state.mode);
      return;
    }
    case "symlink":
      await clearDir();
      await symlinkAtomic(sb, state.target, p);
      return;
    case "dir":
      if (!image.tree) {
        throw new CapabilityError("UNDO_PLAN_INVALID", `the before-image of ${p} has no tree`);
      }
      if (current) await removeNode(sb, p);
      await restoreTree(sb, p, image.tree, blobs, signal);
      return;
    case "other":
      throw unsupported(p);
  }
}

/** One SHA-256 naming a state's content: file bytes, tree digest, or symlink target. */
export function contentHash(s: NodeState): string {
  if (s.type === "file") return s.sha256;
  if (s.type === "dir") return s.digest;
  if (s.type === "symlink") return sha256Hex(s.target);
  return "";
}

/** The type name reported in outputs for a state that exists. */
export function stateType(s: NodeState): "file" | "dir" | "symlink" | "other" {
  return s.type === "absent" ? "other" : s.type;
}

/** True when `current` is the same file as `before` but with a different mode. */
export function onlyModeDiffers(current: NodeState, before: NodeState): boolean {
  return (
    current.type === "file" &&
    before.type === "file" &&
    sameContent(current, before) &&
    current.mode !== before.mode
  );
}
