/**
 * I/O faults at the store (issue 13): a physical commit of a reference run fails as a disk
 * would, with the error SQLite gives — disk full (`SQLITE_FULL`), an I/O error on write
 * (`SQLITE_IOERR_WRITE`) or on fsync (`SQLITE_IOERR_FSYNC`) — at every commit (`npm run
 * test:crash`; a seeded sample of them in `npm test`). Every write the store makes (a batch, a
 * lease taken, renewed or released) is one of its physical commits, so this is every store
 * call that can meet a full or failing disk. Full and write errors strike inside the
 * transaction, its writes applied, and roll it back (nothing written); an fsync error strikes
 * there too, or after COMMIT returned (durable, but the caller is told it failed). The run must
 * fail closed: the command exits 1 naming the store failure, reports no step done that the
 * ledger does not record as done, and `airun recover` then brings the run to a correct end
 * (each effect exactly once, or the workspace untouched), with `airun ledger verify` passing.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EventType } from "../../src/engine/events.js";
import { AIRUN_CRASH_BIN, airun } from "../support/cli.js";
import {
  type CrashPoint,
  countCommits,
  expectLedgerVerifies,
  formatCrashPoint,
  projectTemplate,
  samplePoints,
  snapshotTree,
  sweepSettings,
  withProjectStore,
} from "../support/crash.js";
import {
  FAULT_AT_ENV,
  FAULT_KIND_ENV,
  FAULT_KINDS,
  type FaultKind,
} from "../support/crash-switch.js";

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

/** Where each kind strikes: a full disk or a failed write never leaves a commit durable. */
const SIDES: Record<FaultKind, readonly CrashPoint["when"][]> = {
  SQLITE_FULL: ["before"],
  SQLITE_IOERR_WRITE: ["before"],
  SQLITE_IOERR_FSYNC: ["before", "after"],
};

/** The steps a run's progress output reports done (`✓ <step>`). */
function reportedDone(stdout: string): string[] {
  return [...stdout.matchAll(/^\s*✓ (\S+)/gm)].map((m) => m[1]!);
}

/** The steps the ledger records as succeeded. */
function recordedDone(dir: string): Promise<string[]> {
  return withProjectStore(dir, async (s) =>
    (await s.listEvents({}))
      .filter((e) => e.type === EventType.STEP_SUCCEEDED && e.stepId !== null)
      .map((e) => e.stepId!),
  );
}

describe("I/O faults at the store", () => {
  /** Physical commits of an uninterrupted reference run, counted once for every kind. */
  let commits: number | undefined;
  it.each(FAULT_KINDS)(
    "%s at every sampled commit fails closed: nothing reported that is not recorded, then recover finishes the run exactly once",
    async (kind) => {
      commits ??= await countCommits({ args: ["run", "wf.yaml"], project: template });
      const n = commits;
      expect(n).toBeGreaterThanOrEqual(6);
      const settings = sweepSettings();
      const points = (
        settings.only ??
        (settings.mode === "full"
          ? (["before", "after"] as const).flatMap((when) =>
              Array.from({ length: n }, (_, i) => ({ when, commit: i + 1 })),
            )
          : samplePoints(n, settings.seed, `io-faults ${kind}`))
      ).filter((p) => SIDES[kind].includes(p.when));
      let refused = 0;
      for (const point of points) {
        const where = `${kind} at ${formatCrashPoint(point)}`;
        const dir = template();
        const run = await airun(["run", "wf.yaml"], {
          cwd: dir,
          bin: AIRUN_CRASH_BIN,
          env: { [FAULT_AT_ENV]: formatCrashPoint(point), [FAULT_KIND_ENV]: kind },
        });
        expect(run.signal, where).toBeNull();
        if (run.code !== 0) {
          refused += 1;
          expect(run.code, `${where}: ${run.stdout}${run.stderr}`).toBe(1);
          expect(run.stderr, where).toMatch(/STORE_COMMIT_(FAILED|UNCERTAIN)/);
          expect(run.stderr, where).toContain(kind === "SQLITE_FULL" ? "disk is full" : "I/O");
          // Fail closed: a step the run said it did is one the ledger says it did.
          const recorded = await recordedDone(dir);
          for (const step of reportedDone(run.stdout)) expect(recorded, where).toContain(step);
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
        `io faults ${kind}: ${n} commits a run, ${points.length} faults injected ` +
          `(${points.map(formatCrashPoint).join(",")}; seed ${settings.seed}), ` +
          `${refused} runs stopped and recovered`,
      );
      expect(refused).toBeGreaterThan(0);
    },
    600_000,
  );
});
