/**
 * @module Runs the Store conformance suite against a real PostgreSQL server (a schema of its own
 * per test, several store instances with connections of their own on it, as several processes
 * would have), plus what only the PostgreSQL store has: durability settings, schemas,
 * migrating once when several processes open a new database at once, and the statements and
 * round trips a commit costs. The server and the skip
 * rule: `test/support/postgres.ts`.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open-store.js";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import type { WriteOp } from "../../src/store/store.js";
import { POSTGRES_URL as URL, usePostgres } from "../support/postgres.js";
import { describeStoreConformance } from "./conformance.js";
import { makeEvent, makeRun, makeStep } from "./fixtures.js";

const server = await usePostgres();
const { newSchema } = server;

server.describe("PostgreSQL", () => {
  describeStoreConformance("postgres (schema per test)", async () => {
    const schema = newSchema();
    return {
      open: () => openStore({ url: server.urlFor(schema), home: "/nonexistent" }),
      drop: async () => undefined, // dropped after the file
    };
  });

  describe("PostgresStore", () => {
    it("runs every connection with synchronous_commit on, in its own schema (created at open)", async () => {
      const schema = newSchema();
      const store = await openStore({ url: server.urlFor(schema), home: "/nonexistent" });
      try {
        expect(await (store as PostgresStore).settings()).toEqual({
          synchronousCommit: "on",
          searchPath: schema,
        });
        await store.commit([{ op: "insertRun", run: makeRun() }]);
        const admin = new pg.Client({ connectionString: URL });
        await admin.connect();
        try {
          const tables = await admin.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
            [schema],
          );
          expect(tables.rows.map((r) => r.table_name)).toEqual([
            "blobs",
            "compensations",
            "events",
            "migrations",
            "runs",
            "steps",
          ]);
          const runs = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.runs`);
          expect(runs.rows[0].n).toBe(1);
        } finally {
          await admin.end();
        }
      } finally {
        await store.close();
      }
    });

    it("two processes opening one new database at once migrate it once", async () => {
      const schema = newSchema();
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => PostgresStore.open({ url: URL, schema })),
      );
      try {
        await stores[0]!.commit([{ op: "insertRun", run: makeRun() }]);
        expect(await stores[3]!.listRuns()).toHaveLength(1);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it("commits a batch in two round trips: its statements pipelined, consecutive rows of a kind in one", async () => {
      const store = await PostgresStore.open({
        url: URL,
        schema: newSchema(),
        backgroundIntegration: false,
      });
      const run = makeRun({ leaseOwner: "w1", leaseEpoch: 3 });
      const counted = async (batch: WriteOp[]) => {
        const count = countQueries();
        try {
          await store.commit(batch);
        } finally {
          count.stop();
        }
        return { statements: count.statements, roundTrips: count.roundTrips };
      };
      try {
        // BEGIN, the run, whether its id or key was taken, the steps, the chain's lock and
        // head (after the lock, in a statement of its own), the events, COMMIT.
        expect(
          await counted([
            { op: "insertRun", run },
            ...["s0", "s1", "s2"].map((stepId) => ({
              op: "putStep" as const,
              step: makeStep(run.id, { stepId }),
            })),
            { op: "appendEvent", event: makeEvent(run.id, { type: "run.started" }) },
            { op: "appendEvent", event: makeEvent(run.id) },
          ]),
        ).toEqual({ statements: 8, roundTrips: 2 });
        // BEGIN, the fence (the run read FOR UPDATE), the step, lock, head, events, COMMIT.
        expect(
          await counted([
            { op: "expectRun", runId: run.id, expect: { leaseOwner: "w1", leaseEpoch: 3 } },
            { op: "putStep", step: makeStep(run.id, { stepId: "s0", attempts: 3 }) },
            ...[1, 2, 3].map((i) => ({
              op: "appendEvent" as const,
              event: makeEvent(run.id, { data: { i } }),
            })),
          ]),
        ).toEqual({ statements: 7, roundTrips: 2 });
        // The same with the run's end behind: the fence found the run and locked it, so its
        // update needs no answer read before COMMIT.
        expect(
          await counted([
            { op: "expectRun", runId: run.id, expect: { leaseOwner: "w1", leaseEpoch: 3 } },
            { op: "putStep", step: makeStep(run.id, { stepId: "s1", attempts: 3 }) },
            { op: "appendEvent", event: makeEvent(run.id, { data: { i: 4 } }) },
            {
              op: "updateRun",
              runId: run.id,
              patch: { status: "COMPLETED", outcome: "ACCEPT" },
            },
            { op: "appendEvent", event: makeEvent(run.id, { data: { i: 5 } }) },
          ]),
        ).toEqual({ statements: 9, roundTrips: 2 });
        expect(await store.getRun(run.id)).toMatchObject({ status: "COMPLETED", leaseOwner: null });
        const events = await store.listEvents({ runId: run.id });
        expect(events.map((e) => e.data)).toEqual([
          makeEvent(run.id).data,
          makeEvent(run.id).data,
          { i: 1 },
          { i: 2 },
          { i: 3 },
          { i: 4 },
          { i: 5 },
        ]);
        expect((await store.getSteps(run.id)).map((s) => [s.stepId, s.attempts])).toEqual([
          ["s0", 3],
          ["s1", 3],
          ["s2", 2],
        ]);
      } finally {
        await store.close();
      }
    });

    it("refuses a schema name that is not a plain identifier", async () => {
      await expect(
        openStore({ url: server.urlFor("x;DROP TABLE runs"), home: "/nonexistent" }),
      ).rejects.toMatchObject({ code: "INVALID_STORE_URL" });
    });
  });
});

/**
 * Counts the statements every `pg` client of this process sends until `stop()`, and the round
 * trips: a statement sent to a client with none of its statements unanswered starts one.
 */
function countQueries(): { statements: number; roundTrips: number; stop(): void } {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = proto.query;
  const unanswered = new WeakMap<object, number>();
  const count = { statements: 0, roundTrips: 0, stop: () => (proto.query = query) };
  proto.query = function (this: object, ...args: unknown[]) {
    count.statements += 1;
    const n = unanswered.get(this) ?? 0;
    if (n === 0) count.roundTrips += 1;
    unanswered.set(this, n + 1);
    const answered = () => unanswered.set(this, (unanswered.get(this) ?? 1) - 1);
    // The pool's own queries pass a callback and get no promise.
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === "function") {
      args[last] = (...answer: unknown[]) => {
        answered();
        return callback(...answer);
      };
      return query.apply(this, args);
    }
    const result = query.apply(this, args) as Promise<unknown>;
    result.then(answered, answered);
    return result;
  };
  return count;
}
