/**
 * @module The migration runner's connection (`../migrate.ts`) over a SQLite connection. The
 * migrations hold the lock of `BEGIN IMMEDIATE`, so two processes opening a new database at once
 * apply them once.
 */
import type { AppliedMigration, MigrationConnection } from "../migrations.js";
import type { EventRow } from "../rows.js";
import { type SqliteConnection, statementCache } from "./sqlite-driver.js";

/**
 * `db` as the migration runner sees it.
 *
 * @example
 * await migrate(sqliteMigrationConnection(db), file);
 */
export function sqliteMigrationConnection(db: SqliteConnection): MigrationConnection {
  const stmt = statementCache(db);
  return {
    dialect: "sqlite",
    async exec(sql) {
      db.exec(sql);
    },
    async begin() {
      db.exec("BEGIN IMMEDIATE");
    },
    async commit() {
      db.exec("COMMIT");
    },
    async rollback() {
      if (db.inTransaction) db.exec("ROLLBACK");
    },
    async appliedMigrations() {
      return stmt("SELECT id, name FROM migrations ORDER BY id").all() as AppliedMigration[];
    },
    async recordMigration(m, appliedAt) {
      stmt("INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)").run(
        m.id,
        m.name,
        appliedAt,
      );
    },
    async readEvents() {
      return stmt(
        "SELECT seq, at, type, run_id, step_id, data FROM events ORDER BY seq",
      ).all() as EventRow[];
    },
    async readEntries() {
      return stmt(
        "SELECT seq, at, type, run_id, step_id, data, hash FROM events ORDER BY seq",
      ).all() as (EventRow & { hash: string })[];
    },
    async linkEvent(seq, runSeq, runHash) {
      stmt("UPDATE events SET run_seq = ?, run_hash = ? WHERE seq = ?").run(runSeq, runHash, seq);
    },
    async rewriteEvent(seq, entry) {
      stmt("UPDATE events SET seq = ?, data = ?, hash = ? WHERE seq = ?").run(
        entry.seq,
        entry.data,
        entry.hash,
        seq,
      );
    },
  };
}
