/**
 * @module Directory descriptors: the `*at()` calls Node.js lacks. Every call of `io.fs.*` that
 * creates, renames, links or removes a name does it through a `DirFd` of the directory holding
 * that name: the directory is opened once (`O_DIRECTORY | O_NOFOLLOW`), the descriptor is
 * checked to be the canonical path the sandbox just resolved (`FsSandbox.checkOpened`), and
 * the name is then reached THROUGH the descriptor as `/proc/self/fd/<fd>/<name>`. On Linux
 * the kernel resolves that magic link to the open directory itself, not to its path, and
 * looks `<name>` up inside it; a folder on the path swapped for a symlink after the check can
 * no longer redirect the call outside the root (the same technique container runtimes use to
 * resolve paths safely). Recursive removal walks by descriptors too, so a subfolder swapped
 * for a symlink mid-walk is removed as a link, never followed.
 *
 * Where `/proc/self/fd` is absent (not Linux, or `/proc` not mounted), names are plain paths
 * below the checked directory: the check-then-use window described in sandbox.ts remains.
 *
 * Calls are synchronous except `fsync`, `readdir` and the recursive removal (see fs-io.ts:
 * metadata calls take microseconds; a threadpool hop costs more). Error messages and the
 * `path` of system errors name the canonical directory, never `/proc/self/fd/<n>`.
 */
import type { Stats } from "node:fs";
import {
  closeSync,
  constants,
  existsSync,
  fsync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
} from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { open, readdir } from "node:fs/promises";
import path from "node:path";
import { CapabilityError, SandboxError } from "../../core/errors.js";
import { errnoOf } from "./fs-errors.js";
import { type FsSandbox, O_NOFOLLOW } from "./sandbox.js";

const PROC_FD = "/proc/self/fd";
const O_DIRECTORY: number = constants.O_DIRECTORY ?? 0;

/** Whether names below a directory are reached through its descriptor (Linux `/proc`). */
export const THROUGH_DESCRIPTOR: boolean = process.platform === "linux" && existsSync(PROC_FD);

/** Canonical path of each open `DirFd`, by descriptor: error messages name it. */
const openDirs = new Map<number, string>();

/** Replaces `/proc/self/fd/<n>` in a system error's message and paths by the directory's path. */
function withRealPaths(err: unknown): unknown {
  if (!THROUGH_DESCRIPTOR || !(err instanceof Error)) return err;
  const fix = (s: string) =>
    s.replace(/\/proc\/self\/fd\/(\d+)/g, (m, n: string) => openDirs.get(Number(n)) ?? m);
  err.message = fix(err.message);
  const e = err as Error & { path?: unknown; dest?: unknown };
  if (typeof e.path === "string") e.path = fix(e.path);
  if (typeof e.dest === "string") e.dest = fix(e.dest);
  return err;
}

/** Runs a system call, rethrowing its error with real paths. */
function sys<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw withRealPaths(err);
  }
}

/** True when `p` is a symlink now (an `lstat`; false when absent or unreadable). */
function isSymlink(p: string): boolean {
  try {
    return lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
  } catch {
    return false;
  }
}

/** Refuses anything but one plain path component (a programming error, never user input). */
function checkName(name: string): void {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new CapabilityError("FS_INVALID", `"${name}" is not a single file name`);
  }
}

/** A directory held open; names below it are reached through its descriptor. */
export class DirFd {
  /** The open descriptor. */
  readonly fd: number;
  /** The canonical path the directory had when it was opened and checked. */
  readonly path: string;
  #closed = false;

  private constructor(fd: number, dirPath: string) {
    this.fd = fd;
    this.path = dirPath;
    openDirs.set(fd, dirPath);
  }

