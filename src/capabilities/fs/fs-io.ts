/**
 * @module Low-level file I/O on canonical sandbox paths: opening with `O_NOFOLLOW` and a
 * descriptor check, bounded reads, streaming hashes, atomic writes (temp file + rename),
 * no-clobber renames and directory fsync. Capabilities and undo code build on these.
 */
import { createHash, randomBytes } from "node:crypto";
import { constants } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { link, lstat, open, readdir, rename, rm, symlink, unlink } from "node:fs/promises";
import path from "node:path";
import { CapabilityError } from "../../core/errors.js";
import { errnoOf, throwIfAborted } from "./fs-errors.js";
import type { FsSandbox } from "./sandbox.js";
import { O_NOFOLLOW } from "./sandbox.js";

const CHUNK = 1 << 20;

/** A read buffer sized for a file of `size` bytes: small files never pay for a 1 MiB buffer. */
function bufferFor(size: number): Buffer {
  return Buffer.allocUnsafe(Math.min(CHUNK, Math.max(4096, size + 1)));
}
const O_NONBLOCK: number = constants.O_NONBLOCK ?? 0;
const O_DIRECTORY: number = constants.O_DIRECTORY ?? 0;

/** A fresh, unpredictable sibling name for a temp file or directory next to `target`. */
export function tempPathFor(target: string, kind: "tmp" | "trash" = "tmp"): string {
  const base = path.basename(target).slice(0, 100);
  return path.join(
    path.dirname(target),
    `.${base}.airun-${kind}-${randomBytes(6).toString("hex")}`,
  );
}

/**
 * Removes temp and trash siblings of `target` left by a call that was killed mid-way (a crash
 * between creating a temp file and renaming it). Called before a new write and at undo, so a
 * crash never leaves `.name.airun-tmp-*` litter behind once the step is resolved.
 */
export async function removeLeftovers(target: string): Promise<void> {
  const dir = path.dirname(target);
  const prefix = `.${path.basename(target).slice(0, 100)}.airun-`;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(prefix) && /\.airun-(tmp|trash)-[0-9a-f]{12}$/.test(name)) {
      await rm(path.join(dir, name), { recursive: true, force: true });
    }
  }
}

/**
 * Opens `p` without following a final symlink and checks the descriptor really is `p`.
 * The caller closes the handle.
 */
export async function openVerified(
  sb: FsSandbox,
  p: string,
  flags: number,
  mode?: number,
): Promise<FileHandle> {
  const handle = await open(p, flags | O_NOFOLLOW, mode);
  try {
    await sb.verifyOpened(handle, p);
  } catch (err) {
    await handle.close();
    throw err;
  }
  return handle;
}

/** Content and metadata of a regular file read through `readFileVerified`. */
export interface FileBytes {
  readonly bytes: Buffer;
  readonly mode: number;
}

/** Throws unless the open handle is a regular file. */
async function requireRegular(handle: FileHandle, p: string): Promise<number> {
  const st = await handle.stat();
  if (st.isDirectory()) {
    throw new CapabilityError("FS_IS_DIR", `${p} is a directory`, { context: { path: p } });
  }
  if (!st.isFile()) {
    throw new CapabilityError("FS_NOT_FILE", `${p} is not a regular file`, {
      context: { path: p },
    });
  }
  return st.size;
}

/** Reads a whole regular file, refusing (`FS_TOO_LARGE`) beyond `maxBytes`. */
export async function readFileVerified(
  sb: FsSandbox,
  p: string,
  maxBytes: number,
): Promise<FileBytes> {
  const handle = await openVerified(sb, p, constants.O_RDONLY | O_NONBLOCK);
  try {
    const size = await requireRegular(handle, p);
    const tooLarge = () =>
      new CapabilityError("FS_TOO_LARGE", `${p} is larger than ${maxBytes} bytes`, {
        context: { path: p, size, max_bytes: maxBytes },
      });
    if (size > maxBytes) throw tooLarge();
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(
        Math.min(CHUNK, maxBytes - total + 1, Math.max(4096, size - total + 1)),
      );
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge();
      chunks.push(buf.subarray(0, bytesRead));
    }
    const mode = (await handle.stat()).mode & 0o7777;
    return { bytes: Buffer.concat(chunks, total), mode };
  } finally {
    await handle.close();
  }
}

/** SHA-256 of a file, optionally split at `splitAt` into a head and a tail digest. */
export interface FileDigest {
  readonly size: number;
  readonly mode: number;
  readonly sha256: string;
  /** Digest of the first `splitAt` bytes (or of the whole file when shorter). */
  readonly headSha256: string;
  /** Digest of the bytes after `splitAt` (empty digest when none). */
  readonly tailSha256: string;
}

/** Streams a regular file through SHA-256 without holding it in memory. */
export async function hashFileVerified(
  sb: FsSandbox,
  p: string,
  signal?: AbortSignal,
  splitAt = 0,
): Promise<FileDigest> {
  const handle = await openVerified(sb, p, constants.O_RDONLY | O_NONBLOCK);
  try {
    const size = await requireRegular(handle, p);
    const whole = createHash("sha256");
    const head = createHash("sha256");
    const tail = createHash("sha256");
    const buf = bufferFor(size);
    let offset = 0;
    for (;;) {
      if (signal) throwIfAborted(signal);
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      whole.update(chunk);
      const cut = Math.max(0, Math.min(bytesRead, splitAt - offset));
      if (cut > 0) head.update(chunk.subarray(0, cut));
      if (cut < bytesRead) tail.update(chunk.subarray(cut));
      offset += bytesRead;
    }
    const mode = (await handle.stat()).mode & 0o7777;
    return {
      size: offset,
      mode,
      sha256: whole.digest("hex"),
      headSha256: head.digest("hex"),
      tailSha256: tail.digest("hex"),
    };
  } finally {
    await handle.close();
  }
}

