/**
 * @module What a session has done and spent so far, for an agent deciding whether to go on,
 * commit or roll back (the MCP server's `airun_session_status` tool): its calls, spend against
 * every budget of its envelope, the evidence its calls contributed and whether the envelope's
 * requirements are met now, and the call waiting for a person.
 *
 * Spend is read from the execution this process holds (exact: what the next call is screened
 * against); while the session is not held here (a call waits for a person) tokens and cost are
 * those last settled in `run.meta.governance`.
 */
import { governanceOf } from "../../core/governance.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import { evaluateEvidence } from "../governance/evidence.js";
import { spendFrom } from "../governance/refusals.js";
import { runGovernance } from "../governance/run-governance.js";
import type { RunState } from "../state/run-state.js";
import type { RunView } from "../state/run-view.js";

/** One budget: what was used and the limit (null: no limit). */
export interface BudgetStatus {
  readonly used: number;
  readonly limit: number | null;
}

/** A session's status (`Session.status`). Field names are snake_case like every view. */
export interface SessionStatus {
  readonly session_id: string;
  readonly status: string;
  readonly outcome: string | null;
  readonly reason: string | null;
  readonly principal: string;
  readonly calls: readonly {
    readonly id: string;
    readonly capability: string | null;
    readonly status: string;
    readonly error: JsonValue | null;
  }[];
  /** Spend against the envelope's budgets; null when the session has no envelope. */
  readonly budgets: {
    readonly tool_calls: BudgetStatus;
    readonly tokens: BudgetStatus;
    readonly cost_usd: BudgetStatus;
    readonly duration_ms: BudgetStatus;
  } | null;
  /** The evidence so far and the envelope's requirements (met now?); null without an envelope. */
  readonly evidence: {
    readonly collected: JsonObject;
    readonly required: readonly { readonly expression: string; readonly met: boolean }[];
  } | null;
}

/** Builds the status from the run's view and, when this process holds it, its execution. */
export function sessionStatus(
  view: RunView,
  state: RunState | null,
  meta: JsonObject,
  now: number,
): SessionStatus {
  const plan = state?.plan ?? null;
  const envelope = plan ? governanceOf(plan) : null;
  const calls = view.steps.map((s) => ({
    id: s.id,
    capability: s.capability,
    status: s.status,
    error: s.error,
  }));
  const base = {
    session_id: view.id,
    status: view.status,
    outcome: view.outcome,
    reason: view.reason,
    principal: view.principal,
    calls,
  };
  const gov = state ? runGovernance(state) : undefined;
  if (!envelope || !state) {
    const saved = isPlainObject(meta.governance) ? meta.governance : null;
    if (!saved) return { ...base, budgets: null, evidence: null };
    const used = spendFrom(saved.used);
    const toolCalls = view.steps.reduce((n, s) => n + s.attempts, 0);
    return {
      ...base,
      budgets: {
        tool_calls: { used: toolCalls, limit: null },
        tokens: { used: used.tokens, limit: null },
        cost_usd: { used: used.costUsd, limit: null },
        duration_ms: { used: now - Date.parse(view.created_at), limit: null },
      },
      evidence: null,
    };
  }
  const b = envelope.budgets;
  const used = gov?.used ?? { toolCalls: 0, tokens: 0, costUsd: 0 };
  const ev = evaluateEvidence(state, envelope.required);
  return {
    ...base,
    budgets: {
      tool_calls: { used: used.toolCalls, limit: b.maxToolCalls },
      tokens: { used: used.tokens, limit: b.maxTokens },
      cost_usd: { used: used.costUsd, limit: b.maxCostUsd },
      duration_ms: { used: now - state.run.createdAt, limit: b.maxDurationMs },
    },
    evidence: {
      collected: ev.evidence,
      required: ev.results.map((r) => ({ expression: r.expression, met: r.met })),
    },
  };
}
