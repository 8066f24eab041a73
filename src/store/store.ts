/**
 * @module The Store: the only door to durable state. An async interface (SQLite is synchronous
 * underneath, PostgreSQL is not) whose writes are explicit transactions expressed as DATA: a
 * `WriteBatch` of operations applied atomically, all or nothing. Batches from concurrent runs
 * may share one physical commit (group commit), but `commit()` resolves only once the batch is
 * durable. No driver type crosses this interface.
 */
import type { JsonObject, JsonValue } from "../core/json.js";
import type { LedgerRow, PendingLedgerRow } from "../core/ledger.js";
import type { CompensationStatus, Outcome, Reason, RunStatus, StepStatus } from "../core/status.js";

/** A persisted run (workflow or session). Times are epoch milliseconds. */
export interface RunRecord {
  readonly id: string;
  readonly kind: "workflow" | "session";
  readonly name: string;
  readonly specVersion: string;
  readonly specHash: string;
  /** The source text the run was started from (spec YAML), for export and replay. */
  readonly specText: string;
  /** The compiled plan, as JSON. */
  readonly plan: JsonValue;
  readonly principal: string;
  /** Resolved workflow inputs (never secrets: those are read at call time). */
  readonly inputs: JsonObject;
  readonly status: RunStatus;
  readonly outcome: Outcome | null;
  readonly reason: Reason | null;
  /** Details of the reason: the failing step and error, the budget figures, … */
  readonly reasonDetail: JsonValue | null;
  readonly idempotencyKey: string | null;
  /** Process that holds the run (`host:pid:nonce`), and until when. */
  readonly leaseOwner: string | null;
  /**
   * Until when the lease holds. SQLite: the engine's clock (one machine). PostgreSQL: the
   * database's clock (`now()`), whatever the caller passes, so workers on machines whose clocks
   * disagree still agree on when a lease lapsed.
   */
  readonly leaseExpiresAt: number | null;
  /**
   * The lease's fencing token: bumped each time the run passes to another holder (a claim, a
   * takeover). A holder's commits carry it (`RunPrecondition.leaseEpoch`), so a process that
   * lost its lease while paused cannot write for the run any more. 0 for a run never leased.
   */
  readonly leaseEpoch: number;
  /**
   * Who asked to cancel the run, once someone did (a durable request: the process holding the
   * run learns it with its next lease renewal, `renewLeases`).
   */
  readonly cancelRequestedBy: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Free-form run state owned by the engine (counters, governance bookkeeping). */
  readonly meta: JsonObject;
}

/** A step of a run. */
export interface StepRecord {
  readonly runId: string;
  readonly stepId: string;
  readonly status: StepStatus;
  /** Attempts started so far (persisted BEFORE each attempt runs). */
  readonly attempts: number;
  /** Resolved inputs as recorded (secrets masked), or null before resolution. */
  readonly inputs: JsonValue | null;
  readonly outputs: JsonValue | null;
  /** `{ code, message, retryable }` of the last failure. */
  readonly error: JsonValue | null;
  /** The gatekeeper's recorded decision. */
  readonly decision: JsonValue | null;
  readonly contextHash: string | null;
  /** Order in which step intents were recorded within the run; null until the intent. */
  readonly seq: number | null;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
}

/** A persisted compensation: written BEFORE the side effect, armed once it happened. */
export interface CompensationRecord {
  readonly runId: string;
  readonly stepId: string;
  /** Position in the run's compensation stack; undo runs in descending `seq`. */
  readonly seq: number;
  /** "builtin": the capability's own revert with `undo` data; "declared": a capability call. */
  readonly kind: "builtin" | "declared";
  readonly capability: string;
  /** Resolved inputs of a declared compensation (secrets masked), else null. */
  readonly inputs: JsonValue | null;
  /** Builtin undo plan data, else null. */
  readonly undo: JsonValue | null;
  /** Blob ids of before-images, by the name the capability gave them. */
  readonly blobs: Readonly<Record<string, string>>;
  readonly status: CompensationStatus;
  readonly attempts: number;
  readonly error: JsonValue | null;
  readonly updatedAt: number;
}

/**
 * An appended event: an entry of the ledger. Inside the transaction that appends it, the store
 * links it into its run's chain (`core/ledger.ts`), storing `data` as canonical JSON text; the
 * ledger's integrator then gives it `seq` (1, 2, 3, … without gaps) and chains its hash to the
 * previous entry's: in the same transaction on SQLite, shortly after the commit on PostgreSQL.
 * Only integrated events are listed.
 */
