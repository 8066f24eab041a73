/**
 * @module Low-level file I/O on canonical sandbox paths: opening with `O_NOFOLLOW` and a
 * descriptor check, bounded reads, streaming hashes, the one-link rule (`requireSingleLink`),
 * atomic writes and copies (temp file + rename) and no-clobber renames. Capabilities and undo
 * code build on these. One file (hence its length) because its sync/async split and its
 * descriptor checks are one design. Everything that creates, renames or removes a name does
 * it through the descriptor of the directory holding it (`DirFd`, fs-dirfd.ts), so a folder
 * swapped for a symlink after the sandbox checked it cannot redirect it outside the root.
 *
 * Sync or async, call by call. Every `fs.promises` call is a libuv threadpool round trip
 * (50-150 µs under load), which dwarfs a metadata call on a local filesystem. So the hot
 * paths (reading a before-image, hashing a file, writing a file atomically, fsync of a
 * directory) work on raw descriptors and split their calls:
 * - SYNCHRONOUS: `open` (`O_NOFOLLOW`, and `O_NONBLOCK` for reads so a FIFO cannot block),
 *   `fstat`, `fchmod`, `close`, `rename`, `unlink`, and the `/proc/self/fd` check. These
 *   update or read in-memory inode and dentry state and do not wait for the disk (a
 *   rename's journal commit is what the later fsync waits for); they take microseconds.
 *   Reads and writes of at most `SYNC_IO_MAX` bytes are synchronous too: a write only
 *   copies into the page cache; a read is a page-cache copy or at worst one small device
 *   read (a before-image is usually the file just written, hot in the cache).
 * - ASYNCHRONOUS: every `fsync` (it waits for the device: durability is unchanged), and
 *   reads and writes above `SYNC_IO_MAX` (large transfers would hold the event loop).
 * Roots are expected on a local filesystem; on a network filesystem a synchronous metadata
 * call blocks the event loop for one server round trip.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Stats } from "node:fs";
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsync,
  openSync,
  read,
  readSync,
  write,
  writeSync,
} from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import path from "node:path";
import { CapabilityError } from "../../core/errors.js";
import { DirFd } from "./fs-dirfd.js";
import { errnoOf, throwIfAborted } from "./fs-errors.js";
import type { FsSandbox, ResolvedTarget } from "./sandbox.js";
import { O_NOFOLLOW } from "./sandbox.js";

const CHUNK = 1 << 20;

/** A read buffer sized for a file of `size` bytes: small files never pay for a 1 MiB buffer. */
function bufferFor(size: number): Buffer {
  return Buffer.allocUnsafe(Math.min(CHUNK, Math.max(4096, size + 1)));
}
const O_NONBLOCK: number = constants.O_NONBLOCK ?? 0;

/**
 * Reads and writes of at most this many bytes are synchronous: a write only copies into the
 * page cache, a read is a page-cache copy or at worst one small device read, either way less
 * than the threadpool hop it saves. Larger transfers stay on the threadpool.
 */
export const SYNC_IO_MAX = 64 * 1024;

