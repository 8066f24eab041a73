/**
 * @module Commit hooks on a real SQLite store: when each runs, how a commit is numbered, what a
 * hook that throws does to its group; and the crash switch built on them, down to a real process
 * killed at its Nth commit.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AirunError, ConflictError } from "../../src/core/errors.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { StoreHooks, WriteOp } from "../../src/store/store.js";
import { CRASH_AT_ENV, crashAtFromEnv, crashHooks, parseCrashAt } from "../support/crash-switch.js";
import { makeRun } from "./fixtures.js";
import { countRuns, useTempFolder } from "./sqlite-files.js";
import { distStoreModule, spawnStoreScript } from "./store-child.js";

const temp = useTempFolder("airun-commit-hooks-");
const tempHome = temp.home;

describe("commit hooks", () => {
  /** Commits five one-run batches one after another; what `hook` saw at each call. */
  async function commitFive(hook: keyof StoreHooks) {
    const file = join(tempHome(), "airun.db");
    const calls: Array<{ n: number; durableRuns: number; resolvedBatches: number }> = [];
    let resolvedBatches = 0;
    const store = await SqliteStore.open({
      file,
      hooks: {
        [hook]: (n: number) => calls.push({ n, durableRuns: countRuns(file), resolvedBatches }),
      },
    });
    try {
      for (let i = 0; i < 5; i++) {
        await store.commit([{ op: "insertRun", run: makeRun() }]);
        resolvedBatches += 1;
      }
    } finally {
      await store.close();
    }
    return calls;
  }

  it("calls afterCommit(n) right after the nth commit is durable and before its caller hears of it", async () => {
    expect(await commitFive("afterCommit")).toEqual(
      [1, 2, 3, 4, 5].map((n) => ({ n, durableRuns: n, resolvedBatches: n - 1 })),
    );
  });

  it("calls beforeCommit(n) right before the nth commit begins, with n - 1 commits durable", async () => {
    expect(await commitFive("beforeCommit")).toEqual(
      [1, 2, 3, 4, 5].map((n) => ({ n, durableRuns: n - 1, resolvedBatches: n - 1 })),
    );
  });

  it("numbers physical commits, so a group of batches is one commit", async () => {
    const file = join(tempHome(), "airun.db");
    const calls: Array<[n: number, durableRuns: number]> = [];
    const store = await SqliteStore.open({
      file,
      hooks: { afterCommit: (n) => calls.push([n, countRuns(file)]) },
    });
    try {
      await store.commit([{ op: "insertRun", run: makeRun() }]);
      const batches: WriteOp[][] = Array.from({ length: 10 }, () => [
        { op: "insertRun", run: makeRun() },
      ]);
      await Promise.all(batches.map((b) => store.commit(b)));
    } finally {
      await store.close();
    }
    expect(calls).toEqual([
      [1, 1],
      [2, 11],
    ]);
  });

  it("fails a whole group with STORE_COMMIT_FAILED (cause: the fault) when beforeCommit throws, writing none of it; the next transaction takes the next number", async () => {
    const file = join(tempHome(), "airun.db");
    const fault = new Error("injected I/O fault");
    const seen: number[] = [];
    const store = await SqliteStore.open({
      file,
      hooks: {
        beforeCommit(n) {
          seen.push(n);
          if (n === 2) throw fault;
        },
      },
    });
    try {
      await store.commit([{ op: "insertRun", run: makeRun() }]);
      const runs = [makeRun(), makeRun()];
      const settled = await Promise.allSettled(
        runs.map((run) => store.commit([{ op: "insertRun", run }])),
      );
      for (const s of settled) {
        expect(s.status).toBe("rejected");
        const reason = (s as PromiseRejectedResult).reason;
        expect(reason).toBeInstanceOf(AirunError);
        expect(reason).toMatchObject({ code: "STORE_COMMIT_FAILED", cause: fault });
      }
      for (const run of runs) expect(await store.getRun(run.id)).toBeUndefined();
      expect(countRuns(file)).toBe(1);
      await store.commit([{ op: "insertRun", run: makeRun() }]);
      expect(seen).toEqual([1, 2, 3]);
      expect(countRuns(file)).toBe(2);
    } finally {
      await store.close();
    }
  });

  it("rolls back a group whose writes were applied when atCommit throws (a COMMIT that fails: disk full, EIO), rejecting it with STORE_COMMIT_FAILED; the ledger chain goes on from its last durable entry", async () => {
    const file = join(tempHome(), "airun.db");
    const fault = Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
    const applied: number[] = [];
    const store = await SqliteStore.open({
      file,
      hooks: {
        atCommit(n) {
          applied.push(countRuns(file));
          if (n === 2) throw fault;
        },
      },
    });
    const event = (i: number): WriteOp => ({
      op: "appendEvent",
      event: { runId: null, stepId: null, type: "e", at: i, data: { i } },
    });
    try {
      await store.commit([{ op: "insertRun", run: makeRun() }, event(1)]);
      const lost = makeRun();
      await expect(store.commit([{ op: "insertRun", run: lost }, event(2)])).rejects.toMatchObject({
        code: "STORE_COMMIT_FAILED",
        cause: fault,
      });
      expect(await store.getRun(lost.id)).toBeUndefined();
      await store.commit([event(3)]);
      const rows = await store.ledgerRows(0, 10);
      expect(rows.map((r) => JSON.parse(r.data).i)).toEqual([1, 3]);
      expect(rows.map((r) => r.seq)).toEqual([1, 2]);
    } finally {
      await store.close();
    }
    // The hook ran inside each transaction: another connection saw none of its writes yet.
    expect(applied).toEqual([0, 1, 1]);
    expect(countRuns(file)).toBe(1);
  });

  it("rejects the batches a group committed with STORE_COMMIT_UNCERTAIN (cause: the fault) when afterCommit throws, though they are durable; a refused batch keeps its own error", async () => {
    const file = join(tempHome(), "airun.db");
    const fault = new Error("acknowledgement lost");
    const store = await SqliteStore.open({
      file,
      hooks: {
        afterCommit(n) {
          if (n === 2) throw fault;
        },
      },
    });
    try {
      const held = makeRun({ leaseOwner: "owner-a", leaseExpiresAt: Date.now() + 60_000 });
      await store.commit([{ op: "insertRun", run: held }]);
      const committed = makeRun();
      const [good, refused] = await Promise.allSettled([
        store.commit([{ op: "insertRun", run: committed }]),
        store.commit([{ op: "expectRun", runId: held.id, expect: { leaseOwner: "intruder" } }]),
      ]);
      expect(good).toMatchObject({
        status: "rejected",
        reason: { code: "STORE_COMMIT_UNCERTAIN", cause: fault, context: { committed: true } },
      });
      expect((refused as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
      expect(await store.getRun(committed.id)).toEqual(committed);
      expect(countRuns(file)).toBe(2);
      expect(store.stats()).toMatchObject({ physicalCommits: 2, committedUnits: 2 });
      await store.commit([{ op: "insertRun", run: makeRun() }]);
      expect(countRuns(file)).toBe(3);
    } finally {
      await store.close();
    }
  });
});

