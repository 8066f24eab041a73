/**
 * @module The governance envelope (SovDef, SPEC §7) compiled into a frozen, typed `Governance`:
 * objective, tools allowed/forbidden, evidence requirements, budgets, rollback requirement and
 * drift settings. Pure: the spec compiler reports every problem with its field (and so its
 * line) through a callback; the engine reads the compiled envelope of a plan with
 * `governanceOf(plan)`, computed once per plan object. Validation and compilation of the one
 * section stay together (hence the length): a rule checked is a rule compiled.
 *
 * A plan keeps the governance section as validated JSON (`Plan.governance`, persisted with
 * each run and covered by the spec hash); the typed form is derived from it, never stored.
 *
 * Decisions where SPEC §7 is silent:
 * - Tool globs use the policy's capability globs: `*` stays within one dotted segment, `**`
 *   crosses them (`io.fs.*` matches `io.fs.write_file`). `forbidden` wins over `allowed`; no
 *   `allowed` list allows every capability not forbidden.
 * - `max_duration` is wall time since the run was created (approval waits included).
 * - `rollback.required` defaults to true; with false, a governance abstention (budget, evidence,
 *   drift, forbidden tool) leaves the effects in place and the run ends FAILED (outcome
 *   ABSTAIN): a human decides, and `airun workflow rollback` can still undo it.
 * - Drift metrics default to `tool_calls`, `tokens`, `cost_usd` (`duration_ms` is opt-in: wall
 *   time is noisy); `calls:<capability>` counts the attempts of one capability. Defaults:
 *   `factor` 3, `min_samples` 5, `action` warn, `window` 50 most recent accepted runs.
 */
import { parseDuration } from "./duration.js";
import { AirunError } from "./errors.js";
import { isPlainObject, type JsonValue } from "./json.js";
import { compileNameGlob, type Matcher } from "./path-match.js";
import type { Plan, PlanStep } from "./plan.js";
import { runtimeStep } from "./plan-schema.js";
import { principalPatternProblem } from "./principal.js";
import { didYouMean } from "./spec-context.js";
import { parseTemplateString } from "./template.js";

/** What happens when a run drifts beyond its baseline. */
export const DriftAction = {
  /** A `drift.detected` event; the run continues. */
  WARN: "warn",
  /** A person must approve before the run goes on (or completes). */
  REQUIRE_APPROVAL: "require_approval",
  /** The run abstains (reason DRIFT) and is compensated. */
  ABSTAIN: "abstain",
} as const;
export type DriftAction = (typeof DriftAction)[keyof typeof DriftAction];

/** The run-wide metrics a baseline keeps (plus `calls:<capability>` counts). */
export const RUN_METRICS = ["tool_calls", "tokens", "cost_usd", "duration_ms"] as const;

/** Drift metrics checked when `drift.metrics` is not given. */
export const DEFAULT_DRIFT_METRICS: readonly string[] = ["tool_calls", "tokens", "cost_usd"];

/** Prefix of a per-capability count metric: `calls:llm.chat`. */
export const CALLS_METRIC_PREFIX = "calls:";

/** Budget limits; `null` is no limit. */
export interface Budgets {
  readonly maxToolCalls: number | null;
  readonly maxTokens: number | null;
  readonly maxCostUsd: number | null;
  readonly maxDurationMs: number | null;
}

/** Compiled drift settings. */
export interface DriftSettings {
  readonly metrics: readonly string[];
  readonly factor: number;
  readonly minSamples: number;
  readonly action: DriftAction;
  /** How many of the most recent accepted runs form the baseline. */
  readonly window: number;
  /** Who may approve a drifting run (`require_approval`); empty: the configured defaults. */
  readonly approvers: readonly string[];
}

/** A compiled, frozen governance envelope. */
export interface Governance {
  readonly objective: string | null;
  /** Capability globs; `null` allows every capability that is not forbidden. */
  readonly allowed: readonly string[] | null;
  readonly forbidden: readonly string[];
  /** Evidence requirements as expression sources (templates unwrapped). */
  readonly required: readonly string[];
  readonly budgets: Budgets;
  /** Compensate on a governance abstention (default true). */
  readonly rollbackRequired: boolean;
  readonly drift: DriftSettings | null;
  /** Spend must be counted and persisted: a counting budget or drift is set. */
  readonly counts: boolean;
}

