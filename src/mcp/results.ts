/**
 * @module What a tool call answers, in MCP terms. A call's outputs become a result with the
 * outputs as text (for models) and as `structuredContent` (for clients that read the output
 * schema). An Airun error becomes what the one error table says (`core/error-codes.ts`,
 * `surfaceAnswer`): a refusal, a failed call, a session that ended are tool results with
 * `isError` whose text tells the model what was refused and why (the rule ids, the budget and
 * its figures, the evidence that was missing), never protocol errors; a malformed request or a
 * bug of Airun is a JSON-RPC error. `_meta["io.airun/error"]` repeats it as data.
 */

import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { surfaceAnswer } from "../core/error-codes.js";
import {
  AirunError,
  type ApprovalHandle,
  BudgetExceededError,
  CallDeniedError,
  CallFailedError,
  EvidenceUnmetError,
  SessionClosedError,
} from "../core/errors.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../core/json.js";

/** The result of a call that was made. */
export function outputResult(outputs: JsonValue): CallToolResult {
  return {
    content: [{ type: "text", text: JSON.stringify(outputs) }],
    structuredContent: isPlainObject(outputs) ? outputs : { result: outputs },
  };
}

/** A tool error: what the model reads, and the same as data. */
export function toolError(text: string, data: JsonObject): CallToolResult {
  return {
    isError: true,
    content: [{ type: "text", text }],
    _meta: { "io.airun/error": data },
  };
}

/** Who may decide an approval, in words. */
export function deciders(approvers: readonly string[]): string {
  return approvers.length > 0
    ? approvers.join(", ")
    : "the configured approvers (approvals.approvers; any user:* when none)";
}

/** The command a person runs to decide an approval. */
export function decideCommand(runId: string): string {
  return `airun workflow resume ${runId} --decision approve|reject --as <approver>`;
}

/** Where a call that waits for a person stands: the text of its pending result and task. */
export function pendingText(a: ApprovalHandle, capability: string): string {
  const expires =
    a.expiresAt === null ? "" : ` It expires at ${new Date(a.expiresAt).toISOString()}.`;
  return (
    `PENDING_APPROVAL: call ${a.stepId} (${capability}) was not made: it waits for approval ${a.approvalId}` +
    `${a.message ? ` (${a.message})` : ""}. Who may decide: ${deciders(a.approvers)} — never this agent. ` +
    `A person decides with: ${decideCommand(a.runId)}.${expires}`
  );
}

/** The result of a call that waits for a person, for a client without MCP tasks. */
export function pendingResult(
  a: ApprovalHandle,
  capability: string,
  statusTool: string,
): CallToolResult {
  const data = {
    status: "pending_approval",
    call_id: a.stepId,
    approval_id: a.approvalId,
    session_id: a.runId,
    capability,
    approvers: [...a.approvers],
    expires_at: a.expiresAt === null ? null : new Date(a.expiresAt).toISOString(),
  };
  return {
    // Not made yet: an error for clients that check a result against the tool's output schema.
    isError: true,
    content: [
      {
        type: "text",
        text: `${pendingText(a, capability)} Poll ${statusTool} with {"call_id":"${a.stepId}"} for its result.`,
      },
    ],
    _meta: { "io.airun/pending_approval": data },
  };
}

/** Details the model needs beyond the message: rule ids, budget figures, unmet evidence. */
function details(err: AirunError): { lines: string[]; data: JsonObject } {
  const lines: string[] = [];
  const data: JsonObject = { code: err.code };
  for (const [k, v] of Object.entries(err.context)) {
    if (v !== undefined) data[k] = v as JsonValue;
  }
  if (err instanceof CallDeniedError) {
    data.denied_by = err.deniedBy;
    data.rule_ids = [...err.ruleIds];
    lines.push(
      err.deniedBy === "policy"
        ? `Denied by policy${err.ruleIds.length > 0 ? ` rule ${err.ruleIds.join(", ")}` : " (default decision)"}. The session is still open: try something else.`
        : "Refused by the session's governance envelope (tools.allowed / tools.forbidden). The session is still open.",
    );
  } else if (err instanceof CallFailedError) {
    data.error = err.error;
    data.effect_applied = err.effectApplied;
    lines.push(
      `The session is still open.${err.effectApplied ? " The failed call's effect happened anyway; it is undone if the session rolls back." : ""}`,
    );
  } else if (err instanceof BudgetExceededError) {
    data.figures = { ...err.figures };
    data.end = { ...err.end };
    const f = err.figures;
    lines.push(
      `Budget ${f.budget}: used ${f.used}, reserved ${f.reserved}, this call ${f.requested}, limit ${f.limit}. The session ended ${err.end.status} (${err.end.outcome ?? "-"}).`,
    );
  } else if (err instanceof EvidenceUnmetError) {
    data.failed = err.failed.map((f) => JSON.parse(JSON.stringify(f)) as JsonObject);
    data.evidence = err.evidence;
    data.end = { ...err.end };
    for (const f of err.failed) {
      lines.push(`Unmet: ${f.expression} (values: ${JSON.stringify(f.values)})`);
    }
  } else if (err instanceof SessionClosedError) {
    data.end = { ...err.end };
  }
  return { lines, data };
}

/**
 * The answer to a failed tool call: a tool error result, or a thrown `McpError` (JSON-RPC
 * error) for what the error table says is not the model's to read. Anything that is not an
 * Airun error is rethrown (the SDK answers it as an internal error).
 */
export function errorAnswer(err: unknown): CallToolResult {
  if (!(err instanceof AirunError)) throw err;
  const answer = surfaceAnswer(err.code);
  if (answer.mcp !== "tool_error") {
    throw new McpError(answer.mcp, `${err.code}: ${err.message}`, { code: err.code });
  }
  const { lines, data } = details(err);
  return toolError([`${err.code}: ${err.message}`, ...lines].join("\n"), data);
}
