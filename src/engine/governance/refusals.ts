/**
 * @module What governance refuses, and in what terms: the refusal a step fails with when a call
 * would breach a budget, drifts beyond the envelope, or is not an allowed tool (the run then
 * abstains), the spend figures as recorded, and whether an abstaining run keeps its effects.
 */
import { AirunError, CapabilityError } from "../../core/errors.js";
import { governanceOf } from "../../core/governance.js";
import {
  type Breach,
  callSpend,
  describeBreach,
  type Spend,
} from "../../core/governance-budget.js";
import { type DriftFinding, describeFinding } from "../../core/governance-drift.js";
import { isPlainObject, type JsonObject } from "../../core/json.js";
import { Outcome, Reason } from "../../core/status.js";
import type { RunState } from "../state/run-state.js";

/** Why governance refused a call: the step fails with this and the run abstains. */
export interface Refusal {
  readonly error: AirunError;
  readonly reason: Reason;
  readonly outcome: Outcome;
  /** Recorded as the run's reasonDetail (with the step and error). */
  readonly detail: JsonObject;
}

/** `{ tool_calls, tokens, cost_usd }`: spend as persisted and reported. */
export function spendJson(s: Spend): JsonObject {
  return { tool_calls: s.toolCalls, tokens: s.tokens, cost_usd: s.costUsd };
}

export function spendFrom(v: unknown): Spend {
  const o = isPlainObject(v) ? v : {};
  const n = (x: unknown) => (typeof x === "number" && Number.isFinite(x) && x > 0 ? x : 0);
  return { toolCalls: n(o.tool_calls), tokens: n(o.tokens), costUsd: n(o.cost_usd) };
}

/** The run's reason detail and error for a budget breach. */
export function budgetRefusal(b: Breach, capability: string | null): Refusal {
  const what = capability ? `the call to ${capability} was not made` : "the run ended over budget";
  return {
    error: new AirunError("BUDGET_EXCEEDED", `${describeBreach(b)}: ${what}`),
    reason: Reason.BUDGET_EXCEEDED,
    outcome: Outcome.ABSTAIN,
    detail: {
      governance: "budget",
      budget: b.budget,
      used: b.used,
      reserved: b.reserved,
      requested: b.requested,
      limit: b.limit,
      ...(capability ? { capability } : {}),
    },
  };
}

/** The run's reason detail and error for drift the envelope abstains on. */
export function driftRefusal(findings: readonly DriftFinding[], phase: "call" | "commit"): Refusal {
  return {
    error: new AirunError("DRIFT", `drift: ${findings.map(describeFinding).join("; ")}`),
    reason: Reason.DRIFT,
    outcome: Outcome.ABSTAIN,
    detail: { governance: "drift", phase, findings: findings.map(findingJson) },
  };
}

/** A drift finding as recorded. */
export function findingJson(f: DriftFinding): JsonObject {
  return { ...f };
}

/** The usage a failed call reported in its `CapabilityError` context (`usage`), if any. */
export function reportedUsage(e: AirunError): Spend | undefined {
  if (!(e instanceof CapabilityError)) return undefined;
  const u = e.context.usage;
  if (!isPlainObject(u)) return undefined;
  return callSpend(u as { tokens?: number; costUsd?: number });
}

/**
 * True when a governed run abstaining for a governance reason must keep its effects
 * (`rollback.required: false`): it then ends FAILED with its ABSTAIN outcome instead of being
 * compensated, and `airun workflow rollback` can still undo it. A rollback asked for after the
 * fact replaces the reason detail, so it always runs.
 */
export function keepsEffects(state: RunState): boolean {
  if (state.plan.governance === null || governanceOf(state.plan)?.rollbackRequired !== false) {
    return false;
  }
  const detail = state.run.reasonDetail;
  return isPlainObject(detail) && typeof detail.governance === "string";
}
