/**
 * @module Crash tests' tools: the ONE place that arms the crash switch of a spawned `airun`
 * (`airunCrashing`), and the sweep that kills a run right before and right after its commits.
 *
 * Which commits a sweep visits is set by environment variables, read here only:
 * - `AIRUN_CRASH_SWEEP=full` visits every commit, before and after (`npm run test:crash`);
 *   unset or `sample` (the default, `npm test`) visits a deterministic sample: the first and the
 *   last commit and every `STRIDE`-th, both before and after, plus `RANDOM_PER_SIDE` more on
 *   each side drawn from a seeded generator.
 * - `AIRUN_CRASH_SEED=N` fixes that seed (default: a new one each run). Every sweep prints its
 *   seed and its points, so a failing sample runs again with the same seed.
 * - `AIRUN_CRASH_POINTS=after:3,before:7` visits exactly those points in every sweep.
 */
import { createHash, randomInt } from "node:crypto";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { expect } from "vitest";
import { compileConfig } from "../../src/core/config.js";
import { openStore } from "../../src/store/open-store.js";
import type { Store } from "../../src/store/store.js";
import { AIRUN_CRASH_BIN, airun, type CliResult } from "./cli.js";
import { COUNT_COMMITS_TO_ENV, CRASH_AT_ENV, type CrashAt, parseCrashAt } from "./crash-switch.js";

/** A commit boundary: right before the Nth physical commit begins, or right after it returned. */
export type CrashPoint = CrashAt;

/** `before:N` / `after:N`, as the crash switch spells it. */
export function formatCrashPoint(point: CrashPoint): string {
  return `${point.when}:${point.commit}`;
}

/** What a crash-armed run left behind; `crashed` when the switch fired (killed by SIGKILL). */
export interface CrashingResult extends CliResult {
  readonly crashed: boolean;
}

/**
 * Runs `airun ...args` in `cwd` armed to SIGKILL itself at `crashAt`. Every crash-armed spawn of
 * the suite goes through here, so how the switch is armed can change in one place.
 */
export async function airunCrashing(
  args: readonly string[],
  opts: { cwd: string; crashAt: CrashPoint },
): Promise<CrashingResult> {
  const result = await airun(args, {
    cwd: opts.cwd,
    bin: AIRUN_CRASH_BIN,
    env: { [CRASH_AT_ENV]: formatCrashPoint(opts.crashAt) },
  });
  return { ...result, crashed: result.signal === "SIGKILL" };
}

/** `airun ledger verify` passes in `dir`: every entry chained, state and entries agree. */
export async function expectLedgerVerifies(dir: string, where: string): Promise<void> {
  const verify = await airun(["ledger", "verify", "--json"], { cwd: dir });
  expect(verify.code, `${where}: ${verify.stdout}${verify.stderr}`).toBe(0);
}

/**
 * Opens the store of the project in `dir` (its `airun.yaml`: SQLite under `dir/home`, or the
 * PostgreSQL database it names) in this process, for `use`.
 */
export async function withProjectStore<T>(
  dir: string,
  use: (store: Store) => Promise<T>,
): Promise<T> {
  const file = join(dir, "airun.yaml");
  const config = compileConfig({ file, text: readFileSync(file, "utf8") }, { cwd: dir, env: {} });
  const url = config.store.kind === "sqlite" ? "sqlite" : config.store.url;
  const store = await openStore({ url, home: config.home });
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/**
 * Writes a project (files as relative path → content) once into a new folder under `root`, and
 * returns a function that copies it to another new folder there for each run.
 */
export function projectTemplate(root: string, files: Record<string, string>): () => string {
  const template = mkdtempSync(join(root, "template-"));
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(dirname(join(template, file)), { recursive: true });
    writeFileSync(join(template, file), content);
  }
  return () => {
    const copy = mkdtempSync(join(root, "run-"));
    cpSync(template, copy, { recursive: true });
    return copy;
  };
}

/** The files of a folder, as relative path → content (latin1), and "<dir>" for folders. */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        out[relative(dir, p)] = "<dir>";
        walk(p);
      } else out[relative(dir, p)] = readFileSync(p, "latin1");
    }
  };
  walk(dir);
  return out;
}

// ---- which points a sweep visits ---------------------------------------------------------

/** In a sample, every STRIDE-th commit on each side (offset by half a stride on `before`). */
const STRIDE = 12;
/** In a sample, how many more commits each side draws at random. */
const RANDOM_PER_SIDE = 2;
/** No reference workflow comes near this many commits; a sweep that does is broken. */
const MAX_COMMITS = 500;

const SIDES = ["after", "before"] as const;

/** How the sweeps of this run choose their points, from the environment (module comment). */
export interface SweepSettings {
  readonly mode: "full" | "sample";
  readonly seed: number;
  /** `AIRUN_CRASH_POINTS`: visit exactly these. */
  readonly only: readonly CrashPoint[] | undefined;
}

/** The seed of this test file's sweeps when AIRUN_CRASH_SEED does not set one. */
const DEFAULT_SEED = randomInt(2 ** 31);

/** Reads the sweep settings; a typo throws rather than silently changing what is swept. */
export function sweepSettings(env: NodeJS.ProcessEnv = process.env): SweepSettings {
  const mode = env.AIRUN_CRASH_SWEEP?.trim() || "sample";
  if (mode !== "full" && mode !== "sample") {
    throw new Error(`AIRUN_CRASH_SWEEP must be "full" or "sample", got ${JSON.stringify(mode)}`);
  }
  const seedText = env.AIRUN_CRASH_SEED?.trim();
  if (seedText && !/^[0-9]+$/.test(seedText)) {
    throw new Error(`AIRUN_CRASH_SEED must be a non-negative integer, got ${seedText}`);
  }
  const pointsText = env.AIRUN_CRASH_POINTS?.trim();
  return {
    mode,
    seed: seedText ? Number(seedText) : DEFAULT_SEED,
    only: pointsText
      ? pointsText
          .split(",")
          .filter((p) => p.trim())
          .map((p) => parseCrashAt(p) as CrashPoint)
      : undefined,
  };
}

