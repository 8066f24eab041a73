/**
 * I/O faults at the store (issue 13): a commit of a reference run fails as a disk would — before
 * it begins (nothing written: disk full, EIO on write) or after it returned (durable, but the
 * caller is told it failed: EIO on fsync's report) — at sampled commits (`npm run test:crash`:
 * every commit). The run must fail closed: the command exits non-zero naming the store failure,
 * nothing is recorded that did not happen, and `airun recover` then brings the run to a correct
 * end (each effect exactly once, or the workspace restored), with `airun ledger verify` passing.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AIRUN_CRASH_BIN, airun } from "../support/cli.js";
import {
  countCommits,
  expectLedgerVerifies,
  formatCrashPoint,
  projectTemplate,
  samplePoints,
  snapshotTree,
  sweepSettings,
  withProjectStore,
} from "../support/crash.js";
import { FAULT_AT_ENV } from "../support/crash-switch.js";

const root = mkdtempSync(join(tmpdir(), "airun-faults-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const INITIAL = { "config.json": '{"v":1}', "journal.log": "start\n" };

const REFERENCE = `name: reference
version: 1
principal: agent:faults
steps:
  - id: overwrite
    capability: io.fs.write_file
    inputs: { path: config.json, content: '{"v":2}' }
  - id: append
    capability: io.fs.append_file
    inputs: { path: journal.log, content: "entry\\n" }
  - id: create
    capability: io.fs.write_file
    inputs: { path: report.txt, content: "report" }
  - id: check
    capability: sys.echo
    inputs: { done: true }
`;

const DONE = { "config.json": '{"v":2}', "journal.log": "start\nentry\n", "report.txt": "report" };

const template = projectTemplate(root, {
  "airun.yaml": "home: home\nsandbox:\n  fs: { roots: [ws] }\n",
  "wf.yaml": REFERENCE,
  ...Object.fromEntries(Object.entries(INITIAL).map(([f, c]) => [`ws/${f}`, c])),
});

describe("I/O faults at the store", () => {
  it("fail closed at every sampled commit, before and after it: recover then finishes the run exactly once", async () => {
    const commits = await countCommits({ args: ["run", "wf.yaml", "--json"], project: template });
    expect(commits).toBeGreaterThanOrEqual(6);
    const settings = sweepSettings();
    const points =
      settings.only ??
      (settings.mode === "full"
        ? (["before", "after"] as const).flatMap((when) =>
            Array.from({ length: commits }, (_, i) => ({ when, commit: i + 1 })),
          )
        : samplePoints(commits, settings.seed, "io-faults"));
    let refused = 0;
    for (const point of points) {
      const where = `fault ${formatCrashPoint(point)}`;
      const dir = template();
      const run = await airun(["run", "wf.yaml", "--json"], {
        cwd: dir,
        bin: AIRUN_CRASH_BIN,
        env: { [FAULT_AT_ENV]: formatCrashPoint(point) },
      });
      expect(run.signal, where).toBeNull();
      if (run.code !== 0) {
        refused += 1;
        expect(run.code, `${where}: ${run.stderr}`).toBe(1);
        expect(run.stderr, where).toMatch(/STORE_COMMIT_(FAILED|UNCERTAIN)/);
      }
      const rec = await airun(["recover", "--json"], { cwd: dir });
      expect(rec.code, `${where}: ${rec.stderr}`).toBe(0);
      await expectLedgerVerifies(dir, where);
      const statuses = await withProjectStore(dir, async (s) =>
        (await s.listRuns()).map((r) => r.status),
      );
      if (statuses.length === 0) {
        expect(snapshotTree(join(dir, "ws")), where).toEqual(INITIAL);
        continue;
      }
      expect(statuses, where).toEqual(["COMPLETED"]);
      expect(snapshotTree(join(dir, "ws")), where).toEqual(DONE);
    }
    console.log(
      `io faults: ${commits} commits a run, ${points.length} faults injected (seed ${settings.seed}), ${refused} runs stopped and recovered`,
    );
    expect(refused).toBeGreaterThan(0);
  }, 600_000);
});
