/**
 * @module The migration runner against a recording connection: PostgreSQL gets its whole schema
 * from migration 1 in one transaction, and a dialect a pending migration has no SQL for is
 * refused before anything changes. The runner's work on real databases is tested through the
 * stores (sqlite-store.test.ts, postgres-store.test.ts, ledger-chain.test.ts).
 */
import { describe, expect, it } from "vitest";
import { migrate } from "../../src/store/migrate.js";
import {
  MIGRATIONS,
  MIGRATIONS_TABLE_SQL,
  type MigrationConnection,
} from "../../src/store/migrations.js";

/** A PostgreSQL connection to an empty database that records what the runner asks of it. */
function recordingPostgres(calls: string[]): MigrationConnection {
  const call = async (what: string) => {
    calls.push(what);
  };
  return {
    dialect: "postgres",
    exec: (sql) =>
      call(
        sql === MIGRATIONS_TABLE_SQL
          ? "create migrations table"
          : `exec ${sql.trim() === "" ? "(nothing)" : (/CREATE TABLE (\w+)/.exec(sql)?.[1] ?? sql.trim().split("\n")[0])}`,
      ),
    begin: () => call("begin"),
    commit: () => call("commit"),
    rollback: () => call("rollback"),
    appliedMigrations: async () => {
      calls.push("read applied");
      return [];
    },
    recordMigration: (m) => call(`record ${m.id}`),
    readEvents: async () => [],
    rewriteEvent: (seq) => call(`rewrite ${seq}`),
    readEntries: async () => [],
    linkEvent: (seq) => call(`link ${seq}`),
  };
}

describe("migrate", () => {
  it("applies every migration to a new PostgreSQL database in one transaction: the schema at 1, nothing to do at 2-4, lease epochs at 5, run chains at 6", async () => {
    const calls: string[] = [];
    await migrate(recordingPostgres(calls), "postgres://db/airun");
    expect(calls).toEqual([
      "create migrations table",
      "begin",
      "read applied",
      "exec runs",
      "record 1",
      "exec (nothing)",
      "record 2",
      "exec (nothing)",
      "record 3",
      "exec (nothing)",
      "record 4",
      "exec ALTER TABLE runs ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;",
      "record 5",
      "exec ALTER TABLE events ADD COLUMN id BIGINT;",
      "exec CREATE UNIQUE INDEX events_run_chain ON events ((COALESCE(run_id, '')), run_seq)",
      "record 6",
      "commit",
    ]);
  });

  it("refuses a dialect a pending migration has no SQL for, rolling everything back", async () => {
    const calls: string[] = [];
    const sqliteOnly = [
      ...MIGRATIONS,
      { id: MIGRATIONS.length + 1, name: "next", sql: { sqlite: "" } },
    ];
    await expect(
      migrate(recordingPostgres(calls), "postgres://db/airun", sqliteOnly),
    ).rejects.toMatchObject({
      code: "STORE_MIGRATION_MISSING_SQL",
      context: { migrationId: MIGRATIONS.length + 1, dialect: "postgres" },
    });
    expect(calls.at(-1)).toBe("rollback");
    expect(calls).not.toContain("commit");
  });
});
