/**
 * @module The SQLite Store: one better-sqlite3 connection in WAL mode, whose writes go through
 * group commit (`sqlite-group-commit.ts`) and whose SQL is in `sqlite-sql.ts`. What every store
 * shares comes from `..`: row codecs (`rows.ts`, `run-patch.ts`), ledger chaining
 * (`ledger-chain.ts`), write checks and errors, and the migration runner (`migrate.ts`).
 *
 * Events are ledger entries (`core/ledger.ts`): inside the transaction that appends one, the store
 * links it into its run's chain and integrates it at once (numbers it after the last entry and
 * links it to that entry's hash): SQLite has one writer, so nothing is ever pending, and every
 * process writing the same file extends one chain (`BEGIN IMMEDIATE` holds the write lock).
 *
 * Reads run synchronously against the connection between flushes, so they see only committed
 * data. Longer than most files: it implements the whole `Store` interface for one dialect.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { AirunError, NotFoundError } from "../../core/errors.js";
import type { LedgerRow, PendingLedgerRow } from "../../core/ledger.js";
import { chainEntry, EMPTY_LEDGER_HEAD, type LedgerHead } from "../ledger-chain.js";
import { listEventsQuery, listRunsQuery } from "../list-queries.js";
import { migrate } from "../migrate.js";
import {
  type CompensationRow,
  compensationRow,
  type EventRow,
  jsonText,
  type LedgerEventRow,
  type RunRow,
  runRow,
  type StepRow,
  stepRow,
  toCompensation,
  toEvent,
  toLedgerRow,
  toRun,
  toStep,
} from "../rows.js";
import { runPatchColumns } from "../run-patch.js";
import type {
  CompensationRecord,
  EventFilter,
  EventRecord,
  LeaseRenewal,
  RunFilter,
  RunPatch,
  RunPrecondition,
  RunRecord,
  StepRecord,
  Store,
  StoreOptions,
  WriteOp,
} from "../store.js";
import {
  checkBlobId,
  checkRunPrecondition,
  idempotencyKeyConflict,
  type RunGuardRow,
  runIdConflict,
} from "../write-checks.js";
import { storeClosedError } from "../write-errors.js";
import {
  openSqliteFile,
  type SqliteConnection,
  type SqliteOpener,
  type SqliteStatement,
  statementCache,
} from "./sqlite-driver.js";
import { isSqliteBusy, isSqliteConstraint } from "./sqlite-errors.js";
import { type SqliteCommitStats, SqliteGroupCommit } from "./sqlite-group-commit.js";
import { sqliteMigrationConnection } from "./sqlite-migrations.js";
import * as SQL from "./sqlite-sql.js";

/** The file name of an in-memory SQLite database (nothing on disk; gone when closed). */
export const MEMORY_FILE = ":memory:";

/** Options of `SqliteStore.open`. */
export interface SqliteStoreOptions extends StoreOptions {
  /** Database file; its directory is created (mode 0700) if missing. */
  readonly file: string;
  /** `FULL` (default) fsyncs every commit; `NORMAL` may lose the last commits on power loss. */
  readonly synchronous?: "FULL" | "NORMAL";
  /** How long a writer waits for another process's lock, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /** Opens the connection (default: better-sqlite3). */
  readonly opener?: SqliteOpener;
}

/** Connection settings as read back from SQLite. */
export interface SqlitePragmas {
  readonly journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  readonly synchronous: number;
  readonly foreignKeys: number;
  readonly busyTimeout: number;
}

/**
 * The SQLite implementation of `Store`. Open it with `SqliteStore.open` (or `openStore`).
 *
 * @example
 * const store = await SqliteStore.open({ file: "/tmp/airun/airun.db" });
 * try { await store.commit([{ op: "appendEvent", event }]); } finally { await store.close(); }
 */
export class SqliteStore implements Store {
  readonly dialect = "sqlite";
  /** The database file. */
  readonly file: string;

  readonly #db: SqliteConnection;
  readonly #stmt: (sql: string) => SqliteStatement;
  readonly #commits: SqliteGroupCommit;
  readonly #chained: boolean;
  /**
   * The ledger's last entry as the open transaction sees it, read at its first append: another
   * process may have appended since the last one. Forgotten when a transaction begins and when
   * a batch fails (its savepoint rolls its entries back).
   */
  #head: LedgerHead | undefined;
  /** The heads of the run chains the open transaction appended to (forgotten with `#head`). */
  readonly #runHeads = new Map<string, LedgerHead>();

