/**
 * @module What every command of the CLI shares: the common flags, opening a Runtime for the
 * length of one command, and parsing `--input` values. Command groups live in their own files
 * and register themselves on the program built in main.ts.
 */
import { readFile, stat } from "node:fs/promises";
import type { Command } from "commander";
import type { AirunConfig } from "../core/config.js";
import { AirunError, type Problem, ValidationError } from "../core/errors.js";
import { FORBIDDEN_KEYS, forbiddenKeyMessage, LIMIT_KEYS, type Limits } from "../core/limits.js";
import { requirePrincipal } from "../core/principal.js";
import { decodeUtf8 } from "../core/utf8.js";
import type { Runtime, RuntimeOptions, RuntimeParts } from "../engine/runtime/runtime.js";
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
    .option("--json", "print one JSON object on stdout (an error object on failure)");
}

/**
 * What every command of one invocation shares: the runtime parts the caller injects. The
 * shipped binary injects nothing; a test harness injects store commit hooks (crash tests).
 */
export interface CliContext {
  readonly parts: RuntimeParts;
}

/** How a command uses its runtime. */
export interface CommandMode {
  /** Print live progress lines (not with `--json`). */
  readonly live?: boolean;
  /** The command only reads: a home that does not exist yet is not created (see `Runtime.open`). */
  readonly readOnly?: boolean;
  /** Worker duties for a long-lived command (`airun serve`: a recovery sweep on a timer). */
  readonly worker?: RuntimeOptions["worker"];
}

/** Opens a Runtime for one command (with live progress when asked), closing it afterwards. */
export async function withRuntime<T>(
  cli: CliContext,
  opts: CommonOptions,
  fn: (rt: Runtime) => Promise<T>,
  mode: CommandMode = {},
): Promise<T> {
  const options: RuntimeOptions = {
    ...cli.parts,
    ...(mode.worker ? { worker: mode.worker } : {}),
    ...(opts.home ? { home: opts.home } : {}),
    ...(opts.config ? { configFile: opts.config } : {}),
    ...(mode.live && !opts.json ? { onProgress: progressPrinter(process.stdout) } : {}),
    ...(mode.readOnly ? { readOnly: true } : {}),
    onWarning: warn,
    // One command per process: the policy is read only if the command decides something.
    loadPolicy: "when-needed",
  };
  // Imported here, not at the top: a command that opens no runtime (`--help`, `init`, `ledger
  // verify-pack`) does not evaluate the engine, the capabilities and the store at start.
  const [{ Runtime }, { startTelemetry }] = await Promise.all([
    import("../engine/runtime/runtime.js"),
    import("./telemetry.js"),
  ]);
  const rt = await Runtime.open(options);
  let stopTelemetry: (() => Promise<void>) | undefined;
  try {
    stopTelemetry = startTelemetry(rt.config.telemetry, process.env, warn);
    return await fn(rt);
  } finally {
    await rt.close();
    await stopTelemetry?.();
  }
}

/** A warning for the person at the terminal, on stderr. */
function warn(message: string): void {
  process.stderr.write(`airun: warning: ${message}\n`);
}

/** `withRuntime` for a command that only reads: a home not created yet stays uncreated. */
export function readingRuntime<T>(
  cli: CliContext,
  opts: CommonOptions,
  fn: (rt: Runtime) => Promise<T>,
): Promise<T> {
  return withRuntime(cli, opts, fn, { readOnly: true });
}

/**
 * The `--as` principal checked against the one grammar (`core/principal.ts`): a usage error
 * naming `--as` otherwise, before anything is opened. `fallback` when the flag is absent.
 */
export function asPrincipal(opts: CommonOptions, fallback?: string): string | undefined {
  return opts.as === undefined ? fallback : requirePrincipal(opts.as, "--as");
}

/**
 * Who acts when a command decides or steers: `--as`, else `AIRUN_PRINCIPAL`, else the config's
 * `principal:`; undefined when none is given. When it is not `--as`, a line on stderr says who
 * and from where (`doing` names the act: "deciding").
 */
export function actingPrincipal(
  opts: CommonOptions,
  config: AirunConfig,
  doing: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  if (opts.as !== undefined) return requirePrincipal(opts.as, "--as");
  let acting: { principal: string; from: string } | undefined;
  if (env.AIRUN_PRINCIPAL) {
    acting = {
      principal: requirePrincipal(env.AIRUN_PRINCIPAL, "AIRUN_PRINCIPAL"),
      from: "AIRUN_PRINCIPAL",
    };
  } else if (config.principal !== null) {
    acting = { principal: config.principal, from: `principal in ${config.file}` };
  }
  if (acting)
    process.stderr.write(`airun: ${doing} as ${acting.principal} (from ${acting.from})\n`);
  return acting?.principal;
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Input values from `--inputs FILE.json` and repeated `--input key=value`, within `limits`: the
 * file is refused unread beyond `limits.input_bytes`, must be UTF-8 JSON (a syntax error is
 * located), nested at most `limits.input_depth`, without a key that could reach a prototype;
 * `--input` values together are held to the same size. The runtime checks the inputs again
 * once coerced to the declared types.
 */
export async function parseInputs(
  pairs: string[] = [],
  file: string | undefined,
  limits: Limits,
): Promise<Record<string, unknown>> {
  // Imported here, not at the top: json-input imports the YAML parser (through yaml-source).
  const { jsonValueProblems, parseJsonText, tooLargeProblem, utf8Length } = await import(
    "../core/json-input.js"
  );
  const out: Record<string, unknown> = {};
  if (file) {
    const invalid = (problems: Problem[]) => new ValidationError(problems);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (err) {
      throw new AirunError("USAGE", `--inputs ${file}: ${(err as Error).message}`, { file });
    }
    if (size > limits.inputBytes) {
      throw invalid([
        tooLargeProblem(file, "the inputs file", size, limits.inputBytes, LIMIT_KEYS.inputBytes),
      ]);
    }
    const parsed = parseJsonText(file, decodeUtf8(file, await readFile(file)));
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new AirunError("USAGE", `${file}: --inputs must hold a JSON object`);
    }
    const problems = jsonValueProblems(parsed, limits.inputDepth, "");
    if (problems.length > 0) {
      throw invalid(problems.map((p) => ({ file, line: 0, col: 0, ...p })));
    }
    for (const [k, v] of Object.entries(parsed)) out[k] = v;
  }
  let bytes = 0;
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new AirunError("USAGE", `--input expects key=value, got "${pair}"`);
    const key = pair.slice(0, eq);
    if (FORBIDDEN_KEYS.has(key)) {
      throw new AirunError("USAGE", `--input ${key}: ${forbiddenKeyMessage(key)}`);
    }
    bytes += utf8Length(pair);
    if (bytes > limits.inputBytes) {
      throw new AirunError(
        "USAGE",
        `--input values are more than ${limits.inputBytes} bytes (${LIMIT_KEYS.inputBytes})`,
      );
    }
    out[key] = pair.slice(eq + 1);
  }
  return out;
}
