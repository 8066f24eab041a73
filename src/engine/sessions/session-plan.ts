/**
 * @module The plan of a session (SPEC §1); its builders (the opening plan, a call's step, the
 * commit evidence) share the escaping that keeps an agent's data literal, hence one file: a
 * session is persisted as a run whose plan starts empty and gains one step per call, so that
 * the executor, the gatekeeper, governance, compensation, recovery and the ledger treat a call
 * exactly like a workflow step.
 *
 * - The session's spec hash covers its opening definition (name, principal, objective,
 *   governance), fixed at open; each call's context hash covers the call itself.
 * - Everything an agent passes (call inputs, compensation inputs, evidence) is LITERAL data:
 *   strings are escaped so that `${{ … }}` written by a model is never evaluated (a prompt
 *   cannot read `secrets.*`). Dynamic values are explicit: `secret("NAME")` (read at call time,
 *   masked in every record), `ref("steps.call_1.outputs.refs")` (an earlier call's result),
 *   `fromOutput("path")` (the call's own outputs, in its compensation and evidence).
 * - Which failed calls leave a session open (`sessionSurvives`): a refusal before any effect
 *   (policy DENY, a tool outside the envelope: POLICY_DENIED) and a call that failed after its
 *   retries (STEP_FAILED; a failed call whose effect happened anyway keeps its undo armed).
 *   Everything else ends it: budget breach, drift abstention, rejected or expired approval,
 *   an effect that cannot be known (IN_DOUBT), cancel.
 *
 */
import type { CapabilityCatalog } from "../../core/capability.js";
import { stepCompensationFor } from "../../core/declared-compensation.js";
import { parseDuration } from "../../core/duration.js";
import { ExpressionError, type Problem, ValidationError } from "../../core/errors.js";
import { compileExpression } from "../../core/expr.js";
import { compileGovernance } from "../../core/governance.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { Plan, PlanStep, RetryPolicy } from "../../core/plan.js";
import { computeSpecHash, deepFreeze, runtimeStep } from "../../core/plan-schema.js";
import { ID_PATTERN, PRINCIPAL_PATTERN } from "../../core/spec-context.js";
import { DEFAULT_RETRY } from "../../core/spec-timing.js";
import { Reason, RiskLevel } from "../../core/status.js";

/** Id of the step that carries the evidence given to `Session.commit` (never a call id). */
export const SESSION_EVIDENCE_STEP = "session.evidence";

/** Prefix of generated call ids: `call_1`, `call_2`, … */
const CALL_ID_PREFIX = "call_";

/** True when a session whose call failed for `reason` stays open (see module doc). */
export function sessionSurvives(reason: Reason): boolean {
  return reason === Reason.POLICY_DENIED || reason === Reason.STEP_FAILED;
}

/** A value computed by the runtime instead of given literally (`secret`, `ref`, `fromOutput`). */
export class SessionRef {
  /** @internal */
  constructor(
    readonly kind: "secret" | "ref" | "output",
    /** Secret name, expression, or path inside the call's outputs. */
    readonly source: string,
  ) {
    Object.freeze(this);
  }
}

/**
 * The environment variable `name`, read at the moment of the call: its value reaches the
 * capability but is masked (`***`) in every record. Only in call and compensation inputs.
 *
 * @example session.call("net.http.request", { url, headers: { authorization: secret("API_TOKEN") } })
 */
export function secret(name: string): SessionRef {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new ValidationError([problem("secret", `secret name "${name}" is not a variable name`)]);
  }
  return new SessionRef("secret", name);
}

/**
 * An expression over what the session recorded (`steps.<id>.outputs.*`, `run.*`), resolved by
 * the runtime when the call is made: the data flow is recorded in the plan.
 *
 * @example session.call("incident.text.summarize", { passages: ref("steps.retrieve.outputs.passages") })
 */
export function ref(expression: string): SessionRef {
  return new SessionRef("ref", expression);
}

/**
 * A path inside THIS call's outputs (`""` for all of them): for a call's evidence (taken from
 * what the capability returned, not from what the agent claims) and its compensation.
 *
 * @example session.call("incident.search.retrieve", { q }, { evidence: { source_refs: fromOutput("refs") } })
 */
export function fromOutput(path = ""): SessionRef {
  return new SessionRef("output", path);
}

