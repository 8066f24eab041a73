/**
 * @module Directories a step creates: find which ancestors are missing, create them one by
 * one (recording exactly which ones this call made), and undo that by removing only those,
 * deepest first, and only while they hold nothing else.
 */
import { lstatSync, type Stats } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import type { CapabilityContext } from "../../core/capability.js";
import { CapabilityError, DriftError, SandboxError } from "../../core/errors.js";
import { DirFd, withDir } from "./fs-dirfd.js";
import { errnoOf } from "./fs-errors.js";
import { removeNode } from "./fs-state.js";
import type { FsSandbox } from "./sandbox.js";

/**
 * `lstat`, null when `p` does not exist. Synchronous: a microsecond metadata call on a local
 * filesystem, against a threadpool hop for the async form (see sandbox.ts).
 */
function lstatOrNull(p: string): Stats | null {
  return lstatSync(p, { throwIfNoEntry: false }) ?? null;
}

/**
 * The directories that would have to be created for `dir` to exist, shallowest first
 * (empty when it exists). An existing ancestor that is not a directory is `FS_NOT_DIR`.
 */
export async function missingDirs(sb: FsSandbox, dir: string): Promise<string[]> {
  const missing: string[] = [];
  let current = dir;
  for (;;) {
    const st = lstatOrNull(current);
    if (st) {
      if (!st.isDirectory()) {
        throw new CapabilityError("FS_NOT_DIR", `${current} exists and is not a directory`, {
          context: { path: current },
        });
      }
      return missing.reverse();
    }
    missing.push(current);
    const parent = path.dirname(current);
    if (parent === current || !sb.contains(parent)) {
      throw new SandboxError(`no existing directory inside the sandbox above ${dir}`);
    }
    current = parent;
  }
}

/**
 * Creates `dirs` (shallowest first, as `missingDirs` returns them: each the parent of the
 * next) one at a time and returns those this call created. A directory that appeared
 * meanwhile is kept and not claimed; one that is not a directory is `FS_NOT_DIR`.
 *
 * Each is created through the descriptor of its parent and then opened (never following a
 * symlink) to become the next parent (`DirFd`), starting from the existing ancestor checked
 * against the sandbox: a folder swapped for a symlink meanwhile cannot redirect a `mkdir`
 * outside the root. When the chain has been MOVED out of the roots by the time the last one
 * exists, what this call created is removed again and the call fails (`SandboxError`).
 */
export async function createDirs(sb: FsSandbox, dirs: readonly string[]): Promise<string[]> {
  const first = dirs[0];
  if (first === undefined) return [];
  const chain: DirFd[] = [DirFd.open(sb, path.dirname(first))];
  const created: string[] = [];
  try {
    for (const dir of dirs) {
      const parent = chain.at(-1) as DirFd;
      const name = path.basename(dir);
      let made = true;
      try {
        parent.mkdir(name);
      } catch (err) {
        if (errnoOf(err) !== "EEXIST") throw err;
        made = false;
      }
      let child: DirFd;
      try {
        child = parent.openDir(name);
      } catch (err) {
        if (errnoOf(err) !== "ENOTDIR" && errnoOf(err) !== "ELOOP") throw err;
        throw new CapabilityError("FS_NOT_DIR", `${dir} exists and is not a directory`, {
          context: { path: dir },
        });
      }
      chain.push(child);
      if (made) created.push(dir);
    }
    // Remove what this call created, deepest first, each only while empty.
    const undo = () => {
      for (let i = chain.length - 1; i >= 1; i--) {
        const dir = dirs[i - 1] as string;
        if (created.includes(dir)) (chain[i - 1] as DirFd).rmdir(path.basename(dir));
      }
    };
    await (chain.at(-1) as DirFd).ensureInside(sb, undo);
  } finally {
    for (const d of chain) d.close();
  }
  return created;
}

/**
 * Checks, before anything is removed, that each created directory holds nothing but the
 * next created one (or `leaf`, for the deepest). Returns the first one that does not.
 */
export async function findForeignContent(
  created: readonly string[],
  leaf: string | null,
): Promise<string | null> {
  for (let i = created.length - 1; i >= 0; i--) {
    const dir = created[i] as string;
    const st = lstatOrNull(dir);
    if (!st) continue;
    if (!st.isDirectory()) return dir;
    const next = i === created.length - 1 ? leaf : (created[i + 1] ?? null);
    const allowed = next !== null && path.dirname(next) === dir ? path.basename(next) : null;
    const names = await readdir(dir);
    if (names.some((n) => n !== allowed)) return dir;
  }
  return null;
}

/**
 * Removes the created directories deepest first. Absent ones are skipped (a second revert
 * is a no-op). A non-empty one is `DriftError` unless `force`, which removes it with its
 * content. Each is removed through the descriptor of its parent (`DirFd`).
 */
export async function removeCreatedDirs(
  sb: FsSandbox,
  created: readonly string[],
  force: boolean,
  ctx: CapabilityContext,
  capability: string,
): Promise<void> {
  for (let i = created.length - 1; i >= 0; i--) {
    const dir = created[i] as string;
    const st = lstatOrNull(dir);
    if (!st) continue;
    const name = path.basename(dir);
    if (force) {
      await removeNode(sb, dir);
      continue;
    }
    if (!st.isDirectory()) throw notOurs(dir, "is no longer a directory", ctx, capability);
    try {
      await withDir(sb, path.dirname(dir), (parent) => parent.rmdir(name));
    } catch (err) {
      if (errnoOf(err) === "ENOTEMPTY" || errnoOf(err) === "EEXIST") {
        throw notOurs(dir, "is no longer empty", ctx, capability);
      }
      if (errnoOf(err) === "ENOENT") continue;
      throw err;
    }
  }
}

function notOurs(dir: string, why: string, ctx: CapabilityContext, capability: string): DriftError {
  return new DriftError(
    `${dir}, created by ${capability}, ${why}; not removing (force to override)`,
    {
      capability,
      path: dir,
      runId: ctx.runId,
      stepId: ctx.stepId,
    },
  );
}

/** Builds the drift error for a directory `findForeignContent` reported. */
export function foreignContentError(
  dir: string,
  ctx: CapabilityContext,
  capability: string,
): DriftError {
  return notOurs(dir, "now holds other content", ctx, capability);
}

/** The parent directories still missing for `target`, refused unless `createDirs`. */
export async function parentsToCreate(
  sb: FsSandbox,
  target: string,
  createDirsAllowed: boolean,
): Promise<string[]> {
  const missing = await missingDirs(sb, path.dirname(target));
  if (missing.length > 0 && !createDirsAllowed) {
    throw new CapabilityError("FS_NOT_FOUND", `directory ${path.dirname(target)} does not exist`, {
      context: { path: target },
    });
  }
  return missing;
}
