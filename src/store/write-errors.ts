/**
 * @module The errors a store raises when a write fails for a reason of its own rather than a
 * broken precondition, the same in every dialect: a driver's error normalized, a closed store, a
 * physical commit that failed, and one whose outcome its caller was not told. A dialect only
 * says which of its driver's errors are constraint violations.
 */
import { AirunError } from "../core/errors.js";

/**
 * An error thrown while applying a write, as the store reports it: an `AirunError` as it is, a
 * constraint violation as `STORE_CONSTRAINT`, anything else as `STORE_WRITE_FAILED` (with the
 * driver's error as `cause`).
 */
export function toWriteError(err: unknown, isConstraint: (err: unknown) => boolean): AirunError {
  if (err instanceof AirunError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isConstraint(err)) {
    return new AirunError("STORE_CONSTRAINT", `write refused: ${message}`, {}, { cause: err });
  }
  return new AirunError("STORE_WRITE_FAILED", `write failed: ${message}`, {}, { cause: err });
}

/** `STORE_CLOSED`: the store `where` names was closed. */
export function storeClosedError(where: string): AirunError {
  return new AirunError("STORE_CLOSED", `${where}: the store is closed`, { file: where });
}

/** `STORE_COMMIT_FAILED`: a physical transaction failed; nothing of its group was written. */
export function commitFailedError(where: string, cause: unknown): AirunError {
  return new AirunError(
    "STORE_COMMIT_FAILED",
    `${where}: commit failed: ${messageOf(cause)}`,
    { file: where },
    { cause },
  );
}

/**
 * `STORE_COMMIT_UNCERTAIN`: a transaction committed, but its caller was not told so (the
 * `afterCommit` hook threw). The batch is durable; the caller must read before it retries.
 */
export function commitUncertainError(where: string, cause: unknown): AirunError {
  return new AirunError(
    "STORE_COMMIT_UNCERTAIN",
    `${where}: the batch was committed, but its commit was not acknowledged: ${messageOf(cause)}`,
    { file: where, committed: true },
    { cause },
  );
}

function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
