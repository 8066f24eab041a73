/**
 * @module `db.sql.query` and `db.sql.execute`: raw SQL on a configured target database, one
 * statement with bound parameters (`$1` on PostgreSQL, `?` on SQLite). A query runs in a
 * read-only transaction (PostgreSQL `READ ONLY`, SQLite's read-only connection) and returns at
 * most `limit` rows. An execute is irreversible (Airun cannot know what the SQL changed): the
 * default policy denies it unless the step declares a compensation; a statement changing more
 * than `max_rows` rows is rolled back and refused.
 */
import { z } from "zod";
import { type AnyCapability, defineCapability } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import type { JsonObject } from "../../core/json.js";
import type { TargetDatabases } from "./db-target.js";

const param = z.union([z.string(), z.number(), z.boolean(), z.null()]);
/** One statement: no `;` except trailing ones (dropped), so nothing rides along. */
const statement = z
  .string()
  .min(1)
  .transform((s) => s.trim().replace(/;+\s*$/, ""))
  .refine((s) => s.length > 0, { message: "the SQL is empty" });

const queryInput = z.strictObject({
  db: z.string().min(1),
  sql: statement,
  params: z.array(param).max(1000).default([]),
  limit: z.number().int().min(1).max(10_000).default(100),
});
const executeInput = z.strictObject({
  db: z.string().min(1),
  sql: statement,
  params: z.array(param).max(1000).default([]),
});

/** `db.sql.query` and `db.sql.execute` bound to the configured target databases. */
export function createSqlCapabilities(dbs: TargetDatabases): AnyCapability[] {
  return [
    defineCapability({
      name: "db.sql.query",
      description:
        "Runs one SQL query in a read-only transaction on a configured database; at most limit rows.",
      input: queryInput,
      output: z.object({
        rows: z.array(z.record(z.string(), z.json())),
        count: z.number().int(),
        truncated: z.boolean(),
      }),
      risk: "LOW",
      effect: "read",
      idempotent: true,
      undo: "none",
      nondeterministic: true,
      async execute(input) {
        const db = dbs.get(input.db);
        const txn = await db.begin("read");
        try {
          // One row past the limit tells whether there were more; JSON rows on PostgreSQL.
          const sql =
            db.dialect === "postgres"
              ? `SELECT to_jsonb(q) AS r FROM (${input.sql}) AS q LIMIT ${input.limit + 1}`
              : `SELECT * FROM (${input.sql}) LIMIT ${input.limit + 1}`;
          const got = await txn.query(sql, input.params);
          await txn.commit();
          const rows = got.map((r) => (db.dialect === "postgres" ? r.r : r) as JsonObject);
          const truncated = rows.length > input.limit;
          const shown = truncated ? rows.slice(0, input.limit) : rows;
          return { rows: shown, count: shown.length, truncated };
        } catch (err) {
          await txn.rollback().catch(() => undefined);
          throw err;
        }
      },
    }),
    defineCapability({
      name: "db.sql.execute",
      description:
        "Runs one SQL statement on a configured database. Irreversible unless the step declares a compensation.",
      input: executeInput,
      output: z.object({ rows_affected: z.number().int() }),
      risk: "HIGH",
      effect: "write",
      idempotent: false,
      undo: "irreversible",
      async execute(input) {
        const db = dbs.get(input.db);
        const txn = await db.begin("write");
        try {
          const n = await txn.run(input.sql, input.params);
          if (n > db.maxRows) {
            throw new CapabilityError(
              "DB_TOO_MANY_ROWS",
              `the statement changed ${n} rows, more than the limit of ${db.maxRows} (databases.${db.name}.max_rows); it was rolled back`,
              { context: { database: db.name } },
            );
          }
          await txn.commit();
          return { rows_affected: n };
        } catch (err) {
          await txn.rollback().catch(() => undefined);
          throw err;
        }
      },
    }),
  ];
}
