/**
 * @module SQLite's errors as the store reports them: better-sqlite3 throws `SqliteError`s whose
 * `code` is SQLite's extended result code (`SQLITE_CONSTRAINT_UNIQUE`, `SQLITE_BUSY`, …).
 */
import type { AirunError } from "../../core/errors.js";
import { toWriteError } from "../write-errors.js";

/** True for a constraint violation (unique, primary key, foreign key, check, not null). */
export function isSqliteConstraint(err: unknown): boolean {
  return sqliteCode(err)?.startsWith("SQLITE_CONSTRAINT") === true;
}

/** True when another connection holds the lock SQLite waited for. */
export function isSqliteBusy(err: unknown): boolean {
  return sqliteCode(err) === "SQLITE_BUSY";
}

/** An error thrown while applying a write, as the store reports it (`../write-errors.ts`). */
export function sqliteWriteError(err: unknown): AirunError {
  return toWriteError(err, isSqliteConstraint);
}

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