  private constructor(db: SqliteConnection, options: SqliteStoreOptions) {
    this.#db = db;
    this.file = options.file;
    this.#stmt = statementCache(db);
    this.#commits = new SqliteGroupCommit(db, this.#stmt, {
      where: options.file,
      hooks: options.hooks,
      onBegin: () => {
        this.#head = undefined;
        this.#runHeads.clear();
      },
    });
    this.#chained = options.unchainedLedger !== true;
  }

  /**
   * Opens (creating if needed) the database, applies pragmas (WAL, synchronous, foreign keys,
   * busy timeout) and pending migrations in one transaction. Throws `STORE_SCHEMA_TOO_NEW` for
   * a database written by a newer airun.
   */
  static async open(options: SqliteStoreOptions): Promise<SqliteStore> {
    if (options.file !== MEMORY_FILE) {
      mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
    }
    const db = (options.opener ?? openSqliteFile)(options.file);
    try {
      const busyMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000));
      db.pragma(`busy_timeout = ${busyMs}`);
      // Switching a new database to WAL does not wait on busy_timeout: two processes opening
      // the same fresh home at once would see SQLITE_BUSY. Retry until the busy timeout.
      const mode = String(
        retryWhileBusy(() => db.pragma("journal_mode = WAL", { simple: true }), busyMs),
      ).toLowerCase();
      // An in-memory database (":memory:", for a read-only command on a home not created yet)
      // has no journal file: its mode is "memory".
      if (mode !== "wal" && !(options.file === MEMORY_FILE && mode === "memory")) {
        throw new AirunError(
          "STORE_OPEN_FAILED",
          `${options.file}: SQLite refused WAL journal mode (got "${mode}")`,
          { file: options.file },
        );
      }
      db.pragma(`synchronous = ${options.synchronous === "NORMAL" ? "NORMAL" : "FULL"}`);
      db.pragma("foreign_keys = ON");
      await migrate(sqliteMigrationConnection(db), options.file);
      return new SqliteStore(db, options);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Counters since open. */
  stats(): SqliteCommitStats {
    return this.#commits.stats();
  }

  /** The connection's settings, read back from SQLite. */
  pragmas(): SqlitePragmas {
    this.#assertOpen();
    const read = (name: string) => this.#db.pragma(name, { simple: true });
    return {
      journalMode: String(read("journal_mode")),
      synchronous: Number(read("synchronous")),
      foreignKeys: Number(read("foreign_keys")),
      busyTimeout: Number(read("busy_timeout")),
    };
  }

  // ---- writes ----------------------------------------------------------------------------

  commit(batch: readonly WriteOp[]): Promise<{ runSeqs: number[] }> {
    return this.#commits.enqueue(() => {
      try {
        return this.#applyOps(batch);
      } catch (err) {
        this.#head = undefined;
        this.#runHeads.clear();
        throw err;
      }
    });
  }

  acquireLease(
    runId: string,
    owner: string,
    ttlMs: number,
    now: number,
    takeOverFrom?: string,
  ): Promise<RunRecord | undefined> {
    return this.#commits.enqueue(() => {
      const row = this.#stmt(SQL.ACQUIRE_LEASE_SQL).get({
        runId,
        owner,
        now,
        expiresAt: now + ttlMs,
        takeOverFrom: takeOverFrom ?? null,
      });
      return row === undefined ? undefined : toRun(row as RunRow);
    });
  }

  claimRuns(owner: string, ttlMs: number, limit: number, now: number): Promise<RunRecord[]> {
    return this.#commits.enqueue(() => {
      const rows = this.#stmt(SQL.CLAIM_RUNS_SQL).all({
        owner,
        now,
        expiresAt: now + ttlMs,
        limit: Math.max(0, Math.trunc(limit)),
      }) as RunRow[];
      return rows.map(toRun).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    });
  }

  async checkLease(runId: string, owner: string, epoch: number, now: number): Promise<boolean> {
    return this.#read(SQL.CHECK_LEASE_SQL).get(runId, owner, epoch, now) !== undefined;
  }

  async cancelRequests(owner: string): Promise<LeaseRenewal[]> {
    const rows = this.#read(SQL.CANCEL_REQUESTS_SQL).all(owner) as {
      id: string;
      cancel_requested_by: string;
    }[];
    return rows.map((r) => ({ runId: r.id, cancelRequestedBy: r.cancel_requested_by }));
  }

  renewLeases(owner: string, ttlMs: number, now: number): Promise<LeaseRenewal[]> {
    return this.#commits.enqueue(() => {
      const rows = this.#stmt(SQL.RENEW_LEASES_SQL).all(now + ttlMs, owner) as {
        id: string;
        cancel_requested_by: string | null;
      }[];
      return rows
        .map((r) => ({ runId: r.id, cancelRequestedBy: r.cancel_requested_by }))
        .sort((a, b) => (a.runId < b.runId ? -1 : 1));
    });
  }

  releaseLease(runId: string, owner: string): Promise<void> {
    return this.#commits.enqueue(() => {
      this.#stmt(SQL.RELEASE_LEASE_SQL).run(runId, owner);
    });
  }

  /** Flushes queued writes, then closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#commits.closed) return;
    try {
      this.#commits.close();
    } finally {
      this.#db.close();
    }
  }

  // ---- reads -----------------------------------------------------------------------------

  async getRun(id: string): Promise<RunRecord | undefined> {
    const row = this.#read(SQL.GET_RUN_SQL).get(id);
    return row === undefined ? undefined : toRun(row as RunRow);
  }

  async findRunByIdempotencyKey(key: string): Promise<RunRecord | undefined> {
    const row = this.#read(SQL.FIND_RUN_BY_KEY_SQL).get(key);
    return row === undefined ? undefined : toRun(row as RunRow);
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const query = listRunsQuery(filter, SQL.SQLITE_PLACEHOLDERS);
    if (query === undefined) return [];
    return (this.#read(query.sql).all(...query.params) as RunRow[]).map(toRun);
  }

  async listActiveRuns(): Promise<RunRecord[]> {
    const rows = this.#read(SQL.LIST_ACTIVE_RUNS_SQL).all(...SQL.ACTIVE_STATUSES) as RunRow[];
    return rows.map(toRun);
  }

  async getSteps(runId: string): Promise<StepRecord[]> {
    return (this.#read(SQL.GET_STEPS_SQL).all(runId) as StepRow[]).map(toStep);
  }

  async getCompensations(runId: string): Promise<CompensationRecord[]> {
    const rows = this.#read(SQL.GET_COMPENSATIONS_SQL).all(runId) as CompensationRow[];
    return rows.map(toCompensation);
  }

  async getBlob(id: string): Promise<Uint8Array | undefined> {
    const row = this.#read(SQL.GET_BLOB_SQL).get(id) as { bytes: Uint8Array } | undefined;
    // Copy out of the driver's Buffer: callers get a plain, unshared Uint8Array.
    return row === undefined ? undefined : new Uint8Array(row.bytes);
  }

  async blobIds(afterId: string, limit: number): Promise<string[]> {
    const rows = this.#read(SQL.BLOB_IDS_SQL).all(afterId, Math.max(0, Math.trunc(limit)));
    return (rows as { id: string }[]).map((r) => r.id);
  }

  async listEvents(filter: EventFilter = {}): Promise<EventRecord[]> {
    const query = listEventsQuery(filter, SQL.SQLITE_PLACEHOLDERS);
    if (query === undefined) return [];
    return (this.#read(query.sql).all(...query.params) as EventRow[]).map(toEvent);
  }

  async ledgerRows(afterSeq: number, limit: number): Promise<LedgerRow[]> {
    const rows = this.#read(SQL.LEDGER_ROWS_SQL).all(
      afterSeq,
      Math.max(0, Math.trunc(limit)),
    ) as LedgerEventRow[];
    return rows.map(toLedgerRow);
  }

  /** None: SQLite integrates every entry in the transaction that appends it. */
  async pendingLedgerRows(
    _afterId: number,
    _limit: number,
  ): Promise<(PendingLedgerRow & { id: number })[]> {
    this.#assertOpen();
    return [];
  }

  /** Nothing to do: SQLite integrates every entry in the transaction that appends it. */
  async integrateLedger(): Promise<{ integrated: number; pending: number }> {
    this.#assertOpen();
    return { integrated: 0, pending: 0 };
  }

  // ---- applying a batch (inside the group's transaction) ---------------------------------

  #applyOps(batch: readonly WriteOp[]): { runSeqs: number[] } {
    const runSeqs: number[] = [];
    for (const op of batch) {
      switch (op.op) {
        case "insertRun":
          this.#insertRun(op.run);
          break;
        case "updateRun":
          this.#updateRun(op.runId, op.patch);
          break;
        case "expectRun":
          this.#expectRun(op.runId, op.expect);
          break;
        case "putStep":
          this.#stmt(SQL.PUT_STEP_SQL).run(...stepRow(op.step));
          break;
        case "putCompensation":
          this.#stmt(SQL.PUT_COMPENSATION_SQL).run(...compensationRow(op.compensation));
          break;
        case "putBlob":
          this.#putBlob(op.id, op.bytes);
          break;
        case "appendEvent":
          runSeqs.push(this.#appendEvent(op.event));
          break;
        default: {
          const unknownOp: { op?: unknown } = op;
          throw new AirunError("STORE_INVALID_OP", `unknown write op ${String(unknownOp.op)}`);
        }
      }
    }
    return { runSeqs };
  }

  #insertRun(run: RunRecord): void {
    try {
      this.#stmt(SQL.INSERT_RUN_SQL).run(runRow(run));
    } catch (err) {
      if (!isSqliteConstraint(err)) throw err;
      const key = run.idempotencyKey;
      if (key !== null && this.#stmt(SQL.RUN_WITH_KEY_SQL).get(key)) {
        throw idempotencyKeyConflict(run);
      }
      if (this.#stmt(SQL.RUN_WITH_ID_SQL).get(run.id)) throw runIdConflict(run);
      throw err;
    }
  }

  #updateRun(runId: string, patch: RunPatch): void {
    const columns = runPatchColumns(runId, patch);
    const result = this.#stmt(SQL.updateRunSql(columns)).run(
      ...columns.values,
      columns.updatedAt,
      runId,
    );
    if (result.changes === 0) throw new NotFoundError(`run ${runId}`, { runId });
  }

  #expectRun(runId: string, expect: RunPrecondition): void {
    const row = this.#stmt(SQL.RUN_GUARD_SQL).get(runId) as RunGuardRow | undefined;
    checkRunPrecondition(runId, row, expect);
  }

  #putBlob(id: string, bytes: Uint8Array): void {
    checkBlobId(id, bytes);
    this.#stmt(SQL.PUT_BLOB_SQL).run(
      id,
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    );
  }

  #appendEvent(event: Omit<EventRecord, "seq">): number {
    const insert = this.#stmt(SQL.APPEND_ENTRY_SQL);
    if (!this.#chained) {
      const data = jsonText(event.data, "data");
      insert.run(null, event.runId, event.stepId, event.type, event.at, data, "", 0, "");
      return 0;
    }
    // One writer: the entry is linked into its run's chain and integrated at once, in the
    // same transaction (the same rows PostgreSQL's integrator completes later).
    const head = this.#head ?? (this.#stmt(SQL.LEDGER_HEAD_SQL).get() as LedgerHead | undefined);
    const chain = event.runId ?? "";
    const runHead =
      this.#runHeads.get(chain) ??
      (this.#stmt(SQL.RUN_HEAD_SQL).get(event.runId) as LedgerHead | undefined);
    const entry = chainEntry(event, head ?? EMPTY_LEDGER_HEAD, runHead ?? EMPTY_LEDGER_HEAD);
    insert.run(...entry.row);
    this.#head = entry.head;
    this.#runHeads.set(chain, entry.runHead);
    return entry.runHead.seq;
  }

  // ---- plumbing --------------------------------------------------------------------------

  #read(sql: string): SqliteStatement {
    this.#assertOpen();
    return this.#stmt(sql);
  }

  #assertOpen(): void {
    if (this.#commits.closed) throw storeClosedError(this.file);
  }
}

/** Runs `fn`, retrying (with a short blocking pause) while SQLite reports SQLITE_BUSY. */
function retryWhileBusy<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      return fn();
    } catch (err) {
      if (!isSqliteBusy(err) || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, 10);
    }
  }
}
