/**
 * @module `db.row.insert|update|delete|select`: structured row changes on a configured target
 * database, undone automatically and drift-safely.
 *
 * A write runs in ONE target transaction that spans `prepare` and `execute`: `prepare` locks the
 * rows the `where` matches (`SELECT … FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite),
 * refuses more than `max_rows` of them, makes the change with `RETURNING` and returns both row
 * images (before and after, by primary key) as the undo plan — sealed at rest as a blob, the
 * plan's data holding only counts and a hash. The engine records that plan durably, then
 * `execute` commits the target transaction. A crash before the commit leaves the rows as they
 * were (the target rolls the transaction back), one after it leaves the after-images:
 * `reconcile` tells which by comparing the rows with both, and answers `unknown` for anything
 * else. `revert` restores the before-images in one transaction, refusing (`UNDO_DRIFT`) rows
 * that match neither image unless forced.
 *
 * One file (~500 lines): the four capabilities are one undo protocol — they share the where
 * compiler, the image capture, the plan's shape and its revert/reconcile, which read best together.
 */
import { z } from "zod";
import {
  type AnyCapability,
  type CallPreview,
  type CapabilityContext,
  defineCapability,
  type ReconcileResult,
  type UndoContext,
  type UndoPlan,
} from "../../core/capability.js";
import { CapabilityError, DriftError } from "../../core/errors.js";
import { canonicalJson, sha256Hex } from "../../core/hash.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import {
  byKeySql,
  byKeysSql,
  imageSql,
  images,
  insertSql,
  keyOf,
  loadTable,
  Params,
  quoteIdent,
  type TableInfo,
  updateSql,
  whereSchema,
  whereSql,
} from "./db-sql.js";
import type { TargetDatabases, TargetDb, TargetTxn } from "./db-target.js";

/** The three row writes. */
export type RowOp = "insert" | "update" | "delete";

/** Undo data of a row write (the rows themselves are in the sealed blob `rows`). */
export const rowPlanSchema = z.object({
  v: z.literal(1),
  op: z.enum(["insert", "update", "delete"]),
  db: z.string(),
  table: z.string(),
  /** Rows changed. */
  count: z.number().int(),
  /** SHA-256 of the canonical JSON of the blob's `{ before, after }`. */
  rows_sha256: z.string(),
});
export type RowPlan = z.infer<typeof rowPlanSchema>;

/** The sealed blob: the row images before and after the change (absent rows omitted). */
interface RowImages {
  readonly before: JsonObject[];
  readonly after: JsonObject[];
}

const name = z.string().min(1);
const row = z.record(z.string(), z.json());

const insertInput = z.strictObject({ db: name, table: name, rows: z.array(row).min(1) });
const nonEmptyWhere = whereSchema.refine((w) => Object.keys(w).length > 0, {
  message: "where must name at least one column (a write never matches every row by default)",
});
const updateInput = z.strictObject({
  db: name,
  table: name,
  where: nonEmptyWhere,
  set: row.refine((s) => Object.keys(s).length > 0, { message: "set must name a column" }),
});
const deleteInput = z.strictObject({ db: name, table: name, where: nonEmptyWhere });
const selectInput = z.strictObject({
  db: name,
  table: name,
  where: whereSchema.default({}),
  limit: z.number().int().min(1).max(10_000).default(100),
});

type WriteInput = {
  db: string;
  table: string;
  rows?: JsonObject[];
  where?: z.infer<typeof whereSchema>;
  set?: JsonObject;
};

const same = (a: JsonValue | undefined, b: JsonValue | undefined) =>
  a !== undefined && b !== undefined && canonicalJson(a) === canonicalJson(b);

const heldKey = (ctx: CapabilityContext) => `${ctx.runId}\u0000${ctx.stepId}\u0000${ctx.attempt}`;

/** A closed transaction whatever `fn` does; `fn`'s error wins. */
async function inTxn<T>(
  db: TargetDb,
  mode: "read" | "write",
  fn: (txn: TargetTxn) => Promise<T>,
): Promise<T> {
  const txn = await db.begin(mode);
  try {
    const out = await fn(txn);
    await txn.commit();
    return out;
  } catch (err) {
    await txn.rollback().catch(() => undefined);
    throw err;
  }
}

function requirePk(t: TableInfo, op: string): void {
  if (t.pk.length === 0) {
    throw new CapabilityError(
      "DB_NO_PRIMARY_KEY",
      `${t.name} has no primary key: db.row.${op} needs one to capture and restore rows exactly`,
      { context: { table: t.name } },
    );
  }
}

function tooMany(db: TargetDb, t: TableInfo, count: number | string): CapabilityError {
  return new CapabilityError(
    "DB_TOO_MANY_ROWS",
    `the call would change ${count} rows of ${t.name}, more than the limit of ${db.maxRows} (databases.${db.name}.max_rows); nothing was changed`,
    { context: { database: db.name, table: t.name } },
  );
}

