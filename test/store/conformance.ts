/**
 * @module The Store conformance suite, written once and run against every implementation.
 *
 * `open` may be called several times in one test and must return stores over the SAME backing
 * database each time (a file-backed store reopens its file), so "close then reopen" can be
 * checked. Because that database is shared by every test of the suite, tests use fresh ids and
 * scope their assertions to the rows they wrote.
 */
import { createHash, randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { AirunError, ConflictError } from "../../src/core/errors.js";
import type {
  CompensationRecord,
  EventRecord,
  RunRecord,
  StepRecord,
  Store,
  WriteOp,
} from "../../src/store/store.js";

/** What the suite needs from an implementation. */
export type OpenStore = () => Promise<{ store: Store; cleanup(): Promise<void> }>;

/** A fully populated run; every field non-default so a lost column shows up. */
export function makeRun(overrides: Partial<RunRecord> = {}): RunRecord {
  const id = overrides.id ?? `run-${randomUUID()}`;
  return {
    id,
    kind: "workflow",
    name: `wf-${id}`,
    specVersion: "1",
    specHash: "a".repeat(64),
    specText: "name: wf\nsteps:\n  - id: one\n    use: fs.write # ünïcødé\n",
    plan: { steps: [{ id: "one", use: "fs.write", n: 1.5 }], nested: { ok: true, none: null } },
    principal: "alice@example.com",
    inputs: { path: "/tmp/x", count: 3, tags: ["a", "b"] },
    status: "RUNNING",
    outcome: null,
    reason: null,
    reasonDetail: null,
    idempotencyKey: null,
    leaseOwner: null,
    leaseExpiresAt: null,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_001,
    meta: { counters: { calls: 2 }, flag: false },
    ...overrides,
  };
}

/** A fully populated step. */
export function makeStep(runId: string, overrides: Partial<StepRecord> = {}): StepRecord {
  return {
    runId,
    stepId: "one",
    status: "SUCCEEDED",
    attempts: 2,
    inputs: { path: "/tmp/x", secret: "***" },
    outputs: { bytes: 12, list: [1, "two", null] },
    error: { code: "E_IO", message: "flaky", retryable: true },
    decision: { decision: "ALLOW", rule: "default" },
    contextHash: "c".repeat(64),
    seq: 1,
    startedAt: 1_700_000_000_010,
    finishedAt: 1_700_000_000_020,
    ...overrides,
  };
}

/** A fully populated compensation. */
export function makeCompensation(
  runId: string,
  overrides: Partial<CompensationRecord> = {},
): CompensationRecord {
  return {
    runId,
    stepId: "one",
    seq: 1,
    kind: "declared",
    capability: "http.request",
    inputs: { method: "DELETE", url: "https://example.com/x" },
    undo: { restore: "before" },
    blobs: { before: "b".repeat(64) },
    status: "ARMED",
    attempts: 1,
    error: { code: "E_HTTP", message: "503" },
    updatedAt: 1_700_000_000_030,
    ...overrides,
  };
}

/** An event without its seq. */
export function makeEvent(
  runId: string | null,
  overrides: Partial<Omit<EventRecord, "seq">> = {},
): Omit<EventRecord, "seq"> {
  return {
    runId,
    stepId: "one",
    type: "step.succeeded",
    at: 1_700_000_000_040,
    data: { a: 1, z: [true, null, "x"], nested: { k: "v" } },
    ...overrides,
  };
}

function blobOf(text: string): { id: string; bytes: Uint8Array } {
  const bytes = new TextEncoder().encode(text);
  return { id: createHash("sha256").update(bytes).digest("hex"), bytes };
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/**
 * Registers the conformance tests for one Store implementation.
 *
 * @example
 * describeStoreConformance("sqlite", async () => {
 *   const store = await SqliteStore.open({ file });
 *   return { store, cleanup: () => store.close() };
 * });
 */
export function describeStoreConformance(name: string, open: OpenStore): void {
  describe(`Store conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];

    async function fresh(): Promise<Store> {
      const { store, cleanup } = await open();
      cleanups.push(cleanup);
      return store;
    }

    afterEach(async () => {
      const all = cleanups.splice(0);
      for (const cleanup of all.reverse()) await cleanup();
    });

    describe("records", () => {
      it("round-trips a run with every field, null and non-null", async () => {
        const store = await fresh();
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
        const store = await fresh();
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
        const store = await fresh();
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
        const store = await fresh();
        const run = makeRun();
        const withRun = makeEvent(run.id);
        const global = makeEvent(null, { stepId: null, type: "system.start", data: null });
        const { eventSeqs } = await store.commit([
          { op: "insertRun", run },
          { op: "appendEvent", event: withRun },
          { op: "appendEvent", event: global },
        ]);
        expect(eventSeqs).toHaveLength(2);
        const [s1, s2] = eventSeqs as [number, number];
        const got = await store.listEvents({ afterSeq: s1 - 1, limit: 2 });
        expect(got).toEqual([
          { ...withRun, seq: s1 },
          { ...global, seq: s2 },
        ]);
      });

      it("stores blobs by content: the same bytes twice is fine and reads back equal", async () => {
        const store = await fresh();
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

      it("refuses a blob whose id is not the SHA-256 of its bytes, and applies nothing", async () => {
        const store = await fresh();
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
        const store = await fresh();
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
        const store = await fresh();
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
        const store = await fresh();
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

    describe("preconditions and conflicts", () => {
      it("rejects the whole batch with ConflictError when expectRun's lease owner does not hold", async () => {
        const store = await fresh();
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
        const store = await fresh();
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

      it("rejects a duplicate idempotency key with ConflictError carrying the key", async () => {
        const store = await fresh();
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
        const store = await fresh();
        const run = makeRun();
        await store.commit([{ op: "insertRun", run }]);
        await expect(
          store.commit([{ op: "insertRun", run: { ...run, name: "impostor" } }]),
        ).rejects.toBeInstanceOf(ConflictError);
        expect((await store.getRun(run.id))?.name).toBe(run.name);
      });

      it("allows many runs without an idempotency key", async () => {
        const store = await fresh();
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
      it("assigns strictly increasing seqs across batches, returned in batch order", async () => {
        const store = await fresh();
        const run = makeRun();
        await store.commit([{ op: "insertRun", run }]);
        const seqs: number[] = [];
        for (let i = 0; i < 5; i++) {
          const { eventSeqs } = await store.commit([
            { op: "appendEvent", event: makeEvent(run.id, { type: `t${i}a` }) },
            { op: "putStep", step: makeStep(run.id, { attempts: i }) },
            { op: "appendEvent", event: makeEvent(run.id, { type: `t${i}b` }) },
          ]);
          expect(eventSeqs).toHaveLength(2);
          seqs.push(...eventSeqs);
        }
        for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
        const listed = await store.listEvents({ runId: run.id });
        expect(listed.map((e) => e.seq)).toEqual(seqs);
        expect(listed.map((e) => e.type)).toEqual(
          [0, 1, 2, 3, 4].flatMap((i) => [`t${i}a`, `t${i}b`]),
        );
      });

      it("filters events by run, after a seq, and limit", async () => {
        const store = await fresh();
        const a = makeRun();
        const b = makeRun();
        const { eventSeqs } = await store.commit([
          { op: "insertRun", run: a },
          { op: "insertRun", run: b },
          ...[0, 1, 2, 3].map(
            (i): WriteOp => ({
              op: "appendEvent",
              event: makeEvent(i % 2 ? b.id : a.id, { at: i, type: i < 2 ? "first" : "second" }),
            }),
          ),
        ]);
        const [e0, e1, e2, e3] = eventSeqs as [number, number, number, number];
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
        const store = await fresh();
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
        const seqs = results.map((r) => r.eventSeqs[0]!);
        expect(new Set(seqs).size).toBe(200);
        for (const run of runs) {
          expect(await store.getRun(run.id)).toEqual(run);
          expect(await store.getSteps(run.id)).toHaveLength(1);
        }
        // Durable: a second store over the same database sees all of it.
        const other = await fresh();
        for (const run of runs) expect((await other.getRun(run.id))?.id).toBe(run.id);
        const events = await other.listEvents({ afterSeq: Math.min(...seqs) - 1 });
        expect(events.filter((e) => seqs.includes(e.seq))).toHaveLength(200);
      });

      it("rejects a failing batch inside a group without affecting its neighbours", async () => {
        const store = await fresh();
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

    describe("leases", () => {
      const now = 1_800_000_000_000;

      it("acquires a free lease and refuses it to another owner while it is held", async () => {
        const store = await fresh();
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
        const store = await fresh();
        const run = makeRun({ leaseOwner: "a", leaseExpiresAt: now });
        await store.commit([{ op: "insertRun", run }]);
        expect(await store.acquireLease(run.id, "b", 10_000, now - 1)).toBeUndefined();
        const got = await store.acquireLease(run.id, "b", 10_000, now);
        expect(got).toMatchObject({ leaseOwner: "b", leaseExpiresAt: now + 10_000 });
      });

      it("takes over from a named dead owner even before expiry, but not from someone else", async () => {
        const store = await fresh();
        const run = makeRun({ leaseOwner: "dead", leaseExpiresAt: now + 60_000 });
        await store.commit([{ op: "insertRun", run }]);
        expect(await store.acquireLease(run.id, "b", 10_000, now, "other")).toBeUndefined();
        const got = await store.acquireLease(run.id, "b", 10_000, now, "dead");
        expect(got).toMatchObject({ leaseOwner: "b", leaseExpiresAt: now + 10_000 });
        expect(await store.acquireLease(run.id, "c", 10_000, now, "dead")).toBeUndefined();
      });

      it("renews only the leases the owner holds and reports them", async () => {
        const store = await fresh();
        const owner = `owner-${randomUUID()}`;
        const mine1 = makeRun({ leaseOwner: owner, leaseExpiresAt: now });
        const mine2 = makeRun({ leaseOwner: owner, leaseExpiresAt: now + 5 });
        const theirs = makeRun({ leaseOwner: "someone", leaseExpiresAt: now });
        await store.commit([
          { op: "insertRun", run: mine1 },
          { op: "insertRun", run: mine2 },
          { op: "insertRun", run: theirs },
        ]);
        const renewed = await store.renewLeases(owner, 30_000, now + 1);
        expect([...renewed].sort()).toEqual([mine1.id, mine2.id].sort());
        expect((await store.getRun(mine1.id))?.leaseExpiresAt).toBe(now + 30_001);
        expect((await store.getRun(mine2.id))?.leaseExpiresAt).toBe(now + 30_001);
        expect((await store.getRun(theirs.id))?.leaseExpiresAt).toBe(now);
        expect(await store.renewLeases(`nobody-${randomUUID()}`, 1, now)).toEqual([]);
      });

      it("releases a lease only for its holder", async () => {
        const store = await fresh();
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
        const store = await fresh();
        const run = makeRun();
        await store.commit([{ op: "insertRun", run }]);
        const results = await Promise.all(
          ["a", "b", "c", "d"].map((o) => store.acquireLease(run.id, o, 60_000, now)),
        );
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      });
    });

    describe("listing", () => {
      it("lists active runs oldest first and excludes terminal ones", async () => {
        const store = await fresh();
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
        const store = await fresh();
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
    });

    describe("lifecycle", () => {
      it("keeps everything after close and reopen", async () => {
        const first = await open();
        const run = makeRun({ idempotencyKey: `key-${randomUUID()}` });
        const blob = blobOf(`persist ${randomUUID()}`);
        let seqs: number[];
        try {
          ({ eventSeqs: seqs } = await first.store.commit([
            { op: "insertRun", run },
            { op: "putStep", step: makeStep(run.id) },
            { op: "putCompensation", compensation: makeCompensation(run.id) },
            { op: "putBlob", ...blob },
            { op: "appendEvent", event: makeEvent(run.id) },
          ]));
        } finally {
          await first.store.close();
          await first.cleanup();
        }
        await first.store.close(); // idempotent

        const store = await fresh();
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
        const { store, cleanup } = await open();
        await store.close();
        try {
          await expect(
            store.commit([{ op: "appendEvent", event: makeEvent(null) }]),
          ).rejects.toBeInstanceOf(AirunError);
        } finally {
          await cleanup();
        }
      });
    });
  });
}
