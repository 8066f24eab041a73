/**
 * Runs the BUILT, bundled `airun` binary (package.json `bin`) as a user would, in a given folder.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";

/** Absolute path of the built CLI. */
export const AIRUN_BIN = resolve("dist/airun.mjs");

/**
 * Absolute path of the crash harness: the same CLI, bundled from the same sources with crash
 * hooks injected (`crash-bin.ts`; built by the test setup, never shipped).
 */
export const AIRUN_CRASH_BIN = resolve("dist-test/airun-crash.mjs");

/** What a finished CLI process left behind. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `airun ...args` in `cwd` with extra environment variables. */
export function airun(
  args: readonly string[],
  opts: { cwd: string; env?: Record<string, string>; killAfterMs?: number; bin?: string },
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [opts.bin ?? AIRUN_BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer =
      opts.killAfterMs === undefined
        ? undefined
        : setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}
