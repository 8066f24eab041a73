/**
 * @module The SQLite Store: one better-sqlite3 connection in WAL mode with group commit.
 *
 * Every write (a `commit` batch, or a lease operation) is queued as a unit of work. A flush,
 * scheduled with `setImmediate`, applies everything queued in ONE physical transaction
 * (`BEGIN IMMEDIATE … COMMIT`); each unit runs inside its own SAVEPOINT, so a unit that fails
 * (a broken `expectRun` precondition, a constraint) is rolled back and rejected alone while its
 * neighbours commit. Promises settle only after `COMMIT` returned, i.e. once the data is durable
 * (`synchronous=FULL` by default). Concurrent runs therefore share fsyncs; a lone sequential
 * caller still gets one commit per batch.
 *
 * Events are ledger entries (`core/ledger.ts`): inside the transaction that appends one, the store
 * numbers it after the last entry and links it to that entry's hash, so every process writing
 * the same file extends one chain (`BEGIN IMMEDIATE` holds the write lock while it does).
 *
 * Reads run synchronously against the connection between flushes, so they see only committed
 * data. The commit hooks (`StoreOptions.hooks`) run around each physical transaction:
 * `beforeCommit(n)` right before its `BEGIN`, `afterCommit(n)` right after its `COMMIT`, before
 * any promise of that group settles.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { AirunError, ConflictError, NotFoundError } from "../../core/errors.js";
import { canonicalJson, sha256Hex } from "../../core/hash.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import { entryHash, entryText, GENESIS_HASH, type LedgerRow } from "../../core/ledger.js";
import { isTerminal, RunStatus } from "../../core/status.js";
import { type AppliedMigration, MIGRATIONS_TABLE_SQL, pendingMigrations } from "../migrations.js";
import type {
  CompensationRecord,
  EventFilter,
  EventRecord,
  RunFilter,
  RunRecord,
  StepRecord,
  Store,
  StoreHooks,
  StoreOptions,
  WriteOp,
} from "../store.js";
import {
  openSqliteFile,
  type SqliteConnection,
  type SqliteOpener,
  type SqliteStatement,
} from "./sqlite-driver.js";

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

/** Counters of a `SqliteStore`, for tests and benchmarks. */
export interface SqliteStoreStats {
  /** Physical transactions committed (each may hold many units of work). */
  readonly physicalCommits: number;
  /** Units of work (batches and lease operations) committed. */
  readonly committedUnits: number;
  /** Units of work rolled back and rejected. */
  readonly rejectedUnits: number;
}

/** Connection settings as read back from SQLite. */
export interface SqlitePragmas {
  readonly journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  readonly synchronous: number;
  readonly foreignKeys: number;
  readonly busyTimeout: number;
}

type Settlement =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: unknown };

interface Unit {
  readonly apply: () => unknown;
  readonly settle: (s: Settlement) => void;
}

const ACTIVE_STATUSES: readonly RunStatus[] = Object.values(RunStatus).filter(
  (s) => !isTerminal(s),
);

/**
 * The SQLite implementation of `Store`. Open it with `SqliteStore.open` (or `openStore`).
 *
 * @example
 * const store = SqliteStore.open({ file: "/tmp/airun/airun.db" });
 * try { await store.commit([{ op: "appendEvent", event }]); } finally { await store.close(); }
 */
export class SqliteStore implements Store {
  readonly dialect = "sqlite";
  /** The database file. */
  readonly file: string;

  readonly #db: SqliteConnection;
  readonly #statements = new Map<string, SqliteStatement>();
  readonly #hooks: StoreHooks;
  readonly #chained: boolean;
  /** The ledger's last entry, read once per physical transaction (another process may append). */
  #head: LedgerHead | undefined;
  #queue: Unit[] = [];
  #flushHandle: NodeJS.Immediate | undefined;
  #closed = false;
  #transactions = 0;
  #physicalCommits = 0;
  #committedUnits = 0;
  #rejectedUnits = 0;

