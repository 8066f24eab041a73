/**
 * The `db.row.*` capabilities against a real PostgreSQL schema and a real SQLite file, one suite
 * written once and run on both (Kysely's habit): changes undone row by row, drift refused unless
 * forced, the row limit and tables without a primary key refused before anything changes,
 * injection through names and values changing nothing, and reconcile telling applied, not
 * applied and in doubt apart.
 */
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRowCapabilities } from "../../../src/capabilities/db/db-rows.js";
import { TargetDatabases } from "../../../src/capabilities/db/db-target.js";
import type { AnyCapability, UndoPlan } from "../../../src/core/capability.js";
import type { DatabaseConfig } from "../../../src/core/database-config.js";
import { POSTGRES_URL, usePostgres } from "../../support/postgres.js";
import { makeCtx, tempDir } from "../helpers.js";

const pgSupport = await usePostgres();

/** A target with table `people` (id PK) and `nokey` (no PK), and raw SQL on it. */
interface Target {
  readonly config: DatabaseConfig;
  exec(sql: string): Promise<void>;
  rows(table?: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

const DDL_SQLITE = [
  "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER, note BLOB)",
  "CREATE TABLE nokey (a INTEGER, b TEXT)",
  "INSERT INTO people (id, name, age) VALUES (1, 'ada', 36), (2, 'bob', 41), (3, 'cy', 29), (4, 'dee', 52)",
  "INSERT INTO nokey VALUES (1, 'x')",
];
const DDL_PG = [
  "CREATE TABLE people (id SERIAL PRIMARY KEY, name TEXT NOT NULL, age INTEGER, born TIMESTAMPTZ DEFAULT '2000-01-02T03:04:05Z', tags JSONB)",
  "CREATE TABLE nokey (a INTEGER, b TEXT)",
  "INSERT INTO people (id, name, age, tags) VALUES (1, 'ada', 36, '{\"x\":[1,2]}'), (2, 'bob', 41, NULL), (3, 'cy', 29, NULL), (4, 'dee', 52, NULL)",
  "SELECT setval('people_id_seq', 4)",
  "INSERT INTO nokey VALUES (1, 'x')",
];

async function sqliteTarget(): Promise<Target> {
  const root = await tempDir("airun-db-");
  const file = join(root, "app.db");
  const db = new Database(file);
  for (const s of DDL_SQLITE) db.exec(s);
  return {
    config: { kind: "sqlite", file, roots: [root], maxRows: 3 },
    async exec(sql) {
      db.exec(sql);
    },
    async rows(table = "people") {
      return db.prepare(`SELECT * FROM ${table} ORDER BY 1`).all() as Record<string, unknown>[];
    },
    async close() {
      db.close();
    },
  };
}

async function postgresTarget(): Promise<Target> {
  const schema = pgSupport.newSchema();
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`SET search_path = ${schema}`);
  for (const s of DDL_PG) await client.query(s);
  return {
    config: { kind: "postgres", url: POSTGRES_URL, schema, passwordEnv: null, maxRows: 3 },
    async exec(sql) {
      await client.query(sql);
    },
    async rows(table = "people") {
      return (await client.query(`SELECT * FROM ${table} ORDER BY 1`)).rows;
    },
    async close() {
      await client.end();
    },
  };
}

describe("db.row.* on a SQLite file reached through a symlink", () => {
  it("refuses a link inside the sandbox root that points at a database outside it, touching nothing", async () => {
    const outside = await sqliteTarget();
    const root = await tempDir("airun-db-root-");
    const link = join(root, "app.db");
    symlinkSync(outside.config.kind === "sqlite" ? outside.config.file : "", link);
    const dbs = new TargetDatabases({
      app: { kind: "sqlite", file: link, roots: [root], maxRows: 3 },
    });
    try {
      const del = createRowCapabilities(dbs).find((c) => c.name === "db.row.delete")!;
      const input = del.input.parse({ db: "app", table: "people", where: { id: 1 } });
      await expect(del.prepare!(input, { ...makeCtx(), stepId: "s1" })).rejects.toMatchObject({
        code: "SANDBOX_VIOLATION",
      });
      expect(await outside.rows()).toHaveLength(4);
    } finally {
      await dbs.close();
      await outside.close();
    }
  });
});

const dialects: [string, () => Promise<Target>, typeof pgSupport.describe][] = [
  ["sqlite", sqliteTarget, describe],
  ["postgres", postgresTarget, pgSupport.describe],
];

for (const [dialect, makeTarget, suite] of dialects) {
  suite(`db.row.* on ${dialect}`, () => {
    let target: Target;
    let dbs: TargetDatabases;
    let caps: Map<string, AnyCapability>;
    let step = 0;

    beforeEach(async () => {
      target = await makeTarget();
      dbs = new TargetDatabases({ app: target.config });
      caps = new Map(createRowCapabilities(dbs).map((c) => [c.name, c]));
    });
    afterEach(async () => {
      await dbs.close();
      await target.close();
    });

    const ctx = () => ({ ...makeCtx(), stepId: `s${++step}` });

    /** prepare + execute, as the engine does; returns the plan and the output. */
    async function write(name: string, input: unknown) {
      const cap = caps.get(name)!;
      const parsed = cap.input.parse(input);
      const c = ctx();
      const plan: UndoPlan = await cap.prepare!(parsed, c);
      const out = await cap.execute(parsed, c);
      return { plan, out, cap, ctx: c, input: parsed };
    }
    const revert = (w: Awaited<ReturnType<typeof write>>, force = false) =>
      w.cap.revert!({ ...w.ctx, data: w.plan.data, blobs: w.plan.blobs ?? {}, force });

    it("undoes an insert, an update and a delete so the table is identical row by row", async () => {
      const before = await target.rows();
      const ins = await write("db.row.insert", {
        db: "app",
        table: "people",
        rows: [{ name: "eve", age: 20 }, { name: "fay" }],
      });
      expect(ins.out).toMatchObject({ count: 2 });
      const upd = await write("db.row.update", {
        db: "app",
        table: "people",
        where: { age: { gte: 40 } },
        set: { age: 99, name: "old" },
      });
      expect(upd.out).toMatchObject({ count: 2, keys: [{ id: 2 }, { id: 4 }] });
      const del = await write("db.row.delete", {
        db: "app",
        table: "people",
        where: { id: { in: [1, 3] } },
      });
      expect(del.out).toMatchObject({ count: 2 });
      const changed = await target.rows();
      expect(changed.map((r) => r.name)).toEqual(["old", "old", "eve", "fay"]);
      for (const w of [del, upd, ins]) await revert(w);
      expect(await target.rows()).toEqual(before);
      // Undo is idempotent: a second revert finds the before-images and changes nothing.
      for (const w of [del, upd, ins]) await revert(w);
      expect(await target.rows()).toEqual(before);
    });

    it("refuses to overwrite a row changed since the step (UNDO_DRIFT), and restores when forced", async () => {
      const before = await target.rows();
      const upd = await write("db.row.update", {
        db: "app",
        table: "people",
        where: { id: 2 },
        set: { age: 1 },
      });
      await target.exec("UPDATE people SET age = 77 WHERE id = 2");
      await expect(revert(upd)).rejects.toMatchObject({ code: "UNDO_DRIFT" });
      expect((await target.rows()).find((r) => r.id === 2)?.age).toBe(77);
      await revert(upd, true);
      expect(await target.rows()).toEqual(before);
    });

    it("refuses a delete matching more rows than max_rows and changes nothing", async () => {
      const before = await target.rows();
      await expect(
        write("db.row.delete", { db: "app", table: "people", where: { age: { gt: 0 } } }),
      ).rejects.toMatchObject({ code: "DB_TOO_MANY_ROWS" });
      await expect(
        caps.get("db.row.delete")!.preview!(
          { db: "app", table: "people", where: { age: { gt: 0 } } },
          ctx(),
        ),
      ).rejects.toMatchObject({ code: "DB_TOO_MANY_ROWS" });
      expect(await target.rows()).toEqual(before);
    });

    it("refuses writes to a table without a primary key", async () => {
      await expect(
        write("db.row.update", { db: "app", table: "nokey", where: { a: 1 }, set: { b: "y" } }),
      ).rejects.toMatchObject({ code: "DB_NO_PRIMARY_KEY" });
      expect(await target.rows("nokey")).toEqual([{ a: 1, b: "x" }]);
    });

    it("changes nothing through injection attempts in where, set and table names", async () => {
      const before = await target.rows();
      const attempts: unknown[] = [
        { db: "app", table: "people; DROP TABLE people", where: { id: 1 }, set: { age: 1 } },
        { db: "app", table: 'people" --', where: { id: 1 }, set: { age: 1 } },
        { db: "app", table: "people", where: { "id = id OR 1=1 --": 1 }, set: { age: 1 } },
        { db: "app", table: "people", where: { id: 1 }, set: { "age = 0, name": "x" } },
        { db: "app", table: "people", where: { name: "' OR '1'='1" }, set: { age: 1 } },
        { db: "app", table: "people", where: { name: { like: "%' OR 1=1 --" } }, set: { age: 1 } },
      ];
      for (const input of attempts) {
        try {
          const w = await write("db.row.update", input);
          expect(w.out).toMatchObject({ count: 0 });
        } catch (err) {
          expect(err).toMatchObject({ code: "DB_INVALID" });
        }
      }
      // A value is a bound parameter: "1 OR 1=1" is compared as a value, never run.
      await write("db.row.delete", { db: "app", table: "people", where: { id: "1 OR 1=1" } }).then(
        (w) => expect(w.out).toMatchObject({ count: 0 }),
        (err) => expect(err).toMatchObject({ code: "DB_ERROR" }),
      );
      expect(await target.rows()).toEqual(before);
      expect(await target.rows("nokey")).toHaveLength(1);
    });

    it("reconcile: committed is applied, rolled back is not applied, changed otherwise is unknown", async () => {
      const cap = caps.get("db.row.update")!;
      const input = cap.input.parse({
        db: "app",
        table: "people",
        where: { id: 3 },
        set: { age: 30 },
      });
      // The target committed but Airun did not record completion: applied.
      const c1 = ctx();
      const plan1 = await cap.prepare!(input, c1);
      await cap.execute(input, c1);
      expect(await cap.reconcile!(input, plan1, c1)).toBe("applied");
      // Prepared, then the process died before the target committed: not applied.
      const input2 = cap.input.parse({
        db: "app",
        table: "people",
        where: { id: 1 },
        set: { age: 5 },
      });
      const c2 = ctx();
      const plan2 = await cap.prepare!(input2, c2);
      await dbs.close(); // rolls back the held transaction, as a dead process's connection does
      expect(await cap.reconcile!(input2, plan2, c2)).toBe("not_applied");
      await expect(cap.execute(input2, c2)).rejects.toMatchObject({ code: "DB_TXN_LOST" });
      // Someone else changed the row: neither image, in doubt.
      await target.exec("UPDATE people SET age = 1234 WHERE id = 3");
      expect(await cap.reconcile!(input, plan1, c1)).toBe("unknown");
      // An insert rolled back is not applied; committed is applied.
      const ins = caps.get("db.row.insert")!;
      const i3 = ins.input.parse({ db: "app", table: "people", rows: [{ id: 50, name: "zed" }] });
      const c3 = ctx();
      const p3 = await ins.prepare!(i3, c3);
      expect(await ins.reconcile!(i3, p3, c3)).toBe("not_applied");
      await ins.execute(i3, c3);
      expect(await ins.reconcile!(i3, p3, c3)).toBe("applied");
    });

    it("seals the rows: the plan's data holds counts and a hash, not the rows", async () => {
      const w = await write("db.row.update", {
        db: "app",
        table: "people",
        where: { id: 1 },
        set: { age: 2 },
      });
      expect(JSON.stringify(w.plan.data)).not.toContain("ada");
      expect(w.plan.data).toMatchObject({ op: "update", count: 1, table: "people" });
      expect(Buffer.from(w.plan.blobs!.rows!).toString()).toContain("ada");
    });

    it("selects rows with a structured where and a limit", async () => {
      const sel = caps.get("db.row.select")!;
      const out = await sel.execute(
        sel.input.parse({ db: "app", table: "people", where: { age: { lt: 40 } }, limit: 1 }),
        ctx(),
      );
      expect(out).toMatchObject({ count: 1, rows: [{ id: 1, name: "ada" }] });
    });
  });
}