/**
 * Draws in [0, 1) determined by `seed` and a sweep's name alone (the same on any machine), so
 * two sweeps run with one seed still draw different points.
 */
function seededDraws(seed: number, name: string): () => number {
  let i = 0;
  return () =>
    createHash("sha256").update(`${seed}/${name}/${i++}`).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * The sampled points of a run with `commits` commits: on each side the first and the last
 * commit, every STRIDE-th, and RANDOM_PER_SIDE others drawn with `seed` mixed with `name`.
 */
export function samplePoints(commits: number, seed: number, name: string): CrashPoint[] {
  const random = seededDraws(seed, name);
  const points: CrashPoint[] = [];
  for (const when of SIDES) {
    const chosen = new Set([1, commits]);
    const offset = when === "after" ? 1 : 1 + STRIDE / 2;
    for (let n = offset; n <= commits; n += STRIDE) chosen.add(n);
    const rest = Array.from({ length: commits }, (_, i) => i + 1).filter((n) => !chosen.has(n));
    for (let i = 0; i < RANDOM_PER_SIDE && rest.length > 0; i++) {
      chosen.add(rest.splice(Math.floor(random() * rest.length), 1)[0]!);
    }
    for (const commit of [...chosen].sort((a, b) => a - b)) points.push({ when, commit });
  }
  return points;
}

// ---- the sweep ---------------------------------------------------------------------------

/** One workflow swept by `sweepCrashPoints`. */
export interface CrashSweep {
  /** Names the sweep in its log line and seeds its sample. */
  readonly name: string;
  /** The `airun` arguments of the run that is killed, e.g. `["run", "wf.yaml", "--json"]`. */
  readonly args: readonly string[];
  /** A fresh project folder for one run, in its initial state. */
  project(): string;
  /** Recovers a run killed at `where` and checks everything it must leave behind. */
  afterCrash(dir: string, where: string): Promise<void>;
  /** Checks a run that finished before the switch fired (`where` lay past its last commit). */
  afterFinish(dir: string, run: CliResult, where: string): Promise<void>;
}

/** What a sweep did. */
export interface SweepReport {
  /** Physical commits of an uninterrupted run. */
  readonly commits: number;
  /** Runs killed at their point, recovered and checked. */
  readonly crashPoints: number;
}

/**
 * How many physical commits an uninterrupted run of the sweep's workflow makes, counted by the
 * harness itself in one run (the run's project is then thrown away).
 */
export async function countCommits(sweep: Pick<CrashSweep, "args" | "project">): Promise<number> {
  const cwd = sweep.project();
  const file = join(cwd, ".commits");
  await airun(sweep.args, { cwd, bin: AIRUN_CRASH_BIN, env: { [COUNT_COMMITS_TO_ENV]: file } });
  const commits = Number(readFileSync(file, "utf8"));
  if (!(commits >= 1 && commits <= MAX_COMMITS)) {
    throw new Error(`${commits} commits counted: the commit hook never fires?`);
  }
  return commits;
}

/**
 * Kills the sweep's run at each chosen commit boundary (see the module comment), recovering
 * and checking after every kill, and ends with an uninterrupted run, checked as well.
 */
export async function sweepCrashPoints(sweep: CrashSweep): Promise<SweepReport> {
  const settings = sweepSettings();
  let crashPoints = 0;
  /** Runs one point; false when the run finished before it. */
  const visit = async (point: CrashPoint): Promise<boolean> => {
    const where = formatCrashPoint(point);
    const dir = sweep.project();
    const run = await airunCrashing(sweep.args, { cwd: dir, crashAt: point });
    if (run.crashed) {
      crashPoints += 1;
      await sweep.afterCrash(dir, where);
    } else {
      await sweep.afterFinish(dir, run, `${where} (no crash)`);
    }
    return run.crashed;
  };
  /** Visits `when:from`, `when:from+1`, ... up to the first run that finishes; its N - 1. */
  const visitToTheEnd = async (when: CrashPoint["when"], from: number): Promise<number> => {
    let commit = from;
    while (await visit({ when, commit })) {
      commit += 1;
      if (commit > MAX_COMMITS) throw new Error(`${sweep.name}: no end after ${MAX_COMMITS}`);
    }
    return commit - 1;
  };

  if (settings.mode === "full" && !settings.only) {
    const commits = await visitToTheEnd("after", 1);
    await visitToTheEnd("before", 1);
    console.log(
      `crash sweep ${sweep.name}: ${commits} commits, every one swept: ${crashPoints} crash points`,
    );
    return { commits, crashPoints };
  }

  const commits = await countCommits(sweep);
  const points = settings.only ?? samplePoints(commits, settings.seed, sweep.name);
  console.log(
    `crash sweep ${sweep.name}: ${commits} commits; ` +
      (settings.only
        ? `AIRUN_CRASH_POINTS=${points.map(formatCrashPoint).join(",")}`
        : `sampled with AIRUN_CRASH_SEED=${settings.seed}: ${points.map(formatCrashPoint).join(",")}`) +
      " (AIRUN_CRASH_SWEEP=full sweeps all)",
  );
  for (const point of points) await visit(point);
  await visitToTheEnd("after", commits + 1);
  return { commits, crashPoints };
}
