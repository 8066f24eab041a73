/**
 * @module What to do next, in CLI terms: engine errors say what went wrong in product terms,
 * and the CLI adds, by error code, the flag or command that helps (other surfaces add theirs).
 */
import type { AirunError } from "../core/errors.js";

const HINTS: Readonly<Record<string, (e: AirunError) => string>> = {
  PRINCIPAL_REQUIRED: () =>
    "pass --as kind:id (for example --as user:alice), set AIRUN_PRINCIPAL, or put principal: user:<you> in airun.yaml",
  AMBIGUOUS_APPROVAL: (e) =>
    `name the step with --step${Array.isArray(e.context.steps) ? ` (one of ${e.context.steps.join(", ")})` : ""}`,
  NOT_ROLLBACKABLE: (e) => `cancel an active run with: airun workflow cancel ${runOf(e)}`,
  RUN_TERMINAL: (e) =>
    `airun workflow show ${runOf(e)} tells how it ended; airun workflow rollback undoes a finished run`,
  NOT_WAITING: (e) => `airun workflow show ${runOf(e)} shows what it is doing`,
  NO_PENDING_APPROVAL: (e) => `airun approvals list --run ${runOf(e)} shows its approvals`,
  SELF_APPROVAL: () => "another principal must decide it (--as kind:id)",
  NOT_ELIGIBLE: (e) => `airun approvals show ${runOf(e)} lists who may decide it`,
  CONFLICT: () =>
    "another process holds the run: try again once it is done, or run airun recover if it died",
  STORE_SCHEMA_TOO_NEW: () => "use a newer airun, or another --home",
  INVALID_STORE_URL: () => 'set store: sqlite (or "sqlite:<path>") in airun.yaml',
  UNKNOWN_CAPABILITY: () => "airun capabilities lists every capability there is",
  STORE_COMMIT_FAILED: () =>
    "nothing of that change was recorded; once the store can be written, airun recover finishes the run",
  STORE_COMMIT_UNCERTAIN: () =>
    "the change may have been recorded; airun recover reads what was and finishes the run",
  LEDGER_INVALID: () => "airun ledger verify names the first entry that does not verify",
};

/** The CLI's hint for an error, if it has one. */
export function cliHint(e: AirunError): string | undefined {
  return HINTS[e.code]?.(e);
}

function runOf(e: AirunError): string {
  return typeof e.context.runId === "string" ? e.context.runId : "<run-id>";
}
