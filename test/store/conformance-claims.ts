/**
 * @module Conformance: what `airun worker` stands on. Claiming runs that want a worker (one
 * statement; concurrent claimers never share a run), the lease epoch as a fencing token (bumped
 * on every change of holder; a commit naming an old epoch is refused and applies nothing), and
 * the lease check a holder makes before a side effect. Run on every store, single instance and
 * as races between instances on one database.
 */
import { expect, it } from "vitest";
import { ConflictError } from "../../src/core/errors.js";
import type { RunRecord, Store, WriteOp } from "../../src/store/store.js";
import type { ConformanceContext } from "./conformance-context.js";
import { makeEvent, makeRun, makeStep } from "./fixtures.js";

/** A run that wants a worker: unfinished, no holder, created at `at`. */
function queued(at: number, overrides: Partial<RunRecord> = {}): RunRecord {
  return makeRun({
    leaseOwner: null,
    leaseExpiresAt: null,
    leaseEpoch: 0,
    cancelRequestedBy: null,
    createdAt: at,
    ...overrides,
  });
}

/** Registers the claim tests on `ctx`, whose every `open` is a new instance on one database. */
export function describeClaimTests(ctx: ConformanceContext): void {
  it("claims the oldest runs that want a worker, bumping their epoch, and never a held, finished, waiting or session run", async () => {
    const store = await ctx.open();
    const t = 1_700_000_000_000;
    const now = Date.now();
    const wanted = [
      queued(t + 1),
      queued(t + 2, { status: "PENDING" }),
      queued(t + 3, { status: "COMPENSATING" }),
      // A lapsed lease of a dead worker is up for grabs.
      queued(t + 4, { leaseOwner: "dead", leaseExpiresAt: now - 1, leaseEpoch: 7 }),
    ];
    const never = [
      queued(t, { leaseOwner: "alive", leaseExpiresAt: now + 600_000, leaseEpoch: 2 }),
      queued(t, { status: "COMPLETED" }),
      queued(t, { status: "WAITING_APPROVAL" }),
      queued(t, { kind: "session" }),
    ];
    await store.commit([...wanted, ...never].map((run): WriteOp => ({ op: "insertRun", run })));
    const first = await store.claimRuns("w1", 60_000, 3, Date.now());
    expect(first.map((r) => r.id)).toEqual(wanted.slice(0, 3).map((r) => r.id));
    for (const r of first) {
      expect(r).toMatchObject({ leaseOwner: "w1", leaseEpoch: 1 });
      expect(r.leaseExpiresAt).toBeGreaterThanOrEqual(now + 59_000);
    }
    const second = await store.claimRuns("w2", 60_000, 10, Date.now());
    expect(second.map((r) => [r.id, r.leaseOwner, r.leaseEpoch])).toEqual([
      [wanted[3]!.id, "w2", 8],
    ]);
    expect(await store.claimRuns("w3", 60_000, 10, Date.now())).toEqual([]);
    expect((await store.getRun(never[0]!.id))?.leaseOwner).toBe("alive");
  });

  it("does not claim back a run its own owner holds, even with a lapsed lease", async () => {
    const store = await ctx.open();
    const run = queued(1, { leaseOwner: "w1", leaseExpiresAt: Date.now() - 1, leaseEpoch: 4 });
    await store.commit([{ op: "insertRun", run }]);
    expect(await store.claimRuns("w1", 60_000, 10, Date.now())).toEqual([]);
    expect(await store.claimRuns("w2", 60_000, 10, Date.now())).toMatchObject([
      { id: run.id, leaseEpoch: 5 },
    ]);
  });

  it("gives every run to exactly one of several instances claiming at once", async () => {
    const stores: Store[] = [];
    for (let i = 0; i < 4; i++) stores.push(await ctx.open());
    const runs = Array.from({ length: 40 }, (_, i) => queued(1_000 + i));
    await stores[0]!.commit(runs.map((run): WriteOp => ({ op: "insertRun", run })));
    const got = new Map<string, string>();
    await Promise.all(
      stores.map(async (store, i) => {
        for (;;) {
          const claimed = await store.claimRuns(`w${i}`, 60_000, 3, Date.now());
          if (claimed.length === 0) return;
          for (const r of claimed) {
            expect(got.has(r.id)).toBe(false);
            got.set(r.id, `w${i}`);
          }
        }
      }),
    );
    expect(got.size).toBe(runs.length);
    for (const [id, owner] of got) {
      expect(await stores[0]!.getRun(id)).toMatchObject({ leaseOwner: owner, leaseEpoch: 1 });
    }
  });

  it("bumps the epoch when a lease changes hands, not when its holder takes it again", async () => {
    const store = await ctx.open();
    const run = queued(1);
    await store.commit([{ op: "insertRun", run }]);
    expect(await store.acquireLease(run.id, "a", 60_000, Date.now())).toMatchObject({
      leaseEpoch: 1,
    });
    expect(await store.acquireLease(run.id, "a", 60_000, Date.now())).toMatchObject({
      leaseEpoch: 1,
    });
    expect(await store.acquireLease(run.id, "b", 60_000, Date.now(), "a")).toMatchObject({
      leaseEpoch: 2,
    });
    await store.releaseLease(run.id, "b");
    expect(await store.acquireLease(run.id, "b", 60_000, Date.now())).toMatchObject({
      leaseEpoch: 3,
    });
  });

  it("refuses a zombie's commit by its fencing token, applying nothing, even when it names the right owner", async () => {
    const a = await ctx.open();
    const b = await ctx.open();
    const run = queued(1);
    await a.commit([{ op: "insertRun", run }]);
    const [mine] = await a.claimRuns("w", 400, 1, Date.now());
    expect(mine?.leaseEpoch).toBe(1);
    expect(await a.checkLease(run.id, "w", 1, Date.now())).toBe(true);
    await new Promise((r) => setTimeout(r, 450)); // paused past its lease
    expect(await a.checkLease(run.id, "w", 1, Date.now())).toBe(false);
    // The same owner name (a worker restarted with a reused id) claims it again from another
    // instance: only the epoch tells the old holder from the new one.
    await b.releaseLease(run.id, "w");
    const [again] = await b.claimRuns("w", 60_000, 1, Date.now());
    expect(again?.leaseEpoch).toBe(2);
    const stale = await a
      .commit([
        { op: "expectRun", runId: run.id, expect: { leaseOwner: "w", leaseEpoch: 1 } },
        { op: "putStep", step: makeStep(run.id, { stepId: "late" }) },
        { op: "appendEvent", event: makeEvent(run.id, { type: "late.write" }) },
        { op: "updateRun", runId: run.id, patch: { status: "COMPLETED" } },
      ])
      .catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConflictError);
    expect(await b.getSteps(run.id)).toEqual([]);
    expect(await b.listEvents({ runId: run.id })).toEqual([]);
    expect(await b.getRun(run.id)).toMatchObject({ status: "RUNNING", leaseEpoch: 2 });
    expect(await a.checkLease(run.id, "w", 1, Date.now())).toBe(false);
    expect(await a.checkLease(run.id, "w", 2, Date.now())).toBe(true);
    await b.commit([
      { op: "expectRun", runId: run.id, expect: { leaseOwner: "w", leaseEpoch: 2 } },
      { op: "putStep", step: makeStep(run.id, { stepId: "current" }) },
    ]);
    expect((await a.getSteps(run.id)).map((s) => s.stepId)).toEqual(["current"]);
  });

  it("round-trips and copies the epoch with the run, and never lets a patch change it", async () => {
    const store = await ctx.open();
    const run = queued(1, { leaseEpoch: 9 });
    await store.commit([{ op: "insertRun", run }]);
    expect((await store.getRun(run.id))?.leaseEpoch).toBe(9);
    const err = await store
      .commit([{ op: "updateRun", runId: run.id, patch: { leaseEpoch: 1 } as never }])
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe("STORE_INVALID_PATCH");
  });
}
