/**
 * @module The Store conformance suite, written once and run against every implementation. An
 * implementation supplies databases and opens store instances on them; the suite never names a
 * dialect.
 *
 * Every test gets a fresh database. Its tests run three ways: with one instance; writing through
 * one instance and reading through another (each read must show what another connection
 * committed); and as races between instances on one database, as two processes or machines
 * would run them (`conformance-races.ts`).
 */
import { describe } from "vitest";
import { describeBatchTests } from "./conformance-batches.js";
import { describeClaimTests } from "./conformance-claims.js";
import { type CreateDatabase, perTestDatabase, splitStore } from "./conformance-context.js";
import { describeLeaseTests } from "./conformance-leases.js";
import { describeRaceTests } from "./conformance-races.js";
import { describeRecordTests } from "./conformance-records.js";

/**
 * Registers the conformance tests for one Store implementation.
 *
 * @example
 * describeStoreConformance("sqlite", async () => {
 *   const dir = mkdtempSync(join(tmpdir(), "db-"));
 *   return {
 *     open: () => SqliteStore.open({ file: join(dir, "airun.db") }),
 *     drop: async () => rmSync(dir, { recursive: true, force: true }),
 *   };
 * });
 */
export function describeStoreConformance(name: string, createDatabase: CreateDatabase): void {
  describe(`Store conformance: ${name}`, () => {
    describe("one instance", () => {
      const ctx = perTestDatabase(createDatabase, (db) => db.open());
      describeRecordTests(ctx);
      describeBatchTests(ctx);
      describeLeaseTests(ctx);
      describeClaimTests(ctx);
    });

    describe("writes through one instance, reads through another", () => {
      const ctx = perTestDatabase(createDatabase, async (db) =>
        splitStore(await db.open(), await db.open()),
      );
      describeRecordTests(ctx);
      describeBatchTests(ctx);
      describeLeaseTests(ctx);
    });

    describe("two instances on one database", () => {
      describeRaceTests(perTestDatabase(createDatabase, (db) => db.open()));
    });
  });
}