  private constructor(db: SqliteConnection, options: SqliteStoreOptions) {
    this.#db = db;
    this.file = options.file;
    this.#hooks = options.hooks ?? {};
    this.#chained = options.unchainedLedger !== true;
  }

  /**
   * Opens (creating if needed) the database, applies pragmas (WAL, synchronous, foreign keys,
   * busy timeout) and pending migrations in one transaction. Throws `STORE_SCHEMA_TOO_NEW` for
   * a database written by a newer airun.
   */
  static open(options: SqliteStoreOptions): SqliteStore {
    mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
    const db = (options.opener ?? openSqliteFile)(options.file);
    try {
      const busyMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000));
      db.pragma(`busy_timeout = ${busyMs}`);
      // Switching a new database to WAL does not wait on busy_timeout: two processes opening
      // the same fresh home at once would see SQLITE_BUSY. Retry until the busy timeout.
      const mode = String(
        retryWhileBusy(() => db.pragma("journal_mode = WAL", { simple: true }), busyMs),
      ).toLowerCase();
      if (mode !== "wal") {
        throw new AirunError(
          "STORE_OPEN_FAILED",
          `${options.file}: SQLite refused WAL journal mode (got "${mode}")`,
          { file: options.file },
        );
      }
      db.pragma(`synchronous = ${options.synchronous === "NORMAL" ? "NORMAL" : "FULL"}`);
      db.pragma("foreign_keys = ON");
      migrate(db, options.file);
      return new SqliteStore(db, options);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Counters since open. */
  stats(): SqliteStoreStats {
    return {
      physicalCommits: this.#physicalCommits,
      committedUnits: this.#committedUnits,
      rejectedUnits: this.#rejectedUnits,
    };
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

  commit(batch: readonly WriteOp[]): Promise<{ eventSeqs: number[] }> {
    return this.#enqueue(() => this.#applyOps(batch));
  }

  acquireLease(
    runId: string,
    owner: string,
    ttlMs: number,
    now: number,
    takeOverFrom?: string,
  ): Promise<RunRecord | undefined> {
    return this.#enqueue(() => {
      const row = this.#stmt(
        `UPDATE runs SET lease_owner = @owner, lease_expires_at = @expiresAt
         WHERE id = @runId AND (lease_owner IS NULL OR lease_expires_at IS NULL
           OR lease_expires_at <= @now OR lease_owner = @owner
           OR (@takeOverFrom IS NOT NULL AND lease_owner = @takeOverFrom))
         RETURNING *`,
      ).get({ runId, owner, now, expiresAt: now + ttlMs, takeOverFrom: takeOverFrom ?? null });
      return row === undefined ? undefined : toRun(row as RunRow);
    });
  }

  renewLeases(owner: string, ttlMs: number, now: number): Promise<string[]> {
    return this.#enqueue(() => {
      const rows = this.#stmt(
        "UPDATE runs SET lease_expires_at = ? WHERE lease_owner = ? RETURNING id",
      ).all(now + ttlMs, owner) as { id: string }[];
      return rows.map((r) => r.id).sort();
    });
  }

  releaseLease(runId: string, owner: string): Promise<void> {
    return this.#enqueue(() => {
      this.#stmt(
        "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?",
      ).run(runId, owner);
    });
  }

  /** Flushes queued writes, then closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#flushHandle !== undefined) {
      clearImmediate(this.#flushHandle);
      this.#flushHandle = undefined;
    }
    try {
      this.#flush();
    } finally {
      this.#statements.clear();
      this.#db.close();
    }
  }

  // ---- reads -----------------------------------------------------------------------------

  async getRun(id: string): Promise<RunRecord | undefined> {
    const row = this.#read("SELECT * FROM runs WHERE id = ?").get(id);
    return row === undefined ? undefined : toRun(row as RunRow);
  }

  async findRunByIdempotencyKey(key: string): Promise<RunRecord | undefined> {
    const row = this.#read("SELECT * FROM runs WHERE idempotency_key = ?").get(key);
    return row === undefined ? undefined : toRun(row as RunRow);
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status !== undefined) {
      if (filter.status.length === 0) return [];
      where.push(`status IN (${filter.status.map(() => "?").join(", ")})`);
      params.push(...filter.status);
    }
    if (filter.name !== undefined) {
      where.push("name = ?");
      params.push(filter.name);
    }
    const sql = `SELECT * FROM runs${where.length ? ` WHERE ${where.join(" AND ")}` : ""}
      ORDER BY created_at DESC, id DESC${limitClause(filter.limit, params)}`;
    return (this.#read(sql).all(...params) as RunRow[]).map(toRun);
  }

  async listActiveRuns(): Promise<RunRecord[]> {
    const sql = `SELECT * FROM runs WHERE status IN (${ACTIVE_STATUSES.map(() => "?").join(", ")})
      ORDER BY created_at, id`;
    return (this.#read(sql).all(...ACTIVE_STATUSES) as RunRow[]).map(toRun);
  }

  async getSteps(runId: string): Promise<StepRecord[]> {
    const rows = this.#read(
      "SELECT * FROM steps WHERE run_id = ? ORDER BY seq IS NULL, seq, step_id",
    ).all(runId) as StepRow[];
    return rows.map(toStep);
  }

  async getCompensations(runId: string): Promise<CompensationRecord[]> {
    const rows = this.#read("SELECT * FROM compensations WHERE run_id = ? ORDER BY seq").all(
      runId,
    ) as CompensationRow[];
    return rows.map(toCompensation);
  }

  async getBlob(id: string): Promise<Uint8Array | undefined> {
    const row = this.#read("SELECT bytes FROM blobs WHERE id = ?").get(id) as
      | { bytes: Uint8Array }
      | undefined;
    // Copy out of the driver's Buffer: callers get a plain, unshared Uint8Array.
    return row === undefined ? undefined : new Uint8Array(row.bytes);
  }

  async listEvents(filter: EventFilter = {}): Promise<EventRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.runId !== undefined) {
      where.push("run_id = ?");
      params.push(filter.runId);
    }
    if (filter.types !== undefined) {
      if (filter.types.length === 0) return [];
      where.push(`type IN (${filter.types.map(() => "?").join(", ")})`);
      params.push(...filter.types);
    }
    if (filter.afterSeq !== undefined) {
      where.push("seq > ?");
      params.push(filter.afterSeq);
    }
    const sql = `SELECT * FROM events${where.length ? ` WHERE ${where.join(" AND ")}` : ""}
      ORDER BY seq${limitClause(filter.limit, params)}`;
    return (this.#read(sql).all(...params) as EventRow[]).map(toEvent);
  }

  async ledgerRows(afterSeq: number, limit: number): Promise<LedgerRow[]> {
    const rows = this.#read(
      "SELECT seq, at, type, run_id, step_id, data, hash FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
    ).all(afterSeq, Math.max(0, Math.trunc(limit))) as (EventRow & { hash: string })[];
    return rows.map((r) => ({
      seq: r.seq,
      at: r.at,
      type: r.type,
      runId: r.run_id,
      stepId: r.step_id,
      data: r.data,
      hash: r.hash,
    }));
  }

  // ---- group commit ----------------------------------------------------------------------

  #enqueue<T>(apply: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(closedError(this.file));
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

  /** Applies every queued unit in one physical transaction, then settles their promises. */
  #flush(): void {
    const units = this.#queue;
    if (units.length === 0) return;
    this.#queue = [];
    this.#transactions += 1;
    const n = this.#transactions;

    const settlements: Settlement[] = [];
    const run = (sql: string) => this.#stmt(sql).run();
    try {
      this.#hooks.beforeCommit?.(n);
      run("BEGIN IMMEDIATE");
      this.#head = undefined;
      if (units.length === 1) {
        // A lone unit needs no savepoint: if it fails, the whole (one-unit) transaction goes.
        try {
          settlements.push({ ok: true, value: units[0]!.apply() });
        } catch (error) {
          run("ROLLBACK");
          this.#rejectedUnits++;
          units[0]!.settle({ ok: false, error: toWriteError(error) });
          return;
        }
      } else {
        for (const unit of units) {
          run("SAVEPOINT unit");
          const savedHead: LedgerHead | undefined = this.#head;
          try {
            const value = unit.apply();
            run("RELEASE unit");
            settlements.push({ ok: true, value });
          } catch (error) {
            // If SQLite already rolled the whole transaction back (I/O error, disk full), this
            // throws and the outer catch fails the entire group.
            run("ROLLBACK TO unit");
            run("RELEASE unit");
            this.#head = savedHead;
            settlements.push({ ok: false, error: toWriteError(error) });
          }
        }
      }
      run("COMMIT");
    } catch (cause) {
      if (this.#db.inTransaction) {
        try {
          this.#db.exec("ROLLBACK");
        } catch {
          // The connection is unusable; the error below already tells every caller.
        }
      }
      const error = new AirunError(
        "STORE_COMMIT_FAILED",
        `${this.file}: commit failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        { file: this.file },
        { cause },
      );
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

  /** Runs the `afterCommit` hook; what it threw, as the error its committed units get. */
  #afterCommit(n: number): Error | undefined {
    try {
      this.#hooks.afterCommit?.(n);
      return undefined;
    } catch (cause) {
      return new AirunError(
        "STORE_COMMIT_UNCERTAIN",
        `${this.file}: the batch was committed, but its commit was not acknowledged: ${cause instanceof Error ? cause.message : String(cause)}`,
        { file: this.file, committed: true },
        { cause },
      );
    }
  }

  #applyOps(batch: readonly WriteOp[]): { eventSeqs: number[] } {
    const eventSeqs: number[] = [];
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
          this.#putStep(op.step);
          break;
        case "putCompensation":
          this.#putCompensation(op.compensation);
          break;
        case "putBlob":
          this.#putBlob(op.id, op.bytes);
          break;
        case "appendEvent":
          eventSeqs.push(this.#appendEvent(op.event));
          break;
        default: {
          const unknownOp: { op?: unknown } = op;
          throw new AirunError("STORE_INVALID_OP", `unknown write op ${String(unknownOp.op)}`);
        }
      }
    }
    return { eventSeqs };
  }

  #insertRun(run: RunRecord): void {
    const terminal = isTerminal(run.status);
    try {
      this.#stmt(
        `INSERT INTO runs (id, kind, name, spec_version, spec_hash, spec_text, plan, principal,
           inputs, status, outcome, reason, reason_detail, idempotency_key, lease_owner,
           lease_expires_at, created_at, updated_at, meta)
         VALUES (@id, @kind, @name, @specVersion, @specHash, @specText, @plan, @principal,
           @inputs, @status, @outcome, @reason, @reasonDetail, @idempotencyKey, @leaseOwner,
           @leaseExpiresAt, @createdAt, @updatedAt, @meta)`,
      ).run({
        id: run.id,
        kind: run.kind,
        name: run.name,
        specVersion: run.specVersion,
        specHash: run.specHash,
        specText: run.specText,
        plan: jsonText(run.plan, "plan"),
        principal: run.principal,
        inputs: jsonText(run.inputs, "inputs"),
        status: run.status,
        outcome: run.outcome,
        reason: run.reason,
        reasonDetail: jsonOrNull(run.reasonDetail),
        idempotencyKey: run.idempotencyKey,
        leaseOwner: terminal ? null : run.leaseOwner,
        leaseExpiresAt: terminal ? null : run.leaseExpiresAt,
        createdAt: run.createdAt,
        updatedAt: run.updatedAt,
        meta: jsonText(run.meta, "meta"),
      });
    } catch (err) {
      if (!isConstraintError(err)) throw err;
      if (
        run.idempotencyKey !== null &&
        this.#stmt("SELECT 1 FROM runs WHERE idempotency_key = ?").get(run.idempotencyKey)
      ) {
        throw new ConflictError(`a run with idempotency key "${run.idempotencyKey}" exists`, {
          runId: run.id,
          idempotencyKey: run.idempotencyKey,
        });
      }
      if (this.#stmt("SELECT 1 FROM runs WHERE id = ?").get(run.id)) {
        throw new ConflictError(`run ${run.id} already exists`, { runId: run.id });
      }
      throw err;
    }
  }

  #updateRun(runId: string, patch: Extract<WriteOp, { op: "updateRun" }>["patch"]): void {
    const sets: string[] = [];
    const params: unknown[] = [];
    // Terminal runs never hold a lease, whatever the patch says about it.
    const terminal = patch.status !== undefined && isTerminal(patch.status);
    const fields = patch as Readonly<Record<string, unknown>>;
    for (const key of Object.keys(fields).sort()) {
      const value = fields[key];
      if (value === undefined || key === "updatedAt") continue;
      if (terminal && (key === "leaseOwner" || key === "leaseExpiresAt")) continue;
      const column = Object.hasOwn(RUN_PATCH_COLUMNS, key)
        ? RUN_PATCH_COLUMNS[key as PatchKey]
        : undefined;
      if (column === undefined) {
        throw new AirunError("STORE_INVALID_PATCH", `run field "${key}" cannot be patched`, {
          runId,
        });
      }
      sets.push(`${column[0]} = ?`);
      params.push(column[1](value, key));
    }
    if (terminal) sets.push("lease_owner = NULL", "lease_expires_at = NULL");
    sets.push("updated_at = ?");
    params.push(patch.updatedAt ?? Date.now());
    const result = this.#stmt(`UPDATE runs SET ${sets.join(", ")} WHERE id = ?`).run(
      ...params,
      runId,
    );
    if (result.changes === 0) throw new NotFoundError(`run ${runId}`, { runId });
  }

  #expectRun(runId: string, expect: Extract<WriteOp, { op: "expectRun" }>["expect"]): void {
    const row = this.#stmt("SELECT status, lease_owner FROM runs WHERE id = ?").get(runId) as
      | { status: RunStatus; lease_owner: string | null }
      | undefined;
    if (row === undefined) {
      throw new ConflictError(`precondition failed: run ${runId} does not exist`, { runId });
    }
    if (expect.leaseOwner !== undefined && row.lease_owner !== expect.leaseOwner) {
      throw new ConflictError(
        `precondition failed: run ${runId} is leased by ${row.lease_owner ?? "nobody"}, not ${expect.leaseOwner}`,
        { runId, expectedLeaseOwner: expect.leaseOwner, leaseOwner: row.lease_owner },
      );
    }
    if (expect.statusIn !== undefined && !expect.statusIn.includes(row.status)) {
      throw new ConflictError(
        `precondition failed: run ${runId} is ${row.status}, expected one of ${expect.statusIn.join(", ")}`,
        { runId, expectedStatus: [...expect.statusIn], status: row.status },
      );
    }
  }

  #putStep(step: StepRecord): void {
    this.#stmt(PUT_STEP_SQL).run(...stepRow(step));
  }

  #putCompensation(c: CompensationRecord): void {
    this.#stmt(
      `INSERT INTO compensations (run_id, seq, step_id, kind, capability, inputs, undo, blobs,
         status, attempts, error, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, seq) DO UPDATE SET step_id = excluded.step_id,
         kind = excluded.kind, capability = excluded.capability, inputs = excluded.inputs,
         undo = excluded.undo, blobs = excluded.blobs, status = excluded.status,
         attempts = excluded.attempts, error = excluded.error, updated_at = excluded.updated_at`,
    ).run(
      c.runId,
      c.seq,
      c.stepId,
      c.kind,
      c.capability,
      jsonOrNull(c.inputs),
      jsonOrNull(c.undo),
      JSON.stringify(c.blobs),
      c.status,
      c.attempts,
      jsonOrNull(c.error),
      c.updatedAt,
    );
  }

  #putBlob(id: string, bytes: Uint8Array): void {
    const actual = sha256Hex(bytes);
    if (actual !== id) {
      throw new AirunError("BLOB_HASH_MISMATCH", `blob id ${id} is not the SHA-256 of its bytes`, {
        blobId: id,
        sha256: actual,
      });
    }
    this.#stmt("INSERT OR IGNORE INTO blobs (id, bytes) VALUES (?, ?)").run(
      id,
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    );
  }

  #appendEvent(event: Omit<EventRecord, "seq">): number {
    const insert = this.#stmt(APPEND_ENTRY_SQL);
    if (!this.#chained) {
      const data = jsonText(event.data, "data");
      return Number(
        insert.run(null, event.runId, event.stepId, event.type, event.at, data, "").lastInsertRowid,
      );
    }
    const entry = chainEntry(event, this.#head ?? this.#ledgerHead());
    insert.run(...entry.row);
    this.#head = entry.head;
    return entry.head.seq;
  }

  /** The ledger's last entry (seq 0 and the genesis hash when empty). */
  #ledgerHead(): LedgerHead {
    const row = this.#stmt(LEDGER_HEAD_SQL).get() as LedgerHead | undefined;
    return row ?? { seq: 0, hash: GENESIS_HASH };
  }

  // ---- plumbing --------------------------------------------------------------------------

  #stmt(sql: string): SqliteStatement {
    let stmt = this.#statements.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  #read(sql: string): SqliteStatement {
    this.#assertOpen();
    return this.#stmt(sql);
  }

  #assertOpen(): void {
    if (this.#closed) throw closedError(this.file);
  }
}

// ---- the per-step writes -----------------------------------------------------------------
// Exported so that the benchmark's floor (bench/run.mjs) writes exactly what the store writes,
// with no store around it.

/**
 * Writes a step row (insert, or update of every column). Positional parameters, in `stepRow`
 * order: binding a named-parameter object costs a property lookup per column and an object per
 * call, on every step.
 */
export const PUT_STEP_SQL = `INSERT INTO steps (run_id, step_id, status, attempts, inputs,
    outputs, error, decision, context_hash, seq, started_at, finished_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status,
    attempts = excluded.attempts, inputs = excluded.inputs, outputs = excluded.outputs,
    error = excluded.error, decision = excluded.decision,
    context_hash = excluded.context_hash, seq = excluded.seq,
    started_at = excluded.started_at, finished_at = excluded.finished_at`;

/** The parameters of `PUT_STEP_SQL` for a step. */
export function stepRow(step: StepRecord): unknown[] {
  return [
    step.runId,
    step.stepId,
    step.status,
    step.attempts,
    jsonOrNull(step.inputs),
    jsonOrNull(step.outputs),
    jsonOrNull(step.error),
    jsonOrNull(step.decision),
    step.contextHash,
    step.seq,
    step.startedAt,
    step.finishedAt,
  ];
}

/** Appends a ledger entry; `chainEntry` gives its parameters. */
export const APPEND_ENTRY_SQL =
  "INSERT INTO events (seq, run_id, step_id, type, at, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)";

/** Reads the ledger's last entry (none when empty). */
export const LEDGER_HEAD_SQL = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1";

/** The ledger's last entry: its seq and chain hash. */
export interface LedgerHead {
  readonly seq: number;
  readonly hash: string;
}

/**
 * An event as the ledger entry that follows `head`: the parameters of `APPEND_ENTRY_SQL` (its
 * data as canonical JSON, numbered after `head` and hashed with `head`'s hash as `prev`) and the
 * ledger's new head.
 */
export function chainEntry(
  event: Omit<EventRecord, "seq">,
  head: LedgerHead,
): { row: unknown[]; head: LedgerHead } {
  const entry = {
    seq: head.seq + 1,
    at: event.at,
    type: event.type,
    runId: event.runId,
    stepId: event.stepId,
    data: canonicalData(event.data),
  };
  const hash = entryHash(entryText(entry, head.hash));
  return {
    row: [entry.seq, entry.runId, entry.stepId, entry.type, entry.at, entry.data, hash],
    head: { seq: entry.seq, hash },
  };
}

// ---- schema ------------------------------------------------------------------------------

/** The migration that made events a hash-chained ledger. */
const LEDGER_MIGRATION = 2;

/** Applies pending migrations in one transaction. */
function migrate(db: SqliteConnection, file: string): void {
  db.exec(MIGRATIONS_TABLE_SQL);
  db.exec("BEGIN IMMEDIATE");
  try {
    const applied = db
      .prepare("SELECT id, name FROM migrations ORDER BY id")
      .all() as AppliedMigration[];
    const insert = db.prepare("INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)");
    for (const m of pendingMigrations(applied, file)) {
      db.exec(m.sql.sqlite);
      // Entries written before the ledger existed are chained once, in the transaction that
      // brings the ledger (later, a blanked hash is tampering for `ledger verify` to report).
      if (m.id === LEDGER_MIGRATION) chainExistingEvents(db);
      insert.run(m.id, m.name, Date.now());
    }
    db.exec("COMMIT");
  } catch (err) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw err;
  }
}

/**
 * Chains events written before the ledger existed (schema 1), oldest first: their data is
 * rewritten in canonical form (same meaning), they are renumbered from 1 without gaps
 * (AUTOINCREMENT may have left some; seqs only move down and rows are visited in ascending
 * order, so no two collide) and each gets its hash. Runs inside the migration's transaction.
 */
function chainExistingEvents(db: SqliteConnection): void {
  const rows = db
    .prepare("SELECT seq, at, type, run_id, step_id, data FROM events ORDER BY seq")
    .all() as EventRow[];
  const update = db.prepare("UPDATE events SET seq = ?, data = ?, hash = ? WHERE seq = ?");
  let prev = GENESIS_HASH;
  rows.forEach((r, i) => {
    const row = {
      seq: i + 1,
      at: r.at,
      type: r.type,
      runId: r.run_id,
      stepId: r.step_id,
      data: canonicalData(JSON.parse(r.data)),
    };
    prev = entryHash(entryText(row, prev));
    update.run(row.seq, row.data, prev, r.seq);
  });
}

/** Canonical JSON text of event data (`undefined` is a caller bug). */
function canonicalData(data: unknown): string {
  if (data === undefined) {
    throw new AirunError("STORE_INVALID_RECORD", 'field "data" is not a JSON value', {
      field: "data",
    });
  }
  return canonicalJson(data);
}

// ---- row mapping -------------------------------------------------------------------------

type PatchKey = keyof Omit<RunRecord, "id" | "createdAt" | "updatedAt">;
type Encode = (value: unknown, field: string) => unknown;

const same: Encode = (v) => v;
const json: Encode = (v, field) => jsonText(v, field);
const nullableJson: Encode = (v) => jsonOrNull(v);

const RUN_PATCH_COLUMNS: Readonly<Record<PatchKey, readonly [column: string, encode: Encode]>> = {
  kind: ["kind", same],
  name: ["name", same],
  specVersion: ["spec_version", same],
  specHash: ["spec_hash", same],
  specText: ["spec_text", same],
  plan: ["plan", json],
  principal: ["principal", same],
  inputs: ["inputs", json],
  status: ["status", same],
  outcome: ["outcome", same],
  reason: ["reason", same],
  reasonDetail: ["reason_detail", nullableJson],
  idempotencyKey: ["idempotency_key", same],
  leaseOwner: ["lease_owner", same],
  leaseExpiresAt: ["lease_expires_at", same],
  meta: ["meta", json],
};

interface RunRow {
  id: string;
  kind: RunRecord["kind"];
  name: string;
  spec_version: string;
  spec_hash: string;
  spec_text: string;
  plan: string;
  principal: string;
  inputs: string;
  status: RunRecord["status"];
  outcome: RunRecord["outcome"];
  reason: RunRecord["reason"];
  reason_detail: string | null;
  idempotency_key: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  created_at: number;
  updated_at: number;
  meta: string;
}

interface StepRow {
  run_id: string;
  step_id: string;
  status: StepRecord["status"];
  attempts: number;
  inputs: string | null;
  outputs: string | null;
  error: string | null;
  decision: string | null;
  context_hash: string | null;
  seq: number | null;
  started_at: number | null;
  finished_at: number | null;
}

interface CompensationRow {
  run_id: string;
  seq: number;
  step_id: string;
  kind: CompensationRecord["kind"];
  capability: string;
  inputs: string | null;
  undo: string | null;
  blobs: string;
  status: CompensationRecord["status"];
  attempts: number;
  error: string | null;
  updated_at: number;
}

interface EventRow {
  seq: number;
  run_id: string | null;
  step_id: string | null;
  type: string;
  at: number;
  data: string;
}

function toRun(r: RunRow): RunRecord {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    specVersion: r.spec_version,
    specHash: r.spec_hash,
    specText: r.spec_text,
    plan: parse(r.plan),
    principal: r.principal,
    inputs: parse(r.inputs) as JsonObject,
    status: r.status,
    outcome: r.outcome,
    reason: r.reason,
    reasonDetail: parseOrNull(r.reason_detail),
    idempotencyKey: r.idempotency_key,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    meta: parse(r.meta) as JsonObject,
  };
}

function toStep(r: StepRow): StepRecord {
  return {
    runId: r.run_id,
    stepId: r.step_id,
    status: r.status,
    attempts: r.attempts,
    inputs: parseOrNull(r.inputs),
    outputs: parseOrNull(r.outputs),
    error: parseOrNull(r.error),
    decision: parseOrNull(r.decision),
    contextHash: r.context_hash,
    seq: r.seq,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

function toCompensation(r: CompensationRow): CompensationRecord {
  return {
    runId: r.run_id,
    stepId: r.step_id,
    seq: r.seq,
    kind: r.kind,
    capability: r.capability,
    inputs: parseOrNull(r.inputs),
    undo: parseOrNull(r.undo),
    blobs: parse(r.blobs) as Record<string, string>,
    status: r.status,
    attempts: r.attempts,
    error: parseOrNull(r.error),
    updatedAt: r.updated_at,
  };
}

function toEvent(r: EventRow): EventRecord {
  return {
    seq: r.seq,
    runId: r.run_id,
    stepId: r.step_id,
    type: r.type,
    at: r.at,
    data: parse(r.data),
  };
}

function parse(text: string): JsonValue {
  return JSON.parse(text) as JsonValue;
}

function parseOrNull(text: string | null): JsonValue | null {
  return text === null ? null : parse(text);
}

/** JSON text of a value that must be present (`undefined` is a caller bug, not `null`). */
function jsonText(value: unknown, field: string): string {
  const text = value === undefined ? undefined : JSON.stringify(value);
  if (text === undefined) {
    throw new AirunError("STORE_INVALID_RECORD", `field "${field}" is not a JSON value`, {
      field,
    });
  }
  return text;
}

function jsonOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : jsonText(value, "value");
}

function limitClause(limit: number | undefined, params: unknown[]): string {
  if (limit === undefined) return "";
  params.push(Math.max(0, Math.trunc(limit)));
  return " LIMIT ?";
}

// ---- errors ------------------------------------------------------------------------------

function isConstraintError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_CONSTRAINT");
}

function toWriteError(err: unknown): unknown {
  if (err instanceof AirunError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isConstraintError(err)) {
    return new AirunError("STORE_CONSTRAINT", `write refused: ${message}`, {}, { cause: err });
  }
  return new AirunError("STORE_WRITE_FAILED", `write failed: ${message}`, {}, { cause: err });
}

function closedError(file: string): AirunError {
  return new AirunError("STORE_CLOSED", `${file}: the store is closed`, { file });
}

/** Runs `fn`, retrying (with a short blocking pause) while SQLite reports SQLITE_BUSY. */
function retryWhileBusy<T>(fn: () => T, timeoutMs: number): T {
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== "SQLITE_BUSY" || Date.now() >= deadline) throw err;
      Atomics.wait(pause, 0, 0, 10);
    }
  }
}
