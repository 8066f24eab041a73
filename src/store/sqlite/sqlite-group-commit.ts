/**
 * @module Group commit for the SQLite store. Every write (a `commit` batch, or a lease
 * operation) is queued as a unit of work. A flush, scheduled with `setImmediate`, applies
 * everything queued in ONE physical transaction (`BEGIN IMMEDIATE … COMMIT`); each unit runs
 * inside its own SAVEPOINT, so a unit that fails (a broken `expectRun` precondition, a
 * constraint) is rolled back and rejected alone while its neighbours commit. Promises settle
 * only after `COMMIT` returned, i.e. once the data is durable (`synchronous=FULL` by default).
 * Concurrent runs therefore share fsyncs; a lone sequential caller still gets one commit per
 * batch.
 *
 * The commit hooks (`StoreHooks`) run around each physical transaction: `beforeCommit(n)` right
 * before its `BEGIN`, `atCommit(n)` right before its `COMMIT` (its writes applied),
 * `afterCommit(n)` right after its `COMMIT`, before any promise settles.
 */
import type { StoreHooks } from "../store.js";
import { commitFailedError, commitUncertainError, storeClosedError } from "../write-errors.js";
import type { SqliteConnection, SqliteStatement } from "./sqlite-driver.js";
import { sqliteWriteError } from "./sqlite-errors.js";

/** Counters of a group commit, for tests and benchmarks. */
export interface SqliteCommitStats {
  /** Physical transactions committed (each may hold many units of work). */
  readonly physicalCommits: number;
  /** Units of work (batches and lease operations) committed. */
  readonly committedUnits: number;
  /** Units of work rolled back and rejected. */
  readonly rejectedUnits: number;
}

/** Options of a `SqliteGroupCommit`. */
export interface SqliteGroupCommitOptions {
  /** Names the database in errors. */
  readonly where: string;
  readonly hooks?: StoreHooks | undefined;
  /** Called once a physical transaction has begun, before any of its units is applied. */
  readonly onBegin: () => void;
}

type Settlement =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

interface Unit {
  readonly apply: () => unknown;
  readonly settle: (s: Settlement) => void;
}

/** The write queue of one SQLite connection. */
export class SqliteGroupCommit {
  readonly #db: SqliteConnection;
  readonly #stmt: (sql: string) => SqliteStatement;
  readonly #where: string;
  readonly #hooks: StoreHooks;
  readonly #onBegin: () => void;
  #queue: Unit[] = [];
  #flushHandle: NodeJS.Immediate | undefined;
  #closed = false;
  #transactions = 0;
  #physicalCommits = 0;
  #committedUnits = 0;
  #rejectedUnits = 0;

  /** `stmt` prepares (and caches) statements on `db`. */
  constructor(
    db: SqliteConnection,
    stmt: (sql: string) => SqliteStatement,
    options: SqliteGroupCommitOptions,
  ) {
    this.#db = db;
    this.#stmt = stmt;
    this.#where = options.where;
    this.#hooks = options.hooks ?? {};
    this.#onBegin = options.onBegin;
  }

  /** True once `close` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Counters since the queue was created. */
  stats(): SqliteCommitStats {
    return {
      physicalCommits: this.#physicalCommits,
      committedUnits: this.#committedUnits,
      rejectedUnits: this.#rejectedUnits,
    };
  }

  /**
   * Queues a unit of work. `apply` runs synchronously inside the next physical transaction; if
   * it throws, this unit alone is rolled back and rejected. Resolves with what `apply` returned
   * once the transaction committed.
   */
  enqueue<T>(apply: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(storeClosedError(this.#where));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        apply,
        settle: (s) => (s.ok ? resolve(s.value as T) : reject(s.error)),
      });
      this.#flushHandle ??= setImmediate(() => {
        this.#flushHandle = undefined;
        this.#flush();
      });
    });
  }

  /** Commits what is queued, then refuses further units. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#flushHandle !== undefined) {
      clearImmediate(this.#flushHandle);
      this.#flushHandle = undefined;
    }
    this.#flush();
  }

  /** Applies every queued unit in one physical transaction, then settles their promises. */
  #flush(): void {
    const units = this.#queue;
    if (units.length === 0) return;
    this.#queue = [];
    this.#transactions += 1;
    const n = this.#transactions;

    const settlements: Settlement[] = [];
    try {
      this.#hooks.beforeCommit?.(n);
      this.#run("BEGIN IMMEDIATE");
      this.#onBegin();
      if (units.length === 1) {
        // A lone unit needs no savepoint: if it fails, the whole (one-unit) transaction goes.
        try {
          settlements.push({ ok: true, value: units[0]!.apply() });
        } catch (error) {
          this.#run("ROLLBACK");
          this.#rejectedUnits++;
          units[0]!.settle({ ok: false, error: sqliteWriteError(error) });
          return;
        }
      } else {
        for (const unit of units) settlements.push(this.#applyInSavepoint(unit));
      }
      this.#hooks.atCommit?.(n);
      this.#run("COMMIT");
    } catch (cause) {
      if (this.#db.inTransaction) {
        try {
          this.#db.exec("ROLLBACK");
        } catch {
          // The connection is unusable; the error below already tells every caller.
        }
      }
      const error = commitFailedError(this.#where, cause);
      this.#rejectedUnits += units.length;
      for (const unit of units) unit.settle({ ok: false, error });
      return;
    }
    this.#physicalCommits++;
    const unacknowledged = this.#afterCommit(n);
    units.forEach((unit, i) => {
      const s = settlements[i]!;
      if (s.ok) this.#committedUnits++;
      else this.#rejectedUnits++;
      unit.settle(s.ok && unacknowledged ? { ok: false, error: unacknowledged } : s);
    });
  }

  /** Applies one unit of a group inside its own savepoint, rolled back alone if it throws. */
  #applyInSavepoint(unit: Unit): Settlement {
    this.#run("SAVEPOINT unit");
    let value: unknown;
    try {
      value = unit.apply();
    } catch (error) {
      // If SQLite already rolled the whole transaction back (I/O error, disk full), this
      // throws and the caller fails the entire group.
      this.#run("ROLLBACK TO unit");
      this.#run("RELEASE unit");
      return { ok: false, error: sqliteWriteError(error) };
    }
    this.#run("RELEASE unit");
    return { ok: true, value };
  }

  /** Runs the `afterCommit` hook; what it threw, as the error its committed units get. */
  #afterCommit(n: number): Error | undefined {
    try {
      this.#hooks.afterCommit?.(n);
      return undefined;
    } catch (cause) {
      return commitUncertainError(this.#where, cause);
    }
  }

  #run(sql: string): void {
    this.#stmt(sql).run();
  }
}
