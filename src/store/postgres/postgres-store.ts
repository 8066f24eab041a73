/**
 * @module The PostgreSQL Store (`store: postgres://…`): a `pg` connection pool, one database
 * transaction per batch, and the same shared parts as the SQLite store (row codecs, run patches,
 * ledger chaining, write checks and errors, the migration runner). The driver is imported only
 * when a PostgreSQL store is opened, so the default install and cold start do not load it.
 *
 * Durability: every connection runs with `synchronous_commit = on`, so a batch is acknowledged
 * only after its commit reached the server's WAL on disk (as SQLite's `synchronous=FULL`).
 *
 * Ledger (`store/ledger-chain.ts`): an appended event becomes, inside the batch's transaction,
 * the next entry of its run's chain, under a transaction-scoped advisory lock of that chain
 * alone (`runChainLockKey` + the run id): writers of different runs never wait for each other.
 * The entry is pending (no seq, no chain hash) until the integrator numbers it: one integrator
 * at a time per schema (`ledgerLockKey`, try-locked), in batches, run by a timer shortly after
 * a commit that appended (`INTEGRATE_DELAY_MS`), by `integrateLedger` (ledger verify,
 * checkpoints, evidence packs), before `listEvents`, and at `close`. Whichever process
 * integrates, the result is the same; a process killed before integrating leaves its entries
 * for the next integrator.
 *
 * Fencing: an `expectRun` precondition reads the run `FOR UPDATE`, so a lease checked in a batch
 * cannot be taken by another process before that batch commits.
 *
 * Longer than most files: it implements the whole `Store` interface for one dialect, and the
 * integrator shares its transactions, pool and lifecycle (its timer ends with `close`).
 */
import { AirunError, NotFoundError } from "../../core/errors.js";
import type { LedgerRow, PendingLedgerRow } from "../../core/ledger.js";
import type { RunStatus } from "../../core/status.js";
import {
  EMPTY_LEDGER_HEAD,
  integrateBatch,
  type LedgerHead,
  linkEntry,
  type PendingRow,
} from "../ledger-chain.js";
import { listEventsQuery, listRunsQuery } from "../list-queries.js";
import { migrate } from "../migrate.js";
import {
  type CompensationRow,
  compensationRow,
  type EventRow,
  jsonText,
  type LedgerEventRow,
  type PendingEventRow,
  type RunRow,
  runRow,
  type StepRow,
  stepRow,
  toCompensation,
  toEvent,
  toLedgerRow,
  toPendingLedgerRow,
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
  RunRecord,
  StepRecord,
  Store,
  StoreHooks,
  StoreOptions,
  WakeReason,
  WriteOp,
} from "../store.js";
import {
  checkBlobId,
  checkRunPrecondition,
  idempotencyKeyConflict,
  type RunGuardRow,
  runIdConflict,
} from "../write-checks.js";
import {
  commitFailedError,
  commitUncertainError,
  storeClosedError,
  toWriteError,
} from "../write-errors.js";
import {
  connectPool,
  isPgConstraint,
  type PgClient,
  type PgPool,
  postgresMigrationConnection,
  redactedUrl,
} from "./postgres-driver.js";
import { PgTransaction } from "./postgres-pipeline.js";
import * as SQL from "./postgres-sql.js";

/** Options of `PostgresStore.open`. */
export interface PostgresStoreOptions extends StoreOptions {
  /** `postgres://user:password@host:port/database` (libpq URL; `?sslmode=` etc. honoured). */
  readonly url: string;
  /**
   * Schema holding Airun's tables (created if missing); default `public`. Several homes may
   * share one database in schemas of their own.
   */
  readonly schema?: string;
  /** Connections in the pool (default 10). */
  readonly poolSize?: number;
  /**
   * Whether this instance integrates the ledger by itself shortly after its commits (default
   * true). Tests turn it off to look at pending entries; `integrateLedger` still works.
   */
  readonly backgroundIntegration?: boolean;
}

/** How long after a commit that appended the integrator runs (entries batch up meanwhile). */
const INTEGRATE_DELAY_MS = 100;

/** Pending entries the integrator numbers per transaction. */
const INTEGRATE_BATCH = 2000;

/**
 * The PostgreSQL implementation of `Store`. Open it with `PostgresStore.open` (or `openStore`).
 *
 * @example
 * const store = await PostgresStore.open({ url: "postgres://127.0.0.1/test" });
 * try { console.log(await store.listActiveRuns()); } finally { await store.close(); }
 */
