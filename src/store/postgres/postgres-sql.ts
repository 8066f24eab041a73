/**
 * @module The SQL the PostgreSQL store runs: the SQLite store's statements with numbered
 * parameters (`$1`), PostgreSQL's spellings (`ON CONFLICT DO NOTHING`, `NULLS LAST`), rows of a
 * batch written several at a time (`unnest` of one array per column), the advisory lock that
 * makes one integrator at a time extend the ledger, and the per-run lock that serializes appends
 * to one run's chain. Parameters follow the column order of the encoders in `../rows.ts` and
 * `../ledger-chain.ts`.
 */
import { sha256Hex } from "../../core/hash.js";
import { isTerminal, RunStatus } from "../../core/status.js";
import type { Placeholders } from "../list-queries.js";
import type { RunPatchColumns } from "../run-patch.js";

/** Statuses of runs that are not finished. */
export const ACTIVE_STATUSES: readonly RunStatus[] = Object.values(RunStatus).filter(
  (s) => !isTerminal(s),
);

/**
 * The advisory lock the integrator takes (for its transaction) before it reads the ledger's
 * head to number pending entries: one integrator at a time extends the ledger, whichever
 * process runs it. Appending transactions never take it. Also taken, as a session lock, while
 * migrations run at open. One key per schema (a hash of its name): stores in other schemas of
 * the same database do not wait on it.
 */
export function ledgerLockKey(schema: string): string {
  // 60 bits of SHA-256, as a decimal BIGINT literal (advisory locks take a bigint).
  return BigInt(`0x${sha256Hex(`airun ledger ${schema}`).slice(0, 15)}`).toString();
}

// ---- leases ------------------------------------------------------------------------------

/**
 * The database's clock in epoch milliseconds: every lease time is read and written with it, so
 * workers on several machines agree on when a lease lapsed whatever their own clocks say.
 */
export const DB_NOW_MS = "(extract(epoch from now()) * 1000)::bigint";

/**
 * Takes a lease that is free, expired, ours, or held by `$4`: (runId, owner, ttlMs,
 * takeOverFrom). The epoch (fencing token) moves on unless the owner renews a lease it holds.
 */
export const ACQUIRE_LEASE_SQL = `UPDATE runs SET lease_owner = $2, lease_expires_at = ${DB_NOW_MS} + $3,
    lease_epoch = CASE WHEN lease_owner = $2 AND lease_expires_at > ${DB_NOW_MS}
      THEN lease_epoch ELSE lease_epoch + 1 END
  WHERE id = $1 AND (lease_owner IS NULL OR lease_expires_at IS NULL
    OR lease_expires_at <= ${DB_NOW_MS} OR lease_owner = $2
    OR ($4::text IS NOT NULL AND lease_owner = $4::text))
  RETURNING *`;

/**
 * Claims the oldest runs that want a worker and whose lease is free or lapsed (not the
 * claimer's own), in one statement: (owner, ttlMs, limit). Rows another claimer has locked are
 * skipped, not waited for; a row changed meanwhile is checked again after it is locked.
 */
export const CLAIM_RUNS_SQL = `WITH ready AS (
    SELECT id FROM runs
    WHERE kind = 'workflow' AND status IN ('PENDING', 'RUNNING', 'COMPENSATING')
      AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= ${DB_NOW_MS})
      AND (lease_owner IS NULL OR lease_owner <> $1)
    ORDER BY created_at, id LIMIT $3
    FOR UPDATE SKIP LOCKED)
  UPDATE runs SET lease_owner = $1, lease_expires_at = ${DB_NOW_MS} + $2,
    lease_epoch = runs.lease_epoch + 1
  FROM ready WHERE runs.id = ready.id
  RETURNING runs.*`;

/** One row while the owner holds the run at that epoch, unexpired: (runId, owner, epoch). */
export const CHECK_LEASE_SQL = `SELECT 1 FROM runs WHERE id = $1 AND lease_owner = $2
  AND lease_epoch = $3 AND lease_expires_at > ${DB_NOW_MS}`;

/** The cancel requests on the runs one owner holds. */
export const CANCEL_REQUESTS_SQL =
  "SELECT id, cancel_requested_by FROM runs WHERE lease_owner = $1 AND cancel_requested_by IS NOT NULL";

/** Extends every lease of an owner: (ttlMs, owner); returns the run ids. */
export const RENEW_LEASES_SQL = `UPDATE runs SET lease_expires_at = ${DB_NOW_MS} + $1
  WHERE lease_owner = $2 RETURNING id, cancel_requested_by`;

/**
 * Releases a run's lease if the owner holds it: (runId, owner); returns the run's status (to
 * tell workers when it is left unfinished).
 */
export const RELEASE_LEASE_SQL = `UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL
  WHERE id = $1 AND lease_owner = $2 RETURNING status, kind`;

