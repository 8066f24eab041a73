/**
 * @module Decides whether `sys.exec.run` may start a binary, and which file it starts.
 *
 * A bare name (`git`) is looked up on the runtime's own `PATH` (never the step's `env.PATH`), an
 * absolute path is taken as is, and anything else (`./x`, `bin/x`) is refused. The located file
 * is then compared with every allowlist entry located the same way. Two files are the same
 * binary when their canonical locations (real directory + file name) are equal, or when their
 * real paths are equal AND their file names are equal. The second rule accepts a symlinked
 * install (`/usr/local/bin/node` → `/opt/node/bin/node`); requiring equal names keeps multi-call
 * binaries apart (busybox, coreutils built as one file: `rm` and `true` share a real path).
 */
import { constants } from "node:fs";
import { access, realpath, stat } from "node:fs/promises";
import { basename, delimiter, dirname, isAbsolute, join } from "node:path";
import { SandboxError } from "../../core/errors.js";

/** A binary located on disk. */
export interface LocatedBinary {
  /** The absolute path that is spawned (the PATH entry or the absolute path given). */
  readonly path: string;
  /** Real directory + file name: symlinked directories resolved, the file itself not. */
  readonly location: string;
  /** The fully resolved real path of the file. */
  readonly real: string;
}

async function isExecutableFile(p: string): Promise<boolean> {
  try {
    const s = await stat(p);
    if (!s.isFile()) return false;
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Locates `command` (a bare name looked up on `pathEnv`, or an absolute path) and returns where
 * it is, or `undefined` when it is not an executable file or is a relative path.
 */
export async function locateBinary(
  command: string,
  pathEnv: string,
): Promise<LocatedBinary | undefined> {
  let found: string | undefined;
  if (command.includes("/")) {
    if (isAbsolute(command) && (await isExecutableFile(command))) found = command;
  } else if (command !== "" && command !== "." && command !== "..") {
    for (const dir of pathEnv.split(delimiter)) {
      if (!dir || !isAbsolute(dir)) continue; // relative PATH entries depend on the cwd: skip
      const candidate = join(dir, command);
      if (await isExecutableFile(candidate)) {
        found = candidate;
        break;
      }
    }
  }
  if (found === undefined) return undefined;
  return {
    path: found,
    location: join(await realpath(dirname(found)), basename(found)),
    real: await realpath(found),
  };
}

/** True when two located binaries are the same program (see the module comment). */
export function sameBinary(a: LocatedBinary, b: LocatedBinary): boolean {
  if (a.location === b.location) return true;
  return a.real === b.real && basename(a.location) === basename(b.location);
}

/**
 * Locates `command` and checks it against `allowlist`. Returns the binary to spawn; throws
 * `SandboxError` when it cannot be found or no allowlist entry is the same binary.
 */
export async function resolveAllowedBinary(
  command: string,
  allowlist: readonly string[],
  pathEnv: string = process.env.PATH ?? "",
): Promise<LocatedBinary> {
  const located = await locateBinary(command, pathEnv);
  if (!located) {
    throw new SandboxError(
      `"${command}" is not an executable found on PATH (or an absolute path to one)`,
      { capability: "sys.exec.run", command },
    );
  }
  for (const entry of allowlist) {
    const allowed = await locateBinary(entry, pathEnv);
    if (allowed && sameBinary(located, allowed)) return located;
  }
  throw new SandboxError(`"${command}" (${located.location}) is not in sandbox.exec.allow`, {
    capability: "sys.exec.run",
    command,
    location: located.location,
  });
}