/**
 * The rows `where` matches, locked (`FOR UPDATE` on PostgreSQL; SQLite's write transaction
 * already excludes other writers), at most `max_rows` + 1 so an excess is seen.
 */
async function matching(
  txn: TargetTxn,
  db: TargetDb,
  t: TableInfo,
  where: NonNullable<WriteInput["where"]>,
  lock: boolean,
  limit = db.maxRows + 1,
): Promise<JsonObject[]> {
  const p = new Params(db.dialect);
  const cond = whereSql(t, where, p);
  const order = (t.pk.length > 0 ? t.pk : t.columns.slice(0, 1)).map((c) => `x.${quoteIdent(c)}`);
  const sql = `SELECT ${imageSql(t, db.dialect)} FROM ${t.sql} AS x WHERE ${cond}${order.length ? ` ORDER BY ${order.join(", ")}` : ""} LIMIT ${limit}${lock && db.dialect === "postgres" ? " FOR UPDATE OF x" : ""}`;
  return images(await txn.query(sql, p.values), db.dialect);
}

/** Makes the change inside `txn`; returns the row images before and after it. */
async function change(
  op: RowOp,
  txn: TargetTxn,
  db: TargetDb,
  t: TableInfo,
  input: WriteInput,
): Promise<RowImages> {
  requirePk(t, op);
  if (op === "insert") {
    const rows = input.rows ?? [];
    if (rows.length > db.maxRows) throw tooMany(db, t, rows.length);
    const after: JsonObject[] = [];
    for (const r of rows) {
      const p = new Params(db.dialect);
      const sql = insertSql(t, r, p, false);
      after.push(...images(await txn.query(sql, p.values), db.dialect));
    }
    return { before: [], after };
  }
  const before = await matching(txn, db, t, input.where ?? {}, true);
  if (before.length > db.maxRows) throw tooMany(db, t, `more than ${db.maxRows}`);
  if (before.length === 0) return { before, after: [] };
  const p = new Params(db.dialect);
  if (op === "update") {
    const set = input.set ?? {};
    for (const c of Object.keys(set)) {
      if (t.pk.includes(c)) {
        throw new CapabilityError(
          "DB_INVALID",
          `set.${c}: the primary key of ${t.name} is not changed by db.row.update (delete and insert instead)`,
          { context: { table: t.name } },
        );
      }
    }
    const sql = updateSql(t, set, (q) => byKeysSql(t, before, q), p);
    return { before, after: images(await txn.query(sql, p.values), db.dialect) };
  }
  const ret =
    db.dialect === "postgres" ? imageSql(t, db.dialect) : t.columns.map(quoteIdent).join(", ");
  const sql = `DELETE FROM ${t.sql} AS x WHERE ${byKeysSql(t, before, p)} RETURNING ${ret}`;
  await txn.query(sql, p.values);
  return { before, after: [] };
}

/** Rows a write would change, read in a read-only transaction (for previews and policy). */
export async function previewRows(
  dbs: TargetDatabases,
  op: RowOp,
  input: WriteInput,
): Promise<{ count: number; rows: JsonObject[]; over: boolean }> {
  const db = dbs.get(input.db);
  return inTxn(db, "read", async (txn) => {
    const t = await loadTable(txn, db.dialect, input.table);
    requirePk(t, op);
    if (op === "insert") {
      const rows = input.rows ?? [];
      return { count: rows.length, rows, over: rows.length > db.maxRows };
    }
    const rows = await matching(txn, db, t, input.where ?? {}, false);
    const over = rows.length > db.maxRows;
    return { count: rows.length, rows: over ? rows.slice(0, db.maxRows) : rows, over };
  });
}

function planOf(op: RowOp, input: WriteInput, imgs: RowImages): UndoPlan {
  const bytes = Buffer.from(canonicalJson(imgs), "utf8");
  const plan: RowPlan = {
    v: 1,
    op,
    db: input.db,
    table: input.table,
    count: op === "insert" ? imgs.after.length : imgs.before.length,
    rows_sha256: sha256Hex(bytes),
  };
  return { data: plan as unknown as JsonValue, blobs: { rows: new Uint8Array(bytes) } };
}

function parsePlan(data: JsonValue, blobs: Readonly<Record<string, Uint8Array>>, cap: string) {
  const plan = rowPlanSchema.safeParse(data);
  const blob = blobs.rows;
  if (!plan.success || !blob) {
    throw new CapabilityError("UNDO_PLAN_INVALID", `the undo plan of ${cap} is malformed`, {
      context: { capability: cap },
    });
  }
  if (sha256Hex(blob) !== plan.data.rows_sha256) {
    throw new CapabilityError(
      "UNDO_PLAN_INVALID",
      `the row images of ${cap} do not match their hash`,
      {
        context: { capability: cap },
      },
    );
  }
  const imgs = JSON.parse(Buffer.from(blob).toString("utf8")) as RowImages;
  return { plan: plan.data, imgs };
}