export interface EventRecord {
  readonly seq: number;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly type: string;
  readonly at: number;
  readonly data: JsonValue;
}

/** Condition a batch requires; if it does not hold, the whole batch is refused with `ConflictError`. */
export interface RunPrecondition {
  /** The run must currently be leased by this owner. */
  readonly leaseOwner?: string;
  /** The run must currently be in one of these statuses. */
  readonly statusIn?: readonly RunStatus[];
  /** The run's lease must still be of this epoch (the holder's fencing token). */
  readonly leaseEpoch?: number;
}

/**
 * Fields of a run to change. `updatedAt` defaults to now; a patch to a terminal status also clears
 * the lease, whatever it says about it.
 */
export type RunPatch = Partial<Omit<RunRecord, "id" | "createdAt" | "leaseEpoch">>;

/** One write. A batch is a list of these, applied in order inside one transaction. */
export type WriteOp =
  | { readonly op: "insertRun"; readonly run: RunRecord }
  | { readonly op: "updateRun"; readonly runId: string; readonly patch: RunPatch }
  | { readonly op: "expectRun"; readonly runId: string; readonly expect: RunPrecondition }
  | { readonly op: "putStep"; readonly step: StepRecord }
  | { readonly op: "putCompensation"; readonly compensation: CompensationRecord }
  | { readonly op: "putBlob"; readonly id: string; readonly bytes: Uint8Array }
  | { readonly op: "appendEvent"; readonly event: Omit<EventRecord, "seq"> };

/** A lease `renewLeases` extended, and whether its run was asked to cancel. */
export interface LeaseRenewal {
  readonly runId: string;
  readonly cancelRequestedBy: string | null;
}

/** Why a listening worker was woken (`Store.listen`). */
export type WakeReason = "ready" | "cancel";

/** Filter for listing runs (newest first). */
export interface RunFilter {
  readonly status?: readonly RunStatus[];
  readonly name?: string;
  readonly principal?: string;
  readonly outcome?: string;
  /** Only runs created at or after this time (epoch ms). */
  readonly createdFrom?: number;
  /**
   * A page cursor: only runs after this one in the list's order (newest first), i.e. created
   * earlier, or at the same time with a smaller id.
   */
  readonly before?: { readonly createdAt: number; readonly id: string };
  readonly limit?: number;
}

/** Which events to list. */
export interface EventFilter {
  readonly runId?: string;
  readonly types?: readonly string[];
  readonly afterSeq?: number;
  readonly limit?: number;
}