/** The channel workers LISTEN on for a schema (`Store.listen`). */
export function wakeChannel(schema: string): string {
  return `airun_wake_${schema}`;
}

// ---- writes ------------------------------------------------------------------------------

/** The columns of `runs` in the order `INSERT_RUN_SQL` binds a `RunRow`. */
export const RUN_COLUMNS = [
  "id",
  "kind",
  "name",
  "spec_version",
  "spec_hash",
  "spec_text",
  "plan",
  "principal",
  "inputs",
  "status",
  "outcome",
  "reason",
  "reason_detail",
  "idempotency_key",
  "lease_owner",
  "lease_expires_at",
  "lease_epoch",
  "cancel_requested_by",
  "created_at",
  "updated_at",
  "meta",
] as const;

/** Inserts a run: its `RunRow` values in `RUN_COLUMNS` order. */
export const INSERT_RUN_SQL = `INSERT INTO runs (${RUN_COLUMNS.join(", ")})
  VALUES (${RUN_COLUMNS.map((_, i) => `$${i + 1}`).join(", ")})`;

/**
 * Whether a run has this idempotency key, and whether one has this id: (key, id). Sent right
 * after a new run's insert (`ON CONFLICT DO NOTHING`), to name the conflict if there was one: a
 * statement of its own, so its snapshot holds a conflicting run committed while the insert
 * waited for it.
 */
export const RUN_TAKEN_SQL = `SELECT EXISTS (SELECT 1 FROM runs WHERE idempotency_key = $1) AS key,
    EXISTS (SELECT 1 FROM runs WHERE id = $2) AS id`;

/** The UPDATE of a patch's columns: its values, then `updated_at`, then the run id. */
export function updateRunSql(patch: RunPatchColumns): string {
  let n = 0;
  const sets = patch.columns.map((column) => `${column} = $${++n}`);
  if (patch.clearLease) sets.push("lease_owner = NULL", "lease_expires_at = NULL");
  sets.push(`updated_at = $${++n}`);
  return `UPDATE runs SET ${sets.join(", ")} WHERE id = $${++n}`;
}

/** What an `expectRun` precondition looks at; the row stays locked until the commit. */
export const RUN_GUARD_SQL =
  "SELECT status, lease_owner, lease_epoch FROM runs WHERE id = $1 FOR UPDATE";

/**
 * Writes step rows (insert, or update of every column): one array per column, in `stepRow`
 * order (`columnsOf`). No two rows of one statement may have the same key.
 */
export const PUT_STEPS_SQL = `INSERT INTO steps (run_id, step_id, status, attempts, inputs,
    outputs, error, decision, context_hash, seq, started_at, finished_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[])
  ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status,
    attempts = excluded.attempts, inputs = excluded.inputs, outputs = excluded.outputs,
    error = excluded.error, decision = excluded.decision,
    context_hash = excluded.context_hash, seq = excluded.seq,
    started_at = excluded.started_at, finished_at = excluded.finished_at`;

/**
 * Writes compensation rows (insert, or update): one array per column, in `compensationRow`
 * order (`columnsOf`). No two rows of one statement may have the same key.
 */
export const PUT_COMPENSATIONS_SQL = `INSERT INTO compensations (run_id, seq, step_id, kind,
    capability, inputs, undo, blobs, status, attempts, error, updated_at)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
    $6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::text[], $12::bigint[])
  ON CONFLICT (run_id, seq) DO UPDATE SET step_id = excluded.step_id,
    kind = excluded.kind, capability = excluded.capability, inputs = excluded.inputs,
    undo = excluded.undo, blobs = excluded.blobs, status = excluded.status,
    attempts = excluded.attempts, error = excluded.error, updated_at = excluded.updated_at`;

/** Stores a blob by its content address: (id, bytes). */
export const PUT_BLOB_SQL =
  "INSERT INTO blobs (id, bytes) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING";

/**
 * The 32-bit key of this schema's per-run chain locks (the first half of a two-key advisory
 * lock, whose second half is `hashtext` of the run id, '' for the system chain). Two runs whose
 * ids hash alike merely wait for each other.
 */
export function runChainLockKey(schema: string): number {
  return Number.parseInt(sha256Hex(`airun run chain ${schema}`).slice(0, 7), 16);
}

/** Takes a run chain's lock until the transaction ends: (schemaKey, chain key). */
export const LOCK_RUN_CHAIN_SQL = "SELECT pg_advisory_xact_lock($1::int, hashtext($2::text))";

/**
 * Reads the last entry of a run's chain ('' names the system chain): (chain key). A statement
 * of its own after `LOCK_RUN_CHAIN_SQL`: a statement's snapshot is taken when it starts, so one
 * that took the lock itself could miss the entries of the lock's previous holder.
 */
