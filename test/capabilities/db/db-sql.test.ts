/**
 * `db.sql.query` and `db.sql.execute` on a real SQLite file and a real PostgreSQL schema: a
 * query is read-only (a write through it fails and changes nothing) and limited; an execute
 * counts the rows it changed, and one changing more than `max_rows` is rolled back.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSqlCapabilities } from "../../../src/capabilities/db/db-sql-capabilities.js";
import { TargetDatabases } from "../../../src/capabilities/db/db-target.js";
import type { AnyCapability } from "../../../src/core/capability.js";
import type { DatabaseConfig } from "../../../src/core/database-config.js";
import { POSTGRES_URL, usePostgres } from "../../support/postgres.js";
import { makeCtx, tempDir } from "../helpers.js";

const pgSupport = await usePostgres();

interface Target {
  readonly config: DatabaseConfig;
  readonly p: (n: number) => string;
  count(): Promise<number>;
  close(): Promise<void>;
}

async function sqlite(): Promise<Target> {
  const root = await tempDir("airun-sql-");
  const file = join(root, "t.db");
  const db = new Database(file);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  db.exec("INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d')");
  return {
    config: { kind: "sqlite", file, roots: [root], maxRows: 2 },
    p: () => "?",
    count: async () => (db.prepare("SELECT count(*) AS n FROM t").get() as { n: number }).n,
    close: async () => void db.close(),
  };
}

async function postgres(): Promise<Target> {
  const schema = pgSupport.newSchema();
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`);
  await c.query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
  await c.query("INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d')");
  return {
    config: { kind: "postgres", url: POSTGRES_URL, schema, passwordEnv: null, maxRows: 2 },
    p: (n) => `$${n}`,
    count: async () => Number((await c.query("SELECT count(*) AS n FROM t")).rows[0].n),
    close: () => c.end(),
  };
}

const suites: [string, () => Promise<Target>, typeof pgSupport.describe][] = [
  ["sqlite", sqlite, describe],
  ["postgres", postgres, pgSupport.describe],
];

for (const [name, make, suite] of suites) {
  suite(`db.sql.* on ${name}`, () => {
    let target: Target;
    let dbs: TargetDatabases;
    let caps: Map<string, AnyCapability>;
    beforeEach(async () => {
      target = await make();
      dbs = new TargetDatabases({ app: target.config });
      caps = new Map(createSqlCapabilities(dbs).map((c) => [c.name, c]));
    });
    afterEach(async () => {
      await dbs.close();
      await target.close();
    });
    const call = (cap: string, input: unknown) => {
      const c = caps.get(cap)!;
      return c.execute(c.input.parse(input), makeCtx());
    };

    it("queries with bound parameters and a row limit", async () => {
      const out = await call("db.sql.query", {
        db: "app",
        sql: `SELECT id, v FROM t WHERE id >= ${target.p(1)} ORDER BY id;`,
        params: [2],
        limit: 2,
      });
      expect(out).toEqual({
        rows: [
          { id: 2, v: "b" },
          { id: 3, v: "c" },
        ],
        count: 2,
        truncated: true,
      });
    });

    it("refuses writes through a query (read-only transaction) and changes nothing", async () => {
      await expect(
        call("db.sql.query", { db: "app", sql: "DELETE FROM t RETURNING id" }),
      ).rejects.toMatchObject({ code: "DB_ERROR" });
      await expect(
        call("db.sql.query", { db: "app", sql: "SELECT 1; DELETE FROM t" }),
      ).rejects.toMatchObject({ code: "DB_ERROR" });
      expect(await target.count()).toBe(4);
    });

    it("executes a statement and counts its rows; more than max_rows is rolled back", async () => {
      const out = await call("db.sql.execute", {
        db: "app",
        sql: `DELETE FROM t WHERE id = ${target.p(1)}`,
        params: [4],
      });
      expect(out).toEqual({ rows_affected: 1 });
      expect(await target.count()).toBe(3);
      await expect(
        call("db.sql.execute", { db: "app", sql: "DELETE FROM t WHERE id > 0" }),
      ).rejects.toMatchObject({ code: "DB_TOO_MANY_ROWS" });
      expect(await target.count()).toBe(3);
    });
  });
}
