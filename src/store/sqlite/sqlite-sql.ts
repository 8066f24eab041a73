/**
 * @module The SQL the SQLite store runs, statement by statement, the builder of a patch's
 * UPDATE and SQLite's placeholders for the listing queries (`../list-queries.ts`). Parameters are positional (`?`) in the column order
 * of the encoders in `../rows.ts` and `../ledger-chain.ts`, except `INSERT_RUN_SQL`, which binds
 * a `RunRow` by name. The per-step statements are exported for the benchmark's floor
 * (bench/run.mjs), so that it writes exactly what the store writes.
 */
import { isTerminal, RunStatus } from "../../core/status.js";
import type { Placeholders } from "../list-queries.js";
import type { RunPatchColumns } from "../run-patch.js";

// ---- leases ------------------------------------------------------------------------------

/**
 * Takes a lease that is free, expired, ours, or held by `@takeOverFrom`; returns the run. The
 * epoch (fencing token) moves on unless the owner renews a lease it still holds.
 */
export const ACQUIRE_LEASE_SQL = `UPDATE runs SET lease_owner = @owner, lease_expires_at = @expiresAt,
    lease_epoch = CASE WHEN lease_owner = @owner AND lease_expires_at > @now
      THEN lease_epoch ELSE lease_epoch + 1 END
  WHERE id = @runId AND (lease_owner IS NULL OR lease_expires_at IS NULL
    OR lease_expires_at <= @now OR lease_owner = @owner
    OR (@takeOverFrom IS NOT NULL AND lease_owner = @takeOverFrom))
  RETURNING *`;

/**
 * Claims the oldest runs that want a worker and whose lease is free or lapsed (not the
 * claimer's own): one statement, the store's single writer makes it atomic.
 */
export const CLAIM_RUNS_SQL = `UPDATE runs SET lease_owner = @owner, lease_expires_at = @expiresAt,
    lease_epoch = lease_epoch + 1
  WHERE id IN (SELECT id FROM runs
    WHERE kind = 'workflow' AND status IN ('PENDING', 'RUNNING', 'COMPENSATING')
      AND (lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= @now)
      AND (lease_owner IS NULL OR lease_owner <> @owner)
    ORDER BY created_at, id LIMIT @limit)
  RETURNING *`;

/** One row while the owner holds the run at that epoch, unexpired: (runId, owner, epoch, now). */
export const CHECK_LEASE_SQL =
  "SELECT 1 FROM runs WHERE id = ? AND lease_owner = ? AND lease_epoch = ? AND lease_expires_at > ?";

/** The cancel requests on the runs one owner holds. */
export const CANCEL_REQUESTS_SQL =
  "SELECT id, cancel_requested_by FROM runs WHERE lease_owner = ? AND cancel_requested_by IS NOT NULL";

/** Extends every lease of an owner: (expiresAt, owner); returns the run ids. */
export const RENEW_LEASES_SQL =
  "UPDATE runs SET lease_expires_at = ? WHERE lease_owner = ? RETURNING id, cancel_requested_by";

/** Releases a run's lease if the owner holds it: (runId, owner). */
export const RELEASE_LEASE_SQL =
  "UPDATE runs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?";

// ---- writes ------------------------------------------------------------------------------

/** Inserts a run, binding a `RunRow` by column name. */
export const INSERT_RUN_SQL = `INSERT INTO runs (id, kind, name, spec_version, spec_hash,
    spec_text, plan, principal, inputs, status, outcome, reason, reason_detail, idempotency_key,
    lease_owner, lease_expires_at, lease_epoch, cancel_requested_by, created_at, updated_at,
    meta)
  VALUES (@id, @kind, @name, @spec_version, @spec_hash, @spec_text, @plan, @principal, @inputs,
    @status, @outcome, @reason, @reason_detail, @idempotency_key, @lease_owner,
    @lease_expires_at, @lease_epoch, @cancel_requested_by, @created_at, @updated_at, @meta)`;

/** One row if a run has this idempotency key. */
export const RUN_WITH_KEY_SQL = "SELECT 1 FROM runs WHERE idempotency_key = ?";

/** One row if a run has this id. */
export const RUN_WITH_ID_SQL = "SELECT 1 FROM runs WHERE id = ?";

/** The UPDATE of a patch's columns: its values, then `updated_at`, then the run id. */
export function updateRunSql(patch: RunPatchColumns): string {
  const sets = patch.columns.map((column) => `${column} = ?`);
  if (patch.clearLease) sets.push("lease_owner = NULL", "lease_expires_at = NULL");
  sets.push("updated_at = ?");
  return `UPDATE runs SET ${sets.join(", ")} WHERE id = ?`;
}

