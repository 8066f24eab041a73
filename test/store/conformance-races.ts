/**
 * @module Conformance: the races a second process or machine brings, run between two store
 * instances on one database (each with its own connections): two acquirers of one lease, two
 * writers extending one ledger, and an owner that lost its lease while it was preparing a commit
 * or a renewal. Every test starts on an empty database.
 */
import { expect, it } from "vitest";
import { ConflictError } from "../../src/core/errors.js";
import { ChainVerifier, type LedgerRow, RunChainVerifier } from "../../src/core/ledger.js";
import type { Store, WriteOp } from "../../src/store/store.js";
import type { ConformanceContext } from "./conformance-context.js";
import { makeEvent, makeRun, makeStep } from "./fixtures.js";

/** Every ledger row of a store, in order, once it integrated what is pending. */
async function allLedgerRows(store: Store): Promise<LedgerRow[]> {
  expect(await store.integrateLedger()).toMatchObject({ pending: 0 });
  const rows: LedgerRow[] = [];
  for (;;) {
    const page = await store.ledgerRows(rows.at(-1)?.seq ?? 0, 100);
    rows.push(...page);
    if (page.length < 100) return rows;
  }
}

/** The ledger's verdict on `rows`: its first problem (undefined when valid) and its size. */
function verify(rows: readonly LedgerRow[]) {
  const verifier = new ChainVerifier();
  const runs = new RunChainVerifier();
  for (const row of rows) if (verifier.push(row)) runs.push(row);
  return { problem: verifier.problem ?? runs.problem, size: verifier.size };
}

