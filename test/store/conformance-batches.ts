/**
 * @module Conformance: batches are all or nothing (preconditions, conflicts), ledger entries are
 * numbered in order, and concurrent batches sharing a commit stay independent.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ConflictError } from "../../src/core/errors.js";
import type { WriteOp } from "../../src/store/store.js";
import type { ConformanceContext } from "./conformance-context.js";
import { blobOf, makeEvent, makeRun, makeStep } from "./fixtures.js";

/** Registers the batch tests on `ctx`. */
export function describeBatchTests(ctx: ConformanceContext): void {
  describe("preconditions and conflicts", () => {
    it("rejects the whole batch with ConflictError when expectRun's lease owner does not hold", async () => {
      const store = await ctx.open();
      const run = makeRun({ leaseOwner: "owner-a", leaseExpiresAt: Date.now() + 60_000 });
      await store.commit([{ op: "insertRun", run }]);
      const batch: WriteOp[] = [
        { op: "putStep", step: makeStep(run.id, { stepId: "written-before" }) },
        { op: "appendEvent", event: makeEvent(run.id, { type: "should.not.exist" }) },
        { op: "expectRun", runId: run.id, expect: { leaseOwner: "owner-b" } },
        { op: "updateRun", runId: run.id, patch: { status: "COMPENSATING" } },
      ];
      const err = await store.commit(batch).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).code).toBe("CONFLICT");
      expect(await store.getSteps(run.id)).toEqual([]);
      expect(await store.listEvents({ runId: run.id })).toEqual([]);
      expect((await store.getRun(run.id))?.status).toBe("RUNNING");
    });

    it("rejects with ConflictError when expectRun's status does not hold, or the run is missing", async () => {
      const store = await ctx.open();
      const run = makeRun({ status: "WAITING_APPROVAL" });
      await store.commit([{ op: "insertRun", run }]);
      await expect(
        store.commit([
          { op: "expectRun", runId: run.id, expect: { statusIn: ["RUNNING", "PENDING"] } },
          { op: "putStep", step: makeStep(run.id) },
        ]),
      ).rejects.toBeInstanceOf(ConflictError);
      expect(await store.getSteps(run.id)).toEqual([]);
      await expect(
        store.commit([{ op: "expectRun", runId: `missing-${randomUUID()}`, expect: {} }]),
      ).rejects.toBeInstanceOf(ConflictError);

      await store.commit([
        {
          op: "expectRun",
          runId: run.id,
          expect: { statusIn: ["WAITING_APPROVAL"] },
        },
        { op: "putStep", step: makeStep(run.id) },
      ]);
      expect(await store.getSteps(run.id)).toHaveLength(1);
    });

    it("reports the first op of a batch that fails: a precondition before a bad blob, a duplicate run before a step of it", async () => {
      const store = await ctx.open();
      const run = makeRun({ leaseOwner: "owner-a", idempotencyKey: `key-${randomUUID()}` });
      await store.commit([{ op: "insertRun", run }]);
      const blob = blobOf("bytes");
      await expect(
        store.commit([
          { op: "expectRun", runId: run.id, expect: { leaseOwner: "owner-b" } },
          { op: "putBlob", id: "0".repeat(64), bytes: blob.bytes },
        ]),
      ).rejects.toBeInstanceOf(ConflictError);
      const twin = makeRun({ idempotencyKey: run.idempotencyKey });
      await expect(
        store.commit([
          { op: "insertRun", run: twin },
          { op: "putStep", step: makeStep(twin.id) },
        ]),
      ).rejects.toMatchObject({
        code: "CONFLICT",
        context: { idempotencyKey: run.idempotencyKey },
      });
      expect(await store.getRun(twin.id)).toBeUndefined();
    });

    it("rejects a duplicate idempotency key with ConflictError carrying the key", async () => {
      const store = await ctx.open();
      const key = `key-${randomUUID()}`;
      const first = makeRun({ idempotencyKey: key });
      await store.commit([{ op: "insertRun", run: first }]);
      const second = makeRun({ idempotencyKey: key });
      const err = await store
        .commit([
          { op: "putBlob", ...blobOf(`dup ${randomUUID()}`) },
          { op: "insertRun", run: second },
        ])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as ConflictError).context.idempotencyKey).toBe(key);
      expect(await store.getRun(second.id)).toBeUndefined();
      expect((await store.findRunByIdempotencyKey(key))?.id).toBe(first.id);
    });

    it("rejects a duplicate run id with ConflictError and keeps the original", async () => {
      const store = await ctx.open();
      const run = makeRun();
      await store.commit([{ op: "insertRun", run }]);
      await expect(
        store.commit([{ op: "insertRun", run: { ...run, name: "impostor" } }]),
      ).rejects.toBeInstanceOf(ConflictError);
      expect((await store.getRun(run.id))?.name).toBe(run.name);
    });

    it("allows many runs without an idempotency key", async () => {
      const store = await ctx.open();
      const a = makeRun();
      const b = makeRun();
      await store.commit([
        { op: "insertRun", run: a },
        { op: "insertRun", run: b },
      ]);
      expect(await store.getRun(b.id)).toEqual(b);
    });
  });

  describe("events", () => {
    it("numbers a run's events 1, 2, 3, … in its chain, returned in batch order, and lists them by strictly increasing seqs", async () => {
      const store = await ctx.open();
      const run = makeRun();
      await store.commit([{ op: "insertRun", run }]);
      const runSeqs: number[] = [];
      for (let i = 0; i < 5; i++) {
        const { runSeqs: got } = await store.commit([
          { op: "appendEvent", event: makeEvent(run.id, { type: `t${i}a` }) },
          { op: "putStep", step: makeStep(run.id, { attempts: i }) },
          { op: "appendEvent", event: makeEvent(run.id, { type: `t${i}b` }) },
        ]);
        expect(got).toHaveLength(2);
        runSeqs.push(...got);
      }
      expect(runSeqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const listed = await store.listEvents({ runId: run.id });
      const seqs = listed.map((e) => e.seq);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
      expect(listed.map((e) => e.type)).toEqual(
        [0, 1, 2, 3, 4].flatMap((i) => [`t${i}a`, `t${i}b`]),
      );
    });

    it("filters events by run, after a seq, and limit", async () => {
      const store = await ctx.open();
      const a = makeRun();
      const b = makeRun();
      const { runSeqs } = await store.commit([
        { op: "insertRun", run: a },
        { op: "insertRun", run: b },
        ...[0, 1, 2, 3].map(
          (i): WriteOp => ({
            op: "appendEvent",
            event: makeEvent(i % 2 ? b.id : a.id, { at: i, type: i < 2 ? "first" : "second" }),
          }),
        ),
      ]);
      expect(runSeqs).toEqual([1, 1, 2, 2]);
      // Integrated in the order they were written.
      const mine = (await store.listEvents()).filter((e) => e.runId === a.id || e.runId === b.id);
      expect(mine.map((e) => e.at)).toEqual([0, 1, 2, 3]);
      const [e0, e1, e2, e3] = mine.map((e) => e.seq) as [number, number, number, number];
      expect((await store.listEvents({ runId: a.id })).map((e) => e.seq)).toEqual([e0, e2]);
      expect((await store.listEvents({ runId: b.id })).map((e) => e.seq)).toEqual([e1, e3]);
      expect((await store.listEvents({ runId: b.id, afterSeq: e1 })).map((e) => e.seq)).toEqual([
        e3,
      ]);
      expect((await store.listEvents({ afterSeq: e0, limit: 2 })).map((e) => e.seq)).toEqual([
        e1,
        e2,
      ]);
      expect(await store.listEvents({ runId: a.id, limit: 0 })).toEqual([]);
      expect(
        (await store.listEvents({ runId: b.id, types: ["second"] })).map((e) => e.seq),
      ).toEqual([e3]);
      expect(
        (await store.listEvents({ types: ["first", "second"], afterSeq: e1 })).map((e) => e.seq),
      ).toEqual([e2, e3]);
      expect(await store.listEvents({ types: [] })).toEqual([]);
      const all = await store.listEvents({ afterSeq: e0 - 1 });
      expect(all.map((e) => e.seq).slice(0, 4)).toEqual([e0, e1, e2, e3]);
      expect(await store.listEvents({ runId: `missing-${randomUUID()}` })).toEqual([]);
    });
  });

  describe("concurrency", () => {
    it("makes 200 concurrent commits all durable and visible", async () => {
      const store = await ctx.open();
      const runs = Array.from({ length: 200 }, () => makeRun());
      const results = await Promise.all(
        runs.map((run) =>
          store.commit([
            { op: "insertRun", run },
            { op: "putStep", step: makeStep(run.id) },
            { op: "appendEvent", event: makeEvent(run.id) },
          ]),
        ),
      );
      expect(results.map((r) => r.runSeqs)).toEqual(runs.map(() => [1]));
      const seqs = (await store.listEvents()).map((e) => e.seq);
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(seqs.length).toBeGreaterThanOrEqual(200);
      for (const run of runs) {
        expect(await store.getRun(run.id)).toEqual(run);
        expect(await store.getSteps(run.id)).toHaveLength(1);
      }
      // Durable: a second store over the same database sees all of it.
      const other = await ctx.open();
      for (const run of runs) expect((await other.getRun(run.id))?.id).toBe(run.id);
      const events = await other.listEvents({ afterSeq: Math.min(...seqs) - 1 });
      expect(events.filter((e) => seqs.includes(e.seq))).toHaveLength(200);
    });

    it("rejects a failing batch inside a group without affecting its neighbours", async () => {
      const store = await ctx.open();
      const held = makeRun({ leaseOwner: "owner-a", leaseExpiresAt: Date.now() + 60_000 });
      const dupKey = `key-${randomUUID()}`;
      await store.commit([
        { op: "insertRun", run: held },
        { op: "insertRun", run: makeRun({ idempotencyKey: dupKey }) },
      ]);
      const good1 = makeRun();
      const good2 = makeRun();
      const dup = makeRun({ idempotencyKey: dupKey });
      const settled = await Promise.allSettled([
        store.commit([{ op: "insertRun", run: good1 }]),
        store.commit([
          { op: "putStep", step: makeStep(held.id, { stepId: "lost" }) },
          { op: "expectRun", runId: held.id, expect: { leaseOwner: "intruder" } },
        ]),
        store.commit([{ op: "insertRun", run: dup }]),
        store.commit([
          { op: "insertRun", run: good2 },
          { op: "putStep", step: makeStep(good2.id) },
        ]),
        store.commit([{ op: "putStep", step: makeStep(held.id, { stepId: "kept" }) }]),
      ]);
      expect(settled.map((s) => s.status)).toEqual([
        "fulfilled",
        "rejected",
        "rejected",
        "fulfilled",
        "fulfilled",
      ]);
      expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
      expect((settled[2] as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
      expect(await store.getRun(good1.id)).toEqual(good1);
      expect(await store.getRun(good2.id)).toEqual(good2);
      expect(await store.getRun(dup.id)).toBeUndefined();
      expect((await store.getSteps(held.id)).map((s) => s.stepId)).toEqual(["kept"]);
      expect(await store.getSteps(good2.id)).toHaveLength(1);
    });
  });
}