/** Durable state. Every method is async; writes go through `commit`. */
export interface Store {
  /** "sqlite" or "postgres". */
  readonly dialect: string;
  /**
   * Applies a batch atomically and durably. Rejects with `ConflictError` if an `expectRun`
   * precondition fails (nothing of the batch is applied) and with `ConflictError` on a
   * duplicate run id or idempotency key. Returns, for each appended event, its number in its
   * run's chain (the system chain for events of no run).
   */
  commit(batch: readonly WriteOp[]): Promise<{ runSeqs: number[] }>;
  getRun(id: string): Promise<RunRecord | undefined>;
  findRunByIdempotencyKey(key: string): Promise<RunRecord | undefined>;
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  /** Runs not in a terminal status (candidates for recovery), oldest first. */
  listActiveRuns(): Promise<RunRecord[]>;
  getSteps(runId: string): Promise<StepRecord[]>;
  getCompensations(runId: string): Promise<CompensationRecord[]>;
  getBlob(id: string): Promise<Uint8Array | undefined>;
  /** Ids of stored blobs after `afterId` in byte order, at most `limit` (paging for copies). */
  blobIds(afterId: string, limit: number): Promise<string[]>;
  /**
   * Events in seq order, optionally of one run, of some types, and/or after a seq: every event
   * committed before the call (pending ones are integrated first).
   */
  listEvents(filter?: EventFilter): Promise<EventRecord[]>;
  /**
   * Integrated ledger rows exactly as stored (data text, chain hash, run link), `seq > afterSeq`,
   * in order.
   */
  ledgerRows(afterSeq: number, limit: number): Promise<LedgerRow[]>;
  /**
   * Ledger rows written but not yet integrated (no seq yet), in written order (which keeps each
   * run's order), `id > afterId`. Always none on SQLite, which integrates as it appends.
   */
  pendingLedgerRows(afterId: number, limit: number): Promise<(PendingLedgerRow & { id: number })[]>;
  /**
   * Runs the ledger's integrator now, until nothing committed is left pending (waiting for
   * another process's integrator if one is running): every entry then has its number and chain
   * hash. An entry whose run link does not verify is not integrated, nor anything after it
   * (`refused` says which). Returns how many it integrated and how many stay pending.
   */
  integrateLedger(): Promise<{ integrated: number; pending: number; refused?: string }>;
  /**
   * Takes the lease of a run if it is free, expired, held by `owner` already, or held by
   * `takeOverFrom` (a dead owner). Returns the updated run, or undefined if someone else holds it.
   */
  acquireLease(
    runId: string,
    owner: string,
    ttlMs: number,
    now: number,
    takeOverFrom?: string,
  ): Promise<RunRecord | undefined>;
  /** Extends leases held by `owner`; returns ids of runs whose lease it still held. */
  renewLeases(owner: string, ttlMs: number, now: number): Promise<LeaseRenewal[]>;
  /**
   * The cancel requests recorded on runs `owner` holds (a read, cheap enough to poll often:
   * a cancel asked from another process reaches the run within a fraction of a second).
   */
  cancelRequests(owner: string): Promise<LeaseRenewal[]>;
  /**
   * Releases the lease on a run if `owner` holds it. A run left unfinished this way is ready
   * for any worker to claim (PostgreSQL tells listening workers: `listen`).
   */
  releaseLease(runId: string, owner: string): Promise<void>;
  /**
   * Claims up to `limit` workflow runs that want a worker (PENDING, RUNNING or COMPENSATING,
   * not a session) and whose lease is free or lapsed, not held by `owner`, oldest first, in
   * one statement: each comes back leased to `owner` for `ttlMs` with its `leaseEpoch` bumped.
   * Concurrent claimers never get the same run (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
   */
  claimRuns(owner: string, ttlMs: number, limit: number, now: number): Promise<RunRecord[]>;
  /**
   * Whether `owner` still holds run `runId` at epoch `epoch` with a lease that has not lapsed
   * (a read): what a holder asks right before a side effect.
   */
  checkLease(runId: string, owner: string, epoch: number, now: number): Promise<boolean>;
  /**
   * Wakes `onWake` when another process makes a run ready to claim (`"ready"`: queued, lease
   * handed back, approval decided) or asks for a cancel (`"cancel"`). A latency hint only:
   * callers poll as well. Absent where the database cannot push (SQLite). Returns a stopper.
   */
  listen?(onWake: (what: WakeReason) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * Callbacks around the physical commits of one store instance: how tests kill a process at an
 * exact commit or inject an I/O fault. `n` numbers this instance's physical transactions from 1,
 * each once, whether it then commits or not; group commit may hold several batches in one.
 */
export interface StoreHooks {
  /**
   * Runs right before the nth physical transaction begins. If it throws, the transaction does
   * not begin: every batch of its group is rejected with `AirunError` `STORE_COMMIT_FAILED`
   * (whose `cause` is the thrown error) and nothing of them is written.
   */
  beforeCommit?(n: number): void;
  /**
   * Runs inside the nth physical transaction, after every batch of its group was applied and
   * right before COMMIT. If it throws, the transaction is rolled back as a COMMIT that failed
   * would be (disk full, an I/O error on write or on fsync): every batch of the group is rejected
   * with `AirunError` `STORE_COMMIT_FAILED` (whose `cause` is the thrown error) and nothing of
   * them is written, although they were applied inside the transaction.
   */
  atCommit?(n: number): void;
  /**
   * Runs right after the nth transaction's COMMIT returned, before any promise of its group
   * settles. If it throws, the data stays committed (it is durable already), but every batch
   * the group committed is rejected with `AirunError` `STORE_COMMIT_UNCERTAIN` (whose `cause` is
   * the thrown error): the error of a COMMIT whose answer was lost, which tells its caller not
   * to take the batch as failed but to read before it retries. Batches the group refused keep
   * their own error.
   */
  afterCommit?(n: number): void;
}

/** Options common to every store implementation. */
export interface StoreOptions {
  /** Commit hooks: tests only. */
  readonly hooks?: StoreHooks;
  /**
   * Benchmarks only: append events without canonical data or chain hashes, to measure what the
   * ledger costs. A ledger written this way does not verify.
   */
  readonly unchainedLedger?: boolean;
}