/** Receives a problem at a path relative to the `governance:` section. */
export type GovernanceReporter = (path: readonly (string | number)[], message: string) => void;

const TOP_KEYS = ["objective", "tools", "evidence", "budgets", "rollback", "drift"];
const TOOLS_KEYS = ["allowed", "forbidden"];
const EVIDENCE_KEYS = ["required"];
const BUDGET_KEYS = ["max_tool_calls", "max_tokens", "max_cost_usd", "max_duration"];
const ROLLBACK_KEYS = ["required"];
const DRIFT_KEYS = ["metrics", "factor", "min_samples", "action", "window", "approvers"];
const DRIFT_ACTIONS = Object.values(DriftAction) as readonly string[];

type Path = readonly (string | number)[];

/** A section that must be a mapping: its keys are checked; `undefined` when absent or bad. */
function section(
  parent: Record<string, unknown>,
  key: string,
  keys: readonly string[],
  report: GovernanceReporter,
): Record<string, unknown> | undefined {
  const v = parent[key];
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) {
    report([key], `governance.${key} must be a mapping`);
    return undefined;
  }
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) {
      report([key, k], `unknown governance.${key} key "${k}"${didYouMean(k, keys)}`);
    }
  }
  return v;
}

/** A list of non-empty strings (a single string is a one-element list). */
function stringList(v: unknown, path: Path, what: string, report: GovernanceReporter): string[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list)) {
    report(path, `${what} must be a list of strings`);
    return [];
  }
  const out: string[] = [];
  list.forEach((x, i) => {
    if (typeof x !== "string" || !x.trim()) {
      report(
        typeof v === "string" ? path : [...path, i],
        `${what} entries must be non-empty strings`,
      );
    } else out.push(x.trim());
  });
  return out;
}

/** A non-negative number (an integer when `integer`), or null when absent. */
function limit(
  v: unknown,
  path: Path,
  report: GovernanceReporter,
  opts: { integer: boolean; min?: number },
): number | null {
  if (v === undefined || v === null) return null;
  const min = opts.min ?? 0;
  if (
    typeof v !== "number" ||
    !Number.isFinite(v) ||
    v < min ||
    (opts.integer && !Number.isInteger(v))
  ) {
    report(
      path,
      `${String(path[path.length - 1])} must be ${opts.integer ? "an integer" : "a number"} >= ${min}`,
    );
    return null;
  }
  return v;
}

function compileBudgets(g: Record<string, unknown>, report: GovernanceReporter): Budgets {
  const b = section(g, "budgets", BUDGET_KEYS, report) ?? {};
  let maxDurationMs: number | null = null;
  if (b.max_duration !== undefined && b.max_duration !== null) {
    const ms = parseDuration(b.max_duration);
    if (ms === undefined || ms <= 0) {
      report(
        ["budgets", "max_duration"],
        'max_duration must be a duration like "5m" or milliseconds',
      );
    } else maxDurationMs = ms;
  }
  return {
    maxToolCalls: limit(b.max_tool_calls, ["budgets", "max_tool_calls"], report, { integer: true }),
    maxTokens: limit(b.max_tokens, ["budgets", "max_tokens"], report, { integer: true }),
    maxCostUsd: limit(b.max_cost_usd, ["budgets", "max_cost_usd"], report, { integer: false }),
    maxDurationMs,
  };
}

/** True when `name` is a metric a baseline keeps. */
export function isDriftMetric(name: string): boolean {
  if ((RUN_METRICS as readonly string[]).includes(name)) return true;
  return name.startsWith(CALLS_METRIC_PREFIX) && name.length > CALLS_METRIC_PREFIX.length;
}

