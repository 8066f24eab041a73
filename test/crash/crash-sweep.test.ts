/**
 * Crash sweep (SPEC §9): the built `airun` is killed with SIGKILL right before and right after
 * its durable commits (test-only crash switch; every commit with AIRUN_CRASH_SWEEP=full, a
 * seeded sample by default, see test/support/crash.ts), and at random moments; then
 * `airun recover` must bring the run to a correct terminal state with no completed side effect
 * repeated and none lost. The same for a workflow that rolls back, so kills land inside the
 * rollback too. After every recovery, `airun ledger verify` must pass. The same sweeps run on
 * PostgreSQL (a schema per killed run; skipped loudly where no server answers), where recovery
 * is made by another process than the one killed, as another worker would.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { airun } from "../support/cli.js";
import {
  expectLedgerVerifies,
  projectTemplate,
  type SweepReport,
  snapshotTree,
  sweepCrashPoints,
  withProjectStore,
} from "../support/crash.js";
import { usePostgres } from "../support/postgres.js";

const root = mkdtempSync(join(tmpdir(), "airun-crash-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const postgres = await usePostgres();

const REFERENCE = `
name: reference
version: 1
principal: agent:crash
steps:
  - id: mkdir
    capability: io.fs.make_dir
    inputs: { path: out/nested }
  - id: overwrite
    capability: io.fs.write_file
    inputs: { path: config.json, content: '{"v":2}' }
  - id: append
    capability: io.fs.append_file
    depends_on: [overwrite]
    inputs: { path: journal.log, content: "entry\\n" }
  - id: create
    capability: io.fs.write_file
    depends_on: [mkdir]
    inputs: { path: out/nested/report.txt, content: "report" }
  - id: copy
    capability: io.fs.copy
    depends_on: [create]
    inputs: { from: out/nested/report.txt, to: out/copy.txt }
  - id: move
    capability: io.fs.move
    depends_on: [append]
    inputs: { from: moveme.txt, to: out/moved.txt }
  - id: check
    capability: sys.echo
    depends_on: [copy, move]
    inputs: { done: true }
`;

const ROLLING_BACK = `${REFERENCE}
  - id: boom
    capability: sys.fail
    depends_on: [check]
    inputs: { message: "fail after every effect" }
`;

const INITIAL = {
  "config.json": '{"v":1}',
  "journal.log": "start\n",
  "moveme.txt": "to be moved",
};
const EXPECTED_DONE: Record<string, string> = {
  "config.json": '{"v":2}',
  "journal.log": "start\nentry\n",
  out: "<dir>",
  "out/copy.txt": "report",
  "out/moved.txt": "to be moved",
  "out/nested": "<dir>",
  "out/nested/report.txt": "report",
};

const CONFIG = "home: home\nsandbox:\n  fs: { roots: [ws] }\n";

/** Where the runs of a sweep keep their state. */
type StoreKind = "sqlite" | "postgres";

/**
 * A project running `spec` in a workspace holding INITIAL; one copy per run, each with a store
 * of its own (on PostgreSQL, a new schema).
 */
function template(spec: string, kind: StoreKind = "sqlite"): () => string {
  const copy = projectTemplate(root, {
    "airun.yaml": CONFIG,
    "wf.yaml": spec,
    ...Object.fromEntries(Object.entries(INITIAL).map(([f, c]) => [`ws/${f}`, c])),
  });
  if (kind === "sqlite") return copy;
  return () => {
    const dir = copy();
    const url = postgres.urlFor(postgres.newSchema());
    writeFileSync(join(dir, "airun.yaml"), `${CONFIG}store: "${url}"\n`);
    return dir;
  };
}

/** The runs recorded in a project's database: status, and why, for a failure's message. */
function recordedRuns(dir: string): Promise<{ status: string; why: string }[]> {
  return withProjectStore(dir, async (store) =>
    (await store.listRuns()).map((r) => ({
      status: r.status,
      why: JSON.stringify({ reason: r.reason, detail: r.reasonDetail }),
    })),
  );
}

/**
 * `airun recover` succeeds in a project whose run was killed at `where`, and leaves the run
 * `expectStatus` with the workspace `expected`, or, killed before the run was recorded, nothing
 * done at all; and the ledger still verifies: every entry chained, and no committed state
 * change without its entry nor an entry without its state change (`ledger verify` checks runs
 * and steps against their entries).
 */
