/**
 * @module Conformance: records round-trip through a store with every field, run patches, listing,
 * and what survives a close.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AirunError } from "../../src/core/errors.js";
import type { WriteOp } from "../../src/store/store.js";
import type { ConformanceContext } from "./conformance-context.js";
import { blobOf, makeCompensation, makeEvent, makeRun, makeStep, sameBytes } from "./fixtures.js";

/** Registers the record tests on `ctx`. */
export function describeRecordTests(ctx: ConformanceContext): void {
  describe("records", () => {
    it("round-trips a run with every field, null and non-null", async () => {
      const store = await ctx.open();
      const full = makeRun({
        kind: "session",
        status: "COMPLETED",
        outcome: "ACCEPT",
        reason: "COMPLETED",
        reasonDetail: { step: "one", figures: [1, 2] },
        idempotencyKey: `key-${randomUUID()}`,
      });
      const leased = makeRun({ leaseOwner: "host:1:abc", leaseExpiresAt: 1_700_000_009_999 });
      const bare = makeRun({ plan: null, inputs: {}, meta: {} });
      await store.commit([
        { op: "insertRun", run: full },
        { op: "insertRun", run: leased },
        { op: "insertRun", run: bare },
      ]);
      expect(await store.getRun(full.id)).toEqual(full);
      expect(await store.getRun(leased.id)).toEqual(leased);
      expect(await store.getRun(bare.id)).toEqual(bare);
      expect(await store.findRunByIdempotencyKey(full.idempotencyKey!)).toEqual(full);
      expect(await store.getRun(`missing-${randomUUID()}`)).toBeUndefined();
      expect(await store.findRunByIdempotencyKey(`missing-${randomUUID()}`)).toBeUndefined();
    });

    it("round-trips steps with every field and upserts by (runId, stepId)", async () => {
      const store = await ctx.open();
      const run = makeRun();
      const full = makeStep(run.id);
      const empty = makeStep(run.id, {
        stepId: "two",
        status: "PENDING",
        attempts: 0,
        inputs: null,
        outputs: null,
        error: null,
        decision: null,
        contextHash: null,
        seq: null,
        startedAt: null,
        finishedAt: null,
      });
      await store.commit([
        { op: "insertRun", run },
        { op: "putStep", step: empty },
        { op: "putStep", step: full },
      ]);
      expect(await store.getSteps(run.id)).toEqual([full, empty]);

      const updated = { ...empty, status: "RUNNING", attempts: 1, seq: 2 } as const;
      await store.commit([{ op: "putStep", step: updated }]);
      expect(await store.getSteps(run.id)).toEqual([full, updated]);
      expect(await store.getSteps(`missing-${randomUUID()}`)).toEqual([]);
    });

    it("round-trips compensations with every field, ordered by seq, upserted by seq", async () => {
      const store = await ctx.open();
      const run = makeRun();
      const second = makeCompensation(run.id, { seq: 2, stepId: "two" });
      const first = makeCompensation(run.id, {
        seq: 1,
        kind: "builtin",
        capability: "fs.write",
        inputs: null,
        undo: null,
        blobs: {},
        status: "PENDING",
        attempts: 0,
        error: null,
      });
      await store.commit([
        { op: "insertRun", run },
        { op: "putCompensation", compensation: second },
        { op: "putCompensation", compensation: first },
      ]);
      expect(await store.getCompensations(run.id)).toEqual([first, second]);

      const armed = { ...first, status: "DONE", attempts: 1, updatedAt: 5 } as const;
      await store.commit([{ op: "putCompensation", compensation: armed }]);
      expect(await store.getCompensations(run.id)).toEqual([armed, second]);
    });

    it("round-trips events with every field, including JSON null data and a null run", async () => {
      const store = await ctx.open();
      const run = makeRun();
      const withRun = makeEvent(run.id);
      const global = makeEvent(null, { stepId: null, type: "system.start", data: null });
      const { runSeqs } = await store.commit([
        { op: "insertRun", run },
        { op: "appendEvent", event: withRun },
        { op: "appendEvent", event: global },
      ]);
      expect(runSeqs).toEqual([1, 1]);
      const [s1, s2] = (await store.listEvents()).map((e) => e.seq) as [number, number];
      const got = await store.listEvents({ afterSeq: s1 - 1, limit: 2 });
      expect(got).toEqual([
        { ...withRun, seq: s1 },
        { ...global, seq: s2 },
      ]);
    });

    it("stores blobs by content: the same bytes twice is fine and reads back equal", async () => {
      const store = await ctx.open();
      const blob = blobOf(`before-image ${randomUUID()}`);
      await store.commit([
        { op: "putBlob", ...blob },
        { op: "putBlob", ...blob },
      ]);
      await store.commit([{ op: "putBlob", ...blob }]);
      expect(sameBytes(await store.getBlob(blob.id), blob.bytes)).toBe(true);
      const empty = blobOf("");
      await store.commit([{ op: "putBlob", ...empty }]);
      const got = await store.getBlob(empty.id);
      expect(got).toBeInstanceOf(Uint8Array);
      expect(got?.byteLength).toBe(0);
      expect(await store.getBlob("0".repeat(64))).toBeUndefined();
    });

    it("lists blob ids in byte order, page by page", async () => {
      const store = await ctx.open();
      const blobs = Array.from({ length: 5 }, (_, i) => blobOf(`page ${i} ${randomUUID()}`));
      await store.commit(blobs.map((b): WriteOp => ({ op: "putBlob", ...b })));
      const ids = blobs.map((b) => b.id).sort();
      expect(await store.blobIds("", 3)).toEqual(ids.slice(0, 3));
      expect(await store.blobIds(ids[2]!, 3)).toEqual(ids.slice(3));
      expect(await store.blobIds(ids[4]!, 3)).toEqual([]);
    });

    it("refuses a blob whose id is not the SHA-256 of its bytes, and applies nothing", async () => {
      const store = await ctx.open();
      const good = blobOf(`good ${randomUUID()}`);
      const bad = { id: blobOf("other").id, bytes: new TextEncoder().encode("not other") };
      await expect(
        store.commit([
          { op: "putBlob", ...good },
          { op: "putBlob", ...bad },
        ]),
      ).rejects.toMatchObject({ code: "BLOB_HASH_MISMATCH" });
      expect(await store.getBlob(good.id)).toBeUndefined();
    });
  });

  describe("updateRun", () => {
    it("changes only the patched fields and always sets updatedAt", async () => {
      const store = await ctx.open();
      const run = makeRun();
      await store.commit([{ op: "insertRun", run }]);
      const before = Date.now();
      await store.commit([
        {
          op: "updateRun",
          runId: run.id,
          patch: { status: "WAITING_APPROVAL", meta: { counters: { calls: 3 } } },
        },
      ]);
      const got = await store.getRun(run.id);
      expect(got).toEqual({
        ...run,
        status: "WAITING_APPROVAL",
        meta: { counters: { calls: 3 } },
        updatedAt: got?.updatedAt,
      });
      expect(got?.updatedAt).toBeGreaterThanOrEqual(before);

      await store.commit([
        {
          op: "updateRun",
          runId: run.id,
          patch: { reasonDetail: { why: "x" }, updatedAt: 42 },
        },
      ]);
      expect(await store.getRun(run.id)).toMatchObject({
        status: "WAITING_APPROVAL",
        reasonDetail: { why: "x" },
        updatedAt: 42,
        createdAt: run.createdAt,
      });
    });

    it("clears the lease when a run becomes terminal", async () => {
      const store = await ctx.open();
      const run = makeRun({ leaseOwner: "me", leaseExpiresAt: Date.now() + 60_000 });
      await store.commit([{ op: "insertRun", run }]);
      await store.commit([
        {
          op: "updateRun",
          runId: run.id,
          patch: { status: "FAILED", outcome: "REMEDIATE", reason: "STEP_FAILED" },
        },
      ]);
      expect(await store.getRun(run.id)).toMatchObject({
        status: "FAILED",
        outcome: "REMEDIATE",
        reason: "STEP_FAILED",
        leaseOwner: null,
        leaseExpiresAt: null,
      });
    });

    it("rejects a patch of a run that does not exist, applying nothing of the batch", async () => {
      const store = await ctx.open();
      const other = makeRun();
      await expect(
        store.commit([
          { op: "insertRun", run: other },
          { op: "updateRun", runId: `missing-${randomUUID()}`, patch: { status: "FAILED" } },
        ]),
      ).rejects.toBeInstanceOf(AirunError);
      expect(await store.getRun(other.id)).toBeUndefined();
    });
  });

  describe("listing", () => {
    it("lists active runs oldest first and excludes terminal ones", async () => {
      const store = await ctx.open();
      const base = 1_600_000_000_000 + Math.floor(Math.random() * 1_000_000);
      const statuses = [
        "PENDING",
        "RUNNING",
        "WAITING_APPROVAL",
        "COMPENSATING",
        "COMPLETED",
        "ROLLED_BACK",
        "FAILED",
      ] as const;
      const runs = statuses.map((status, i) =>
        makeRun({ status, createdAt: base + (statuses.length - i) }),
      );
      await store.commit(runs.map((run): WriteOp => ({ op: "insertRun", run })));
      const ids = new Set(runs.map((r) => r.id));
      const active = (await store.listActiveRuns()).filter((r) => ids.has(r.id));
      expect(active.map((r) => r.status)).toEqual([
        "COMPENSATING",
        "WAITING_APPROVAL",
        "RUNNING",
        "PENDING",
      ]);
    });

    it("lists runs newest first, filtered by status and name, with a limit", async () => {
      const store = await ctx.open();
      const name = `wf-${randomUUID()}`;
      const runs = [0, 1, 2, 3].map((i) =>
        makeRun({ name, createdAt: 1_000 + i, status: i % 2 ? "COMPLETED" : "RUNNING" }),
      );
      await store.commit([
        ...runs.map((run): WriteOp => ({ op: "insertRun", run })),
        { op: "insertRun", run: makeRun() },
      ]);
      expect((await store.listRuns({ name })).map((r) => r.id)).toEqual(
        [...runs].reverse().map((r) => r.id),
      );
      expect((await store.listRuns({ name, status: ["COMPLETED"] })).map((r) => r.id)).toEqual([
        runs[3]!.id,
        runs[1]!.id,
      ]);
      expect((await store.listRuns({ name, limit: 1 })).map((r) => r.id)).toEqual([runs[3]!.id]);
      expect(await store.listRuns({ name, status: [] })).toEqual([]);
      expect((await store.listRuns({ limit: 2 })).length).toBeLessThanOrEqual(2);
    });

    it("filters runs by principal, outcome and creation time, and pages with a cursor", async () => {
      const store = await ctx.open();
      const name = `wf-${randomUUID()}`;
      // Two runs share a creation time: the cursor orders them by id, byte-wise.
      const runs = [0, 1, 1, 2].map((t, i) =>
        makeRun({
          name,
          id: `run-${name}-${"AbCd"[i]}`,
          createdAt: 5_000 + t,
          principal: i < 2 ? "agent:a" : "agent:b",
          status: "COMPLETED",
          outcome: i === 3 ? "ABSTAIN" : "ACCEPT",
        }),
      );
      await store.commit(runs.map((run): WriteOp => ({ op: "insertRun", run })));
      const ids = async (filter: Parameters<typeof store.listRuns>[0]) =>
        (await store.listRuns({ name, ...filter })).map((r) => r.id);
      expect(await ids({ principal: "agent:b" })).toEqual([runs[3]!.id, runs[2]!.id]);
      expect(await ids({ outcome: "ABSTAIN" })).toEqual([runs[3]!.id]);
      // Same time: "b" sorts after "C" byte-wise, so newest-first lists it first.
      expect(await ids({ createdFrom: 5_001 })).toEqual([runs[3]!.id, runs[1]!.id, runs[2]!.id]);
      const pages: string[] = [];
      let before: { createdAt: number; id: string } | undefined;
      for (;;) {
        const page = await store.listRuns({ name, limit: 1, ...(before ? { before } : {}) });
        if (page.length === 0) break;
        pages.push(page[0]!.id);
        before = { createdAt: page[0]!.createdAt, id: page[0]!.id };
      }
      expect(pages).toEqual(await ids({}));
      expect(pages).toEqual([runs[3]!.id, runs[1]!.id, runs[2]!.id, runs[0]!.id]);
    });
  });

  describe("lifecycle", () => {
    it("keeps everything after close and reopen", async () => {
      const first = await ctx.open();
      const run = makeRun({ idempotencyKey: `key-${randomUUID()}` });
      const blob = blobOf(`persist ${randomUUID()}`);
      let seqs: number[];
      try {
        ({ runSeqs: seqs } = await first.commit([
          { op: "insertRun", run },
          { op: "putStep", step: makeStep(run.id) },
          { op: "putCompensation", compensation: makeCompensation(run.id) },
          { op: "putBlob", ...blob },
          { op: "appendEvent", event: makeEvent(run.id) },
        ]));
      } finally {
        await first.close();
      }
      await first.close(); // idempotent

      const store = await ctx.open();
      expect(await store.getRun(run.id)).toEqual(run);
      expect(await store.findRunByIdempotencyKey(run.idempotencyKey!)).toEqual(run);
      expect(await store.getSteps(run.id)).toEqual([makeStep(run.id)]);
      expect(await store.getCompensations(run.id)).toEqual([makeCompensation(run.id)]);
      expect(sameBytes(await store.getBlob(blob.id), blob.bytes)).toBe(true);
      expect(await store.listEvents({ runId: run.id })).toEqual([
        { ...makeEvent(run.id), seq: seqs[0] },
      ]);
    });

    it("rejects writes after close", async () => {
      const store = await ctx.open();
      await store.close();
      await expect(
        store.commit([{ op: "appendEvent", event: makeEvent(null) }]),
      ).rejects.toBeInstanceOf(AirunError);
    });
  });
}