export const RUN_HEAD_SQL = `SELECT run_seq AS seq, run_hash AS hash FROM events
  WHERE COALESCE(run_id, '') = $1 ORDER BY run_seq DESC LIMIT 1`;

/**
 * Appends pending ledger entries (linked into their runs' chains, not yet integrated), in the
 * arrays' order, which their row ids keep: one array per column (run_id, step_id, type, at,
 * data, run_seq, run_hash).
 */
export const APPEND_ENTRIES_SQL = `INSERT INTO events (run_id, step_id, type, at, data, run_seq, run_hash)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[],
    $6::bigint[], $7::text[])`;

/**
 * Appends an entry numbered by the database (benchmarks' unchained ledger): the next seq after
 * the last, under the integrator's lock.
 */
export const APPEND_UNCHAINED_SQL = `INSERT INTO events (seq, run_id, step_id, type, at, data, hash)
  SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4, $5, '' FROM events RETURNING seq`;

/** Reads the ledger's last integrated entry (none when empty). */
export const LEDGER_HEAD_SQL =
  "SELECT seq, hash FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1";

/** Whether any entry awaits integration. */
export const ANY_PENDING_SQL = "SELECT 1 FROM events WHERE seq IS NULL LIMIT 1";

/** How many entries await integration. */
export const COUNT_PENDING_SQL = "SELECT count(*)::int AS n FROM events WHERE seq IS NULL";

/**
 * The next pending entries in written order, each with the run hash of the entry before it in
 * its chain, as stored: (limit).
 */
export const PENDING_FOR_INTEGRATION_SQL = `SELECT e.id, e.at, e.type, e.run_id, e.step_id, e.data,
    e.run_seq, e.run_hash,
    (SELECT p.run_hash FROM events p WHERE COALESCE(p.run_id, '') = COALESCE(e.run_id, '')
      AND p.run_seq = e.run_seq - 1) AS run_prev
  FROM events e WHERE e.seq IS NULL ORDER BY e.id LIMIT $1`;

/** Pending entries after a row id, in written order: (afterId, limit). */
export const PENDING_ROWS_SQL = `SELECT id, at, type, run_id, step_id, data, run_seq, run_hash
  FROM events WHERE seq IS NULL AND id > $1 ORDER BY id LIMIT $2`;

/** Gives pending entries their numbers and hashes: (ids, seqs, hashes). */
export const INTEGRATE_SQL = `UPDATE events SET seq = v.seq, hash = v.hash
  FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS v (id, seq, hash)
  WHERE events.id = v.id AND events.seq IS NULL`;

// ---- reads -------------------------------------------------------------------------------

/** A run by id. */
export const GET_RUN_SQL = "SELECT * FROM runs WHERE id = $1";

/** A run by idempotency key. */
export const FIND_RUN_BY_KEY_SQL = "SELECT * FROM runs WHERE idempotency_key = $1";

/** Runs not finished, oldest first. */
export const LIST_ACTIVE_RUNS_SQL =
  "SELECT * FROM runs WHERE status = ANY($1::text[]) ORDER BY created_at, id";

/** A run's steps in intent order, steps without intent last. */
export const GET_STEPS_SQL =
  'SELECT * FROM steps WHERE run_id = $1 ORDER BY seq ASC NULLS LAST, step_id COLLATE "C"';

/** A run's compensations in stack order. */
export const GET_COMPENSATIONS_SQL = "SELECT * FROM compensations WHERE run_id = $1 ORDER BY seq";

/** A blob's bytes. */
export const GET_BLOB_SQL = "SELECT bytes FROM blobs WHERE id = $1";

/** Blob ids after one, in byte order: (afterId, limit). */
export const BLOB_IDS_SQL =
  'SELECT id FROM blobs WHERE id > $1 COLLATE "C" ORDER BY id COLLATE "C" LIMIT $2';

/** Ledger rows after a seq: (afterSeq, limit). */
export const LEDGER_ROWS_SQL =
  "SELECT seq, at, type, run_id, step_id, data, hash, run_seq, run_hash FROM events WHERE seq > $1 ORDER BY seq LIMIT $2";

/** `$n` placeholders, `= ANY($n)` lists, text ordered byte-wise as SQLite orders it. */
export const POSTGRES_PLACEHOLDERS: Placeholders = {
  value(params, v) {
    params.push(v);
    return `$${params.length}`;
  },
  oneOf(column, params, values) {
    params.push([...values]);
    return `${column} = ANY($${params.length}::text[])`;
  },
  binaryOrder: ' COLLATE "C"',
};

/** Rows (each a list of values in column order) as one array per column, for `unnest`. */
export function columnsOf(rows: readonly (readonly unknown[])[]): unknown[][] {
  return (rows[0] ?? []).map((_, c) => rows.map((row) => row[c]));
}
