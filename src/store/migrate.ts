/**
 * @module The migration runner, the same in every dialect: at open, it brings a database to the
 * newest schema in one transaction (each pending migration's SQL for the connection's dialect,
 * then its backfill, then its record), after checking what the database has applied against
 * what this build knows. A dialect supplies only a `MigrationConnection`.
 */
import { AirunError } from "../core/errors.js";
import {
  type AppliedMigration,
  MIGRATIONS,
  MIGRATIONS_TABLE_SQL,
  type Migration,
  type MigrationConnection,
} from "./migrations.js";

/**
 * Applies the pending migrations of the database behind `db`, all or none. `where` names the
 * database in errors. Throws `AirunError` `STORE_SCHEMA_TOO_NEW` or `STORE_SCHEMA_MISMATCH`
 * (see `pendingMigrations`), and `STORE_MIGRATION_MISSING_SQL` when a pending migration has no
 * SQL for the dialect; nothing is applied then. `migrations` defaults to this build's.
 *
 * @example
 * await migrate(sqliteMigrationConnection(conn), "/home/me/.airun/airun.db");
 */
export async function migrate(
  db: MigrationConnection,
  where: string,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<void> {
  await db.exec(MIGRATIONS_TABLE_SQL);
  await db.begin();
  try {
    for (const m of pendingMigrations(await db.appliedMigrations(), where, migrations)) {
      const sql = m.sql[db.dialect];
      if (sql === undefined) {
        throw new AirunError(
          "STORE_MIGRATION_MISSING_SQL",
          `${where}: migration ${m.id} "${m.name}" has no ${db.dialect} SQL`,
          { where, migrationId: m.id, dialect: db.dialect },
        );
      }
      await db.exec(sql);
      await m.backfill?.(db);
      await db.recordMigration(m, Date.now());
    }
    await db.commit();
  } catch (err) {
    await db.rollback();
    throw err;
  }
}

/**
 * Given what a database has applied, returns the migrations still to apply, in order. Throws
 * `AirunError` `STORE_SCHEMA_TOO_NEW` when the database is ahead of this code (a newer airun
 * wrote it) and `STORE_SCHEMA_MISMATCH` when a recorded migration has another name than the
 * code's migration of that id (a foreign or tampered database).
 */
function pendingMigrations(
  applied: readonly AppliedMigration[],
  where: string,
  migrations: readonly Migration[],
): Migration[] {
  const latest = migrations.at(-1)?.id ?? 0;
  const current = applied.reduce((max, m) => Math.max(max, Number(m.id)), 0);
  if (current > latest) {
    throw new AirunError(
      "STORE_SCHEMA_TOO_NEW",
      `${where} has schema version ${current}, but this build of airun knows schema versions up to ${latest}; use a newer airun (or another --home)`,
      { where, schemaVersion: current, supportedVersion: latest },
    );
  }
  for (const row of applied) {
    const known = migrations.find((m) => m.id === Number(row.id));
    if (known === undefined || known.name !== row.name) {
      throw new AirunError(
        "STORE_SCHEMA_MISMATCH",
        `${where} records migration ${row.id} "${row.name}", which this build of airun does not know${known ? ` (expected "${known.name}")` : ""}`,
        { where, migrationId: Number(row.id), migrationName: row.name },
      );
    }
  }
  return migrations.filter((m) => m.id > current);
}
