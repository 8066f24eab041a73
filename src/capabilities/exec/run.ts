/**
 * @module `sys.exec.run`: starts an allowlisted binary with an argv array — never through a
 * shell — inside the sandbox root, and returns its exit code and output.
 *
 * The child runs in its own process group; when the call's signal aborts (step timeout, run
 * cancelled) the whole group is killed with SIGKILL and the call fails with `TIMEOUT`. When the
 * command exits, whatever it left running in its group is killed too: a command cannot leave a
 * background process behind (start daemons another way). The child does not inherit the
 * runtime's environment (which may hold API keys): it gets only `INHERITED_ENV` plus the step's
 * `env`.
 */
import { spawn } from "node:child_process";
import { z } from "zod";
import { defineCapability } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import { resolveAllowedBinary } from "./executable-allowlist.js";
import { authorizedWorkingDir, workingDirTouched } from "./working-dir.js";

/** Default cap on each of stdout and stderr, in bytes (1 MiB). */
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
const STDERR_TAIL_BYTES = 2048;

/** Variables of the runtime's environment a command inherits; everything else is dropped. */
export const INHERITED_ENV: readonly string[] = [
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "LANG",
  "LC_ALL",
  "LC_CTYPE",
  "TZ",
  "TMPDIR",
];

/** Input of `sys.exec.run`. */
export const execRunInput = z.object({
  /** The program and its arguments; `argv[0]` must be allowlisted. No shell is involved. */
  argv: z.array(z.string()).min(1),
  /** Working directory, relative to the first sandbox root (default: that root). */
  cwd: z.string().optional(),
  /** Extra environment variables (on top of `INHERITED_ENV`). */
  env: z.record(z.string(), z.string()).optional(),
  /** Text written to the command's standard input (otherwise stdin is /dev/null). */
  stdin: z.string().optional(),
  max_output_bytes: z
    .number()
    .int()
    .positive()
    .max(256 * 1024 * 1024)
    .default(DEFAULT_MAX_OUTPUT_BYTES),
});
/** Parsed input of `sys.exec.run`. */
export type ExecRunInput = z.output<typeof execRunInput>;

/** Output of `sys.exec.run` (only for exit code 0; other codes fail with `EXEC_EXIT`). */
export interface ExecRunOutput {
  readonly exit_code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `sys.exec.run`: HIGH risk, not idempotent, irreversible unless the step declares a compensation. */
export const execRun = defineCapability<ExecRunInput, ExecRunOutput>({
  name: "sys.exec.run",
  description:
    "Runs an allowlisted binary with an argv array (no shell) inside the sandbox root; " +
    "fails on a non-zero exit.",
  input: execRunInput,
  risk: "HIGH",
  effect: "exec",
  idempotent: false,
  undo: "irreversible",
  nondeterministic: true,
  sensitive: ["env", "stdin"],
  // The working directory is a touched path (checked before the gate); the binary is checked
  // before anyone is asked to approve.
  touches: workingDirTouched,
  async preflight(input, ctx) {
    await resolveAllowedBinary(input.argv[0] as string, ctx.sandbox.execAllow);
  },
  async execute(input, ctx) {
    const [command, ...args] = input.argv as [string, ...string[]];
    const binary = await resolveAllowedBinary(command, ctx.sandbox.execAllow);
    const cwd = await authorizedWorkingDir(input.cwd, ctx);
    if (ctx.signal.aborted) throw timeout(command, ctx.signal.reason);
    const env: Record<string, string> = {};
    for (const k of INHERITED_ENV) {
      const v = process.env[k];
      if (v !== undefined) env[k] = v;
    }
    Object.assign(env, input.env);
    const result = await runProcess(binary.path, command, args, {
      cwd,
      env,
      stdin: input.stdin,
      maxOutputBytes: input.max_output_bytes,
      signal: ctx.signal,
    });
    if (result.kind === "aborted") throw timeout(command, ctx.signal.reason);
    if (result.kind === "too_large") {
      throw new CapabilityError(
        "OUTPUT_TOO_LARGE",
        `${command} wrote more than ${input.max_output_bytes} bytes to ${result.stream}; it was killed`,
        {
          retryable: false,
          context: {
            capability: "sys.exec.run",
            stream: result.stream,
            max: input.max_output_bytes,
          },
        },
      );
    }
    const stdout = result.stdout.toString("utf8");
    const stderr = result.stderr.toString("utf8");
    if (result.code !== 0) {
      const tail = result.stderr.subarray(-STDERR_TAIL_BYTES).toString("utf8");
      const how = result.code === null ? `was killed by ${result.signal}` : `exited ${result.code}`;
      throw new CapabilityError("EXEC_EXIT", `${command} ${how}: ${tail.trim().slice(-300)}`, {
        retryable: false,
        context: {
          capability: "sys.exec.run",
          command,
          exit_code: result.code,
          signal: result.signal,
          stderr_tail: tail,
        },
      });
    }
    return { exit_code: 0, stdout, stderr };
  },
});

function timeout(command: string, cause: unknown): CapabilityError {
  return new CapabilityError(
    "TIMEOUT",
    `${command} was killed: the step timed out or was cancelled`,
    {
      retryable: true,
      context: { capability: "sys.exec.run", command },
      cause,
    },
  );
}

interface RunOptions {
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly stdin: string | undefined;
  readonly maxOutputBytes: number;
  readonly signal: AbortSignal;
}

type RunResult =
  | { kind: "exited"; code: number | null; signal: string | null; stdout: Buffer; stderr: Buffer }
  | { kind: "aborted" }
  | { kind: "too_large"; stream: "stdout" | "stderr" };

/** Spawns without a shell in a new process group and collects capped output. */
function runProcess(
  file: string,
  argv0: string,
  args: readonly string[],
  opts: RunOptions,
): Promise<RunResult> {
  return new Promise((resolvePromise, rejectPromise) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      argv0,
      shell: false,
      detached: true,
      windowsHide: true,
      stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let verdict: RunResult | undefined;
    let settled = false;

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    const onAbort = () => {
      verdict ??= { kind: "aborted" };
      killGroup();
    };
    opts.signal.addEventListener("abort", onAbort, { once: true });
    if (opts.signal.aborted) onAbort();

    child.stdout?.on("data", (chunk: Buffer) => {
      outBytes += chunk.byteLength;
      if (outBytes > opts.maxOutputBytes) {
        verdict ??= { kind: "too_large", stream: "stdout" };
        killGroup();
      } else out.push(chunk);
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      errBytes += chunk.byteLength;
      if (errBytes > opts.maxOutputBytes) {
        verdict ??= { kind: "too_large", stream: "stderr" };
        killGroup();
      } else err.push(chunk);
    });
    if (child.stdin) {
      // A command that exits without reading its input closes the pipe: not an error.
      child.stdin.on("error", () => undefined);
      child.stdin.end(opts.stdin);
    }

    child.on("error", (e: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener("abort", onAbort);
      killGroup();
      rejectPromise(
        new CapabilityError("EXEC_SPAWN_FAILED", `cannot start ${argv0}: ${e.message}`, {
          retryable: false,
          context: { capability: "sys.exec.run", command: argv0, errno: e.code ?? null },
          cause: e,
        }),
      );
    });
    // Processes the command left behind in its group do not outlive it (they would also hold
    // the output pipes open and stall the call until its timeout).
    child.on("exit", killGroup);
    child.on("close", (code, signal) => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener("abort", onAbort);
      resolvePromise(
        verdict ?? {
          kind: "exited",
          code,
          signal,
          stdout: Buffer.concat(out),
          stderr: Buffer.concat(err),
        },
      );
    });
  });
}
