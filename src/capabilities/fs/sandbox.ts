/**
 * @module The filesystem sandbox: turns a user-supplied path into a canonical real path that
 * provably lies inside one of the configured roots, or refuses with `SandboxError`.
 *
 * How a path is resolved:
 * 1. Roots are canonicalized with `realpath` (a root that is itself behind a symlink, such as
 *    `/tmp` on macOS, is accepted in both spellings). Capabilities get their sandbox from
 *    `sandboxFor` (fs-plan.ts), which does this once per sandbox configuration: roots do
 *    not move during a process's life.
 * 2. The user path is normalized lexically (relative paths against the FIRST root) and must
 *    lie inside a root, compared on whole path components (`/x/ws_evil` is not inside `/x/ws`).
 * 3. It is then walked one component at a time with `lstat`. Every symlink met (in an
 *    intermediate component, or in the final one unless `followFinal` is false) is expanded
 *    by hand: an absolute target must lie inside a root, a relative target is walked from the
 *    link's directory (`..` applied to the real parent, as the kernel does), and `..` may
 *    never climb above a root, even to come back in (`ws/l -> ../ws/x` is refused). This
 *    also refuses DANGLING links that point outside, which `realpath` cannot resolve. Hops
 *    are bounded (`FS_SYMLINK_LOOP`). `..` in the user path itself is applied lexically first.
 * 4. The result is a path whose every existing component is a real directory inside a root.
 *    Capabilities operate on that canonical path only, never on the original string.
 *
 * Hard links: a path check cannot see that two names share one inode. A regular file with
 * more than one link may be another name of a file outside the root (`ln outside/secret
 * ws/hl`) or of one a path rule protects (`reports/hl` = `secrets/key.txt`), so its content is
 * never read (bytes, hashes, before-images, copies) nor changed in place (`FS_HARD_LINK`,
 * `requireSingleLink` in fs-io.ts), checked with `fstat` on the descriptor actually used.
 * Replacing such a file (`write_file`, `copy` over it) is refused too, consistently: its
 * before-image would copy the shared bytes and a rollback would restore them into the root.
 * Metadata-only calls (`exists`, `list_dir`) still report it, and `move`/`delete` refuse it
 * because their undo plans hash or keep its bytes. Directories cannot be hard-linked.
 *
 * Races (time of check vs time of use). A concurrent local process that can write inside a
 * root may swap a folder on a checked path for a symlink (to `../outside`) between the check
 * and the call. Defences, in the order a call meets them:
 * - The gate decided on canonical paths (`touches`); `execute` resolves again and refuses a
 *   path that now resolves elsewhere (`FS_PATH_CHANGED`, `resolveAuthorized` in fs-plan.ts).
 *   A component that changes between this walk's `lstat` and `readlink` is `FS_PATH_CHANGED`.
 * - READING: the final component is opened with `O_NOFOLLOW` (a symlink swapped in fails with
 *   `ELOOP`), and the descriptor's real path, read from `/proc/self/fd/<fd>`, must be the
 *   checked path (`checkOpened`) before a byte is used: a file reached through a swapped
 *   folder is refused, outside the roots as a `SandboxError`.
 * - CREATING, RENAMING, LINKING, REMOVING (new files, temp files, folders, symlinks, moves,
 *   deletes, undo): done through a descriptor of the directory holding the name (`DirFd`,
 *   fs-dirfd.ts), opened with `O_NOFOLLOW | O_DIRECTORY` and checked like a read; the name is
 *   reached as `/proc/self/fd/<fd>/<name>`, which the kernel resolves from the open directory,
 *   not from its path. This gives the `*at()` semantics Node.js lacks (no `openat2`,
 *   `mkdirat`, `renameat`): a folder swapped for a symlink after the check cannot redirect
 *   the call, so nothing is created, replaced or removed outside a root through a swap.
 *   Recursive removal walks by descriptors too, never following a subfolder swapped for a
 *   symlink mid-walk. Where a call creates something, it then re-reads the directory's real
 *   path from its descriptor and, if the directory has left every root, removes what it
 *   created and fails (`SandboxError`, `DirFd.ensureInside`).
 *
 * What remains (residual risk, precisely):
 * 1. A directory MOVED (renamed, not swapped) out of every root by a process that can write
 *    both inside the root and at the destination, after Airun checked it and after the
 *    call's last look at the descriptor: what the call made in it is then outside. This
 *    cannot be told apart from moving the finished file out afterwards, which such a process
 *    can always do; Airun itself never creates outside a root.
 * 2. Read-only path checks (`lstat` of missing parents, `readdir` in drift and tree scans,
 *    `recheck` before an undo) can observe a folder swapped meanwhile; they change nothing,
 *    may fail a call or an undo (`FS_NOT_DIR`, `UNDO_DRIFT`, a `SandboxError`: the run then
 *    ends `FAILED` for a person to look at), and every byte read still goes through a
 *    checked descriptor. Rolling back a run whose folders are being flipped may therefore
 *    fail; it never acts outside.
 * 3. Without `/proc/self/fd` (not Linux, or `/proc` unmounted) descriptors cannot be checked
 *    and names cannot be reached through them: the checks are skipped and creating calls use
 *    plain paths below the checked directory, so a swap of an intermediate folder in the
 *    microseconds between check and call can still redirect them. Run Airun on Linux with
 *    `/proc` mounted where local processes other than Airun can write inside a root.
 * 4. Hard links are refused for content (above); a hard link created AFTER the `fstat` on
 *    the descriptor does not change which inode the call reads or writes.
 *
 * Cost (this runs on every file step): the component walk and the descriptor check use
 * SYNCHRONOUS `lstat`/`readlink`. On a local filesystem these read the dentry/inode cache and
 * take a few microseconds, while each `fs.promises` call is a libuv threadpool round trip of
 * 50-150 µs under load; the walk is bounded (components + `MAX_SYMLINK_HOPS`), so the event
 * loop is never held for long. (On a network filesystem each call is a server round trip
 * either way; roots are expected to be local.) Only `lstat` is used per component, and
 * `readlink` only where `lstat` reports a symlink, so no call fails with `EINVAL`.
 */