/** The governance envelope of a session, in the shape of the YAML `governance:` block (SPEC §7). */
export interface GovernanceInput {
  readonly objective?: string;
  readonly tools?: { readonly allowed?: readonly string[]; readonly forbidden?: readonly string[] };
  readonly evidence?: { readonly required?: readonly string[] };
  readonly budgets?: {
    readonly max_tool_calls?: number;
    readonly max_tokens?: number;
    readonly max_cost_usd?: number;
    /** `"5m"` or milliseconds. */
    readonly max_duration?: string | number;
  };
  readonly rollback?: { readonly required?: boolean };
  readonly drift?: {
    readonly metrics?: readonly string[];
    readonly factor?: number;
    readonly min_samples?: number;
    readonly action?: "warn" | "require_approval" | "abstain";
    readonly window?: number;
    readonly approvers?: readonly string[];
  };
}

/** How to open a session (`Runtime.openSession`). */
export interface OpenSessionOptions {
  /** Who acts (`kind:id`, e.g. `agent:planner`): the policy and approvals see this principal. */
  readonly principal: string;
  /** Shown in `airun workflow list`; drift baselines group sessions by name. Default `session`. */
  readonly name?: string;
  readonly objective?: string;
  readonly governance?: GovernanceInput;
  /** Opening again with the same key resumes the same session. */
  readonly idempotencyKey?: string;
}

/** A compensation a call declares: a capability and its inputs (literal, or refs). */
export interface CallCompensation {
  readonly capability: string;
  readonly inputs?: unknown;
}

/** Options of one call (`Session.call`). */
export interface CallOptions {
  /** The call's step id (letters, digits, `_`, `-`); default `call_<n>`. Unique per session. */
  readonly id?: string;
  /** Raises (never lowers) the capability's risk floor. */
  readonly risk_level?: RiskLevel;
  /** Declared compensation, authorized together with the call. */
  readonly compensation?: CallCompensation;
  /** Evidence this call contributes (values literal, or `fromOutput(...)` / `ref(...)`). */
  readonly evidence?: Readonly<Record<string, unknown>>;
  /** As in a workflow step: `{ max_attempts, backoff, initial_delay, max_delay }`. */
  readonly retry?: {
    readonly max_attempts?: number;
    readonly backoff?: "exponential" | "fixed";
    readonly initial_delay?: string | number;
    readonly max_delay?: string | number;
  };
  /** Per-attempt timeout, `"30s"` or milliseconds. */
  readonly timeout?: string | number;
}

function problem(field: string, message: string): Problem {
  return { file: "session", line: 0, col: 0, field, message };
}

/** Escapes a literal string so that the template resolver gives it back unchanged. */
function escapeLiteral(s: string): string {
  return s.includes("{{") ? s.split("{{").join("${{ '{{' }}") : s;
}

/** Which refs a value may hold, and what `fromOutput()` refers to. */
interface RefRules {
  readonly secrets: boolean;
  readonly refs: boolean;
  /** The call's own step id (for `fromOutput()`), or null when it is not allowed. */
  readonly self: string | null;
}