export class PostgresStore implements Store {
  readonly dialect = "postgres";
  /** The database, password masked: how errors name it. */
  readonly where: string;

  readonly #pool: PgPool;
  readonly #hooks: StoreHooks;
  readonly #chained: boolean;
  readonly #background: boolean;
  /** This schema's integrator lock, as a bigint literal. */
  readonly #ledgerLockKey: string;
  /** This schema's run-chain lock key (the first half of each chain's two-key lock). */
  readonly #runChainLockKey: number;
  /** The NOTIFY channel of this schema's workers. */
  readonly #channel: string;
  #transactions = 0;
  #closed = false;
  /** The integrator's timer, while one is set. */
  #integrateTimer: NodeJS.Timeout | undefined;
  /** The integration running in this process, if any (one at a time). */
  #integrating: Promise<unknown> | undefined;

  private constructor(pool: PgPool, where: string, options: PostgresStoreOptions) {
    this.#pool = pool;
    this.where = where;
    this.#hooks = options.hooks ?? {};
    this.#chained = options.unchainedLedger !== true;
    this.#background = options.backgroundIntegration !== false;
    this.#ledgerLockKey = SQL.ledgerLockKey(options.schema ?? "public");
    this.#runChainLockKey = SQL.runChainLockKey(options.schema ?? "public");
    this.#channel = SQL.wakeChannel(options.schema ?? "public");
  }