import type { Stats } from "node:fs";
import { constants, lstatSync, readlinkSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { realpath, stat } from "node:fs/promises";
import path from "node:path";
import { isWithin } from "../../core/path-within.js";

export { isWithin };

import { CapabilityError, DriftError, SandboxError } from "../../core/errors.js";
import { errnoOf, toFsError } from "./fs-errors.js";

/** Symlinks expanded while resolving one path before giving up (Linux's MAXSYMLINKS). */
export const MAX_SYMLINK_HOPS = 40;

/** `O_NOFOLLOW`, or 0 where the platform lacks it. */
export const O_NOFOLLOW: number = constants.O_NOFOLLOW ?? 0;

/** A user path resolved inside the sandbox. */
export interface ResolvedPath {
  /** Canonical absolute path; every existing component is a real directory inside `root`. */
  readonly path: string;
  /** The canonical root that contains `path`. */
  readonly root: string;
  /** Whether the final component existed when the path was resolved. */
  readonly exists: boolean;
}

/** A resolved path with the `lstat` the walk took of it (`FsSandbox.resolveWithStats`). */
export interface ResolvedTarget extends ResolvedPath {
  /**
   * `lstat` of `path` taken while resolving (null when absent), so a caller need not stat it
   * again. A CHECK only, as racy as any path check: data is always read or replaced through
   * `O_NOFOLLOW` descriptors verified with `verifyOpened`.
   */
  readonly stats: Stats | null;
}

/** How to treat a symlink in the final component. */
export interface ResolveOptions {
  /**
   * Follow a final symlink (true, the default: read/write the file it points to) or stop at
   * the link itself (false: delete or move the link, never what it points to).
   */
  readonly followFinal?: boolean;
}

/** Synchronous `lstat` (see the module comment on cost); null when `p` does not exist. */
export function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p, { throwIfNoEntry: false }) ?? null;
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === "ENOENT" || errno === "ENOTDIR") return null;
    throw toFsError(err, { path: p });
  }
}

/**
 * `readlink` of a component the walk just saw as a symlink. When it is no longer one (`EINVAL`)
 * or no longer there (`ENOENT`), it was swapped between the `lstat` and this call: a path
 * component changed while it was checked (`FS_PATH_CHANGED`, retryable), never a raw error.
 */
