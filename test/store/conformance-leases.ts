/**
 * @module Conformance: leases are taken, refused, taken over, renewed and released as the Store
 * interface says.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ConformanceContext } from "./conformance-context.js";
import { makeRun } from "./fixtures.js";

/** Registers the lease tests on `ctx`. */
export function describeLeaseTests(ctx: ConformanceContext): void {
  describe("leases", () => {
    // Lease times are on the store's clock: the engine's (SQLite) or the database's
    // (PostgreSQL, whatever the caller passes). Both read the same wall clock here, so the
    // tests pass the real time and check lease expiries within the time a call takes.
    const within = (at: number | null | undefined, ttl: number, from: number) => {
      expect(at).toBeGreaterThanOrEqual(from + ttl - 1_000);
      expect(at).toBeLessThanOrEqual(Date.now() + ttl + 1_000);
    };

    it("acquires a free lease and refuses it to another owner while it is held", async () => {
      const store = await ctx.open();
      const run = makeRun();
      await store.commit([{ op: "insertRun", run }]);
      const now = Date.now();
      const got = await store.acquireLease(run.id, "a", 60_000, now);
      expect(got).toMatchObject({ id: run.id, leaseOwner: "a" });
      within(got?.leaseExpiresAt, 60_000, now);
      expect(await store.acquireLease(run.id, "b", 60_000, Date.now())).toBeUndefined();
      expect(await store.getRun(run.id)).toMatchObject({ leaseOwner: "a" });
      const again = await store.acquireLease(run.id, "a", 5_000, Date.now());
      expect(again).toMatchObject({ leaseOwner: "a" });
      within(again?.leaseExpiresAt, 5_000, now);
      expect(await store.acquireLease(`missing-${randomUUID()}`, "a", 1, now)).toBeUndefined();
    });

    it("takes over an expired lease, not one that holds", async () => {
      const store = await ctx.open();
      const now = Date.now();
      const held = makeRun({ leaseOwner: "a", leaseExpiresAt: now + 600_000 });
      const lapsed = makeRun({ leaseOwner: "a", leaseExpiresAt: now - 1 });
      await store.commit([
        { op: "insertRun", run: held },
        { op: "insertRun", run: lapsed },
      ]);
      expect(await store.acquireLease(held.id, "b", 10_000, now)).toBeUndefined();
      const got = await store.acquireLease(lapsed.id, "b", 10_000, now);
      expect(got).toMatchObject({ leaseOwner: "b" });
      within(got?.leaseExpiresAt, 10_000, now);
    });

    it("takes over from a named dead owner even before expiry, but not from someone else", async () => {
      const store = await ctx.open();
      const now = Date.now();
      const run = makeRun({ leaseOwner: "dead", leaseExpiresAt: now + 600_000 });
      await store.commit([{ op: "insertRun", run }]);
      expect(await store.acquireLease(run.id, "b", 10_000, now, "other")).toBeUndefined();
      const got = await store.acquireLease(run.id, "b", 10_000, now, "dead");
      expect(got).toMatchObject({ leaseOwner: "b" });
      within(got?.leaseExpiresAt, 10_000, now);
      expect(await store.acquireLease(run.id, "c", 10_000, now, "dead")).toBeUndefined();
    });

    it("renews only the leases the owner holds and reports them, with their cancel requests", async () => {
      const store = await ctx.open();
      const now = Date.now();
      const owner = `owner-${randomUUID()}`;
      const mine1 = makeRun({ leaseOwner: owner, leaseExpiresAt: now, cancelRequestedBy: null });
      const mine2 = makeRun({
        leaseOwner: owner,
        leaseExpiresAt: now + 5,
        cancelRequestedBy: null,
      });
      const theirs = makeRun({ leaseOwner: "someone", leaseExpiresAt: now });
      await store.commit([
        { op: "insertRun", run: mine1 },
        { op: "insertRun", run: mine2 },
        { op: "insertRun", run: theirs },
      ]);
      // A cancel request recorded by another process (a patch of the run's row) comes back with
      // the renewal: no query per run to learn it.
      await store.commit([
        { op: "updateRun", runId: mine2.id, patch: { cancelRequestedBy: "user:bob" } },
      ]);
      expect(await store.cancelRequests(owner)).toEqual([
        { runId: mine2.id, cancelRequestedBy: "user:bob" },
      ]);
      expect(await store.cancelRequests("someone")).toEqual([
        { runId: theirs.id, cancelRequestedBy: theirs.cancelRequestedBy },
      ]);
      const renewed = await store.renewLeases(owner, 30_000, Date.now());
      expect([...renewed].sort((x, y) => (x.runId < y.runId ? -1 : 1))).toEqual(
        [
          { runId: mine1.id, cancelRequestedBy: null },
          { runId: mine2.id, cancelRequestedBy: "user:bob" },
        ].sort((x, y) => (x.runId < y.runId ? -1 : 1)),
      );
      within((await store.getRun(mine1.id))?.leaseExpiresAt, 30_000, now);
      within((await store.getRun(mine2.id))?.leaseExpiresAt, 30_000, now);
      expect((await store.getRun(theirs.id))?.leaseExpiresAt).toBe(now);
      expect(await store.renewLeases(`nobody-${randomUUID()}`, 1, now)).toEqual([]);
    });

    it("releases a lease only for its holder", async () => {
      const store = await ctx.open();
      const now = Date.now();
      const run = makeRun();
      await store.commit([{ op: "insertRun", run }]);
      await store.acquireLease(run.id, "a", 60_000, now);
      await store.releaseLease(run.id, "b");
      expect((await store.getRun(run.id))?.leaseOwner).toBe("a");
      await store.releaseLease(run.id, "a");
      expect(await store.getRun(run.id)).toMatchObject({
        leaseOwner: null,
        leaseExpiresAt: null,
      });
      expect(await store.acquireLease(run.id, "b", 60_000, now)).toMatchObject({
        leaseOwner: "b",
      });
    });

    it("serialises racing acquirers: exactly one wins", async () => {
      const store = await ctx.open();
      const now = Date.now();
      const run = makeRun();
      await store.commit([{ op: "insertRun", run }]);
      const results = await Promise.all(
        ["a", "b", "c", "d"].map((o) => store.acquireLease(run.id, o, 60_000, now)),
      );
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    });
  });
}