/** `fsync` of a raw descriptor, on the threadpool (it waits for the device). */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fsync(fd, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * One `read` at the current offset. Synchronous when at most `SYNC_IO_MAX` bytes are asked
 * for (a page-cache copy, or at worst one small device read); otherwise on the threadpool.
 */
function readFd(fd: number, buf: Buffer, length: number): Promise<number> | number {
  if (length <= SYNC_IO_MAX) return readSync(fd, buf, 0, length, null);
  return new Promise((resolve, reject) => {
    read(fd, buf, 0, length, null, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** One `write` at the current offset, on the threadpool. */
function writeFd(fd: number, data: Uint8Array, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => {
    write(fd, data, offset, length, null, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** Closes a raw descriptor, ignoring errors (used on paths that are already failing). */
function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already failing; the original error is the one to report.
  }
}

/**
 * After a read shorter than asked for: true when the file really ends at `offset` (a fresh
 * `fstat`, synchronous), so the usual single read of a small file needs no extra EOF read.
 * A short read that is not the end (or a file that grew meanwhile) keeps the loop reading.
 */
function atEnd(fd: number, offset: number): boolean {
  return fstatSync(fd).size <= offset;
}

/** Refuses `O_CREAT` on a path-based open: new names are created through a `DirFd`. */
function noCreate(flags: number): void {
  if ((flags & constants.O_CREAT) !== 0) {
    throw new CapabilityError("FS_INVALID", "create files through their directory (DirFd)");
  }
}

/**
 * Opens the existing `p` (synchronously, see the module comment) without following a final
 * symlink and checks the descriptor really is `p`. The caller closes the descriptor. Never
 * creates: a file opened through a swapped folder is refused after the open, so the open
 * itself must have no effect (`O_CREAT` is refused; create through a `DirFd`).
 */
export function openVerifiedFd(sb: FsSandbox, p: string, flags: number, mode?: number): number {
  noCreate(flags);
  const fd = openSync(p, flags | O_NOFOLLOW, mode);
  try {
    sb.checkOpened(fd, p);
  } catch (err) {
    closeQuietly(fd);
    throw err;
  }
  return fd;
}

/** A fresh, unpredictable sibling name for a temp file or directory next to `name`. */
export function tempNameFor(name: string, kind: "tmp" | "trash" = "tmp"): string {
  return `.${name.slice(0, 100)}.airun-${kind}-${randomBytes(6).toString("hex")}`;
}

/**
 * Removes, in `dir`, the temp and trash siblings of `name` left by a call that was killed
 * mid-way (a crash between creating a temp file and renaming it). Called before a new write
 * and at undo, so a crash never leaves `.name.airun-tmp-*` litter behind once the step is
 * resolved. Walks by descriptors (`DirFd.removeTree`).
 */
export async function removeLeftoversIn(dir: DirFd, name: string): Promise<void> {
  const prefix = `.${name.slice(0, 100)}.airun-`;
  let names: string[];
  try {
    names = await dir.readdir();
  } catch {
    return;
  }
  for (const n of names) {
    if (n.startsWith(prefix) && /\.airun-(tmp|trash)-[0-9a-f]{12}$/.test(n)) {
      await dir.removeTree(n);
    }
  }
}

/** `removeLeftoversIn` for the directory holding `target` (nothing to do if it is gone). */
export async function removeLeftovers(sb: FsSandbox, target: string): Promise<void> {
  let dir: DirFd;
  try {
    dir = DirFd.open(sb, path.dirname(target));
  } catch (err) {
    if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENOTDIR") return;
    throw err;
  }
  try {
    await removeLeftoversIn(dir, path.basename(target));
  } finally {
    dir.close();
  }
}

/**
 * Opens the existing `p` without following a final symlink and checks the descriptor really
 * is `p`. The caller closes the handle. Never creates (as `openVerifiedFd`).
 */
export async function openVerified(
  sb: FsSandbox,
  p: string,
  flags: number,
  mode?: number,
): Promise<FileHandle> {
  noCreate(flags);
  const handle = await open(p, flags | O_NOFOLLOW, mode);
  try {
    sb.checkOpened(handle.fd, p);
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

/**
 * Refuses a regular file with more than one link (`FS_HARD_LINK`). The sandbox checks paths,
 * and a hard link is a second path to the same inode: `ws/hl` may be `outside/secret.txt`
 * (whose bytes a read would leak, an append change, and a before-image bring into the root
 * on undo), or `secrets/key.txt` inside the root, which a path rule (`secrets/**`) protects
 * but cannot recognise under another name. Which names an inode has elsewhere cannot be
 * told, so every multi-link file is refused for reads of its content (hashes and
 * before-images included) and in-place writes. Callers pass the `fstat` of the descriptor
 * they are about to use, so the check holds for the very inode read or written.
 */
export function requireSingleLink(st: Stats, p: string): void {
  if (st.isFile() && st.nlink > 1) {
    throw new CapabilityError(
      "FS_HARD_LINK",
      `${p} has ${st.nlink} links (hard links): another name of the same file may lie outside the sandbox or under a path the policy protects; refusing to read or change it`,
      { context: { path: p, links: st.nlink } },
    );
  }
}

/** Throws unless the stats are those of a regular file with a single link. */
export function requireRegularStats(st: Stats, p: string): Stats {
  if (st.isDirectory()) {
    throw new CapabilityError("FS_IS_DIR", `${p} is a directory`, { context: { path: p } });
  }
  if (!st.isFile()) {
    throw new CapabilityError("FS_NOT_FILE", `${p} is not a regular file`, {
      context: { path: p },
    });
  }
  requireSingleLink(st, p);
  return st;
}

/** Throws unless the open handle is a regular file with a single link; returns its stats. */
export async function requireRegular(handle: FileHandle, p: string): Promise<Stats> {
  return requireRegularStats(await handle.stat(), p);
}

/**
 * Reads a whole regular file, refusing (`FS_TOO_LARGE`) beyond `maxBytes`. Reads are sized to
 * the file (one read for a small file), and the mode comes from the same `fstat`.
 */
export async function readFileVerified(
  sb: FsSandbox,
  p: string,
  maxBytes: number,
): Promise<FileBytes> {
  const fd = openVerifiedFd(sb, p, constants.O_RDONLY | O_NONBLOCK);
  try {
    const st = requireRegularStats(fstatSync(fd), p);
    const size = st.size;
    const tooLarge = () =>
      new CapabilityError("FS_TOO_LARGE", `${p} is larger than ${maxBytes} bytes`, {
        context: { path: p, size, max_bytes: maxBytes },
      });
    if (size > maxBytes) throw tooLarge();
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const want = Math.min(CHUNK, maxBytes - total + 1, Math.max(4096, size - total + 1));
      const buf = Buffer.allocUnsafe(want);
      const bytesRead = await readFd(fd, buf, want);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLarge();
      chunks.push(buf.subarray(0, bytesRead));
      if (bytesRead < want && atEnd(fd, total)) break;
    }
    const bytes = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
    return { bytes, mode: st.mode & 0o7777 };
  } finally {
    closeSync(fd);
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
  const fd = openVerifiedFd(sb, p, constants.O_RDONLY | O_NONBLOCK);
  try {
    const st = requireRegularStats(fstatSync(fd), p);
    const whole = createHash("sha256");
    const head = createHash("sha256");
    const tail = createHash("sha256");
    const buf = bufferFor(st.size);
    let offset = 0;
    for (;;) {
      if (signal) throwIfAborted(signal);
      const bytesRead = await readFd(fd, buf, buf.length);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      whole.update(chunk);
      const cut = Math.max(0, Math.min(bytesRead, splitAt - offset));
      if (cut > 0) head.update(chunk.subarray(0, cut));
      if (cut < bytesRead) tail.update(chunk.subarray(cut));
      offset += bytesRead;
      if (bytesRead < buf.length && atEnd(fd, offset)) break;
    }
    return {
      size: offset,
      mode: st.mode & 0o7777,
      sha256: whole.digest("hex"),
      headSha256: head.digest("hex"),
      tailSha256: tail.digest("hex"),
    };
  } finally {
    closeSync(fd);
  }
}

/** Options for the functions that create a temp file next to a target. */
export interface TempOptions {
  /**
   * First remove `.name.airun-tmp-*` leftovers of a killed call (a directory listing).
   * Default true. A first attempt may skip it: leftovers only exist after a crash or an
   * interrupted attempt, whose re-run (attempt > 1) or revert sweeps them.
   */
  readonly sweepLeftovers?: boolean;
}

/** Writes all of `data` through a handle. */
export async function writeAll(handle: FileHandle, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, null);
    offset += bytesWritten;
  }
}

/** Writes all of `data` through a raw descriptor (synchronously when small). */
export async function writeAllFd(fd: number, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const length = Math.min(CHUNK, data.length - offset);
    offset +=
      data.length <= SYNC_IO_MAX
        ? writeSync(fd, data, offset, length, null)
        : await writeFd(fd, data, offset, length);
  }
}

/**
 * Moves the finished temp file `tmp` of `dir` to `name` there (replacing a file there when
 * `overwrite`, else refusing with `FS_EXISTS`), fsyncs the directory and checks it is still
 * inside the roots (otherwise the new file is removed: `DirFd.ensureInside`). The temp file
 * is removed when the commit fails.
 */
async function commitTempIn(
  sb: FsSandbox,
  dir: DirFd,
  tmp: string,
  name: string,
  overwrite: boolean,
): Promise<void> {
  try {
    if (overwrite) dir.rename(tmp, dir, name);
    else renameNoReplaceAt(dir, tmp, dir, name, false);
  } catch (err) {
    dir.unlinkQuietly(tmp);
    throw err;
  }
  await dir.fsync();
  await dir.ensureInside(sb, () => dir.unlinkQuietly(name));
}

/**
 * Replaces (or creates) `target` with exactly `data`, atomically: readers see the old file or
 * the new one, never a mix. `mode` null keeps the process default for a new file.
 *
 * The directory holding `target` is opened and checked once (`DirFd`); a fresh temp file is
 * created in it through its descriptor (`O_EXCL | O_NOFOLLOW`), written, fsynced, closed and
 * renamed over `target` there, then the directory is fsynced. A folder on the path swapped
 * for a symlink meanwhile cannot redirect any of it (see fs-dirfd.ts). Only the two fsyncs
 * (and a large write) leave the event loop.
 */
export async function writeFileAtomic(
  sb: FsSandbox,
  target: string,
  data: Uint8Array,
  mode: number | null,
  options: TempOptions = {},
): Promise<void> {
  const name = path.basename(target);
  const dir = DirFd.open(sb, path.dirname(target));
  try {
    if (options.sweepLeftovers ?? true) await removeLeftoversIn(dir, name);
    const tmp = tempNameFor(name);
    const fd = dir.openFile(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
    try {
      await writeAllFd(fd, data);
      if (mode !== null) fchmodSync(fd, mode);
      await fsyncFd(fd);
      closeSync(fd);
    } catch (err) {
      closeQuietly(fd);
      dir.unlinkQuietly(tmp);
      throw err;
    }
    await commitTempIn(sb, dir, tmp, name, true);
  } finally {
    dir.close();
  }
}

/** Creates (or replaces) a symlink at `target` pointing to `linkTarget`, atomically. */
export async function symlinkAtomic(
  sb: FsSandbox,
  linkTarget: string,
  target: string,
): Promise<void> {
  const name = path.basename(target);
  const dir = DirFd.open(sb, path.dirname(target));
  try {
    const tmp = tempNameFor(name);
    dir.symlink(linkTarget, tmp);
    await commitTempIn(sb, dir, tmp, name, true);
  } finally {
    dir.close();
  }
}

const LINK_UNSUPPORTED = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"]);

/**
 * Renames `fromName` in `from` to `toName` in `to`, failing with `FS_EXISTS` when the target
 * exists. Files and symlinks use link + unlink (atomic no-clobber); directories use a check
 * then rename (a narrow race, inside the one directory). Synchronous (metadata calls, see the
 * module comment): no other work of this process (such as another step's commit) can run
 * between the link and the unlink, so the state "both names exist" lasts microseconds.
 */
export function renameNoReplaceAt(
  from: DirFd,
  fromName: string,
  to: DirFd,
  toName: string,
  isDir: boolean,
): void {
  const exists = () =>
    new CapabilityError("FS_EXISTS", `${path.join(to.path, toName)} already exists`, {
      context: { path: path.join(to.path, toName) },
    });
  if (!isDir) {
    try {
      from.link(fromName, to, toName);
      from.unlink(fromName);
      return;
    } catch (err) {
      if (errnoOf(err) === "EEXIST") throw exists();
      if (!LINK_UNSUPPORTED.has(errnoOf(err) ?? "")) throw err;
    }
  }
  if (to.lstat(toName)) throw exists();
  from.rename(fromName, to, toName);
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
 * Copies the regular file `from` to `to` (same mode) through a temp file next to `to`,
 * committed atomically (replacing a file at `to` only when `overwrite`); returns the digest
 * of what was copied. The source is read through a verified descriptor (one link only); the
 * destination is written through its directory's descriptor (`DirFd`).
 */
export async function copyFileAtomic(
  sb: FsSandbox,
  from: string,
  to: string,
  overwrite: boolean,
  signal?: AbortSignal,
  options: TempOptions = {},
): Promise<{ sha256: string; size: number }> {
  const src = await openVerified(sb, from, constants.O_RDONLY | O_NONBLOCK);
  try {
    const mode = (await requireRegular(src, from)).mode & 0o7777;
    const name = path.basename(to);
    const dir = DirFd.open(sb, path.dirname(to));
    try {
      if (options.sweepLeftovers ?? true) await removeLeftoversIn(dir, name);
      const tmp = tempNameFor(name);
      const dst = await dir.openHandle(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
        0o666,
      );
      let digest: { sha256: string; size: number };
      try {
        digest = await copyHandle(src, dst, signal);
        await dst.chmod(mode);
        await dst.sync();
        await dst.close();
      } catch (err) {
        await dst.close().catch(() => undefined);
        dir.unlinkQuietly(tmp);
        throw err;
      }
      await commitTempIn(sb, dir, tmp, name, overwrite);
      return digest;
    } finally {
      dir.close();
    }
  } finally {
    await src.close();
  }
}

/**
 * Refuses a target that exists and is not a regular file, or has more than one link (see
 * `requireSingleLink`: its before-image would copy the shared bytes); returns its mode (null
 * when absent). Uses the `lstat` the sandbox took while resolving it: no second call.
 */
export function requireFileOrAbsent(target: ResolvedTarget): number | null {
  const st = target.stats;
  const p = target.path;
  if (!st) return null;
  if (st.isDirectory()) {
    throw new CapabilityError("FS_IS_DIR", `${p} is a directory`, { context: { path: p } });
  }
  if (!st.isFile()) {
    throw new CapabilityError("FS_NOT_FILE", `${p} is not a regular file`, {
      context: { path: p },
    });
  }
  requireSingleLink(st, p);
  return st.mode & 0o7777;
}