function readLinkOf(link: string, userPath: string): string {
  try {
    return readlinkSync(link);
  } catch (err) {
    const errno = errnoOf(err);
    if (errno === "EINVAL" || errno === "ENOENT" || errno === "ENOTDIR") {
      throw new CapabilityError(
        "FS_PATH_CHANGED",
        `${link} changed while "${userPath}" was being resolved`,
        { retryable: true, context: { path: userPath, link }, cause: err },
      );
    }
    throw toFsError(err, { path: userPath });
  }
}

interface RootAlias {
  /** A spelling of the root a user path may start with (as configured, or canonical). */
  readonly alias: string;
  /** The canonical root it stands for. */
  readonly root: string;
}

/**
 * The set of canonical roots capability calls may touch. Immutable once created; capabilities
 * share one per sandbox configuration (`sandboxFor`).
 */
export class FsSandbox {
  /** Canonical roots, in configured order (the first one anchors relative paths). */
  readonly roots: readonly string[];
  private readonly aliases: readonly RootAlias[];

  private constructor(roots: readonly string[], aliases: readonly RootAlias[]) {
    this.roots = roots;
    this.aliases = aliases;
  }

  /**
   * Canonicalizes the configured roots. A root that does not exist or is not a directory is
   * a configuration error (`FS_ROOT_MISSING`); no roots at all refuses everything.
   *
   * @example const sb = await FsSandbox.create(ctx.sandbox.fsRoots);
   */
  static async create(fsRoots: readonly string[]): Promise<FsSandbox> {
    if (fsRoots.length === 0) throw new SandboxError("no filesystem roots are configured");
    const roots: string[] = [];
    const aliases: RootAlias[] = [];
    for (const configured of fsRoots) {
      if (!path.isAbsolute(configured)) {
        throw new SandboxError(`filesystem root "${configured}" is not an absolute path`);
      }
      let real: string;
      try {
        real = await realpath(configured);
        if (!(await stat(real)).isDirectory()) throw new Error("not a directory");
      } catch (err) {
        throw new CapabilityError(
          "FS_ROOT_MISSING",
          `filesystem root ${configured} is not an existing directory`,
          { context: { root: configured }, cause: err },
        );
      }
      roots.push(real);
      aliases.push({ alias: path.resolve(configured), root: real }, { alias: real, root: real });
    }
    return new FsSandbox(roots, aliases);
  }

  /** True when `p` (canonical, absolute) lies inside one of the roots. */
  contains(p: string): boolean {
    return this.roots.some((r) => isWithin(r, p));
  }

  /** True when `p` is exactly one of the roots (which no capability may delete or move). */
  isRoot(p: string): boolean {
    return this.roots.includes(p);
  }

  /** Maps a lexically normalized absolute path to its canonical root and the parts below it. */
  private locate(abs: string): { root: string; parts: string[] } | undefined {
    let best: RootAlias | undefined;
    for (const a of this.aliases) {
      if (isWithin(a.alias, abs) && (!best || a.alias.length > best.alias.length)) best = a;
    }
    if (!best) return undefined;
    const rel = path.relative(best.alias, abs);
    return { root: best.root, parts: rel === "" ? [] : rel.split(path.sep) };
  }

  /**
   * Resolves a user path to a canonical path inside the sandbox (see the module comment).
   * Throws `SandboxError` for anything that is, or leads, outside every root.
   */
  async resolve(userPath: string, options: ResolveOptions = {}): Promise<ResolvedPath> {
    const { path: p, root, exists } = await this.resolveWithStats(userPath, options);
    return { path: p, root, exists };
  }