  /**
   * Connects, creates the schema if asked for one that is missing, and applies pending
   * migrations in one transaction, under a session advisory lock so that processes opening one
   * database at once migrate it once. Throws `STORE_OPEN_FAILED` when the server cannot be
   * reached, `STORE_SCHEMA_TOO_NEW` for a database written by a newer airun.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const where = redactedUrl(options.url) + (options.schema ? ` (schema ${options.schema})` : "");
    const pool = await connectPool(options, where);
    const lockKey = SQL.ledgerLockKey(options.schema ?? "public");
    try {
      const client = await pool.connect();
      try {
        await client.query(`SELECT pg_advisory_lock(${lockKey})`);
        try {
          if (options.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
          await migrate(postgresMigrationConnection(client), where);
        } finally {
          await client.query(`SELECT pg_advisory_unlock(${lockKey})`);
        }
      } finally {
        client.release();
      }
      return new PostgresStore(pool, where, options);
    } catch (err) {
      await pool.end().catch(() => undefined);
      if (err instanceof AirunError) throw err;
      throw new AirunError(
        "STORE_OPEN_FAILED",
        `${where}: ${(err as Error).message}`,
        { where },
        { cause: err },
      );
    }
  }

  /** The settings a commit's connection runs with, read back from the server. */
  async settings(): Promise<{ synchronousCommit: string; searchPath: string }> {
    const [row] = await this.#rows<{ synchronous_commit: string; search_path: string }>(
      "SELECT current_setting('synchronous_commit') AS synchronous_commit, current_setting('search_path') AS search_path",
    );
    return {
      synchronousCommit: String(row?.synchronous_commit),
      searchPath: String(row?.search_path),
    };
  }

  // ---- writes ----------------------------------------------------------------------------

  async commit(batch: readonly WriteOp[]): Promise<{ runSeqs: number[] }> {
    const result = await this.#transaction((tx) => this.#applyOps(tx, batch));
    if (result.runSeqs.length > 0 && this.#chained && this.#background) {
      this.#scheduleIntegration(INTEGRATE_DELAY_MS);
    }
    return result;
  }

  /** Lease times come from the database's clock: `now` is not used (see `RunRecord`). */
  acquireLease(
    runId: string,
    owner: string,
    ttlMs: number,
    _now: number,
    takeOverFrom?: string,
  ): Promise<RunRecord | undefined> {
    return this.#transaction(async ({ client }) => {
      const { rows } = await client.query(SQL.ACQUIRE_LEASE_SQL, [
        runId,
        owner,
        ttlMs,
        takeOverFrom ?? null,
      ]);
      return rows[0] === undefined ? undefined : toRun(rows[0] as unknown as RunRow);
    });
  }

  /** One statement, `FOR UPDATE SKIP LOCKED`, on the database's clock (`now` is not used). */
  claimRuns(owner: string, ttlMs: number, limit: number, _now: number): Promise<RunRecord[]> {
    return this.#transaction(async ({ client }) => {
      const { rows } = await client.query(SQL.CLAIM_RUNS_SQL, [
        owner,
        ttlMs,
        Math.max(0, Math.trunc(limit)),
      ]);
      return (rows as unknown as RunRow[])
        .map(toRun)
        .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
    });
  }

  async checkLease(runId: string, owner: string, epoch: number, _now: number): Promise<boolean> {
    return (await this.#rows(SQL.CHECK_LEASE_SQL, [runId, owner, epoch])).length > 0;
  }

  async cancelRequests(owner: string): Promise<LeaseRenewal[]> {
    const rows = await this.#rows<{ id: string; cancel_requested_by: string }>(
      SQL.CANCEL_REQUESTS_SQL,
      [owner],
    );
    return rows.map((r) => ({ runId: r.id, cancelRequestedBy: r.cancel_requested_by }));
  }

  /** Extends the owner's leases on the database's clock (`now` is not used). */
  renewLeases(owner: string, ttlMs: number, _now: number): Promise<LeaseRenewal[]> {
    return this.#transaction(async ({ client }) => {
      const { rows } = await client.query(SQL.RENEW_LEASES_SQL, [ttlMs, owner]);
      return (rows as { id: string; cancel_requested_by: string | null }[])
        .map((r) => ({ runId: r.id, cancelRequestedBy: r.cancel_requested_by }))
        .sort((a, b) => (a.runId < b.runId ? -1 : 1));
    });
  }

  releaseLease(runId: string, owner: string): Promise<void> {
    return this.#transaction(async (tx) => {
      const { rows } = await tx.client.query(SQL.RELEASE_LEASE_SQL, [runId, owner]);
      const row = rows[0] as { status: RunStatus; kind: string } | undefined;
      if (row && row.kind === "workflow" && SQL.ACTIVE_STATUSES.includes(row.status)) {
        wakeOnCommit(tx, "ready");
      }
    });
  }

  /**
   * LISTENs on this schema's channel on a connection of its own, reconnecting after a second
   * when it drops (polling covers the gap: a wakeup is only a latency hint).
   */
  async listen(onWake: (what: WakeReason) => void): Promise<() => Promise<void>> {
    let stopped = false;
    let client: (PgClient & PgListener) | undefined;
    let retry: NodeJS.Timeout | undefined;
    const connect = async (): Promise<void> => {
      if (stopped || this.#closed) return;
      try {
        const c = (await this.#pool.connect()) as PgClient & PgListener;
        c.on("notification", (msg) => {
          if (msg.payload === "ready" || msg.payload === "cancel") onWake(msg.payload);
        });
        c.on("error", () => {
          if (client !== c) return;
          client = undefined;
          c.release(true);
          retry = setTimeout(() => void connect(), 1000);
          retry.unref();
        });
        await c.query(`LISTEN ${this.#channel}`);
        if (stopped) c.release();
        else client = c;
      } catch {
        retry = setTimeout(() => void connect(), 1000);
        retry.unref();
      }
    };
    await connect();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      if (c) {
        await c.query(`UNLISTEN ${this.#channel}`).catch(() => undefined);
        c.release();
      }
    };
  }

  /**
   * Integrates what this process left pending (best effort: another process, or the next
   * `ledger verify`, integrates whatever is left), waits for the pool's connections to be
   * returned, then closes them. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearTimeout(this.#integrateTimer);
    this.#integrateTimer = undefined;
    await this.#integrating?.catch(() => undefined);
    if (this.#chained && this.#background) await this.#integrateOnce(false).catch(() => undefined);
    this.#closed = true;
    await this.#pool.end();
  }

  // ---- the integrator --------------------------------------------------------------------

  async integrateLedger(): Promise<{ integrated: number; pending: number; refused?: string }> {
    if (this.#closed) throw storeClosedError(this.where);
    let integrated = 0;
    for (;;) {
      const r = await this.#integrateOnce(true);
      integrated += r.integrated;
      if (r.refused !== undefined || r.integrated < INTEGRATE_BATCH) {
        const [row] = await this.#rows<{ n: number }>(SQL.COUNT_PENDING_SQL);
        const pending = Number(row?.n ?? 0);
        return r.refused === undefined
          ? { integrated, pending }
          : { integrated, pending, refused: r.refused };
      }
    }
  }

  async pendingLedgerRows(
    afterId: number,
    limit: number,
  ): Promise<(PendingLedgerRow & { id: number })[]> {
    const rows = await this.#rows<PendingEventRow>(SQL.PENDING_ROWS_SQL, [
      afterId,
      Math.max(0, Math.trunc(limit)),
    ]);
    return rows.map(toPendingLedgerRow);
  }

  /** Sets the integrator's timer unless one is set (it never keeps the process alive). */
  #scheduleIntegration(delayMs: number): void {
    if (this.#integrateTimer !== undefined || this.#closed) return;
    this.#integrateTimer = setTimeout(() => {
      this.#integrateTimer = undefined;
      if (this.#closed) return;
      this.#integrateOnce(false).then(
        (r) => {
          // Busy elsewhere, or more than a batch waiting: come back.
          if (r.busy || r.integrated === INTEGRATE_BATCH) this.#scheduleIntegration(delayMs);
        },
        () => this.#scheduleIntegration(delayMs * 10),
      );
    }, delayMs);
    this.#integrateTimer.unref();
  }

  /**
   * One integrator transaction: takes the schema's integrator lock (waiting for it when `wait`,
   * else giving up when another holds it: `busy`), numbers up to a batch of pending entries
   * after the ledger's head, and commits. One at a time in this process.
   */
  async #integrateOnce(
    wait: boolean,
  ): Promise<{ integrated: number; busy: boolean; refused?: string }> {
    while (this.#integrating !== undefined) await this.#integrating.catch(() => undefined);
    const run = this.#transaction(async ({ client }) => {
      if (wait) {
        await client.query(`SELECT pg_advisory_xact_lock(${this.#ledgerLockKey})`);
      } else {
        const { rows } = await client.query(
          `SELECT pg_try_advisory_xact_lock(${this.#ledgerLockKey}) AS ok`,
        );
        if ((rows[0] as { ok: boolean }).ok !== true) return { integrated: 0, busy: true };
      }
      const pending = (await client.query(SQL.PENDING_FOR_INTEGRATION_SQL, [INTEGRATE_BATCH]))
        .rows as unknown as (PendingEventRow & { run_prev: string | null })[];
      if (pending.length === 0) return { integrated: 0, busy: false };
      const { rows: heads } = await client.query(SQL.LEDGER_HEAD_SQL);
      const h = heads[0] as { seq: number | string; hash: string } | undefined;
      const head = h === undefined ? EMPTY_LEDGER_HEAD : { seq: Number(h.seq), hash: h.hash };
      const batch = integrateBatch(
        pending.map((r): PendingRow => ({ ...toPendingLedgerRow(r), runPrev: r.run_prev })),
        head,
      );
      if (batch.updates.length > 0) {
        await client.query(SQL.INTEGRATE_SQL, [
          batch.updates.map((u) => u.id),
          batch.updates.map((u) => u.seq),
          batch.updates.map((u) => u.hash),
        ]);
      }
      return batch.refused === undefined
        ? { integrated: batch.updates.length, busy: false }
        : { integrated: batch.updates.length, busy: false, refused: batch.refused };
    }, false);
    this.#integrating = run;
    try {
      return await run;
    } finally {
      if (this.#integrating === run) this.#integrating = undefined;
    }
  }

  // ---- reads -----------------------------------------------------------------------------

  async getRun(id: string): Promise<RunRecord | undefined> {
    const [row] = await this.#rows<RunRow>(SQL.GET_RUN_SQL, [id]);
    return row === undefined ? undefined : toRun(row);
  }

  async findRunByIdempotencyKey(key: string): Promise<RunRecord | undefined> {
    const [row] = await this.#rows<RunRow>(SQL.FIND_RUN_BY_KEY_SQL, [key]);
    return row === undefined ? undefined : toRun(row);
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const query = listRunsQuery(filter, SQL.POSTGRES_PLACEHOLDERS);
    if (query === undefined) return [];
    return (await this.#rows<RunRow>(query.sql, query.params)).map(toRun);
  }

  async listActiveRuns(): Promise<RunRecord[]> {
    const rows = await this.#rows<RunRow>(SQL.LIST_ACTIVE_RUNS_SQL, [[...SQL.ACTIVE_STATUSES]]);
    return rows.map(toRun);
  }

  async getSteps(runId: string): Promise<StepRecord[]> {
    return (await this.#rows<StepRow>(SQL.GET_STEPS_SQL, [runId])).map(toStep);
  }

  async getCompensations(runId: string): Promise<CompensationRecord[]> {
    const rows = await this.#rows<CompensationRow>(SQL.GET_COMPENSATIONS_SQL, [runId]);
    return rows.map(toCompensation);
  }

  async getBlob(id: string): Promise<Uint8Array | undefined> {
    const [row] = await this.#rows<{ bytes: Buffer }>(SQL.GET_BLOB_SQL, [id]);
    return row === undefined ? undefined : new Uint8Array(row.bytes);
  }

  async blobIds(afterId: string, limit: number): Promise<string[]> {
    const rows = await this.#rows<{ id: string }>(SQL.BLOB_IDS_SQL, [
      afterId,
      Math.max(0, Math.trunc(limit)),
    ]);
    return rows.map((r) => r.id);
  }

  async listEvents(filter: EventFilter = {}): Promise<EventRecord[]> {
    // Every event committed before the call: what is pending is integrated first.
    if (this.#chained && (await this.#rows(SQL.ANY_PENDING_SQL)).length > 0) {
      await this.integrateLedger();
    }
    const query = listEventsQuery(filter, SQL.POSTGRES_PLACEHOLDERS);
    if (query === undefined) return [];
    return (await this.#rows<EventRow>(query.sql, query.params)).map(toEvent);
  }

  async ledgerRows(afterSeq: number, limit: number): Promise<LedgerRow[]> {
    const rows = await this.#rows<LedgerEventRow>(SQL.LEDGER_ROWS_SQL, [
      afterSeq,
      Math.max(0, Math.trunc(limit)),
    ]);
    return rows.map(toLedgerRow);
  }

  // ---- transactions ----------------------------------------------------------------------

  /**
   * Runs `work` in one transaction and resolves once its COMMIT returned (durable). BEGIN goes
   * out with the work's first statements and COMMIT with its last (`PgTransaction`), once
   * every answer a check looks at is in. The commit hooks run around it: `beforeCommit(n)`
   * before BEGIN and `atCommit(n)` just before COMMIT (either throws → nothing is written,
   * `STORE_COMMIT_FAILED`), `afterCommit(n)` after COMMIT (throws → `STORE_COMMIT_UNCERTAIN`).
   * An error of the work itself rolls back and is reported as the write's error.
   */
  async #transaction<T>(work: (tx: PgTransaction) => Promise<T>, counted = true): Promise<T> {
    if (this.#closed) throw storeClosedError(this.where);
    // The integrator's transactions (`counted` false) are not the store's commits: they neither
    // take a number nor run the hooks, so a test's nth commit is the same whenever a timer fires.
    const hooks: StoreHooks = counted ? this.#hooks : {};
    const n = counted ? ++this.#transactions : 0;
    let client: PgClient;
    try {
      hooks.beforeCommit?.(n);
      client = await this.#pool.connect();
    } catch (cause) {
      throw commitFailedError(this.where, cause);
    }
    const failed = (cause: unknown) => commitFailedError(this.where, cause);
    let result: T;
    try {
      const tx = new PgTransaction(client);
      tx.send("BEGIN", [], undefined, failed);
      try {
        result = await work(tx);
        for (const what of tx.wake ?? []) {
          tx.send("SELECT pg_notify($1, $2)", [this.#channel, what]);
        }
        if (tx.unchecked) await tx.flush();
      } catch (err) {
        const first = await tx.firstFailure();
        await client.query("ROLLBACK").catch(() => undefined);
        throw toWriteError(first ?? err, isPgConstraint);
      }
      try {
        hooks.atCommit?.(n);
      } catch (cause) {
        // A statement sent before that failed refused the batch before the hook ran.
        const first = await tx.firstFailure();
        await client.query("ROLLBACK").catch(() => undefined);
        throw first === undefined ? failed(cause) : toWriteError(first, isPgConstraint);
      }
      // Behind a statement that failed, COMMIT rolls back: that statement's error is reported.
      tx.send("COMMIT", [], undefined, failed);
      try {
        await tx.flush();
      } catch (err) {
        throw toWriteError(err, isPgConstraint);
      }
    } finally {
      client.release();
    }
    try {
      hooks.afterCommit?.(n);
    } catch (cause) {
      throw commitUncertainError(this.where, cause);
    }
    return result;
  }

  /**
   * Sends a batch's statements in order. Consecutive steps, compensations or events are written
   * by one statement each; nothing waits for an answer but an append that needs its chain's
   * head. The checks (a precondition, a run inserted or updated) run before COMMIT.
   */
  async #applyOps(tx: PgTransaction, batch: readonly WriteOp[]): Promise<{ runSeqs: number[] }> {
    for (const op of batch) {
      const wake = wakeOf(op);
      if (wake) wakeOnCommit(tx, wake);
    }
    const runSeqs: number[] = [];
    for (let i = 0; i < batch.length; ) {
      const op = batch[i] as WriteOp;
      let taken = 1;
      switch (op.op) {
        case "insertRun":
          this.#insertRun(tx, op.run);
          break;
        case "updateRun":
          this.#updateRun(tx, op.runId, op.patch);
          break;
        case "expectRun": {
          const { runId, expect } = op;
          tx.send(SQL.RUN_GUARD_SQL, [runId], ({ rows }) =>
            checkRunPrecondition(runId, rows[0] as RunGuardRow | undefined, expect),
          );
          tx.locked.add(runId);
          break;
        }
        case "putStep": {
          const ops = consecutive(batch, i, "putStep", (o) => [o.step.runId, o.step.stepId]);
          tx.send(SQL.PUT_STEPS_SQL, SQL.columnsOf(ops.map((o) => stepRow(o.step))));
          taken = ops.length;
          break;
        }
        case "putCompensation": {
          const ops = consecutive(batch, i, "putCompensation", (o) => [
            o.compensation.runId,
            o.compensation.seq,
          ]);
          const rows = ops.map((o) => compensationRow(o.compensation));
          tx.send(SQL.PUT_COMPENSATIONS_SQL, SQL.columnsOf(rows));
          taken = ops.length;
          break;
        }
        case "putBlob":
          checkBlobId(op.id, op.bytes);
          tx.send(SQL.PUT_BLOB_SQL, [
            op.id,
            Buffer.from(op.bytes.buffer, op.bytes.byteOffset, op.bytes.byteLength),
          ]);
          break;
        case "appendEvent": {
          const ops = consecutive(batch, i, "appendEvent");
          const seqs = await this.#appendEvents(
            tx,
            ops.map((o) => o.event),
          );
          runSeqs.push(...seqs);
          taken = ops.length;
          break;
        }
        default: {
          const unknownOp: { op?: unknown } = op;
          throw new AirunError("STORE_INVALID_OP", `unknown write op ${String(unknownOp.op)}`);
        }
      }
      i += taken;
    }
    return { runSeqs };
  }

  /**
   * Inserts a run `ON CONFLICT DO NOTHING` (a taken id or key must not abort the transaction),
   * and asks right behind it which one was taken, should the insert have done nothing.
   */
  #insertRun(tx: PgTransaction, run: RunRecord): void {
    const row = runRow(run);
    let inserted = false;
    tx.send(
      `${SQL.INSERT_RUN_SQL} ON CONFLICT DO NOTHING`,
      SQL.RUN_COLUMNS.map((c) => row[c]),
      ({ rowCount }) => {
        inserted = rowCount === 1;
      },
    );
    tx.send(SQL.RUN_TAKEN_SQL, [run.idempotencyKey, run.id], ({ rows }) => {
      if (inserted) return;
      const taken = rows[0] as { key: boolean; id: boolean };
      if (taken.key) throw idempotencyKeyConflict(run);
      if (taken.id) throw runIdConflict(run);
      throw new AirunError("STORE_CONSTRAINT", `write refused: run ${run.id} was not inserted`);
    });
  }

  /**
   * Updates a run, refusing the batch if there is none, unless this transaction's `expectRun`
   * found the run and holds its lock: then the update cannot miss, and COMMIT need not wait for
   * its answer.
   */
  #updateRun(tx: PgTransaction, runId: string, patch: RunPatch): void {
    const columns = runPatchColumns(runId, patch);
    const params = [...columns.values, columns.updatedAt, runId];
    if (tx.locked.has(runId)) {
      tx.send(SQL.updateRunSql(columns), params);
      return;
    }
    tx.send(SQL.updateRunSql(columns), params, ({ rowCount }) => {
      if (rowCount === 0) throw new NotFoundError(`run ${runId}`, { runId });
    });
  }

  /**
   * Appends pending entries, each the next of its run's chain, in one statement. A chain is
   * extended under its lock (taken once a transaction, held until it ends: only writers of the
   * same run wait for it), from its head as read after the lock: the one wait of the batch.
   * Returns their numbers in their chains.
   */
  async #appendEvents(
    tx: PgTransaction,
    events: readonly Omit<EventRecord, "seq">[],
  ): Promise<number[]> {
    if (!this.#chained) {
      tx.send(`SELECT pg_advisory_xact_lock(${this.#ledgerLockKey})`);
      for (const event of events) {
        const data = jsonText(event.data, "data");
        tx.send(SQL.APPEND_UNCHAINED_SQL, [event.runId, event.stepId, event.type, event.at, data]);
      }
      return events.map(() => 0);
    }
    const unread = [...new Set(events.map(chainOf))].filter((chain) => !tx.heads.has(chain));
    for (const chain of unread) {
      tx.send(SQL.LOCK_RUN_CHAIN_SQL, [this.#runChainLockKey, chain]);
      tx.send(SQL.RUN_HEAD_SQL, [chain], ({ rows }) => {
        const h = rows[0] as { seq: number | string; hash: string } | undefined;
        tx.heads.set(
          chain,
          h === undefined ? EMPTY_LEDGER_HEAD : { seq: Number(h.seq), hash: h.hash },
        );
      });
    }
    if (unread.length > 0) await tx.flush();
    const entries = events.map((event) => {
      const e = linkEntry(event, tx.heads.get(chainOf(event)) as LedgerHead);
      tx.heads.set(chainOf(event), { seq: e.runSeq, hash: e.runHash });
      return e;
    });
    tx.send(
      SQL.APPEND_ENTRIES_SQL,
      SQL.columnsOf(
        entries.map((e) => [e.runId, e.stepId, e.type, e.at, e.data, e.runSeq, e.runHash]),
      ),
    );
    return entries.map((e) => e.runSeq);
  }

  // ---- plumbing --------------------------------------------------------------------------

  async #rows<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (this.#closed) throw storeClosedError(this.where);
    return (await this.#pool.query(sql, params)).rows as T[];
  }
}

/** A pooled connection's notification events (`LISTEN`). */
interface PgListener {
  on(event: "notification", listener: (msg: { channel: string; payload?: string }) => void): void;
  on(event: "error", listener: (err: Error) => void): void;
  release(destroy?: boolean): void;
}

/** Notes that listening workers are to be woken for `what` when `tx` commits. */
function wakeOnCommit(tx: PgTransaction, what: WakeReason): void {
  if (tx.wake === undefined) tx.wake = new Set();
  tx.wake.add(what);
}

/**
 * Whom a write wakes: a run inserted without a holder (`airun run --detach`, the API's start)
 * is ready for a worker; a cancel request must reach the worker holding the run.
 */
function wakeOf(op: WriteOp): WakeReason | undefined {
  if (op.op === "insertRun") {
    const r = op.run;
    return r.kind === "workflow" && r.leaseOwner === null && SQL.ACTIVE_STATUSES.includes(r.status)
      ? "ready"
      : undefined;
  }
  if (op.op === "updateRun" && typeof op.patch.cancelRequestedBy === "string") return "cancel";
  return undefined;
}

/** The run chain an event extends ('' for the system chain). */
function chainOf(event: Omit<EventRecord, "seq">): string {
  return event.runId ?? "";
}

/**
 * The ops of `kind` in `batch` from `from` on, up to the first other op or, given `keyOf`, the
 * first whose key one before it had (an upsert may not touch a row twice in one statement).
 */
function consecutive<K extends WriteOp["op"]>(
  batch: readonly WriteOp[],
  from: number,
  kind: K,
  keyOf?: (op: Extract<WriteOp, { op: K }>) => readonly unknown[],
): Extract<WriteOp, { op: K }>[] {
  const ops: Extract<WriteOp, { op: K }>[] = [];
  const keys = new Set<string>();
  for (let i = from; i < batch.length && batch[i]?.op === kind; i++) {
    const o = batch[i] as Extract<WriteOp, { op: K }>;
    if (keyOf !== undefined) {
      const key = JSON.stringify(keyOf(o));
      if (keys.has(key)) break;
      keys.add(key);
    }
    ops.push(o);
  }
  return ops;
}
