/**
 * @module What a store checks while it applies a batch, the same in every dialect, and the
 * errors it throws when a check fails (which refuse the whole batch): an `expectRun`
 * precondition, a blob's content address, a run id or idempotency key already taken. A dialect
 * reads the rows; these functions decide.
 */
import { AirunError, ConflictError } from "../core/errors.js";
import { sha256Hex } from "../core/hash.js";
import type { RunStatus } from "../core/status.js";
import type { RunPrecondition, RunRecord } from "./store.js";

/** The columns of a run a precondition looks at, as a dialect reads them (`RUN_GUARD_SQL`). */
export interface RunGuardRow {
  readonly status: RunStatus;
  readonly lease_owner: string | null;
  /** A number, or the text of a PostgreSQL BIGINT. */
  readonly lease_epoch: number | string;
}

/**
 * Throws `ConflictError` unless run `runId` exists (`row`, as stored) and meets `expect`.
 *
 * @example
 * checkRunPrecondition("r1", { status: "RUNNING", lease_owner: "b", lease_epoch: 1 }, { leaseOwner: "a" }); // throws
 */
export function checkRunPrecondition(
  runId: string,
  row: RunGuardRow | undefined,
  expect: RunPrecondition,
): void {
  const current = row && {
    status: row.status,
    leaseOwner: row.lease_owner,
    leaseEpoch: Number(row.lease_epoch),
  };
  if (current === undefined) {
    throw new ConflictError(`precondition failed: run ${runId} does not exist`, { runId });
  }
  if (expect.leaseOwner !== undefined && current.leaseOwner !== expect.leaseOwner) {
    throw new ConflictError(
      `precondition failed: run ${runId} is leased by ${current.leaseOwner ?? "nobody"}, not ${expect.leaseOwner}`,
      { runId, expectedLeaseOwner: expect.leaseOwner, leaseOwner: current.leaseOwner },
    );
  }
  if (expect.leaseEpoch !== undefined && current.leaseEpoch !== expect.leaseEpoch) {
    throw new ConflictError(
      `precondition failed: the lease of run ${runId} is at epoch ${current.leaseEpoch}, not ${expect.leaseEpoch} (another process took it over)`,
      { runId, expectedLeaseEpoch: expect.leaseEpoch, leaseEpoch: current.leaseEpoch },
    );
  }
  if (expect.statusIn !== undefined && !expect.statusIn.includes(current.status)) {
    throw new ConflictError(
      `precondition failed: run ${runId} is ${current.status}, expected one of ${expect.statusIn.join(", ")}`,
      { runId, expectedStatus: [...expect.statusIn], status: current.status },
    );
  }
}

/** Throws `AirunError` `BLOB_HASH_MISMATCH` unless `id` is the SHA-256 of `bytes`. */
export function checkBlobId(id: string, bytes: Uint8Array): void {
  const actual = sha256Hex(bytes);
  if (actual !== id) {
    throw new AirunError("BLOB_HASH_MISMATCH", `blob id ${id} is not the SHA-256 of its bytes`, {
      blobId: id,
      sha256: actual,
    });
  }
}

/** The conflict of a new run whose idempotency key another run has. */
export function idempotencyKeyConflict(run: RunRecord): ConflictError {
  return new ConflictError(`a run with idempotency key "${run.idempotencyKey}" exists`, {
    runId: run.id,
    idempotencyKey: run.idempotencyKey,
  });
}

/** The conflict of a new run whose id another run has. */
export function runIdConflict(run: RunRecord): ConflictError {
  return new ConflictError(`run ${run.id} already exists`, { runId: run.id });
}
