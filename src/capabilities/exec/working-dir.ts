/**
 * @module Where `sys.exec.run` runs: inside the first sandbox root, checked on real paths by
 * whole path components (so `../ws_evil` never passes for root `ws`, and symlinks cannot escape).
 */
import { realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { SandboxError } from "../../core/errors.js";

/** True when real path `child` is `root` itself or lies under it, compared by whole components. */
export function isWithin(root: string, child: string): boolean {
  const rel = relative(root, child);
  if (rel === "") return true;
  return !isAbsolute(rel) && rel.split(sep)[0] !== "..";
}

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