/** Turns an agent's value into plan data: literal JSON with escaped strings, refs as templates. */
function toPlanValue(value: unknown, field: string, rules: RefRules, out: Problem[]): JsonValue {
  if (typeof value === "string") return escapeLiteral(value);
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
    out.push(problem(field, `${value} is not a JSON number`));
    return null;
  }
  if (value instanceof SessionRef) return refTemplate(value, field, rules, out);
  if (Array.isArray(value))
    return value.map((v, i) => toPlanValue(v, `${field}[${i}]`, rules, out));
  if (isPlainObject(value)) {
    const obj: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue; // as JSON.stringify does
      Object.defineProperty(obj, k, {
        value: toPlanValue(v, field ? `${field}.${k}` : k, rules, out),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return obj;
  }
  out.push(problem(field, `${typeof value} is not JSON data`));
  return null;
}

function refTemplate(r: SessionRef, field: string, rules: RefRules, out: Problem[]): string {
  let expr: string;
  if (r.kind === "secret") {
    if (!rules.secrets)
      out.push(problem(field, "secret() is only allowed in call and compensation inputs"));
    expr = `secrets.${r.source}`;
  } else if (r.kind === "output") {
    if (rules.self === null) {
      out.push(
        problem(
          field,
          "fromOutput() refers to the call's own result: use it in its evidence or compensation; an earlier call's result is ref('steps.<id>.outputs…')",
        ),
      );
      return "";
    }
    const path = r.source.replace(/^\.+/, "");
    expr = `steps.${rules.self}.outputs${path === "" ? "" : path.startsWith("[") ? path : `.${path}`}`;
  } else {
    if (!rules.refs) out.push(problem(field, "ref() is not allowed here"));
    expr = r.source.trim();
  }
  try {
    const refs = compileExpression(expr).references;
    if (r.kind === "ref" && refs.some((p) => p[0] === "secrets")) {
      out.push(problem(field, "ref() may not read secrets: use secret(NAME)"));
    }
  } catch (err) {
    out.push(problem(field, `${(err as Error).message}`));
  }
  return `\${{ ${expr} }}`;
}

/** The frozen plan a session starts with (no steps), and the text recorded as its spec. */
export function sessionPlan(opts: OpenSessionOptions): { plan: Plan; specText: string } {
  const problems: Problem[] = [];
  if (typeof opts.principal !== "string" || !PRINCIPAL_PATTERN.test(opts.principal)) {
    problems.push(
      problem(
        "principal",
        `principal must look like kind:id (agent:planner), got ${JSON.stringify(opts.principal)}`,
      ),
    );
  }
  const name = opts.name ?? "session";
  if (typeof name !== "string" || name.trim() === "" || name.length > 200) {
    problems.push(problem("name", "name must be a non-empty string of at most 200 characters"));
  }
  if (opts.objective !== undefined && typeof opts.objective !== "string") {
    problems.push(problem("objective", "objective must be a string"));
  }
  let governance: JsonObject | null = null;
  if (opts.governance !== undefined && opts.governance !== null) {
    const raw = toPlanValue(
      opts.governance,
      "governance",
      { secrets: false, refs: false, self: null },
      problems,
    );
    if (!isPlainObject(raw)) problems.push(problem("governance", "governance must be an object"));
    else {
      governance = raw;
      if (opts.objective !== undefined && governance.objective === undefined) {
        governance = { ...governance, objective: opts.objective };
      }
      const gov = compileGovernance(governance, (path, message) =>
        problems.push(problem(["governance", ...path].join("."), message)),
      );
      gov.required.forEach((source, i) => {
        try {
          compileExpression(source);
        } catch (err) {
          problems.push(problem(`governance.evidence.required[${i}]`, (err as Error).message));
        }
      });
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
  const objective =
    opts.objective ?? (typeof governance?.objective === "string" ? governance.objective : null);
  const base: Omit<Plan, "specHash"> = {
    name,
    version: "1",
    description: objective,
    principal: opts.principal,
    inputs: {},
    governance,
    steps: [],
    format: "native",
  };
  const plan = deepFreeze({ ...base, specHash: computeSpecHash(base) });
  const specText = `${JSON.stringify({ session: { name, principal: opts.principal, objective, governance } }, null, 2)}\n`;
  return { plan, specText };
}

/** The next free generated call id. */
function nextCallId(plan: Plan): string {
  const taken = new Set(plan.steps.map((s) => s.id));
  let n = plan.steps.length + 1;
  while (taken.has(`${CALL_ID_PREFIX}${n}`)) n += 1;
  return `${CALL_ID_PREFIX}${n}`;
}

function duration(v: unknown, field: string, out: Problem[]): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined)
    out.push(problem(field, `${field} must be a duration like "30s" or milliseconds`));
  return ms;
}

function retryPolicy(r: CallOptions["retry"], out: Problem[]): RetryPolicy {
  if (r === undefined) return DEFAULT_RETRY;
  const policy = { ...DEFAULT_RETRY };
  if (r.max_attempts !== undefined) {
    if (!Number.isInteger(r.max_attempts) || r.max_attempts < 1) {
      out.push(
        problem(
          "retry.max_attempts",
          "max_attempts must be an integer >= 1 (1 means a single attempt)",
        ),
      );
    } else policy.maxAttempts = r.max_attempts;
  }
  if (r.backoff !== undefined) {
    if (r.backoff !== "exponential" && r.backoff !== "fixed") {
      out.push(problem("retry.backoff", "backoff must be exponential or fixed"));
    } else policy.backoff = r.backoff;
  }
  policy.initialDelayMs =
    duration(r.initial_delay, "retry.initial_delay", out) ?? policy.initialDelayMs;
  policy.maxDelayMs = duration(r.max_delay, "retry.max_delay", out) ?? policy.maxDelayMs;
  return Object.freeze(policy);
}

/**
 * The plan step of one call. Throws `ValidationError` for options that are not well formed (a
 * duplicate or malformed id, an unknown compensation capability, a bad ref); nothing is
 * persisted then. An unknown or unusable capability is NOT refused here: the call is made
 * (and refused, recorded) by the step runner like any workflow step.
 */
export function callStep(
  plan: Plan,
  catalog: CapabilityCatalog,
  capability: string,
  inputs: unknown,
  opts: CallOptions,
): PlanStep {
  const problems: Problem[] = [];
  if (typeof capability !== "string" || capability.trim() === "") {
    problems.push(problem("capability", "capability must be a capability name"));
  }
  const id = opts.id ?? nextCallId(plan);
  if (typeof id !== "string" || !ID_PATTERN.test(id)) {
    problems.push(
      problem(
        "id",
        `call id ${JSON.stringify(id)} must be letters, digits, _ or - (starting with a letter or _)`,
      ),
    );
  } else if (plan.steps.some((s) => s.id === id)) {
    problems.push(problem("id", `this session already has a call ${id}`));
  }
  if (
    opts.risk_level !== undefined &&
    !(Object.values(RiskLevel) as string[]).includes(opts.risk_level)
  ) {
    problems.push(
      problem("risk_level", `risk_level must be one of ${Object.values(RiskLevel).join(", ")}`),
    );
  }
  const callInputs = toPlanValue(
    inputs ?? {},
    "inputs",
    { secrets: true, refs: true, self: null },
    problems,
  );
  let compensation: PlanStep["compensation"] = null;
  if (opts.compensation !== undefined) {
    const c = opts.compensation;
    if (!isPlainObject(c) || typeof c.capability !== "string" || !catalog.get(c.capability)) {
      problems.push(
        problem(
          "compensation.capability",
          `compensation capability ${JSON.stringify(isPlainObject(c) ? c.capability : c)} is not registered`,
        ),
      );
    } else {
      compensation = {
        capability: c.capability,
        inputs: toPlanValue(
          c.inputs ?? {},
          "compensation.inputs",
          { secrets: true, refs: true, self: id },
          problems,
        ),
      };
    }
  }
  // A capability declared with its own compensation (config) undoes a call that names none.
  const own = typeof capability === "string" ? catalog.get(capability)?.compensation : undefined;
  if (opts.compensation === undefined && own && typeof id === "string") {
    try {
      compensation = stepCompensationFor(id, callInputs, own);
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      problems.push(problem("inputs", `the compensation ${capability} declares: ${err.message}`));
    }
  }
  let evidence: JsonObject | null = null;
  if (opts.evidence !== undefined) {
    const ev = toPlanValue(
      opts.evidence,
      "evidence",
      { secrets: false, refs: true, self: id },
      problems,
    );
    if (!isPlainObject(ev))
      problems.push(problem("evidence", "evidence must be an object of key: value"));
    else evidence = ev;
  }
  const retry = retryPolicy(opts.retry, problems);
  const timeoutMs = duration(opts.timeout, "timeout", problems) ?? null;
  if (timeoutMs === 0) problems.push(problem("timeout", "timeout must be greater than zero"));
  if (problems.length > 0) throw new ValidationError(problems, { capability });
  return runtimeStep({
    id,
    kind: "action",
    capability,
    inputs: callInputs,
    risk: opts.risk_level ?? null,
    retry,
    timeoutMs,
    compensation,
    evidence,
  });
}

/** The step carrying the evidence given at commit (literal values, or refs). */
export function evidenceStep(evidence: Readonly<Record<string, unknown>>): PlanStep {
  const problems: Problem[] = [];
  const ev = toPlanValue(
    evidence,
    "evidence",
    { secrets: false, refs: true, self: null },
    problems,
  );
  if (!isPlainObject(ev))
    problems.push(problem("evidence", "evidence must be an object of key: value"));
  if (problems.length > 0) throw new ValidationError(problems);
  return runtimeStep({ id: SESSION_EVIDENCE_STEP, kind: "action", evidence: ev as JsonObject });
}
