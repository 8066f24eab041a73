/**
 * @module Budget arithmetic (SPEC §7), as pure functions over plain numbers: a call RESERVES its
 * worst-case spend before it is made and SETTLES with its actual spend after. A reservation is
 * refused when spent + reserved in flight + this estimate would exceed a limit; the answer says
 * which budget and the figures. The engine keeps the amounts (engine/governance/run-governance.ts).
 */
import type { Usage } from "./capability.js";
import type { Budgets } from "./governance.js";

/** An amount of spend: calls, tokens, US dollars. */
export interface Spend {
  readonly toolCalls: number;
  readonly tokens: number;
  readonly costUsd: number;
}

/** No spend. */
export const ZERO_SPEND: Spend = Object.freeze({ toolCalls: 0, tokens: 0, costUsd: 0 });

/** The budget names of SPEC §7. */
export type BudgetName = "max_tool_calls" | "max_tokens" | "max_cost_usd" | "max_duration";

/** A budget a call would breach, with the figures people need to see. */
export interface Breach {
  readonly budget: BudgetName;
  /** Already spent (for `max_duration`: milliseconds elapsed). */
  readonly used: number;
  /** Reserved by calls still in flight. */
  readonly reserved: number;
  /** What the refused call asked for (0 for `max_duration`). */
  readonly requested: number;
  readonly limit: number;
}

/** Dollar amounts are summed with 1e-9 precision, so 0.1 + 0.2 stays 0.3. */
function money(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}

/** A finite, non-negative number, else 0 (a capability's usage report is not trusted blindly). */
function amount(n: unknown): number {
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? n : 0;
}

/** `a + b`. */
export function addSpend(a: Spend, b: Spend): Spend {
  return {
    toolCalls: a.toolCalls + b.toolCalls,
    tokens: a.tokens + b.tokens,
    costUsd: money(a.costUsd + b.costUsd),
  };
}

/** The spend of one call attempt using `usage` (one tool call; bad figures count as 0). */
export function callSpend(usage: Usage | undefined): Spend {
  return { toolCalls: 1, tokens: amount(usage?.tokens), costUsd: money(amount(usage?.costUsd)) };
}

/** The budget whose limit `value` exceeds, in SPEC order, with its figures. */
function exceeded(budgets: Budgets, used: Spend, reserved: Spend, requested: Spend): Breach | null {
  const checks: [BudgetName, number | null, keyof Spend][] = [
    ["max_tool_calls", budgets.maxToolCalls, "toolCalls"],
    ["max_tokens", budgets.maxTokens, "tokens"],
    ["max_cost_usd", budgets.maxCostUsd, "costUsd"],
  ];
  for (const [budget, lim, key] of checks) {
    if (lim === null) continue;
    const total = used[key] + reserved[key] + requested[key];
    if (money(total) > lim) {
      return {
        budget,
        used: used[key],
        reserved: reserved[key],
        requested: requested[key],
        limit: lim,
      };
    }
  }
  return null;
}

/**
 * Whether a call may reserve `estimate`: null when it fits every budget, else the first budget
 * it would breach. `max_duration` is checked first: a call is not started once `elapsedMs`
 * reached it.
 *
 * @example
 * checkReservation(budgets, { toolCalls: 20, tokens: 0, costUsd: 0 }, ZERO_SPEND, callSpend({}), 0)
 * // { budget: "max_tool_calls", used: 20, reserved: 0, requested: 1, limit: 20 }
 */
export function checkReservation(
  budgets: Budgets,
  used: Spend,
  inFlight: Spend,
  estimate: Spend,
  elapsedMs: number,
): Breach | null {
  const duration = checkDuration(budgets, elapsedMs);
  return duration ?? exceeded(budgets, used, inFlight, estimate);
}

/** The `max_duration` breach when `elapsedMs` reached the limit, else null. */
export function checkDuration(budgets: Budgets, elapsedMs: number): Breach | null {
  const lim = budgets.maxDurationMs;
  if (lim === null || elapsedMs < lim) return null;
  return {
    budget: "max_duration",
    used: Math.round(elapsedMs),
    reserved: 0,
    requested: 0,
    limit: lim,
  };
}

/**
 * The first budget that settled spend already exceeds (a call used more than it reserved), or
 * null. Checked at commit: a run that ended over budget does not ACCEPT.
 */
export function checkSettled(budgets: Budgets, used: Spend): Breach | null {
  return exceeded(budgets, used, ZERO_SPEND, ZERO_SPEND);
}

/** One line for people: `max_tool_calls: 20 used + 0 reserved + 1 requested > limit 20`. */
export function describeBreach(b: Breach): string {
  if (b.budget === "max_duration") {
    return `max_duration: ${b.used}ms elapsed >= limit ${b.limit}ms`;
  }
  return `${b.budget}: ${b.used} used + ${b.reserved} reserved + ${b.requested} requested > limit ${b.limit}`;
}