/** Best-effort fsync of a directory, so a rename or unlink inside it is durable. */
export async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, constants.O_RDONLY | O_DIRECTORY);
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories; durability is then the OS's best.
  } finally {
    await handle?.close();
  }
}

/**
 * Creates a new temp file next to `target` (`O_EXCL | O_NOFOLLOW`, descriptor checked), lets
 * `fill` write it, sets `mode` when given, fsyncs and returns its path. Removed on failure.
 */
export async function createTempFile(
  sb: FsSandbox,
  target: string,
  fill: (handle: FileHandle) => Promise<void>,
  mode: number | null,
): Promise<string> {
  await removeLeftovers(target);
  const tmp = tempPathFor(target);
  const handle = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW,
    0o666,
  );
  try {
    await sb.verifyOpened(handle, tmp);
    await fill(handle);
    if (mode !== null) await handle.chmod(mode);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  return tmp;
}

/** Writes all of `data` through a handle. */
export async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, null);
    offset += bytesWritten;
  }
}

/**
 * Replaces (or creates) `target` with exactly `data`, atomically: readers see the old file or
 * the new one, never a mix. `mode` null keeps the process default for a new file.
 */
export async function writeFileAtomic(
  sb: FsSandbox,
  target: string,
  data: Uint8Array,
  mode: number | null,
): Promise<void> {
  const tmp = await createTempFile(sb, target, (h) => writeAll(h, data), mode);
  await commitTemp(tmp, target, true);
}

/** Creates (or replaces) a symlink at `target` pointing to `linkTarget`, atomically. */
export async function symlinkAtomic(linkTarget: string, target: string): Promise<void> {
  const tmp = tempPathFor(target);
  await symlink(linkTarget, tmp);
  await commitTemp(tmp, target, true);
}

/**
 * Moves a finished temp file into place. With `overwrite` false the target must not exist:
 * a hard link refuses atomically with `EEXIST`; where hard links are unsupported it falls
 * back to a check then rename.
 */
export async function commitTemp(tmp: string, target: string, overwrite: boolean): Promise<void> {
  try {
    if (overwrite) await rename(tmp, target);
    else await renameNoReplace(tmp, target, false);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(path.dirname(target));
}

const LINK_UNSUPPORTED = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"]);

/**
 * Renames `from` to `to`, failing with `FS_EXISTS` when `to` exists. Files and symlinks use
 * link + unlink (atomic no-clobber); directories use a check then rename (a narrow race).
 */
export async function renameNoReplace(from: string, to: string, isDir: boolean): Promise<void> {
  const exists = () =>
    new CapabilityError("FS_EXISTS", `${to} already exists`, { context: { path: to } });
  if (!isDir) {
    try {
      await link(from, to);
      await unlink(from);
      return;
    } catch (err) {
      if (errnoOf(err) === "EEXIST") throw exists();
      if (!LINK_UNSUPPORTED.has(errnoOf(err) ?? "")) throw err;
    }
  }
  const there = await lstat(to).then(
    () => true,
    (err: unknown) => {
      if (errnoOf(err) === "ENOENT") return false;
      throw err;
    },
  );
  if (there) throw exists();
  await rename(from, to);
}

/** Copies everything readable from one handle to another; returns the SHA-256 and length. */
export async function copyHandle(
  from: FileHandle,
  to: FileHandle,
  signal?: AbortSignal,
): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  const buf = bufferFor((await from.stat()).size);
  let size = 0;
  for (;;) {
    if (signal) throwIfAborted(signal);
    const { bytesRead } = await from.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    const chunk = buf.subarray(0, bytesRead);
    hash.update(chunk);
    await writeAll(to, chunk);
    size += bytesRead;
  }
  return { sha256: hash.digest("hex"), size };
}

/**
 * Copies the regular file `from` to a new temp file next to `to` (same mode) and returns the
 * temp path plus the digest of what was copied; the caller commits it with `commitTemp`.
 */
export async function copyToTemp(
  sb: FsSandbox,
  from: string,
  to: string,
  signal?: AbortSignal,
): Promise<{ tmp: string; sha256: string; size: number }> {
  const src = await openVerified(sb, from, constants.O_RDONLY | O_NONBLOCK);
  try {
    await requireRegular(src, from);
    const mode = (await src.stat()).mode & 0o7777;
    let digest = { sha256: "", size: 0 };
    const tmp = await createTempFile(
      sb,
      to,
      async (dst) => {
        digest = await copyHandle(src, dst, signal);
      },
      mode,
    );
    return { tmp, ...digest };
  } finally {
    await src.close();
  }
}

/** Refuses a target that exists and is not a regular file. */
export async function requireFileOrAbsent(p: string): Promise<number | null> {
  const st = await lstat(p).catch(() => null);
  if (!st) return null;
  if (st.isDirectory()) {
    throw new CapabilityError("FS_IS_DIR", `${p} is a directory`, { context: { path: p } });
  }
  if (!st.isFile()) {
    throw new CapabilityError("FS_NOT_FILE", `${p} is not a regular file`, {
      context: { path: p },
    });
  }
  return st.mode & 0o7777;
}