function compileDrift(
  g: Record<string, unknown>,
  report: GovernanceReporter,
): DriftSettings | null {
  const d = section(g, "drift", DRIFT_KEYS, report);
  if (!d) return null;
  let metrics = [...DEFAULT_DRIFT_METRICS];
  if (d.metrics !== undefined && d.metrics !== null) {
    metrics = stringList(d.metrics, ["drift", "metrics"], "drift.metrics", report).map((m) =>
      m === "duration" ? "duration_ms" : m,
    );
    metrics.forEach((m, i) => {
      if (!isDriftMetric(m)) {
        report(
          ["drift", "metrics", i],
          `unknown drift metric "${m}"${didYouMean(m, RUN_METRICS)} (or calls:<capability>)`,
        );
      }
    });
    if (metrics.length === 0) report(["drift", "metrics"], "drift.metrics must name a metric");
  }
  const factor = limit(d.factor, ["drift", "factor"], report, { integer: false, min: 1 }) ?? 3;
  const minSamples =
    limit(d.min_samples, ["drift", "min_samples"], report, { integer: true, min: 1 }) ?? 5;
  let window = limit(d.window, ["drift", "window"], report, { integer: true, min: 1 }) ?? 50;
  if (window < minSamples) {
    if (d.window !== undefined) report(["drift", "window"], "drift.window must be >= min_samples");
    window = minSamples;
  }
  let action: DriftAction = DriftAction.WARN;
  if (d.action !== undefined && d.action !== null) {
    if (typeof d.action !== "string" || !DRIFT_ACTIONS.includes(d.action)) {
      report(["drift", "action"], `drift.action must be one of ${DRIFT_ACTIONS.join(", ")}`);
    } else action = d.action as DriftAction;
  }
  const approvers = stringList(d.approvers, ["drift", "approvers"], "drift.approvers", report);
  approvers.forEach((a, i) => {
    const problem = principalPatternProblem(a);
    if (problem !== null) report(["drift", "approvers", i], `approver ${problem}`);
  });
  return { metrics, factor, minSamples, action, window, approvers };
}

/** The expression source of an evidence requirement: one `${{ }}` template, or bare. */
export function requirementSource(requirement: string): string {
  try {
    const parts = parseTemplateString(requirement);
    const only = parts.length === 1 ? parts[0] : undefined;
    if (only?.kind === "expr") return only.source;
  } catch {
    // Reported by the spec compiler; evaluated (and failing) as written.
  }
  return requirement.trim();
}

/**
 * Compiles a governance section (SPEC §7). Every problem goes to `report` with its path
 * relative to the section; without `report`, the first problem throws `AirunError`
 * `GOVERNANCE_INVALID`. Evidence expressions are only unwrapped here: the spec compiler checks
 * their references.
 *
 * @example
 * const gov = compileGovernance({ budgets: { max_tool_calls: 20, max_duration: "5m" } });
 * gov.budgets.maxDurationMs; // 300000
 */
export function compileGovernance(raw: JsonValue, report?: GovernanceReporter): Governance {
  const rep: GovernanceReporter =
    report ??
    ((path, message) => {
      throw new AirunError("GOVERNANCE_INVALID", `governance.${path.join(".")}: ${message}`);
    });
  const g: Record<string, unknown> = isPlainObject(raw) ? raw : {};
  if (!isPlainObject(raw)) rep([], "governance must be a mapping");
  for (const k of Object.keys(g)) {
    if (!TOP_KEYS.includes(k)) rep([k], `unknown governance key "${k}"${didYouMean(k, TOP_KEYS)}`);
  }
  let objective: string | null = null;
  if (g.objective !== undefined && g.objective !== null) {
    if (typeof g.objective !== "string") rep(["objective"], "objective must be a string");
    else objective = g.objective;
  }
  const tools = section(g, "tools", TOOLS_KEYS, rep);
  const allowed =
    tools && tools.allowed !== undefined && tools.allowed !== null
      ? stringList(tools.allowed, ["tools", "allowed"], "tools.allowed", rep)
      : null;
  const forbidden = tools
    ? stringList(tools.forbidden, ["tools", "forbidden"], "tools.forbidden", rep)
    : [];
  const evidence = section(g, "evidence", EVIDENCE_KEYS, rep);
  const required = evidence
    ? stringList(evidence.required, ["evidence", "required"], "evidence.required", rep).map(
        requirementSource,
      )
    : [];
  const budgets = compileBudgets(g, rep);
  const rollback = section(g, "rollback", ROLLBACK_KEYS, rep);
  let rollbackRequired = true;
  if (rollback && rollback.required !== undefined) {
    if (typeof rollback.required !== "boolean") {
      rep(["rollback", "required"], "rollback.required must be true or false");
    } else rollbackRequired = rollback.required;
  }
  const drift = compileDrift(g, rep);
  const counts =
    budgets.maxToolCalls !== null ||
    budgets.maxTokens !== null ||
    budgets.maxCostUsd !== null ||
    drift !== null;
  return Object.freeze({
    objective,
    allowed: allowed ? Object.freeze(allowed) : null,
    forbidden: Object.freeze(forbidden),
    required: Object.freeze(required),
    budgets: Object.freeze(budgets),
    rollbackRequired,
    drift: drift ? Object.freeze({ ...drift, metrics: Object.freeze(drift.metrics) }) : null,
    counts,
  });
}