async function expectRecovered(
  dir: string,
  where: string,
  expectStatus: string,
  expected: Record<string, string>,
): Promise<void> {
  const rec = await airun(["recover", "--json"], { cwd: dir });
  expect(rec.code, `${where}: ${rec.stderr}`).toBe(0);
  await expectLedgerVerifies(dir, where);
  const runs = await recordedRuns(dir);
  if (runs.length === 0) {
    expect(snapshotTree(join(dir, "ws")), where).toEqual(INITIAL);
    return;
  }
  // A wrong ending names its reason, what recover did and the workspace it left.
  const said = `${where}: ${runs.map((r) => r.why).join("; ")}; recover: ${rec.stdout}; workspace: ${JSON.stringify(snapshotTree(join(dir, "ws")))}`;
  expect(
    runs.map((r) => r.status),
    said,
  ).toEqual([expectStatus]);
  expect(snapshotTree(join(dir, "ws")), where).toEqual(expected);
}

/** Kills the run at commit boundaries (see test/support/crash.ts), recovering after each. */
function sweep(
  name: string,
  spec: string,
  expectStatus: string,
  expected: Record<string, string>,
  kind: StoreKind = "sqlite",
): Promise<SweepReport> {
  return sweepCrashPoints({
    name: kind === "sqlite" ? name : `${name} on PostgreSQL`,
    args: ["run", "wf.yaml", "--json"],
    project: template(spec, kind),
    afterCrash: (dir, where) => expectRecovered(dir, where, expectStatus, expected),
    async afterFinish(dir, run, where) {
      expect(JSON.parse(run.stdout).status, where).toBe(expectStatus);
      expect(snapshotTree(join(dir, "ws")), where).toEqual(expected);
    },
  });
}

describe("crash sweep", () => {
  // A sweep of every commit visits each twice (before and after): the workflows must keep
  // enough commit boundaries for the sweep to mean something.
  it("recovers a kill -9 before and after every commit of a successful run: each effect exactly once", async () => {
    const r = await sweep("(completing run)", REFERENCE, "COMPLETED", EXPECTED_DONE);
    expect(r.commits).toBeGreaterThan(10);
  }, 600_000);

  it("recovers a kill -9 before and after every commit of a run that rolls back: workspace restored byte for byte", async () => {
    const r = await sweep("(rolling-back run)", ROLLING_BACK, "ROLLED_BACK", INITIAL);
    expect(r.commits).toBeGreaterThan(15);
  }, 600_000);

  it("recovers kills at random moments of a slower run", async () => {
    const slow = REFERENCE.replace(
      "  - id: check\n",
      "  - id: pause\n    capability: sys.sleep\n    depends_on: [append]\n    inputs: { ms: 30 }\n  - id: check\n",
    );
    const fresh = template(slow);
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 8; i++) {
      const dir = fresh();
      const run = await airun(["run", "wf.yaml"], {
        cwd: dir,
        killAfterMs: Math.floor(150 + rand() * 400),
      });
      await expectRecovered(
        dir,
        `random kill ${i} (${run.signal ?? run.code})`,
        "COMPLETED",
        EXPECTED_DONE,
      );
    }
  }, 300_000);
});

postgres.describe("crash sweep on PostgreSQL", () => {
  // The rolling-back run's commits include every commit of the completing one's kinds (intents,
  // completions) plus the rollback's: the default run samples it; the full sweep does both.
  const full = process.env.AIRUN_CRASH_SWEEP?.trim() === "full";

  it.runIf(full)(
    "recovers a kill -9 before and after every commit of a successful run: each effect exactly once",
    async () => {
      const r = await sweep("(completing run)", REFERENCE, "COMPLETED", EXPECTED_DONE, "postgres");
      expect(r.commits).toBeGreaterThan(10);
    },
    900_000,
  );

  it("recovers a kill -9 before and after every commit of a run that rolls back: workspace restored byte for byte", async () => {
    const r = await sweep("(rolling-back run)", ROLLING_BACK, "ROLLED_BACK", INITIAL, "postgres");
    expect(r.commits).toBeGreaterThan(15);
  }, 900_000);
});