describe("crash switch", () => {
  it("arms one hook: before:N kills right before commit N begins, after:N right after it", () => {
    expect(Object.keys(crashHooks({ when: "before", commit: 3 }))).toEqual(["beforeCommit"]);
    const after = crashHooks({ when: "after", commit: 3 });
    expect(Object.keys(after)).toEqual(["afterCommit"]);
    after.afterCommit?.(2); // any other commit: this process lives on
    after.afterCommit?.(4);
  });

  it("kills a real process whose store was given the crash hooks, at exactly that commit", async () => {
    // The child builds the same hooks as crashHooks (it runs plain JS against dist/).
    const script = `import { openStore } from ${JSON.stringify(distStoreModule("open-store.js"))};
const [when, n] = process.env.${CRASH_AT_ENV}.split(":");
const crash = (i) => { if (i === Number(n)) process.kill(process.pid, "SIGKILL"); };
const hooks = when === "before" ? { beforeCommit: crash } : { afterCommit: crash };
const store = await openStore({ url: "sqlite", home: process.argv[2], storeOptions: { hooks } });
for (let i = 1; i <= 5; i++) {
await store.commit([{ op: "appendEvent", event: { runId: null, stepId: null, type: "e", at: i, data: { i } } }]);
process.stdout.write(\`acknowledged \${i}\\n\`);
}
await store.close();
`;
    for (const [crashAt, durable, acknowledged] of [
      ["before:3", 2, 2],
      ["after:3", 3, 2],
    ] as const) {
      const home = tempHome();
      const child = spawnStoreScript(temp.root, script, [home], { [CRASH_AT_ENV]: crashAt });
      const exit = await child.exited;
      expect(exit.signal).toBe("SIGKILL");
      expect(exit.stdout.trim().split("\n")).toHaveLength(acknowledged);
      const store = await SqliteStore.open({ file: join(home, "airun.db") });
      try {
        expect((await store.ledgerRows(0, 10)).map((r) => r.seq)).toEqual(
          Array.from({ length: durable }, (_, i) => i + 1),
        );
      } finally {
        await store.close();
      }
    }
  });

  it("parses AIRUN_CRASH_AT and rejects malformed values", () => {
    expect(parseCrashAt("before:1")).toEqual({ when: "before", commit: 1 });
    expect(parseCrashAt(" after:12 ")).toEqual({ when: "after", commit: 12 });
    expect(parseCrashAt(undefined)).toBeUndefined();
    expect(parseCrashAt("")).toBeUndefined();
    for (const bad of ["after:0", "during:3", "after:", "after:1.5", "3", "before:-1"]) {
      expect(() => parseCrashAt(bad)).toThrow(/must be "before:N" or "after:N"/);
    }
    expect(crashAtFromEnv({ [CRASH_AT_ENV]: "after:7" })).toEqual({ when: "after", commit: 7 });
    expect(crashAtFromEnv({})).toBeUndefined();
  });
});
