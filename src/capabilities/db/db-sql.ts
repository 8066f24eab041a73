/**
 * @module SQL for the structured `db.row.*` capabilities, built from data, never from strings a
 * caller wrote: table names are checked against the catalog (`pg_class` / `sqlite_schema`),
 * column names against the table's real columns, every identifier is quoted, every value is a
 * bound parameter. Row images are the rows' columns as JSON (`to_jsonb` on PostgreSQL, which
 * also turns them back into typed rows with `jsonb_populate_record`; the column values as they
 * are on SQLite, BLOBs as `{ "$base64": … }`).
 */
import { z } from "zod";
import { CapabilityError } from "../../core/errors.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import type { Dialect, TargetTxn } from "./db-target.js";

/** What the catalog says about a table. */
export interface TableInfo {
  /** The quoted, schema-qualified name to put in SQL. */
  readonly sql: string;
  /** The name as the caller gave it (for messages). */
  readonly name: string;
  /** Every column, in table order. */
  readonly columns: readonly string[];
  /** Primary-key columns, in key order; empty: the table has none. */
  readonly pk: readonly string[];
  /** Generated columns (computed by the database: never written, not restored). */
  readonly generated: readonly string[];
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;

/** Quotes an identifier (already checked against the catalog). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function invalid(message: string, context: Record<string, string> = {}): CapabilityError {
  return new CapabilityError("DB_INVALID", message, { context });
}

/** Looks `table` up in the target's catalog; throws `DB_INVALID` when it is no table there. */
export async function loadTable(
  txn: TargetTxn,
  dialect: Dialect,
  table: string,
): Promise<TableInfo> {
  if (!TABLE_NAME.test(table)) {
    throw invalid(`table ${JSON.stringify(table)} is not a plain table name ([schema.]name)`, {
      table,
    });
  }
  const dot = table.indexOf(".");
  const schema = dot < 0 ? null : table.slice(0, dot);
  const name = dot < 0 ? table : table.slice(dot + 1);
  if (dialect === "postgres") {
    const found = await txn.query(
      `SELECT c.oid::int8 AS oid, n.nspname AS nsp, c.relname AS rel
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND c.relname = $1
          AND CASE WHEN $2::text IS NULL THEN pg_table_is_visible(c.oid) ELSE n.nspname = $2::text END`,
      [name, schema],
    );
    const rel = found[0];
    if (!rel) throw invalid(`no table ${JSON.stringify(table)} in the database`, { table });
    const cols = await txn.query(
      `SELECT attname, attgenerated <> '' AS generated FROM pg_attribute
        WHERE attrelid = $1::int8::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
      [rel.oid],
    );
    const pk = await txn.query(
      `SELECT a.attname FROM pg_index i
         JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = $1::int8::oid AND i.indisprimary ORDER BY k.ord`,
      [rel.oid],
    );
    return {
      sql: `${quoteIdent(String(rel.nsp))}.${quoteIdent(String(rel.rel))}`,
      name: table,
      columns: cols.map((c) => String(c.attname)),
      pk: pk.map((c) => String(c.attname)),
      generated: cols.filter((c) => c.generated === true).map((c) => String(c.attname)),
    };
  }
  if (schema !== null && schema !== "main") {
    throw invalid(`SQLite tables are named without a schema (got ${JSON.stringify(table)})`, {
      table,
    });
  }
  const found = await txn.query(
    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ?",
    [name],
  );
  if (!found[0]) throw invalid(`no table ${JSON.stringify(table)} in the database`, { table });
  const info = await txn.query("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", [name]);
  const pk = info
    .filter((c) => Number(c.pk) > 0)
    .sort((a, b) => Number(a.pk) - Number(b.pk))
    .map((c) => String(c.name));
  return {
    sql: quoteIdent(name),
    name: table,
    columns: info.map((c) => String(c.name)),
    pk,
    generated: [],
  };
}

/** Checks that `column` is one of the table's columns; returns it quoted. */
export function column(t: TableInfo, col: string, field: string): string {
  if (!t.columns.includes(col)) {
    throw invalid(`${field}: ${JSON.stringify(col)} is not a column of ${t.name}`, {
      table: t.name,
      field,
    });
  }
  return quoteIdent(col);
}

/** A value in `where` or `set`: JSON, bound as a parameter. */
const value = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const operator = z
  .strictObject({
    eq: value,
    ne: value,
    lt: value,
    lte: value,
    gt: value,
    gte: value,
    in: z.array(value).max(1000),
    not_in: z.array(value).max(1000),
    like: z.string(),
    is_null: z.boolean(),
  })
  .partial()
  .refine((o) => Object.keys(o).length >= 1, { message: "an operator object needs an operator" });

/**
 * A structured condition: column → value (equality; null means IS NULL) or an operator object
 * (`{ gt: 5 }`, `{ in: [1, 2] }`, `{ like: "a%" }`, `{ is_null: true }`); conditions are ANDed.
 */
export const whereSchema = z.record(z.string(), z.union([value, operator]));
export type Where = z.infer<typeof whereSchema>;

/** Bound parameters of one statement, with the dialect's placeholders. */
export class Params {
  readonly values: unknown[] = [];
  constructor(readonly dialect: Dialect) {}
  /** Binds `v`; returns its placeholder. */
  bind(v: unknown): string {
    // PostgreSQL takes JSON as text (typed by the column); SQLite's driver maps values itself.
    const json = this.dialect === "postgres" && v !== null && typeof v === "object";
    this.values.push(json ? JSON.stringify(v) : v);
    return this.dialect === "postgres" ? `$${this.values.length}` : "?";
  }
}

const OPS: Record<string, string> = { eq: "=", ne: "<>", lt: "<", lte: "<=", gt: ">", gte: ">=" };

/** `where` as SQL over alias `x` (`TRUE` when empty). */
export function whereSql(t: TableInfo, where: Where, p: Params): string {
  const parts: string[] = [];
  for (const [col, cond] of Object.entries(where)) {
    const c = `x.${column(t, col, `where.${col}`)}`;
    if (cond === null) parts.push(`${c} IS NULL`);
    else if (typeof cond !== "object") parts.push(`${c} = ${p.bind(cond)}`);
    else {
      for (const [op, v] of Object.entries(cond)) {
        if (op in OPS) {
          parts.push(
            v === null
              ? `${c} IS ${op === "ne" ? "NOT " : ""}NULL`
              : `${c} ${OPS[op]} ${p.bind(v)}`,
          );
        } else if (op === "in" || op === "not_in") {
          const list = v as JsonValue[];
          if (list.length === 0) parts.push(op === "in" ? "1 = 0" : "1 = 1");
          else {
            parts.push(
              `${c} ${op === "in" ? "IN" : "NOT IN"} (${list.map((x) => p.bind(x)).join(", ")})`,
            );
          }
        } else if (op === "like") parts.push(`${c} LIKE ${p.bind(v)}`);
        else if (op === "is_null") parts.push(`${c} IS ${v ? "" : "NOT "}NULL`);
      }
    }
  }
  return parts.length === 0 ? "1 = 1" : parts.join(" AND ");
}

/** The columns of a row image as SELECT/RETURNING list over alias `x`. */
export function imageSql(t: TableInfo, dialect: Dialect): string {
  return dialect === "postgres"
    ? "to_jsonb(x) AS r"
    : t.columns.map((c) => `x.${quoteIdent(c)}`).join(", ");
}

/** Rows of a statement selecting `imageSql`, as images. */
export function images(rows: Record<string, unknown>[], dialect: Dialect): JsonObject[] {
  return rows.map((r) => (dialect === "postgres" ? (r.r as JsonObject) : (r as JsonObject)));
}

/** The primary key of an image, as an object of its key columns. */
export function keyOf(t: TableInfo, image: JsonObject): JsonObject {
  const key: JsonObject = {};
  for (const c of t.pk) key[c] = image[c] ?? null;
  return key;
}

/** A condition over alias `x` matching the row whose key is in `image` (bound). */
export function byKeySql(t: TableInfo, image: JsonObject, p: Params): string {
  if (p.dialect === "postgres") {
    // The key typed by the table itself: jsonb_populate_record casts each value to its column.
    const k = `(jsonb_populate_record(NULL::${t.sql}, ${p.bind(keyOf(t, image))}::jsonb))`;
    return t.pk.map((c) => `x.${quoteIdent(c)} = ${k}.${quoteIdent(c)}`).join(" AND ");
  }
  return t.pk.map((c) => `x.${quoteIdent(c)} = ${p.bind(image[c] ?? null)}`).join(" AND ");
}

/** Rows whose keys are among `imgs`' keys (bound), over alias `x`. */
export function byKeysSql(t: TableInfo, imgs: readonly JsonObject[], p: Params): string {
  if (imgs.length === 0) return "1 = 0";
  if (p.dialect === "postgres") {
    const cols = t.pk.map((c) => quoteIdent(c));
    const keys = p.bind(imgs.map((i) => keyOf(t, i)));
    return `(${cols.map((c) => `x.${c}`).join(", ")}) IN (SELECT ${cols.map((c) => `k.${c}`).join(", ")} FROM jsonb_populate_recordset(NULL::${t.sql}, ${keys}::jsonb) AS k)`;
  }
  return `(${imgs.map((i) => `(${byKeySql(t, i, p)})`).join(" OR ")})`;
}

/** INSERT of one full or partial row image; returns the row's image. */
export function insertSql(t: TableInfo, image: JsonObject, p: Params, restore: boolean): string {
  const cols = Object.keys(image).map((c) => column(t, c, `rows.${c}`));
  if (cols.length === 0) {
    return p.dialect === "postgres"
      ? `INSERT INTO ${t.sql} AS x DEFAULT VALUES RETURNING ${imageSql(t, p.dialect)}`
      : `INSERT INTO ${t.sql} AS x DEFAULT VALUES RETURNING ${t.columns.map(quoteIdent).join(", ")}`;
  }
  if (p.dialect === "postgres") {
    const rec = `jsonb_populate_record(NULL::${t.sql}, ${p.bind(image)}::jsonb)`;
    return `INSERT INTO ${t.sql} AS x (${cols.join(", ")})${restore ? " OVERRIDING SYSTEM VALUE" : ""} SELECT ${cols.map((c) => `r.${c}`).join(", ")} FROM ${rec} AS r RETURNING ${imageSql(t, p.dialect)}`;
  }
  const vals = Object.values(image).map((v) => p.bind(v));
  return `INSERT INTO ${t.sql} AS x (${cols.join(", ")}) VALUES (${vals.join(", ")}) RETURNING ${t.columns.map(quoteIdent).join(", ")}`;
}

/**
 * UPDATE setting `set` on the rows `cond` matches (built after the SET list, so positional
 * placeholders follow the text); returns their new images.
 */
export function updateSql(
  t: TableInfo,
  set: JsonObject,
  cond: (p: Params) => string,
  p: Params,
): string {
  const ret =
    p.dialect === "postgres" ? imageSql(t, p.dialect) : t.columns.map(quoteIdent).join(", ");
  if (p.dialect === "postgres") {
    const cols = Object.keys(set).map((c) => column(t, c, `set.${c}`));
    const rec = `jsonb_populate_record(NULL::${t.sql}, ${p.bind(set)}::jsonb)`;
    return `UPDATE ${t.sql} AS x SET ${cols.map((c) => `${c} = s.${c}`).join(", ")} FROM ${rec} AS s WHERE ${cond(p)} RETURNING ${ret}`;
  }
  const assigns = Object.entries(set).map(([c, v]) => `${column(t, c, `set.${c}`)} = ${p.bind(v)}`);
  return `UPDATE ${t.sql} AS x SET ${assigns.join(", ")} WHERE ${cond(p)} RETURNING ${ret}`;
}