/** The current image of the row with `image`'s key (locked when writing), or undefined. */
async function current(
  txn: TargetTxn,
  db: TargetDb,
  t: TableInfo,
  image: JsonObject,
  lock: boolean,
): Promise<JsonObject | undefined> {
  const p = new Params(db.dialect);
  const sql = `SELECT ${imageSql(t, db.dialect)} FROM ${t.sql} AS x WHERE ${byKeySql(t, image, p)}${lock && db.dialect === "postgres" ? " FOR UPDATE OF x" : ""}`;
  return images(await txn.query(sql, p.values), db.dialect)[0];
}

/** One row of a change: its key, and its image before and after (undefined: absent). */
interface RowPair {
  readonly key: JsonObject;
  readonly before: JsonObject | undefined;
  readonly after: JsonObject | undefined;
}

function pairs(t: TableInfo, imgs: RowImages): RowPair[] {
  const byKey = new Map<string, { key: JsonObject; before?: JsonObject; after?: JsonObject }>();
  const entry = (img: JsonObject) => {
    const key = keyOf(t, img);
    const k = canonicalJson(key);
    let e = byKey.get(k);
    if (!e) {
      e = { key };
      byKey.set(k, e);
    }
    return e;
  };
  for (const b of imgs.before) entry(b).before = b;
  for (const a of imgs.after) entry(a).after = a;
  return [...byKey.values()].map((e) => ({ key: e.key, before: e.before, after: e.after }));
}

const writable = (t: TableInfo, img: JsonObject): JsonObject =>
  Object.fromEntries(Object.entries(img).filter(([c]) => !t.generated.includes(c)));

/** Restores the rows' before-images in one transaction (see module doc). */
async function revertRows(dbs: TargetDatabases, cap: string, ctx: UndoContext): Promise<void> {
  const { plan, imgs } = parsePlan(ctx.data, ctx.blobs, cap);
  const db = dbs.get(plan.db);
  await inTxn(db, "write", async (txn) => {
    const t = await loadTable(txn, db.dialect, plan.table);
    requirePk(t, plan.op);
    const drifted: JsonObject[] = [];
    const todo: { pair: RowPair; now: JsonObject | undefined }[] = [];
    for (const pair of pairs(t, imgs)) {
      const now = await current(txn, db, t, pair.key, true);
      const isBefore = pair.before === undefined ? now === undefined : same(now, pair.before);
      if (isBefore) continue;
      const isAfter = pair.after === undefined ? now === undefined : same(now, pair.after);
      if (!isAfter && !ctx.force) drifted.push(pair.key);
      else todo.push({ pair, now });
    }
    if (drifted.length > 0) {
      const shown = drifted
        .slice(0, 5)
        .map((k) => canonicalJson(k))
        .join(", ");
      throw new DriftError(
        `${drifted.length} row(s) of ${plan.db}.${plan.table} changed since ${cap} ran (keys ${shown}${drifted.length > 5 ? ", …" : ""}); not restoring (force to override)`,
        { capability: cap, runId: ctx.runId, stepId: ctx.stepId, table: plan.table },
      );
    }
    for (const { pair, now } of todo) {
      const p = new Params(db.dialect);
      if (pair.before === undefined) {
        await txn.query(`DELETE FROM ${t.sql} AS x WHERE ${byKeySql(t, pair.key, p)}`, p.values);
      } else if (now === undefined) {
        await txn.query(insertSql(t, writable(t, pair.before), p, true), p.values);
      } else {
        const set = writable(t, pair.before);
        for (const c of t.pk) delete set[c];
        if (Object.keys(set).length === 0) continue;
        await txn.query(
          updateSql(t, set, (q) => byKeySql(t, pair.key, q), p),
          p.values,
        );
      }
    }
  });
}

/** Whether the rows show the change applied, not applied, or neither (see module doc). */
async function reconcileRows(
  dbs: TargetDatabases,
  cap: string,
  undo: UndoPlan | undefined,
): Promise<ReconcileResult> {
  if (!undo) return "unknown";
  const { plan, imgs } = parsePlan(undo.data, undo.blobs ?? {}, cap);
  const db = dbs.get(plan.db);
  return inTxn(db, "read", async (txn) => {
    const t = await loadTable(txn, db.dialect, plan.table);
    let applied = true;
    let notApplied = true;
    for (const pair of pairs(t, imgs)) {
      const now = await current(txn, db, t, pair.key, false);
      if (!(pair.after === undefined ? now === undefined : same(now, pair.after))) applied = false;
      if (!(pair.before === undefined ? now === undefined : same(now, pair.before)))
        notApplied = false;
    }
    return applied ? "applied" : notApplied ? "not_applied" : "unknown";
  });
}

