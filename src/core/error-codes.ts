/**
 * @module The closed set of error codes Airun raises, each with its kind, and the one table
 * that maps a kind to what every surface answers: the CLI's exit code, the HTTP API's status
 * (RFC 9457 problem details carry the code) and the MCP server's answer (a JSON-RPC error, or a
 * tool result with `isError` the model reads). Callers branch on `code`, never on messages.
 *
 * Capability codes (`FS_NOT_FOUND`, `HTTP_STATUS`, …) describe why a call failed; they are
 * recorded on the step and reach a surface only inside a run's view. A plugin may raise codes
 * of its own in a `CapabilityError` (they are data, like any step's error, and are not listed).
 */

/** What kind of failure a code is: decides every surface's answer (`SURFACE`). */
export const ErrorKind = {
  /** The request is malformed (a missing principal, an unknown flag value). */
  USAGE: "usage",
  /** A file or value failed validation (spec, config, policy, plugin, inputs). */
  INVALID: "invalid",
  /** What was named does not exist. */
  NOT_FOUND: "not_found",
  /** The HTTP request carries no valid credentials (no token, unknown, expired, revoked). */
  UNAUTHENTICATED: "unauthenticated",
  /** A rule refused it: policy, approval rules (self-approval, eligibility), a token's scopes. */
  REFUSED: "refused",
  /** The run or session is not in a state for this (ended, not waiting, expired). */
  STATE: "state",
  /** Another process holds the run, or a race was lost; trying again later may work. */
  CONFLICT: "conflict",
  /** A capability call failed (recorded on its step). */
  FAILED: "failed",
  /** Data did not verify: the ledger, a checkpoint, an evidence pack, a sealed blob. */
  VERIFY: "verify",
  /** The request is larger than the server accepts. */
  TOO_LARGE: "too_large",
  /** Too many requests (or event streams) for one token; trying again later works. */
  RATE_LIMITED: "rate_limited",
  /** State cannot be read or written now (store closed, disk full, keys unreadable). */
  UNAVAILABLE: "unavailable",
  /** A bug: an invariant of Airun itself broke. */
  INTERNAL: "internal",
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

/** JSON-RPC error codes the MCP server answers with (MCP spec, JSON-RPC 2.0). */
export const McpErrorCode = { INVALID_PARAMS: -32602, INTERNAL_ERROR: -32603 } as const;

/** What each surface answers for one kind of error. */
export interface SurfaceAnswer {
  /** `airun` exit code (SPEC §11). */
  readonly exit: number;
  /** HTTP status of the problem details. */
  readonly http: number;
  /**
   * MCP: `tool_error` (a tool result with `isError`, so the model reads why) inside a tool call,
   * else the JSON-RPC error code.
   */
  readonly mcp: "tool_error" | number;
}

/** The one table: kind → CLI exit code, HTTP status, MCP answer. */
export const SURFACE: Readonly<Record<ErrorKind, SurfaceAnswer>> = Object.freeze({
  usage: { exit: 2, http: 400, mcp: McpErrorCode.INVALID_PARAMS },
  invalid: { exit: 2, http: 422, mcp: McpErrorCode.INVALID_PARAMS },
  not_found: { exit: 2, http: 404, mcp: McpErrorCode.INVALID_PARAMS },
  unauthenticated: { exit: 2, http: 401, mcp: McpErrorCode.INVALID_PARAMS },
  refused: { exit: 2, http: 403, mcp: "tool_error" },
  state: { exit: 2, http: 409, mcp: "tool_error" },
  // Not the caller's fault: the same command may succeed once the other process is done.
  conflict: { exit: 1, http: 409, mcp: "tool_error" },
  failed: { exit: 1, http: 502, mcp: "tool_error" },
  verify: { exit: 7, http: 422, mcp: "tool_error" },
  too_large: { exit: 2, http: 413, mcp: McpErrorCode.INVALID_PARAMS },
  rate_limited: { exit: 1, http: 429, mcp: "tool_error" },
  unavailable: { exit: 1, http: 503, mcp: McpErrorCode.INTERNAL_ERROR },
  internal: { exit: 1, http: 500, mcp: McpErrorCode.INTERNAL_ERROR },
});

const U = ErrorKind.USAGE;
const I = ErrorKind.INVALID;
const N = ErrorKind.NOT_FOUND;
const H = ErrorKind.UNAUTHENTICATED;
const R = ErrorKind.REFUSED;
const S = ErrorKind.STATE;
const C = ErrorKind.CONFLICT;
const F = ErrorKind.FAILED;
const V = ErrorKind.VERIFY;
const A = ErrorKind.UNAVAILABLE;
const L = ErrorKind.TOO_LARGE;
const Q = ErrorKind.RATE_LIMITED;
const X = ErrorKind.INTERNAL;

/** Every code Airun raises, with its kind and what it means (the README lists them). */
export const ERROR_CODES = Object.freeze({
  // requests
  USAGE: [U, "the request is malformed"],
  PRINCIPAL_REQUIRED: [U, "the action needs the principal (kind:id) who takes it"],
  INVALID_PRINCIPAL: [U, "a principal is not spelled kind:id as the grammar says"],
  AMBIGUOUS_APPROVAL: [U, "several steps wait for approval; the decision must name one"],
  INVALID_STORE_URL: [U, "the store URL is not one Airun understands"],
  NOT_A_SESSION: [U, "the run is a workflow run, not a session"],
  EVIDENCE_ALREADY_GIVEN: [U, "the session already recorded commit evidence"],
  CHECKPOINT_INVALID_ARGUMENT: [U, "a checkpoint was asked for with invalid arguments"],
  INVALID_HEX: [U, "a value that must be hexadecimal is not"],
  LEDGER_PROOF_INVALID_ARGUMENT: [U, "a Merkle proof was asked for entries outside the tree"],
  // files and values
  VALIDATION_FAILED: [I, "a file failed validation; every problem names file:line:col and field"],
  PLAN_INVALID: [I, "a stored plan does not compile any more"],
  GOVERNANCE_INVALID: [I, "a governance envelope is invalid"],
  EXPRESSION_SYNTAX: [I, "an expression does not parse"],
  EXPRESSION_TYPE: [I, "an expression applies an operator to values of the wrong type"],
  UNRESOLVED_REFERENCE: [I, "a template or expression names something that does not exist"],
  PLUGIN_NOT_FOUND: [I, "a plugin module named in the config does not exist"],
  PLUGIN_LOAD_FAILED: [I, "a plugin module failed to load"],
  PLUGIN_NO_CAPABILITY: [I, "a plugin module exports no capability"],
  PLUGIN_INVALID_CAPABILITY: [I, "a plugin exports a malformed capability"],
  CAPABILITY_DUPLICATE: [I, "two capabilities have the same name"],
  CAPABILITY_INVALID: [I, "a capability declaration is malformed"],
  UNKNOWN_CAPABILITY: [I, "no capability has that name"],
  INVALID_INPUT: [I, "a capability's inputs do not match its schema"],
  IDEMPOTENCY_KEY_REUSED: [I, "an idempotency key already named another request"],
  // lookups
  NOT_FOUND: [N, "what was named does not exist"],
  // HTTP API credentials and limits
  UNAUTHENTICATED: [H, "the request has no bearer token (or console session), or an unknown one"],
  TOKEN_EXPIRED: [H, "the bearer token has expired"],
  TOKEN_REVOKED: [H, "the bearer token was revoked"],
  SCOPE_MISSING: [R, "the token lacks the scope the request needs (read, run, approve)"],
  HOST_NOT_ALLOWED: [R, "the request's Host or Origin is not this server's (DNS rebinding guard)"],
  CSRF_FAILED: [R, "a console form came without its CSRF token"],
  NOT_YOUR_SESSION: [R, "only the principal that opened a session may drive it"],
  AGENT_ONLY: [
    R,
    "the MCP endpoint of airun serve acts for agents: the token's principal is not agent:<id>",
  ],
  BODY_TOO_LARGE: [L, "the request body is larger than the server accepts"],
  RATE_LIMITED: [Q, "too many requests or event streams for this token; retry later"],
  // rules
  SELF_APPROVAL: [R, "a principal cannot decide its own request"],
  NOT_ELIGIBLE: [R, "the principal is not an eligible approver"],
  POLICY_DENIED: [R, "the policy denied the action"],
  TOOL_FORBIDDEN: [R, "the governance envelope does not allow the capability"],
  ROLLBACK_REQUIRED: [R, "the envelope requires rollback and the call could not be undone"],
  CALL_DENIED: [R, "a session's call was refused before any effect"],
  COMPENSATION_UNAUTHORIZED: [R, "a compensation would act beyond what its step was granted"],
  // states
  RUN_TERMINAL: [S, "the run has already ended"],
  NOT_ROLLBACKABLE: [S, "only a finished run can be undone after the fact"],
  NOT_WAITING: [S, "the run is not waiting for an approval"],
  NO_PENDING_APPROVAL: [S, "there is no pending approval to decide"],
  APPROVAL_EXPIRED: [S, "the approval expired before it was decided"],
  APPROVAL_REJECTED: [S, "a person rejected the action"],
  APPROVAL_PENDING: [S, "the call waits for a person's approval"],
  SESSION_CLOSED: [S, "the session has ended, or was detached"],
  CALL_FAILED: [S, "a session's call failed after its retries; the session is still open"],
  BUDGET_EXCEEDED: [S, "the call would breach a budget; the run abstained"],
  EVIDENCE_UNMET: [S, "required evidence was not met at commit; the run abstained"],
  DRIFT: [S, "run metrics drifted beyond their baseline"],
  // races
  CONFLICT: [C, "another process holds the run, or a concurrent change won"],
  // capability calls
  TIMEOUT: [F, "the call did not finish in time"],
  CANCELLED: [F, "the run was cancelled while the call was in flight"],
  ABORTED: [F, "the call was aborted"],
  INTERRUPTED: [F, "the call was interrupted by a crash"],
  IN_DOUBT: [F, "nobody can tell whether the call took effect; a person must check"],
  ASSERTION_FAILED: [F, "sys.assert found its condition false"],
  SYS_FAIL: [F, "sys.fail failed as asked (its default code)"],
  SANDBOX_VIOLATION: [F, "a path, host or binary is outside what the sandbox allows"],
  UNDO_DRIFT: [F, "the undo's target changed since the step; it was not overwritten"],
  UNDO_BLOB_MISSING: [F, "a before-image the undo needs is missing"],
  UNDO_PLAN_INVALID: [F, "a recorded undo plan is malformed"],
  FS_NOT_FOUND: [F, "the file or folder does not exist"],
  FS_PERMISSION_DENIED: [F, "the operating system refused access to the path"],
  FS_READ_ONLY: [F, "the file system is read-only"],
  FS_CROSS_DEVICE: [F, "the move crosses file systems"],
  FS_NO_SPACE: [F, "the disk (or quota) is full"],
  FS_NAME_TOO_LONG: [F, "a path or name is too long"],
  FS_BUSY: [F, "the file system is busy; trying again may work"],
  FS_IO_ERROR: [F, "the file system reported an I/O error"],
  FS_EXISTS: [F, "the target exists"],
  FS_IS_DIR: [F, "the path is a folder"],
  FS_NOT_DIR: [F, "the path is not a folder"],
  FS_NOT_FILE: [F, "the path is not a regular file"],
  FS_NOT_EMPTY: [F, "the folder is not empty"],
  FS_NOT_UTF8: [F, "the file is not UTF-8 text"],
  FS_TOO_LARGE: [F, "the file is larger than allowed"],
  FS_INVALID: [F, "the file operation is invalid (a source inside its target, …)"],
  FS_CHANGED: [F, "the file changed while it was read"],
  FS_HARD_LINK: [F, "the file has more than one hard link; it is not read or changed in place"],
  FS_PATH_CHANGED: [F, "a path component changed while it was checked"],
  FS_ROOT_MISSING: [F, "a sandbox root does not exist"],
  FS_SYMLINK_LOOP: [F, "the path has too many symbolic links"],
  FS_UNSUPPORTED_TYPE: [F, "the path is a socket, device or other special file"],
  DNS_FAILED: [F, "the host name did not resolve"],
  NETWORK_ERROR: [F, "the network request failed"],
  HTTP_STATUS: [F, "the server answered with an error status"],
  INVALID_REQUEST: [F, "the request could not be built"],
  INVALID_REDIRECT: [F, "a redirect had no usable location"],
  TOO_MANY_REDIRECTS: [F, "the request was redirected too many times"],
  RESPONSE_TOO_LARGE: [F, "the response was larger than allowed"],
  DB_UNKNOWN: [F, "no database of that name is configured under databases:"],
  DB_INVALID: [F, "a table, column or where condition is not valid for the target table"],
  DB_NO_PRIMARY_KEY: [F, "the table has no primary key; row writes with undo are refused"],
  DB_TOO_MANY_ROWS: [F, "the call would change more rows than the limit allows; nothing changed"],
  DB_ERROR: [F, "the target database refused the statement or could not be reached"],
  DB_TXN_LOST: [F, "the target transaction holding the change is gone; nothing was committed"],
  EXEC_SPAWN_FAILED: [F, "the command could not be started"],
  EXEC_EXIT: [F, "the command exited with an error status"],
  OUTPUT_TOO_LARGE: [F, "the command wrote more output than allowed"],
  JSON_INVALID: [F, "the text is not valid JSON (or is nested too deep)"],
  JSON_PATH_INVALID: [F, "a data.json.get path does not parse"],
  TEMPLATE_FAILED: [F, "text.template.render could not fill a placeholder"],
  REGEX_INVALID: [F, "the pattern is not a valid RE2 expression"],
  LLM_API_KEY_MISSING: [F, "the model provider's API key is not set"],
  LLM_API_KEY_INVALID: [F, "the model provider's API key is malformed"],
  LLM_UNKNOWN_TARGET: [F, "no configured provider or model has that name"],
  MCP_UPSTREAM_UNAVAILABLE: [F, "an upstream MCP server could not be started or reached"],
  MCP_TOOL_ERROR: [F, "an upstream MCP tool answered with an error"],
  MCP_TOOL_CHANGED: [
    F,
    "an upstream MCP tool's definition changed since it was pinned; a person re-pins it (airun mcp pin)",
  ],
  MCP_TOOL_UNPINNED: [F, "an upstream MCP tool was never pinned (airun mcp pin)"],
  MCP_UNDO_UNSUPPORTED: [F, "the upstream has no tool to undo this effect with"],
  LLM_HTTP_STATUS: [F, "the model provider answered with an error status"],
  LLM_REDIRECT: [F, "the model provider redirected the request"],
  LLM_BAD_RESPONSE: [F, "the model provider's answer could not be read"],
  LLM_RESPONSE_TOO_LARGE: [F, "the model provider's answer was larger than allowed"],
  // verification
  LEDGER_INVALID: [V, "the ledger does not verify"],
  LEDGER_STATE_MISMATCH: [V, "a run's state disagrees with its ledger entries"],
  LEDGER_KEY_MISMATCH: [V, "the ledger key does not match the one the home was created with"],
  PACK_MALFORMED: [V, "the evidence pack is malformed"],
  CHECKPOINT_MALFORMED: [V, "the checkpoint is malformed"],
  CHECKPOINT_BAD_SIGNATURE: [V, "the checkpoint's signature does not verify"],
  CHECKPOINT_INVALID_KEY: [V, "the public key given is not a usable Ed25519 key"],
  BLOB_TAMPERED: [V, "a sealed before-image does not authenticate"],
  // state that cannot be reached
  STORE_CLOSED: [A, "the store is closed"],
  STORE_OPEN_FAILED: [A, "the store could not be opened"],
  STORE_COMMIT_FAILED: [A, "a commit failed (disk full, I/O error): nothing of it was written"],
  STORE_WRITE_FAILED: [A, "a write failed"],
  STORE_COMMIT_UNCERTAIN: [A, "a commit may have been written but its acknowledgement was lost"],
  STORE_SCHEMA_TOO_NEW: [A, "the database was written by a newer airun"],
  STORE_SCHEMA_MISMATCH: [A, "the database's schema is not the one its migrations made"],
  STORE_COPY_REFUSED: [S, "a store copy's target is not empty or its source is in use"],
  LEDGER_COPY_MISMATCH: [V, "a ledger entry did not copy with the hash its source stored"],
  BLOB_KEY_INVALID: [A, "the key sealing before-images is unreadable"],
  BLOB_MISSING: [A, "a before-image is missing from the store"],
  // bugs
  INTERNAL: [X, "an internal error"],
  STORE_INVALID_OP: [X, "the engine asked the store for an unknown write"],
  STORE_INVALID_PATCH: [X, "the engine patched a field of a run that cannot change"],
  STORE_INVALID_RECORD: [X, "the engine gave the store a value that is not JSON"],
  STORE_CONSTRAINT: [X, "a write broke a database constraint"],
  STORE_MIGRATION_MISSING_SQL: [X, "a migration has no SQL for this database"],
  BLOB_HASH_MISMATCH: [X, "a blob's id is not the hash of its bytes"],
  NO_UNDO: [X, "a built-in undo was recorded for a capability without one"],
  NO_COMPENSATION: [X, "a declared compensation was recorded for a step without one"],
} as const satisfies Record<string, readonly [ErrorKind, string]>);

/** A code Airun raises. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `code` is one of Airun's codes. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/**
 * The kind of a code. A code Airun does not know (a plugin's own `CapabilityError` code) is a
 * failed call.
 */
export function errorKind(code: string): ErrorKind {
  return isErrorCode(code) ? ERROR_CODES[code][0] : ErrorKind.FAILED;
}

/** What every surface answers for `code` (see `SURFACE`). */
export function surfaceAnswer(code: string): SurfaceAnswer {
  return SURFACE[errorKind(code)];
}
