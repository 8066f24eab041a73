/**
 * @module What every command of the CLI shares: the common flags, opening a Runtime for the
 * length of one command, and parsing `--input` values. Command groups live in their own files
 * and register themselves on the program built in main.ts.
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { AirunError } from "../core/errors.js";
import { requirePrincipal } from "../core/principal.js";
import { Runtime, type RuntimeOptions } from "../engine/runtime/runtime.js";
import { progressPrinter } from "./output.js";

/** Options every command accepts. */
export interface CommonOptions {
  readonly home?: string;
  readonly config?: string;
  readonly json?: boolean;
  readonly as?: string;
}

/** Adds the common flags (`--home`, `--config`, `--json`) to a command. */
export function common(cmd: Command): Command {
  return cmd
    .option("--home <dir>", "state directory (default: ./.airun, or AIRUN_HOME)")
    .option("--config <file>", "config file (default: ./airun.yaml when present)")
    .option("--json", "print one JSON object instead of human output");
}

/** Opens a Runtime for one command (with live progress when asked), closing it afterwards. */
export async function withRuntime<T>(
  opts: CommonOptions,
  fn: (rt: Runtime) => Promise<T>,
  live = false,
): Promise<T> {
  const options: RuntimeOptions = {
    ...(opts.home ? { home: opts.home } : {}),
    ...(opts.config ? { configFile: opts.config } : {}),
    ...(live && !opts.json ? { onProgress: progressPrinter(process.stdout) } : {}),
    onWarning: (message) => process.stderr.write(`airun: warning: ${message}\n`),
    // One command per process: the policy is read only if the command decides something.
    loadPolicy: "when-needed",
  };
  const rt = await Runtime.open(options);
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

/**
 * The `--as` principal checked against the one grammar (`core/principal.ts`): a usage error
 * naming `--as` otherwise, before anything is opened. `fallback` when the flag is absent.
 */
export function asPrincipal(opts: CommonOptions, fallback?: string): string | undefined {
  return opts.as === undefined ? fallback : requirePrincipal(opts.as, "--as");
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Input values from `--inputs FILE.json` and repeated `--input key=value`. */
export async function parseInputs(
  pairs: string[] = [],
  file?: string,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  if (file) {
    const parsed = JSON.parse(await readFile(file, "utf8")) as unknown;
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new AirunError("USAGE", `${file}: --inputs must hold a JSON object`);
    }
    Object.assign(out, parsed);
  }
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new AirunError("USAGE", `--input expects key=value, got "${pair}"`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}
