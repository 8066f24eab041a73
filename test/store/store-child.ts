/**
 * @module A second process on a store's database: a tiny Node script that imports the BUILT store
 * (`dist/store/…`, so run `npm run build` first), run as a real child process. It says `ready`
 * on a line of its own once it opened its store, and may be killed.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** The URL of a module of the built store, for a script's `import`. */
export function distStoreModule(path: string): string {
  return pathToFileURL(resolve("dist/store", path)).href;
}

/** How a child process ended. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running child script. */
export interface StoreChild {
  /** Settles once the script printed `ready` (rejects if it ended before). */
  readonly ready: Promise<void>;
  /** Settles once the process ended. */
  readonly exited: Promise<ChildExit>;
}

let scripts = 0;

/**
 * Writes `source` (an ES module) into `dir` and runs it with `args` (its `process.argv.slice(2)`)
 * and extra environment variables.
 */
export function spawnStoreScript(
  dir: string,
  source: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): StoreChild {
  scripts += 1;
  const file = join(dir, `child-${scripts}.mjs`);
  writeFileSync(file, source);
  const child = spawn(process.execPath, [file, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolveReady, rejectReady) => {
    onReady = resolveReady;
    child.on("close", () => rejectReady(new Error(`child ended before it was ready:\n${stderr}`)));
  });
  ready.catch(() => {}); // a script that never says ready is not an error until awaited
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    if (/^ready$/m.test(stdout)) onReady();
  });
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<ChildExit>((resolveExit, rejectExit) => {
    child.on("error", rejectExit);
    child.on("close", (code, signal) => resolveExit({ code, signal, stdout, stderr }));
  });
  return { ready, exited };
}
