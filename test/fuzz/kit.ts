/**
 * @module The fuzz suite's harness (issue 13): every property runs through `fuzz()`, which
 * fixes the seed and the number of runs, bounds each case's time (a case over its budget is a
 * property failure, with the case that took too long as the counterexample) and records what
 * ran. The short run in `npm test` uses a fixed seed and a few hundred cases; `npm run fuzz`
 * (`scripts/fuzz.mjs`) sets the environment below for a long one and prints the totals.
 *
 * Environment:
 * - `AIRUN_FUZZ_SEED`: the seed (default 20261203, printed with every property).
 * - `AIRUN_FUZZ_SCALE`: multiplies every property's short count (`npm run fuzz`: 25).
 * - `AIRUN_FUZZ_RUNS`: cases per in-process property, whatever its short count.
 * - `AIRUN_FUZZ_CLI_RUNS`: cases per property that runs the built CLI.
 * - `AIRUN_FUZZ_CASE_MS`: the per-case budget in milliseconds (default 10000).
 * - `AIRUN_FUZZ_REPORT`: a file that gets one JSON line per property (runs, failed, ms, seed).
 *
 * A failure prints fast-check's report: the shrunk counterexample, and the `seed` and `path`
 * that replay it (`AIRUN_FUZZ_SEED=<seed> npm run fuzz`, or `fc.assert(..., { seed, path })`).
 */
import { appendFileSync } from "node:fs";
import fc from "fast-check";
import { isErrorCode } from "../../src/core/error-codes.js";
import { AirunError, type Problem, ValidationError } from "../../src/core/errors.js";

const env = process.env;
const int = (v: string | undefined): number | undefined =>
  v === undefined || v === "" ? undefined : Number.parseInt(v, 10);

/** The seed every property of this run uses. */
export const SEED = int(env.AIRUN_FUZZ_SEED) ?? 20261203;
const SCALE = env.AIRUN_FUZZ_SCALE ? Number.parseFloat(env.AIRUN_FUZZ_SCALE) : undefined;
const CORE_RUNS = int(env.AIRUN_FUZZ_RUNS);
const CLI_RUNS = int(env.AIRUN_FUZZ_CLI_RUNS);
/** The per-case time budget: generous, since two cores are shared by many processes. */
export const CASE_MS = int(env.AIRUN_FUZZ_CASE_MS) ?? 10_000;
const REPORT = env.AIRUN_FUZZ_REPORT;

/** Whether this is a long run (`npm run fuzz`): test timeouts grow with the case count. */
export const LONG = SCALE !== undefined || CORE_RUNS !== undefined || CLI_RUNS !== undefined;

/** Options of one fuzzed property. */
export interface FuzzOptions {
  /** Cases in the short (CI) run. */
  readonly runs: number;
  /** `cli`: the property spawns the built CLI (its long-run count is `AIRUN_FUZZ_CLI_RUNS`). */
  readonly kind?: "core" | "cli";
  /** This property's per-case budget in ms, when it needs more than `CASE_MS` (huge inputs). */
  readonly caseMs?: number;
}

/** How many cases a property runs in this run. */
export function runsOf(opts: FuzzOptions): number {
  const fixed = opts.kind === "cli" ? CLI_RUNS : CORE_RUNS;
  return fixed ?? Math.max(1, Math.round(opts.runs * (SCALE ?? 1)));
}

/**
 * A vitest timeout for a property: every case at its full budget, and a minute more. Only a
 * bound for a case that never returns; time itself is judged per case, by the budget.
 */
export function timeoutOf(opts: FuzzOptions): number {
  return 60_000 + runsOf(opts) * (opts.caseMs ?? CASE_MS);
}

/** Fails when one case took longer than its budget (measured, never a suite-wide clock). */
function overBudget(ms: number, budget: number): void {
  if (ms > budget) {
    throw new Error(
      `the case took ${Math.round(ms)} ms, over its budget of ${budget} ms (a hang?)`,
    );
  }
}

/**
 * Checks a property over `arb` with this run's seed and case count; each case's time counts
 * against the budget. Throws fast-check's report (counterexample, seed, path) on failure.
 */
export function fuzz<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  check: (value: T) => void,
  opts: FuzzOptions,
): void {
  const budget = opts.caseMs ?? CASE_MS;
  const property = fc.property(arb, (value) => {
    const t = performance.now();
    check(value);
    overBudget(performance.now() - t, budget);
  });
  const started = performance.now();
  const details = fc.check(property, settings(opts));
  report(name, opts, details, performance.now() - started);
}

