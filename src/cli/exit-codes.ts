/**
 * @module Exit codes of the `airun` command (SPEC §11), and how a run or error maps to one.
 */
import { AirunError, ValidationError } from "../core/errors.js";
import type { RunView } from "../engine/state/run-view.js";

/** The exit codes. */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  ROLLED_BACK_REMEDIATE: 3,
  ROLLED_BACK_ABSTAIN: 4,
  WAITING_APPROVAL: 5,
  FAILED: 6,
  /** Not a run status: a check failed (ledger tampered, evidence pack invalid, replay diverged). */
  VERIFY_FAILED: 7,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Error codes that mean the user asked for something that cannot be done (exit 2). */
const USAGE_CODES = new Set([
  "USAGE",
  "NOT_FOUND",
  "RUN_TERMINAL",
  "NOT_ROLLBACKABLE",
  "NOT_WAITING",
  "NO_PENDING_APPROVAL",
  "AMBIGUOUS_APPROVAL",
  "SELF_APPROVAL",
  "NOT_ELIGIBLE",
  "APPROVAL_EXPIRED",
  "CONFLICT",
  "UNSUPPORTED_STORE",
]);

/** Error codes that mean a check failed: the data does not verify (exit 7). */
const VERIFY_CODES = new Set([
  "LEDGER_INVALID",
  "PACK_MALFORMED",
  "CHECKPOINT_MALFORMED",
  "CHECKPOINT_BAD_SIGNATURE",
]);

/** Exit code for a run's state, or for an error. */
export function exitCodeFor(subject: RunView | AirunError): ExitCode {
  if (subject instanceof ValidationError) return ExitCode.USAGE;
  if (subject instanceof AirunError) {
    if (VERIFY_CODES.has(subject.code)) return ExitCode.VERIFY_FAILED;
    return USAGE_CODES.has(subject.code) ? ExitCode.USAGE : ExitCode.INTERNAL;
  }
  switch (subject.status) {
    case "COMPLETED":
      return ExitCode.OK;
    case "ROLLED_BACK":
      return subject.outcome === "ABSTAIN"
        ? ExitCode.ROLLED_BACK_ABSTAIN
        : ExitCode.ROLLED_BACK_REMEDIATE;
    case "WAITING_APPROVAL":
      return ExitCode.WAITING_APPROVAL;
    case "FAILED":
      return ExitCode.FAILED;
    default:
      // Still RUNNING/COMPENSATING: another process holds it; nothing failed here.
      return ExitCode.OK;
  }
}
