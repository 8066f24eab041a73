/**
 * @module What the Store conformance suite runs on: the databases an implementation supplies,
 * and the context each test opens its store instances from.
 */
import { afterEach } from "vitest";
import type { Store } from "../../src/store/store.js";

/** A database of the implementation under test. */
export interface TestDatabase {
  /** Opens a new store instance on it, with connections of its own, as another process would. */
  open(): Promise<Store>;
  /** Deletes the database; every instance opened on it is closed by then. */
  drop(): Promise<void>;
}

/** What the suite needs from an implementation: a new, empty database each time. */
export type CreateDatabase = () => Promise<TestDatabase>;

/** What a conformance test gets. */
export interface ConformanceContext {
  /**
   * Opens a store on this test's database (created by the test's first call); every store is
   * closed after the test. Each call gives a new instance.
   */
  open(): Promise<Store>;
}

/**
 * A context whose stores are opened by `openOn` on a database created for each test, and
 * closed, with the database dropped, after it.
 */
export function perTestDatabase(
  createDatabase: CreateDatabase,
  openOn: (db: TestDatabase) => Promise<Store>,
): ConformanceContext {
  let db: TestDatabase | undefined;
  const stores: Store[] = [];
  afterEach(async () => {
    const closed = await Promise.allSettled(stores.splice(0).map((s) => s.close()));
    const dropped = db;
    db = undefined;
    await dropped?.drop();
    const failed = closed.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  });
  return {
    async open() {
      db ??= await createDatabase();
      const store = await openOn(db);
      stores.push(store);
      return store;
    },
  };
}

/** A Store that writes through `writer` and reads through `reader`. */
export function splitStore(writer: Store, reader: Store): Store {
  return {
    dialect: writer.dialect,
    commit: (batch) => writer.commit(batch),
    acquireLease: (...args) => writer.acquireLease(...args),
    renewLeases: (...args) => writer.renewLeases(...args),
    releaseLease: (...args) => writer.releaseLease(...args),
    claimRuns: (...args) => writer.claimRuns(...args),
    checkLease: (...args) => reader.checkLease(...args),
    cancelRequests: (owner) => reader.cancelRequests(owner),
    getRun: (id) => reader.getRun(id),
    findRunByIdempotencyKey: (key) => reader.findRunByIdempotencyKey(key),
    listRuns: (filter) => reader.listRuns(filter),
    listActiveRuns: () => reader.listActiveRuns(),
    getSteps: (runId) => reader.getSteps(runId),
    getCompensations: (runId) => reader.getCompensations(runId),
    getBlob: (id) => reader.getBlob(id),
    blobIds: (afterId, limit) => reader.blobIds(afterId, limit),
    listEvents: (filter) => reader.listEvents(filter),
    ledgerRows: (afterSeq, limit) => reader.ledgerRows(afterSeq, limit),
    pendingLedgerRows: (afterId, limit) => reader.pendingLedgerRows(afterId, limit),
    integrateLedger: () => writer.integrateLedger(),
    async close() {
      try {
        await writer.close();
      } finally {
        await reader.close();
      }
    },
  };
}