const compiled = new WeakMap<Plan, Governance | null>();

/**
 * The compiled envelope of a plan (computed once per plan object), or null when the plan has
 * no `governance:` section. Throws `AirunError` `GOVERNANCE_INVALID` for a persisted section
 * that no longer compiles.
 */
export function governanceOf(plan: Plan): Governance | null {
  if (plan.governance === null) return null;
  let gov = compiled.get(plan);
  if (gov === undefined) {
    gov = compileGovernance(plan.governance);
    compiled.set(plan, gov);
  }
  return gov;
}

/** Id of the gate step a drift approval at commit is recorded on (never a plan step id). */
export const DRIFT_GATE_STEP = "governance.drift";

/**
 * The gate step of a governed plan's drift approval at commit, as a plan step the approval
 * machinery can use (its message is the approval's own); undefined for an ungoverned plan or
 * one without drift settings. `onTimeout` is the configured default.
 */
export function driftGateStep(plan: Plan, onTimeout: "reject" | "approve"): PlanStep | undefined {
  const drift = governanceOf(plan)?.drift;
  if (!drift) return undefined;
  return runtimeStep({
    id: DRIFT_GATE_STEP,
    kind: "approval",
    approval: {
      message: "Approve completing a run that drifted beyond its baseline?",
      approvers: [...drift.approvers],
      timeoutMs: null,
      onTimeout,
      webhookUrl: null,
    },
  });
}

/** Why a capability is refused by an envelope: the list and the pattern that decided. */
export interface ToolRefusal {
  readonly list: "forbidden" | "allowed";
  /** The forbidding pattern, or null when no `allowed` pattern matched. */
  readonly pattern: string | null;
  readonly message: string;
}

const matchers = new Map<string, Matcher>();
function matches(pattern: string, name: string): boolean {
  let m = matchers.get(pattern);
  if (!m) {
    m = compileNameGlob(pattern, ".");
    if (matchers.size > 1000) matchers.clear();
    matchers.set(pattern, m);
  }
  return m(name);
}

/**
 * Whether the envelope lets `capability` be called: null when allowed, else why not
 * (`forbidden` wins over `allowed`).
 *
 * @example
 * toolRefusal(gov, "io.fs.delete")?.message // 'io.fs.delete is forbidden (tools.forbidden "io.fs.delete")'
 */
export function toolRefusal(
  gov: Pick<Governance, "allowed" | "forbidden">,
  capability: string,
): ToolRefusal | null {
  const bad = gov.forbidden.find((p) => matches(p, capability));
  if (bad !== undefined) {
    return {
      list: "forbidden",
      pattern: bad,
      message: `${capability} is forbidden by governance (tools.forbidden "${bad}")`,
    };
  }
  if (gov.allowed !== null && !gov.allowed.some((p) => matches(p, capability))) {
    return {
      list: "allowed",
      pattern: null,
      message: `${capability} is not in governance tools.allowed (${gov.allowed.join(", ") || "empty"})`,
    };
  }
  return null;
}
