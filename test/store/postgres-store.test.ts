/**
 * @module Runs the Store conformance suite against a real PostgreSQL server (a schema of its own
 * per test, several store instances with connections of their own on it, as several processes
 * would have), plus what only the PostgreSQL store has: durability settings, schemas, and
 * migrating once when several processes open a new database at once. The server and the skip
 * rule: `test/support/postgres.ts`.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open-store.js";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import { POSTGRES_URL as URL, usePostgres } from "../support/postgres.js";
import { describeStoreConformance } from "./conformance.js";
import { makeRun } from "./fixtures.js";

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

    it("refuses a schema name that is not a plain identifier", async () => {
      await expect(
        openStore({ url: server.urlFor("x;DROP TABLE runs"), home: "/nonexistent" }),
      ).rejects.toMatchObject({ code: "INVALID_STORE_URL" });
    });
  });
});
