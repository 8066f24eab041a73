/**
 * The torture soak (issue 13; `test/support/torture.ts`): concurrent workflows, approvals and
 * sessions on one SQLite home under random SIGKILLs, crash-switch kills and injected I/O faults,
 * then recovery; every run must end terminal, every effect exactly once or undone exactly, and
 * the ledger must verify. `npm test` runs it for AIRUN_TORTURE_SECONDS (default 10); `npm run
 * torture` runs it longer (default 60 s). AIRUN_TORTURE_SEED replays the same choices (not the
 * same timing), AIRUN_TORTURE_CONCURRENCY sets how many instances run at once (default 4).
 */

import { randomInt } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { formatReport, soak } from "../support/torture.js";

const root = mkdtempSync(join(tmpdir(), "airun-torture-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A positive integer from the environment, or `fallback`; a typo throws. */
function setting(name: string, fallback: number): number {
  const text = process.env[name]?.trim();
  if (!text) return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

const seconds = setting("AIRUN_TORTURE_SECONDS", 10);
const opts = {
  root,
  seconds,
  concurrency: setting("AIRUN_TORTURE_CONCURRENCY", 4),
  seed: setting("AIRUN_TORTURE_SEED", randomInt(1, 2 ** 31)),
};

describe("torture", () => {
  it(
    "random SIGKILLs, crash points and I/O faults over concurrent workflows, approvals and sessions: every run terminal, every effect exactly once or undone, the ledger verifies",
    async () => {
      const report = await soak(opts);
      console.log(formatReport(report, opts));
      const c = report.counts;
      // The soak must have done what it claims, or its verdicts mean nothing.
      expect(Object.values(c.kills).reduce((a, b) => a + b, c.crashSwitch)).toBeGreaterThan(0);
      expect(Object.values(c.instances).reduce((a, b) => a + b, 0)).toBeGreaterThan(4);
      expect(Object.values(c.runs).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      for (const v of report.verdicts) expect(v.problems, v.name).toEqual([]);
    },
    seconds * 1000 + 300_000,
  );
});
