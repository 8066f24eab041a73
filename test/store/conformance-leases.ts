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
    const now = 1_800_000_000_000;

    it("acquires a free lease and refuses it to another owner while it is held", async () => {
      const store = await ctx.open();
      const run = makeRun();
      await store.commit([{ op: "insertRun", run }]);
      const got = await store.acquireLease(run.id, "a", 10_000, now);
      expect(got).toMatchObject({ id: run.id, leaseOwner: "a", leaseExpiresAt: now + 10_000 });
      expect(await store.acquireLease(run.id, "b", 10_000, now + 9_999)).toBeUndefined();
      expect(await store.getRun(run.id)).toMatchObject({ leaseOwner: "a" });
      const again = await store.acquireLease(run.id, "a", 5_000, now + 1);
      expect(again).toMatchObject({ leaseOwner: "a", leaseExpiresAt: now + 5_001 });
      expect(await store.acquireLease(`missing-${randomUUID()}`, "a", 1, now)).toBeUndefined();
    });

    it("takes over an expired lease", async () => {
      const store = await ctx.open();
      const run = makeRun({ leaseOwner: "a", leaseExpiresAt: now });
      await store.commit([{ op: "insertRun", run }]);
      expect(await store.acquireLease(run.id, "b", 10_000, now - 1)).toBeUndefined();
      const got = await store.acquireLease(run.id, "b", 10_000, now);
      expect(got).toMatchObject({ leaseOwner: "b", leaseExpiresAt: now + 10_000 });
    });

    it("takes over from a named dead owner even before expiry, but not from someone else", async () => {
      const store = await ctx.open();
      const run = makeRun({ leaseOwner: "dead", leaseExpiresAt: now + 60_000 });
      await store.commit([{ op: "insertRun", run }]);
      expect(await store.acquireLease(run.id, "b", 10_000, now, "other")).toBeUndefined();
      const got = await store.acquireLease(run.id, "b", 10_000, now, "dead");
      expect(got).toMatchObject({ leaseOwner: "b", leaseExpiresAt: now + 10_000 });
      expect(await store.acquireLease(run.id, "c", 10_000, now, "dead")).toBeUndefined();
    });

    it("renews only the leases the owner holds and reports them, with their cancel requests", async () => {
      const store = await ctx.open();
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
      const renewed = await store.renewLeases(owner, 30_000, now + 1);
      expect([...renewed].sort((x, y) => (x.runId < y.runId ? -1 : 1))).toEqual(
        [
          { runId: mine1.id, cancelRequestedBy: null },
          { runId: mine2.id, cancelRequestedBy: "user:bob" },
        ].sort((x, y) => (x.runId < y.runId ? -1 : 1)),
      );
      expect((await store.getRun(mine1.id))?.leaseExpiresAt).toBe(now + 30_001);
      expect((await store.getRun(mine2.id))?.leaseExpiresAt).toBe(now + 30_001);
      expect((await store.getRun(theirs.id))?.leaseExpiresAt).toBe(now);
      expect(await store.renewLeases(`nobody-${randomUUID()}`, 1, now)).toEqual([]);
    });

    it("releases a lease only for its holder", async () => {
      const store = await ctx.open();
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
      const run = makeRun();
      await store.commit([{ op: "insertRun", run }]);
      const results = await Promise.all(
        ["a", "b", "c", "d"].map((o) => store.acquireLease(run.id, o, 60_000, now)),
      );
      expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    });
  });
}