/** What an `expectRun` precondition looks at. */
export const RUN_GUARD_SQL = "SELECT status, lease_owner, lease_epoch FROM runs WHERE id = ?";

/** Writes a step row (insert, or update of every column), bound with `stepRow`. */
export const PUT_STEP_SQL = `INSERT INTO steps (run_id, step_id, status, attempts, inputs,
    outputs, error, decision, context_hash, seq, started_at, finished_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status,
    attempts = excluded.attempts, inputs = excluded.inputs, outputs = excluded.outputs,
    error = excluded.error, decision = excluded.decision,
    context_hash = excluded.context_hash, seq = excluded.seq,
    started_at = excluded.started_at, finished_at = excluded.finished_at`;

/** Writes a compensation row (insert, or update), bound with `compensationRow`. */
export const PUT_COMPENSATION_SQL = `INSERT INTO compensations (run_id, seq, step_id, kind,
    capability, inputs, undo, blobs, status, attempts, error, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (run_id, seq) DO UPDATE SET step_id = excluded.step_id,
    kind = excluded.kind, capability = excluded.capability, inputs = excluded.inputs,
    undo = excluded.undo, blobs = excluded.blobs, status = excluded.status,
    attempts = excluded.attempts, error = excluded.error, updated_at = excluded.updated_at`;

/** Stores a blob by its content address: (id, bytes). */
export const PUT_BLOB_SQL = "INSERT OR IGNORE INTO blobs (id, bytes) VALUES (?, ?)";

/**
 * Appends a ledger entry, bound with `chainEntry`'s row. Unchained (benchmarks), the seq is
 * NULL and SQLite numbers the row.
 */
export const APPEND_ENTRY_SQL =
  "INSERT INTO events (seq, run_id, step_id, type, at, data, hash, run_seq, run_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

/**
 * Reads the last entry of a run's chain (`run_id IS ?`: NULL names the system chain): the
 * run's highest seq from the covering index `events_run (run_id, seq)` (SQLite integrates at
 * once, so the ledger's order is the run's), then that row. Written as `ORDER BY seq DESC
 * LIMIT 1`, SQLite sorted every entry of the run in a temporary B-tree on each append.
 */
export const RUN_HEAD_SQL =
  "SELECT run_seq AS seq, run_hash AS hash FROM events WHERE seq = (SELECT max(seq) FROM events WHERE run_id IS ?)";

/** Reads the ledger's last entry (none when empty). */
export const LEDGER_HEAD_SQL = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1";

// ---- reads -------------------------------------------------------------------------------

/** A run by id. */
export const GET_RUN_SQL = "SELECT * FROM runs WHERE id = ?";

/** A run by idempotency key. */
export const FIND_RUN_BY_KEY_SQL = "SELECT * FROM runs WHERE idempotency_key = ?";

/** Statuses of runs that are not finished. */
export const ACTIVE_STATUSES: readonly RunStatus[] = Object.values(RunStatus).filter(
  (s) => !isTerminal(s),
);

/** Runs in `ACTIVE_STATUSES` (bound in that order), oldest first. */
export const LIST_ACTIVE_RUNS_SQL = `SELECT * FROM runs
  WHERE status IN (${ACTIVE_STATUSES.map(() => "?").join(", ")}) ORDER BY created_at, id`;

/** A run's steps in intent order, steps without intent last. */
export const GET_STEPS_SQL =
  "SELECT * FROM steps WHERE run_id = ? ORDER BY seq IS NULL, seq, step_id";

/** A run's compensations in stack order. */
export const GET_COMPENSATIONS_SQL = "SELECT * FROM compensations WHERE run_id = ? ORDER BY seq";

/** A blob's bytes. */
export const GET_BLOB_SQL = "SELECT bytes FROM blobs WHERE id = ?";

/** Blob ids after one, in order: (afterId, limit). */
export const BLOB_IDS_SQL = "SELECT id FROM blobs WHERE id > ? ORDER BY id LIMIT ?";

/** Ledger rows after a seq: (afterSeq, limit). */
export const LEDGER_ROWS_SQL =
  "SELECT seq, at, type, run_id, step_id, data, hash, run_seq, run_hash FROM events WHERE seq > ? ORDER BY seq LIMIT ?";

/** `?` placeholders, `IN (…)` lists, SQLite's binary text order. */
export const SQLITE_PLACEHOLDERS: Placeholders = {
  value(params, v) {
    params.push(v);
    return "?";
  },
  oneOf(column, params, values) {
    params.push(...values);
    return `${column} IN (${values.map(() => "?").join(", ")})`;
  },
  binaryOrder: "",
};
