/**
 * @module What `--json` prints: one JSON object on stdout, whatever the command, in one style.
 * Keys are snake_case and times are ISO-8601 strings (a key `at` or ending in `_at` holding
 * epoch milliseconds is converted), as in a run's view; what a user or a capability wrote
 * (inputs, outputs, recorded event data, detail) is printed as it is. A failure is one error
 * object: `{"error": {"code", "message", "details", "hint"?, "problems"?}}`.
 */
import { AirunError, type Problem, ValidationError } from "../core/errors.js";
import { cliHint } from "./hints.js";

/** Keys whose values are data someone else wrote: printed unchanged. */
const OPAQUE: ReadonlySet<string> = new Set([
  "inputs",
  "outputs",
  "data",
  "detail",
  "reason_detail",
]);

/** `runId` → `run_id`; a key already snake_case is unchanged. */
export function snakeCase(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

/**
 * `value` in the CLI's JSON style: object keys in snake_case, epoch-millisecond times under
 * `at` / `*_at` as ISO strings, values of `OPAQUE` keys untouched.
 *
 * @example
 * jsonStyle({ runId: "r1", requested_at: 0 }); // { run_id: "r1", requested_at: "1970-01-01T00:00:00.000Z" }
 */
export function jsonStyle(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(jsonStyle);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const key = snakeCase(k);
    if (OPAQUE.has(key)) out[key] = v;
    else if ((key === "at" || key.endsWith("_at")) && typeof v === "number" && Number.isFinite(v))
      out[key] = new Date(v).toISOString();
    else out[key] = jsonStyle(v);
  }
  return out;
}

/** Prints `value` as the command's one JSON object (in the CLI's JSON style). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(jsonStyle(value), null, 2)}\n`);
}

/** The one error object of `--json`, for an Airun error or anything else (`INTERNAL`). */
export function errorJson(err: unknown): { error: Record<string, unknown> } {
  if (!(err instanceof AirunError)) {
    return {
      error: { code: "INTERNAL", message: (err as Error)?.message ?? String(err), details: {} },
    };
  }
  const hint = cliHint(err);
  return {
    error: {
      code: err.code,
      message: err instanceof ValidationError ? "validation failed" : err.message,
      details: jsonStyle(err.context),
      ...(hint ? { hint } : {}),
      ...(err instanceof ValidationError ? { problems: err.problems.map(problemJson) } : {}),
    },
  };
}

/** A usage error commander reported (unknown option or command, missing argument). */
export function usageErrorJson(message: string, commanderCode: string): { error: object } {
  return {
    error: {
      code: "USAGE",
      message: message.replace(/^error: /, ""),
      details: { commander_code: commanderCode },
      hint: "add --help for usage",
    },
  };
}

function problemJson(p: Problem): Record<string, unknown> {
  return { file: p.file, line: p.line, col: p.col, field: p.field, message: p.message };
}

/** True when the command line asks for JSON output (`--json` before any `--`). */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}
