/**
 * @module The migration runner against a connection of a dialect the migrations carry no SQL
 * for yet (PostgreSQL): it must refuse before it changes anything. The runner's work on real
 * databases is tested through the SQLite store (sqlite-store.test.ts, ledger-chain.test.ts).
 */
import { describe, expect, it } from "vitest";
import { migrate } from "../../src/store/migrate.js";
import { MIGRATIONS_TABLE_SQL, type MigrationConnection } from "../../src/store/migrations.js";

/** A PostgreSQL connection to an empty database that records what the runner asks of it. */
function recordingPostgres(calls: string[]): MigrationConnection {
  const call = async (what: string) => {
    calls.push(what);
  };
  return {
    dialect: "postgres",
    exec: (sql) => call(sql === MIGRATIONS_TABLE_SQL ? "create migrations table" : `exec ${sql}`),
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
  };
}

describe("migrate", () => {
  it("refuses a dialect a pending migration has no SQL for, rolling back before any change", async () => {
    const calls: string[] = [];
    await expect(migrate(recordingPostgres(calls), "postgres://db/airun")).rejects.toMatchObject({
      code: "STORE_MIGRATION_MISSING_SQL",
      context: { migrationId: 1, dialect: "postgres" },
    });
    expect(calls).toEqual(["create migrations table", "begin", "read applied", "rollback"]);
  });
});