/** `fuzz` for properties that wait on something (the built CLI). */
export async function fuzzAsync<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  check: (value: T) => Promise<void>,
  opts: FuzzOptions,
): Promise<void> {
  const budget = opts.caseMs ?? CASE_MS;
  const property = fc.asyncProperty(arb, async (value) => {
    const t = performance.now();
    await check(value);
    overBudget(performance.now() - t, budget);
  });
  const started = performance.now();
  const details = await fc.check(property, settings(opts));
  report(name, opts, details, performance.now() - started);
}

function settings(opts: FuzzOptions) {
  return { seed: SEED, numRuns: runsOf(opts), includeErrorInReport: true };
}

/** Prints (and, for `npm run fuzz`, records) what a property ran; throws its failure. */
function report<T>(name: string, opts: FuzzOptions, details: fc.RunDetails<T>, ms: number): void {
  const line = {
    property: name,
    kind: opts.kind ?? "core",
    runs: details.numRuns,
    failed: details.failed,
    ms: Math.round(ms),
    seed: details.seed,
  };
  console.log(
    `fuzz: ${name}: ${line.runs} cases, ${line.failed ? "FAILED" : "ok"}, ${line.ms} ms, seed ${line.seed}`,
  );
  if (REPORT) appendFileSync(REPORT, `${JSON.stringify(line)}\n`);
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? `${name} failed`);
}

/** Messages that show an internal failure wrapped into a product error. */
const INTERNAL =
  /Maximum call stack|is not a function|Cannot read prop|undefined is not|\bat .*\(.*:\d+:\d+\)/;

/**
 * Asserts `err` is a clear Airun error: an `AirunError` with a stable code, a message that is
 * not an internal failure, and (for a `ValidationError`) problems that name `file` with a line
 * and column within the text.
 */
export function assertClearError(err: unknown, file?: string, text?: string): AirunError {
  if (!(err instanceof AirunError)) {
    const e = err as Error | undefined;
    throw new Error(`a non-Airun error escaped: ${e?.name}: ${e?.message}`, { cause: err });
  }
  if (!isErrorCode(err.code)) throw new Error(`unstable error code ${err.code}`, { cause: err });
  if (err.message.trim() === "" || INTERNAL.test(err.message)) {
    throw new Error(`an unclear ${err.code} message: ${err.message.slice(0, 300)}`, { cause: err });
  }
  if (err instanceof ValidationError) {
    if (err.problems.length === 0) throw new Error("a ValidationError without problems");
    for (const p of err.problems) assertLocated(p, file, text);
  }
  return err;
}

/** Asserts one problem names `file`, a line and column inside `text`, and says something. */
export function assertLocated(p: Problem, file?: string, text?: string): void {
  const where = JSON.stringify(p);
  if (file !== undefined && p.file !== file)
    throw new Error(`a problem names another file: ${where}`);
  if (!(p.line >= 1 && p.col >= 1))
    throw new Error(`a problem without a line and column: ${where}`);
  if (text !== undefined) {
    const lines = text.split("\n").length;
    if (p.line > lines) throw new Error(`a problem past the last line (${lines}): ${where}`);
  }
  if (p.message.trim() === "" || INTERNAL.test(p.message)) {
    throw new Error(`an unclear problem message: ${where}`);
  }
}

/**
 * Runs `f`; when it throws, the error must be a clear Airun error (`assertClearError`).
 * Returns the value, or the error.
 */
export function clearly<T>(
  f: () => T,
  file?: string,
  text?: string,
): { ok: true; value: T } | { ok: false; error: AirunError } {
  try {
    return { ok: true, value: f() };
  } catch (err) {
    return { ok: false, error: assertClearError(err, file, text) };
  }
}

/** Fails when anything reached `Object.prototype` (a hostile key that got through). */
export function assertNotPolluted(): void {
  if (({} as Record<string, unknown>).polluted !== undefined) {
    throw new Error("Object.prototype was polluted");
  }
}

/**
 * Asserts a problem names `field` (or an item of it) on a line of `text` that holds `key`:
 * where a user looking for the mistake would look.
 */
export function assertProblemAt(
  problems: readonly Problem[],
  field: string,
  key: string,
  text: string,
): void {
  const hit = problems.find((p) => p.field === field || p.field.startsWith(`${field}[`));
  if (!hit) throw new Error(`no problem names ${field}: ${JSON.stringify(problems)}\n${text}`);
  if (!(text.split("\n")[hit.line - 1] ?? "").includes(key)) {
    throw new Error(`line ${hit.line} does not hold ${key}:\n${text}`);
  }
}
