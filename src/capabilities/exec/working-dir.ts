/**
 * @module Where `sys.exec.run` runs: inside the first sandbox root, checked on real paths by
 * whole path components (so `../ws_evil` never passes for root `ws`, and symlinks cannot escape).
 */
import { realpath, stat } from "node:fs/promises";
import { relative, resolve, sep } from "node:path";
import type { CapabilityContext, TouchedPath } from "../../core/capability.js";
import { CapabilityError, SandboxError } from "../../core/errors.js";
import { isWithin } from "../../core/path-within.js";

/**
 * Resolves the working directory of a command: `cwd` relative to the first root (or the root
 * itself when omitted), canonicalized, and required to be an existing directory inside that root.
 * Throws `SandboxError` otherwise.
 */
export async function resolveWorkingDir(
  cwd: string | undefined,
  fsRoots: readonly string[],
): Promise<string> {
  const root = fsRoots[0];
  if (root === undefined) {
    throw new SandboxError("sys.exec.run needs a sandbox fs root to run in", {
      capability: "sys.exec.run",
    });
  }
  const realRoot = await realpath(root);
  const wanted = resolve(realRoot, cwd ?? ".");
  let real: string;
  try {
    real = await realpath(wanted);
  } catch {
    throw new SandboxError(`working directory "${cwd}" does not exist`, {
      capability: "sys.exec.run",
      cwd: wanted,
    });
  }
  if (!isWithin(realRoot, real)) {
    throw new SandboxError(`working directory "${cwd}" is outside the sandbox root ${realRoot}`, {
      capability: "sys.exec.run",
      cwd: real,
      root: realRoot,
    });
  }
  if (!(await stat(real)).isDirectory()) {
    throw new SandboxError(`working directory "${cwd}" is not a directory`, {
      capability: "sys.exec.run",
      cwd: real,
    });
  }
  return real;
}

/**
 * `touches` of `sys.exec.run`: a given `cwd`, canonical (symlinks followed, inside the first
 * root), as the policy's path conditions and the context hash see it, so `cwd: alias` or an
 * absolute spelling of a denied folder is denied like the folder. Without `cwd` it names
 * nothing (the command runs in the root).
 */
export async function workingDirTouched(
  input: { readonly cwd?: string | undefined },
  ctx: CapabilityContext,
): Promise<TouchedPath[]> {
  if (input.cwd === undefined) return [];
  const path = await resolveWorkingDir(input.cwd, ctx.sandbox.fsRoots);
  const root = await realpath(ctx.sandbox.fsRoots[0] as string);
  return [{ field: "cwd", path, relative: relative(root, path).split(sep).join("/") || "." }];
}

/**
 * The working directory `execute` runs in, held to what the gate authorized: a `cwd` that now
 * resolves elsewhere (a folder on the way swapped for a symlink after the decision) is refused
 * with `FS_PATH_CHANGED` before the command starts.
 */
export async function authorizedWorkingDir(
  cwd: string | undefined,
  ctx: CapabilityContext,
): Promise<string> {
  const real = await resolveWorkingDir(cwd, ctx.sandbox.fsRoots);
  const authorized = ctx.paths?.cwd;
  if (authorized !== undefined && authorized !== real) {
    throw new CapabilityError(
      "FS_PATH_CHANGED",
      `input "cwd" was authorized as ${authorized} but now resolves to ${real}: a path component changed after the decision; refusing`,
      { context: { field: "cwd", path: cwd ?? ".", authorized, actual: real } },
    );
  }
  return real;
}