/** What a committed write returns: the count and the primary keys of the rows it changed. */
const writeOutput = z.object({
  count: z.number().int(),
  keys: z.array(z.record(z.string(), z.json())),
});

function writeCapability(
  dbs: TargetDatabases,
  op: RowOp,
  spec: {
    description: string;
    input: z.ZodType<WriteInput>;
    risk: "MEDIUM" | "HIGH";
    effect: "write" | "delete";
  },
): AnyCapability {
  const cap = `db.row.${op}`;
  return defineCapability({
    name: cap,
    description: spec.description,
    input: spec.input,
    output: writeOutput,
    risk: spec.risk,
    effect: spec.effect,
    idempotent: false,
    undo: "builtin",
    preparesEffect: true,
    // Before the gate: the rows the call would change, read in a read-only transaction. The
    // policy sees their count (`facts.rows`), an approval shows them, and more than
    // `max_rows` fails the step before anyone is asked or anything changes.
    async preview(input: WriteInput): Promise<CallPreview> {
      const preview = await previewRows(dbs, op, input);
      const db = dbs.get(input.db);
      if (preview.over) {
        throw tooMany(db, { name: input.table } as TableInfo, `more than ${db.maxRows}`);
      }
      return {
        facts: { db: input.db, table: input.table, op, rows: preview.count },
        rows: preview.rows,
      };
    },
    async prepare(input: WriteInput, ctx: CapabilityContext): Promise<UndoPlan> {
      const db = dbs.get(input.db);
      const txn = await db.begin("write");
      try {
        const t = await loadTable(txn, db.dialect, input.table);
        const imgs = await change(op, txn, db, t, input);
        const changed = op === "insert" ? imgs.after : imgs.before;
        dbs.hold(heldKey(ctx), txn, {
          count: changed.length,
          keys: changed.map((r) => keyOf(t, r)),
        });
        return planOf(op, input, imgs);
      } catch (err) {
        await txn.rollback().catch(() => undefined);
        throw err;
      }
    },
    async execute(_input: WriteInput, ctx: CapabilityContext) {
      const held = dbs.take(heldKey(ctx));
      if (!held) {
        // The change was prepared in a transaction this process no longer holds (a retry, a
        // re-run after a crash): nothing of it was committed, and it is not made blind.
        throw new CapabilityError(
          "DB_TXN_LOST",
          `${cap}: the transaction that held the change is gone; nothing was committed`,
          { context: { capability: cap, stepId: ctx.stepId } },
        );
      }
      await held.txn.commit();
      return held.value as z.infer<typeof writeOutput>;
    },
    revert: (ctx: UndoContext) => revertRows(dbs, cap, ctx),
    reconcile: (_input: WriteInput, plan: UndoPlan | undefined) => reconcileRows(dbs, cap, plan),
  });
}

/** The `db.row.*` capabilities bound to the configured target databases. */
export function createRowCapabilities(dbs: TargetDatabases): AnyCapability[] {
  return [
    writeCapability(dbs, "insert", {
      description: "Inserts rows into a table of a configured database; undo deletes them.",
      input: insertInput as z.ZodType<WriteInput>,
      risk: "MEDIUM",
      effect: "write",
    }),
    writeCapability(dbs, "update", {
      description:
        "Updates the rows a structured where matches; undo restores their before-images (drift-safe).",
      input: updateInput as z.ZodType<WriteInput>,
      risk: "MEDIUM",
      effect: "write",
    }),
    writeCapability(dbs, "delete", {
      description: "Deletes the rows a structured where matches; undo re-inserts them.",
      input: deleteInput as z.ZodType<WriteInput>,
      risk: "HIGH",
      effect: "delete",
    }),
    defineCapability({
      name: "db.row.select",
      description: "Reads the rows a structured where matches (read-only transaction, row limit).",
      input: selectInput,
      output: z.object({ rows: z.array(z.record(z.string(), z.json())), count: z.number().int() }),
      risk: "LOW",
      effect: "read",
      idempotent: true,
      undo: "none",
      nondeterministic: true,
      async execute(input) {
        const db = dbs.get(input.db);
        return inTxn(db, "read", async (txn) => {
          const t = await loadTable(txn, db.dialect, input.table);
          const rows = await matching(
            txn,
            db,
            t,
            input.where,
            false,
            Math.min(input.limit, db.maxRows),
          );
          return { rows, count: rows.length };
        });
      },
    }),
  ];
}