  /**
   * Opens the directory `dir` (a canonical path the sandbox resolved) without following a
   * final symlink and checks the descriptor is `dir`. A folder replaced by a symlink since it
   * was resolved is `FS_PATH_CHANGED`; one that now leads outside is a `SandboxError`.
   */
  static open(sb: FsSandbox, dir: string): DirFd {
    let fd: number;
    try {
      fd = openSync(dir, constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      // A symlink fails `O_NOFOLLOW | O_DIRECTORY` with ELOOP or ENOTDIR; a file, ENOTDIR.
      const errno = errnoOf(err);
      if (errno === "ELOOP" || (errno === "ENOTDIR" && isSymlink(dir))) {
        throw new CapabilityError(
          "FS_PATH_CHANGED",
          `${dir} was replaced by a symlink after it was checked`,
          { retryable: true, context: { path: dir }, cause: err },
        );
      }
      throw err;
    }
    try {
      sb.checkOpened(fd, dir);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new DirFd(fd, dir);
  }

  /** A path naming `name` in this directory, resolved through the descriptor. */
  at(name: string): string {
    checkName(name);
    return THROUGH_DESCRIPTOR ? `${PROC_FD}/${this.fd}/${name}` : path.join(this.path, name);
  }

  /** This directory itself, through the descriptor (for `readdir`). */
  private self(): string {
    return THROUGH_DESCRIPTOR ? `${PROC_FD}/${this.fd}` : this.path;
  }

  /** Opens the subdirectory `name` (a symlink there is refused, never followed). */
  openDir(name: string): DirFd {
    const fd = sys(() => openSync(this.at(name), constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
    return new DirFd(fd, path.join(this.path, name));
  }

  /** `lstat` of `name`; null when absent. */
  lstat(name: string): Stats | null {
    try {
      return lstatSync(this.at(name), { throwIfNoEntry: false }) ?? null;
    } catch (err) {
      if (errnoOf(err) === "ENOTDIR") return null;
      throw withRealPaths(err);
    }
  }

  /** Opens (or creates, with `O_CREAT` in `flags`) the file `name`, never following a symlink. */
  openFile(name: string, flags: number, mode?: number): number {
    return sys(() => openSync(this.at(name), flags | O_NOFOLLOW, mode));
  }

  /** `openFile` as a promise-based handle. */
  async openHandle(name: string, flags: number, mode?: number): Promise<FileHandle> {
    try {
      return await open(this.at(name), flags | O_NOFOLLOW, mode);
    } catch (err) {
      throw withRealPaths(err);
    }
  }

  /** Creates the directory `name`. */
  mkdir(name: string, mode = 0o777): void {
    sys(() => mkdirSync(this.at(name), { mode }));
  }

  /** Creates a symlink `name` pointing to `target` (stored as given, never resolved here). */
  symlink(target: string, name: string): void {
    sys(() => symlinkSync(target, this.at(name)));
  }

  /** Renames `name` to `toName` in `to` (possibly this directory), replacing a file there. */
  rename(name: string, to: DirFd, toName: string): void {
    sys(() => renameSync(this.at(name), to.at(toName)));
  }

  /** Gives the file `name` a second name `toName` in `to` (fails with `EEXIST` if taken). */
  link(name: string, to: DirFd, toName: string): void {
    sys(() => linkSync(this.at(name), to.at(toName)));
  }

  /** Removes the non-directory `name`. */
  unlink(name: string): void {
    sys(() => unlinkSync(this.at(name)));
  }

  /** Removes the non-directory `name`, ignoring any error (cleanup of a failing call). */
  unlinkQuietly(name: string): void {
    try {
      unlinkSync(this.at(name));
    } catch {
      // Nothing to remove, or not removable: a later sweep (`removeLeftovers`) retries.
    }
  }

  /** Removes the empty directory `name`. */
  rmdir(name: string): void {
    sys(() => rmdirSync(this.at(name)));
  }

  /** The names in this directory (unsorted). */
  async readdir(): Promise<string[]> {
    try {
      return await readdir(this.self());
    } catch (err) {
      throw withRealPaths(err);
    }
  }

  /**
   * Removes `name` and, for a directory, everything below it, walking by descriptors: a
   * subfolder swapped for a symlink during the walk is removed as a link, never followed.
   * Absent is fine (nothing to do).
   */
  async removeTree(name: string): Promise<void> {
    const st = this.lstat(name);
    if (!st) return;
    if (st.isDirectory()) {
      let child: DirFd | undefined;
      try {
        child = this.openDir(name);
      } catch (err) {
        const errno = errnoOf(err);
        if (errno === "ENOENT") return;
        // Swapped for something that is not a directory since the lstat: remove it as such.
        if (errno !== "ENOTDIR" && errno !== "ELOOP") throw err;
      }
      if (child) {
        try {
          for (const entry of await child.readdir()) await child.removeTree(entry);
        } finally {
          child.close();
        }
        try {
          this.rmdir(name);
          return;
        } catch (err) {
          if (errnoOf(err) === "ENOENT") return;
          if (errnoOf(err) !== "ENOTDIR") throw err;
        }
      }
    }
    try {
      this.unlink(name);
    } catch (err) {
      if (errnoOf(err) !== "ENOENT") throw err;
    }
  }

  /** Best-effort fsync of the directory, so renames and unlinks in it are durable. */
  fsync(): Promise<void> {
    return new Promise((resolve) => {
      // Some filesystems refuse fsync on directories; durability is then the OS's best.
      fsync(this.fd, () => resolve());
    });
  }

  /**
   * After a call created something here: throws `SandboxError` when the directory has since
   * been MOVED out of every root (its real path, read from the descriptor), after running
   * `undo` to remove what the call created. A move inside the roots is no escape and passes.
   * Without `/proc` there is nothing to read and it passes.
   */
  async ensureInside(sb: FsSandbox, undo: () => void | Promise<void>): Promise<void> {
    let actual: string;
    try {
      actual = readlinkSync(`${PROC_FD}/${this.fd}`);
    } catch {
      return;
    }
    if (sb.contains(actual)) return;
    try {
      await undo();
    } catch {
      // The error below is the one to report; what could not be removed is named in it.
    }
    throw new SandboxError(
      `${this.path} was moved to ${actual}, outside the sandbox roots, while it was being written; what this call created there was removed`,
      { path: this.path, actual },
    );
  }

  /** Closes the descriptor (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    openDirs.delete(this.fd);
    closeSync(this.fd);
  }
}

/** Opens and checks `dir`, runs `fn` with it and always closes it. */
export async function withDir<T>(
  sb: FsSandbox,
  dir: string,
  fn: (d: DirFd) => T | Promise<T>,
): Promise<T> {
  const d = DirFd.open(sb, dir);
  try {
    return await fn(d);
  } finally {
    d.close();
  }
}
