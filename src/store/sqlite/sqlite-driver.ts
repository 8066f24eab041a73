/**
 * @module The slice of better-sqlite3 the SQLite store uses, described as small structural
 * types (as Kysely describes its drivers), plus the one function that opens a real connection and
 * a cache of prepared statements. better-sqlite3's own types never leave this folder; tests and
 * other stores see only these.
 */
import Database from "better-sqlite3";

/** Result of a write statement. */
export interface SqliteRunResult {
  readonly changes: number;
  readonly lastInsertRowid: number | bigint;
}

/** A prepared statement. Parameters are positional (`?`) or named (`@name`) in one object. */
export interface SqliteStatement {
  run(...params: readonly unknown[]): SqliteRunResult;
  get(...params: readonly unknown[]): unknown;
  all(...params: readonly unknown[]): unknown[];
}

/** A synchronous SQLite connection. */
export interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
  /** Runs one or more statements without results. */
  exec(sql: string): unknown;
  /** Runs a PRAGMA; with `simple`, returns the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** True while a transaction (BEGIN … COMMIT/ROLLBACK) is open. */
  readonly inTransaction: boolean;
  /** False once closed. */
  readonly open: boolean;
  close(): unknown;
}

/** Opens a connection to a database file (created if missing). */
export type SqliteOpener = (file: string) => SqliteConnection;

/**
 * Opens `file` with better-sqlite3. Pragmas are the caller's business (see `SqliteStore`).
 *
 * @example
 * const conn = openSqliteFile("/tmp/x.db");
 * try { conn.prepare("SELECT 1").get(); } finally { conn.close(); }
 */
export const openSqliteFile: SqliteOpener = (file) => new Database(file);

/** Prepares statements on `db` once each: the function returns the statement of a SQL text. */
export function statementCache(db: SqliteConnection): (sql: string) => SqliteStatement {
  const statements = new Map<string, SqliteStatement>();
  return (sql) => {
    let stmt = statements.get(sql);
    if (stmt === undefined) {
      stmt = db.prepare(sql);
      statements.set(sql, stmt);
    }
    return stmt;
  };
}
