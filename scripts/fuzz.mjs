#!/usr/bin/env node
/**
 * `npm run fuzz [-- --scale X | --runs N] [--cli-runs N] [--seed S] [--case-ms MS] [FILE...]`: the fuzz
 * suite (test/fuzz, issue 13) run long. `--scale` multiplies every property's short (CI)
 * count (default 25); `--runs` gives every in-process property N cases instead; `--cli-runs`
 * sets the cases of the properties that spawn the built CLI (default: their short count times
 * the scale, at most 200); FILEs (test/fuzz/*.test.ts) narrow the run to those. Prints the cases, failures and time of every property, the totals,
 * and the seed that replays the run. Exit status: vitest's.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || !/^\d+(\.\d+)?$/.test(v)) {
    console.error(`--${name} needs a number`);
    process.exit(2);
  }
  return v;
};
const known = new Set(["--scale", "--runs", "--cli-runs", "--seed", "--case-ms"]);
const files = [];
for (let i = 0; i < args.length; i += 1) {
  if (!args[i].startsWith("--")) {
    files.push(args[i]);
  } else if (known.has(args[i])) {
    i += 1;
  } else {
    console.error(`unknown option ${args[i]} (expected ${[...known].join(", ")} or test files)`);
    process.exit(2);
  }
}
const seed = opt("seed") ?? String(Math.floor(Math.random() * 2 ** 31));
const runs = opt("runs");
const scale = runs === undefined ? (opt("scale") ?? "25") : undefined;
const cliRuns = opt("cli-runs");
const caseMs = opt("case-ms");

const dir = mkdtempSync(join(tmpdir(), "airun-fuzz-"));
const report = join(dir, "report.jsonl");
const env = {
  ...process.env,
  AIRUN_FUZZ_SEED: seed,
  AIRUN_FUZZ_REPORT: report,
  ...(scale !== undefined ? { AIRUN_FUZZ_SCALE: scale } : {}),
  ...(runs !== undefined ? { AIRUN_FUZZ_RUNS: runs } : {}),
  ...(cliRuns !== undefined ? { AIRUN_FUZZ_CLI_RUNS: cliRuns } : {}),
  ...(caseMs !== undefined ? { AIRUN_FUZZ_CASE_MS: caseMs } : {}),
};
if (cliRuns === undefined) {
  // The CLI properties spawn a process per case: scaled like the others, but capped.
  const base = 6;
  env.AIRUN_FUZZ_CLI_RUNS = String(Math.min(200, Math.round(base * Number(scale ?? 1))));
}
console.log(
  `fuzz: seed ${seed}, ${runs !== undefined ? `${runs} cases per property` : `scale ${scale}`}, ${env.AIRUN_FUZZ_CLI_RUNS} CLI cases per CLI property`,
);
const started = Date.now();
const vitest = spawnSync("npx", ["vitest", "run", "--project", "fuzz", ...files], {
  env,
  stdio: "inherit",
});
const seconds = ((Date.now() - started) / 1000).toFixed(1);

let lines = [];
try {
  lines = readFileSync(report, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
} catch {
  // No property reported (vitest failed before any ran).
}
rmSync(dir, { recursive: true, force: true });
const w = Math.max(8, ...lines.map((l) => l.property.length));
console.log(
  `\n${"property".padEnd(w)}  ${"cases".padStart(8)}  ${"failed".padStart(6)}  ${"ms".padStart(9)}`,
);
for (const l of lines) {
  console.log(
    `${l.property.padEnd(w)}  ${String(l.runs).padStart(8)}  ${(l.failed ? "yes" : "no").padStart(6)}  ${String(l.ms).padStart(9)}`,
  );
}
const cases = lines.reduce((n, l) => n + l.runs, 0);
const failed = lines.filter((l) => l.failed).length;
console.log(
  `\nfuzz: ${lines.length} properties, ${cases} cases, ${failed} failed, ${seconds} s, seed ${seed}` +
    (failed
      ? `\nreplay: npm run fuzz -- --seed ${seed}${runs ? ` --runs ${runs}` : ` --scale ${scale}`}`
      : ""),
);
process.exit(vitest.status ?? 1);
