/**
 * Runs the BUILT, bundled `airun` binary (package.json `bin`) as a user would, in a given folder.
 */
import { type ChildProcess, spawn } from "node:child_process";
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
  const started = startAirun(args, opts);
  const timer =
    opts.killAfterMs === undefined
      ? undefined
      : setTimeout(() => started.child.kill("SIGKILL"), opts.killAfterMs);
  return started.result.finally(() => clearTimeout(timer));
}

/** A running `airun` (or `node script`) process: kill it through `child`. */
export interface Started {
  readonly child: ChildProcess;
  readonly result: Promise<CliResult>;
}

/**
 * Starts `airun ...args` (or, with `script`, `node script ...args`) in `cwd` and returns at
 * once: for tests that kill processes at moments of their own choosing.
 */
export function startAirun(
  args: readonly string[],
  opts: { cwd: string; env?: Record<string, string>; bin?: string; script?: string },
): Started {
  const child = spawn(process.execPath, [opts.script ?? opts.bin ?? AIRUN_BIN, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const result = new Promise<CliResult>((resolvePromise, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
  return { child, result };
}
