/**
 * @module The listing queries whose text depends on a filter (runs, events), in every dialect: a
 * dialect supplies only how it writes a parameter, a list of values and byte-wise text order.
 */
import type { EventFilter, RunFilter } from "./store.js";

/** How a dialect writes parameters into SQL. */
export interface Placeholders {
  /** Binds `v` (appended to `params`); returns its placeholder. */
  value(params: unknown[], v: unknown): string;
  /** `column` is one of `values` (bound to `params`). */
  oneOf(column: string, params: unknown[], values: readonly string[]): string;
  /** What follows a text column in ORDER BY for byte-wise order (SQLite's default). */
  readonly binaryOrder: string;
}

/** A query and its parameters; undefined when the filter matches nothing. */
export type Query = { readonly sql: string; readonly params: unknown[] } | undefined;

/** Runs matching a filter, newest first. */
export function listRunsQuery(filter: RunFilter, ph: Placeholders): Query {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.status !== undefined) {
    if (filter.status.length === 0) return undefined;
    where.push(ph.oneOf("status", params, filter.status));
  }
  if (filter.name !== undefined) where.push(`name = ${ph.value(params, filter.name)}`);
  if (filter.principal !== undefined) {
    where.push(`principal = ${ph.value(params, filter.principal)}`);
  }
  if (filter.outcome !== undefined) where.push(`outcome = ${ph.value(params, filter.outcome)}`);
  if (filter.createdFrom !== undefined) {
    where.push(`created_at >= ${ph.value(params, filter.createdFrom)}`);
  }
  if (filter.before !== undefined) {
    // The cursor: runs after (older than) the last one listed, in the list's own order.
    const { createdAt, id } = filter.before;
    where.push(
      `(created_at < ${ph.value(params, createdAt)} OR (created_at = ${ph.value(params, createdAt)} AND id${ph.binaryOrder} < ${ph.value(params, id)}))`,
    );
  }
  const sql = `SELECT * FROM runs${where.length ? ` WHERE ${where.join(" AND ")}` : ""}
    ORDER BY created_at DESC, id${ph.binaryOrder} DESC${limitClause(filter.limit, params, ph)}`;
  return { sql, params };
}

/** Integrated events matching a filter, in seq order. */
export function listEventsQuery(filter: EventFilter, ph: Placeholders): Query {
  // Integrated entries only: a pending one (PostgreSQL, just after its commit) has no seq yet.
  const where: string[] = ["seq IS NOT NULL"];
  const params: unknown[] = [];
  if (filter.runId !== undefined) where.push(`run_id = ${ph.value(params, filter.runId)}`);
  if (filter.types !== undefined) {
    if (filter.types.length === 0) return undefined;
    where.push(ph.oneOf("type", params, filter.types));
  }
  if (filter.afterSeq !== undefined) where.push(`seq > ${ph.value(params, filter.afterSeq)}`);
  const sql = `SELECT * FROM events${where.length ? ` WHERE ${where.join(" AND ")}` : ""}
    ORDER BY seq${limitClause(filter.limit, params, ph)}`;
  return { sql, params };
}

function limitClause(limit: number | undefined, params: unknown[], ph: Placeholders): string {
  if (limit === undefined) return "";
  return ` LIMIT ${ph.value(params, Math.max(0, Math.trunc(limit)))}`;
}