/** 1, 2, …, n. */
function oneTo(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

/** Registers the race tests on `ctx`, whose every `open` is a new instance on one database. */
export function describeRaceTests(ctx: ConformanceContext): void {
  // Lease times are on the store's clock (PostgreSQL: the database's), so these tests pass the
  // real time and let a lease lapse by taking it for 1 ms and waiting.
  const lapse = () => new Promise((r) => setTimeout(r, 25));

  it("gives a free lease to exactly one of two instances acquiring it at once; the other gets undefined", async () => {
    const a = await ctx.open();
    const b = await ctx.open();
    const runs = Array.from({ length: 10 }, () => makeRun());
    await a.commit(runs.map((run): WriteOp => ({ op: "insertRun", run })));
    for (const [i, run] of runs.entries()) {
      // Each instance asks first in turn.
      const askers: ReadonlyArray<readonly [Store, string]> = [
        [a, "owner-a"],
        [b, "owner-b"],
      ];
      const order = i % 2 === 0 ? askers : [...askers].reverse();
      const t0 = Date.now();
      const got = await Promise.all(
        order.map(([store, owner]) => store.acquireLease(run.id, owner, 60_000, t0)),
      );
      expect(got.filter((r) => r === undefined)).toHaveLength(1);
      const k = got.findIndex((r) => r !== undefined);
      const winner = order[k]![1];
      expect(got[k]).toMatchObject({ id: run.id, leaseOwner: winner });
      expect(got[k]?.leaseExpiresAt).toBeGreaterThanOrEqual(t0 + 59_000);
      for (const store of [a, b]) {
        expect((await store.getRun(run.id))?.leaseOwner).toBe(winner);
      }
    }
  });

  it("numbers the entries two instances append at once 1..N, without gaps or duplicates, in one chain that verifies", async () => {
    const a = await ctx.open();
    const b = await ctx.open();
    const run = makeRun({ leaseOwner: "owner-a", leaseExpiresAt: Date.now() + 600_000 });
    await a.commit([{ op: "insertRun", run }]);
    const append = (type: string, i: number): WriteOp => ({
      op: "appendEvent",
      event: makeEvent(run.id, { type, data: { i } }),
    });
    const seqs = { a: [] as number[], b: [] as number[] };
    const pending: Promise<unknown>[] = [];
    let expected = 0;
    for (let i = 0; i < 60; i++) {
      // A writes one or two entries a batch; every seventh of its batches is refused after
      // appending, so its entries are rolled back while B keeps appending.
      const batchA = i % 3 === 0 ? [append("a", i), append("a", i)] : [append("a", i)];
      const refused = i % 7 === 6;
      if (refused) batchA.push({ op: "expectRun", runId: run.id, expect: { leaseOwner: "x" } });
      else expected += batchA.length;
      expected += 1;
      pending.push(
        a.commit(batchA).then(
          (r) => {
            expect(refused).toBe(false);
            seqs.a.push(...r.runSeqs);
          },
          (err: unknown) => {
            expect(refused).toBe(true);
            expect(err).toBeInstanceOf(ConflictError);
          },
        ),
        b.commit([append("b", i)]).then((r) => seqs.b.push(...r.runSeqs)),
      );
      if (i % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(pending);

    const n = seqs.a.length + seqs.b.length;
    expect(n).toBe(expected);
    expect([...seqs.a, ...seqs.b].sort((x, y) => x - y)).toEqual(oneTo(n));
    for (const store of [a, b]) {
      const rows = await allLedgerRows(store);
      expect(rows.map((r) => r.seq)).toEqual(oneTo(n));
      expect(verify(rows)).toEqual({ problem: undefined, size: n });
      expect(seqs.a.every((s) => rows[s - 1]?.type === "a")).toBe(true);
      expect(seqs.b.every((s) => rows[s - 1]?.type === "b")).toBe(true);
    }
  });

  it("lets two instances append to many runs at once: each run's chain is 1..k in commit order, and integration (from either instance) gives one ledger 1..N that verifies", async () => {
    const a = await ctx.open();
    const b = await ctx.open();
    const runs = Array.from({ length: 8 }, () => makeRun());
    await a.commit(runs.map((run): WriteOp => ({ op: "insertRun", run })));
    const got = new Map<string, number[]>(runs.map((r) => [r.id, []]));
    // Each run is written by one instance at a time (as a leased run is), batches of runs at once.
    await Promise.all(
      runs.map(async (run, k) => {
        const store = k % 2 === 0 ? a : b;
        for (let i = 0; i < 10; i++) {
          const batch: WriteOp[] = [
            { op: "appendEvent", event: makeEvent(run.id, { type: "step", data: { i } }) },
          ];
          if (i % 3 === 0)
            batch.push({ op: "appendEvent", event: makeEvent(null, { type: "sys" }) });
          const { runSeqs } = await store.commit(batch);
          got.get(run.id)!.push(runSeqs[0]!);
        }
      }),
    );
    for (const run of runs) expect(got.get(run.id)).toEqual(oneTo(10));
    const n = 8 * 10 + 8 * 4;
    for (const store of [b, a]) {
      const rows = await allLedgerRows(store);
      expect(rows.map((r) => r.seq)).toEqual(oneTo(n));
      expect(verify(rows)).toEqual({ problem: undefined, size: n });
      for (const run of runs) {
        const mine = rows.filter((r) => r.runId === run.id);
        expect(mine.map((r) => r.runSeq)).toEqual(oneTo(10));
        expect(mine.map((r) => (JSON.parse(r.data) as { i: number }).i)).toEqual(
          oneTo(10).map((i) => i - 1),
        );
      }
      // Entries of no run form the system chain, 1..k too.
      expect(rows.filter((r) => r.runId === null).map((r) => r.runSeq)).toEqual(oneTo(32));
      expect(await store.pendingLedgerRows(0, 100)).toEqual([]);
    }
    // listEvents lists everything committed before it, integrated.
    expect((await b.listEvents()).map((e) => e.seq)).toEqual(oneTo(n));
  });

  it("refuses with ConflictError, applying nothing, a commit whose lease expired and was taken over between its read and its commit", async () => {
    const a = await ctx.open();
    const b = await ctx.open();
    const run = makeRun();
    await a.commit([{ op: "insertRun", run }]);
    expect(await a.acquireLease(run.id, "owner-a", 1, Date.now())).toMatchObject({
      leaseOwner: "owner-a",
    });
    expect((await a.getRun(run.id))?.leaseOwner).toBe("owner-a");

    // While A prepares its batch, its lease lapses and B takes the run over.
    await lapse();
    expect(await b.acquireLease(run.id, "owner-b", 60_000, Date.now())).toMatchObject({
      leaseOwner: "owner-b",
    });
    const { runSeqs: before } = await b.commit([
      { op: "appendEvent", event: makeEvent(run.id, { type: "taken.over" }) },
    ]);

    const err = await a
      .commit([
        { op: "putStep", step: makeStep(run.id, { stepId: "stale" }) },
        { op: "appendEvent", event: makeEvent(run.id, { type: "stale.write" }) },
        { op: "expectRun", runId: run.id, expect: { leaseOwner: "owner-a" } },
        { op: "updateRun", runId: run.id, patch: { status: "COMPLETED" } },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    for (const store of [a, b]) {
      expect(await store.getSteps(run.id)).toEqual([]);
      expect((await store.listEvents({ runId: run.id })).map((e) => e.type)).toEqual([
        "taken.over",
      ]);
      expect(await store.getRun(run.id)).toMatchObject({
        status: "RUNNING",
        leaseOwner: "owner-b",
      });
    }

    // The new owner's next entry follows its last one: the refused batch consumed no seq.
    const { runSeqs: after } = await b.commit([
      { op: "expectRun", runId: run.id, expect: { leaseOwner: "owner-b" } },
      { op: "appendEvent", event: makeEvent(run.id, { type: "carried.on" }) },
    ]);
    expect(after).toEqual([before[0]! + 1]);
    expect(verify(await allLedgerRows(a))).toEqual({ problem: undefined, size: after[0] });
  });

  it("does not let the old owner's renewal (or release) after a takeover touch the new owner's lease", async () => {
    const a = await ctx.open();
    const b = await ctx.open();
    const run = makeRun();
    await a.commit([{ op: "insertRun", run }]);
    await a.acquireLease(run.id, "owner-a", 1, Date.now());
    await lapse();
    const taken = await b.acquireLease(run.id, "owner-b", 10_000, Date.now());

    expect(await a.renewLeases("owner-a", 60_000, Date.now())).toEqual([]);
    await a.releaseLease(run.id, "owner-a");
    for (const store of [a, b]) {
      expect(await store.getRun(run.id)).toMatchObject({
        leaseOwner: "owner-b",
        leaseExpiresAt: taken?.leaseExpiresAt,
      });
    }
    expect(await b.renewLeases("owner-b", 10_000, Date.now())).toEqual([
      { runId: run.id, cancelRequestedBy: run.cancelRequestedBy },
    ]);
    expect((await a.getRun(run.id))?.leaseOwner).toBe("owner-b");
  });
}