  /** `resolve`, also returning the `lstat` of the result that the walk took anyway. */
  async resolveWithStats(userPath: string, options: ResolveOptions = {}): Promise<ResolvedTarget> {
    if (userPath.length === 0) throw new SandboxError("empty path", { path: userPath });
    if (userPath.includes("\0")) throw new SandboxError("path contains a NUL byte");
    const firstRoot = this.roots[0];
    if (firstRoot === undefined) throw new SandboxError("no filesystem roots are configured");
    const abs = path.isAbsolute(userPath)
      ? path.resolve(userPath)
      : path.resolve(firstRoot, userPath);
    const start = this.locate(abs);
    if (!start) {
      throw new SandboxError(`path "${userPath}" is outside the sandbox roots`, { path: userPath });
    }
    const followFinal = options.followFinal ?? true;
    const queue = [...start.parts];
    let current = start.root;
    let exists = true;
    let hops = 0;
    // The lstat result for `statsOf`, kept so the final component is not stat'ed twice.
    let stats: Stats | null = null;
    let statsOf: string | undefined;
    while (queue.length > 0) {
      const name = queue.shift() as string;
      if (name === "" || name === ".") continue;
      if (name === "..") {
        const parent = path.dirname(current);
        if (!this.contains(parent)) {
          throw new SandboxError(`path "${userPath}" leads outside the sandbox roots`, {
            path: userPath,
          });
        }
        current = parent;
        stats = lstatOrNull(current);
        statsOf = current;
        exists = stats !== null;
        continue;
      }
      const next = path.join(current, name);
      const st = lstatOrNull(next);
      if (st === null) {
        current = next;
        exists = false;
        stats = null;
        statsOf = next;
        continue;
      }
      const isLast = queue.every((part) => part === "" || part === ".");
      if (st.isSymbolicLink() && (followFinal || !isLast)) {
        hops += 1;
        if (hops > MAX_SYMLINK_HOPS) {
          throw new CapabilityError(
            "FS_SYMLINK_LOOP",
            `too many symlinks resolving "${userPath}"`,
            {
              context: { path: userPath },
            },
          );
        }
        const target = readLinkOf(next, userPath);
        if (path.isAbsolute(target)) {
          const located = this.locate(path.resolve(target));
          if (!located) {
            throw new SandboxError(
              `symlink ${next} points outside the sandbox roots (to ${target})`,
              { path: userPath, link: next, target },
            );
          }
          current = located.root;
          queue.unshift(...located.parts);
        } else {
          queue.unshift(...target.split(path.sep));
        }
        continue;
      }
      current = next;
      exists = true;
      stats = st;
      statsOf = next;
    }
    if (!this.contains(current)) {
      throw new SandboxError(`path "${userPath}" resolves outside the sandbox roots`, {
        path: userPath,
      });
    }
    // Only a root reached directly (the path is a root, or a link to one) has no stats yet.
    if (statsOf !== current) stats = exists ? lstatOrNull(current) : null;
    return { path: current, root: this.rootOf(current), exists, stats };
  }

  /** The longest canonical root containing `p`. */
  private rootOf(p: string): string {
    let best = "";
    for (const r of this.roots) if (isWithin(r, p) && r.length > best.length) best = r;
    return best;
  }

  /**
   * Re-resolves a canonical path recorded in an undo plan and checks it still resolves to
   * itself (no component was replaced by a symlink since). The final component is not
   * followed. Throws `SandboxError` when it now leads outside, `DriftError` when it leads
   * somewhere else inside (forcing does not override this: the target is not the same path).
   */
  async recheck(recorded: string): Promise<ResolvedPath> {
    const resolved = await this.resolve(recorded, { followFinal: false });
    if (resolved.path !== recorded) {
      throw new DriftError(
        `${recorded} now resolves to ${resolved.path}: a directory on the way was replaced`,
        { path: recorded, resolved: resolved.path },
      );
    }
    return resolved;
  }

  /**
   * Verifies that an opened descriptor really is the file at `expected` (Linux: through
   * `/proc/self/fd`). Skipped silently where `/proc` is unavailable. Rejects like
   * `checkOpened` throws.
   */
  async verifyOpened(handle: FileHandle | number, expected: string): Promise<void> {
    this.checkOpened(typeof handle === "number" ? handle : handle.fd, expected);
  }

  /**
   * `verifyOpened` for a raw descriptor, synchronously: reading a `/proc/self/fd` link is a
   * microsecond kernel call, far cheaper than a threadpool hop.
   */
  checkOpened(fd: number, expected: string): void {
    let actual: string;
    try {
      actual = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return;
    }
    if (actual === expected) return;
    if (!this.contains(actual)) {
      throw new SandboxError(`opening ${expected} reached ${actual}, outside the sandbox roots`, {
        path: expected,
        actual,
      });
    }
    throw new CapabilityError(
      "FS_PATH_CHANGED",
      `opening ${expected} reached ${actual}: the path changed while it was opened`,
      { retryable: true, context: { path: expected, actual } },
    );
  }
}
