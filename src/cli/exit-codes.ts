/**
 * @module Exit codes of the `airun` command (SPEC §11), and how a run or error maps to one (an
 * error's through the one table of `core/error-codes.ts`).
 */
import { surfaceAnswer } from "../core/error-codes.js";
import { AirunError } from "../core/errors.js";
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

/** Exit code for a run's state, or for an error. */
export function exitCodeFor(subject: RunView | AirunError): ExitCode {
  if (subject instanceof AirunError) return surfaceAnswer(subject.code).exit as ExitCode;
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
