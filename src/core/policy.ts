/**
 * @module The policy gatekeeper's brain: the request and decision types, the evaluation of
 * compiled rules (all matching rules collected, the most restrictive wins), and the built-in
 * default policy. Parsing and validation of policy files live in `policy-compile.ts`. Longer
 * than most files because the evaluator and its caches (by capability, principal and roles; by
 * matched rule set and risk) must be read together to see that caching never changes an answer.
 */
import type { TouchedPath } from "./capability.js";
import { sha256Hex } from "./hash.js";
import { isPlainObject, type JsonObject, type JsonPrimitive, type JsonValue } from "./json.js";
import { type Matcher, type NormalizedPath, normalizePolicyPath } from "./path-match.js";
import type { Decision, EffectClass, RiskLevel, UndoKind } from "./status.js";

/** What the engine asks the gatekeeper about one capability call. */
export interface PolicyRequest {
  /** Who acts, `kind:id` (e.g. `agent:planner`). */
  readonly principal: string;
  /** Roles of that principal from config (e.g. `["sre"]`); matched by `role:x`. */
  readonly roles: readonly string[];
  /** Capability name, e.g. `io.fs.write_file`. */
  readonly capability: string;
  /** Effective risk: max(capability floor, step risk). */
  readonly risk: RiskLevel;
  readonly effect: EffectClass;
  /** Effective undo kind of the call. */
  readonly undo: UndoKind;
  /** Whether the step declares a compensation. */
  readonly hasCompensation: boolean;
  /** Resolved inputs (secrets already masked). */
  readonly inputs: JsonValue;
  /**
   * Top-level input fields whose values are not known yet (a compensation's references to its
   * own step's outputs, asked about before the step runs): a condition on one of them matches
   * a DENY or REQUIRE_APPROVAL rule and never an ALLOW rule.
   */
  readonly unknown?: readonly string[];
  /**
   * The canonical paths the call will touch (its capability's `touches`), when it declares
   * them: conditions on path fields see these, not the spelling given. A condition on `path`
   * means every path the call touches (`from` and `to` of a copy too): a DENY or
   * REQUIRE_APPROVAL rule matches when any of them matches, an ALLOW rule only when all do.
   */
  readonly paths?: readonly TouchedPath[];
  /**
   * What the call would change, from its capability's `preview` (`db.row.*`: `db`, `table`,
   * `op`, `rows`): conditions keyed `facts.<name>` see these.
   */
  readonly facts?: JsonObject;
  /**
   * Set when the call is a step's declared compensation, asked about at the step's gate: the
   * capability it undoes. An undo has no undo of its own, so the rule that an irreversible
   * effect needs a declared compensation does not apply to it (its risk still does).
   */
  readonly undoOf?: string;
}

/** The gatekeeper's answer. It never carries modified inputs (principle 9). */
export interface PolicyDecision {
  readonly decision: Decision;
  /** Id of every rule that matched, in declaration order (builtin: a `builtin:` id). */
  readonly ruleIds: readonly string[];
  /** For people: which rule (or default) decided, and why. */
  readonly reason: string;
  /** Union of the `approvers` of the rules that required approval; empty means the configured
   * default approvers. Always empty unless `decision` is REQUIRE_APPROVAL. */
  readonly approvers: readonly string[];
  /** SHA-256 of the policy file text (or of the built-in policy's description). */
  readonly policyHash: string;
  /** The policy file path, or `"builtin"`. */
  readonly policySource: string;
  /** The external decision hook's answer, when one is configured and was asked. */
  readonly hook?: HookVerdict;
}

/**
 * What an external decision hook answered (SPEC §6: it may only make a decision stricter).
 * `decision` is null when the hook failed (error, timeout, non-2xx, unknown answer): the hook
 * then fails closed and the decision becomes DENY.
 */
export interface HookVerdict {
  readonly url: string;
  readonly decision: Decision | null;
  readonly reason: string | null;
  /** Whether the hook's answer changed the policy's decision (it was stricter, or it failed). */
  readonly applied: boolean;
  /** Why the hook failed, when it did. */
  readonly error: string | null;
}

/** A loaded policy, ready to answer requests. Evaluation is pure and synchronous. */
export interface CompiledPolicy {
  /** SHA-256 of `text`. */
  readonly hash: string;
  /** The policy as written (the file's text, or the built-in default in words). */
  readonly text: string;
  /** File path, or `"builtin"`. */
  readonly source: string;
  readonly ruleCount: number;
  /**
   * What is legal but probably not meant, as `file:line:col: field: message` (a rule naming a
   * capability that does not exist); the policy loads and works as written regardless.
   */
  readonly warnings?: readonly string[];
  evaluate(req: PolicyRequest): PolicyDecision;
}

/** The `source` of the built-in default policy. */
export const BUILTIN_POLICY_SOURCE = "builtin";

/**
 * The built-in default, in words; its SHA-256 is the builtin policy's hash (so a change of the
 * built-in behaviour changes the recorded hash).
 */
export const BUILTIN_POLICY_TEXT = [
  "airun builtin policy v2",
  "builtin:deny-irreversible: an irreversible effect (undo irreversible, or compensation without a declared compensation) -> DENY; a step's declared compensation, itself an undo, is exempt",
  "builtin:approve-high-risk: HIGH and CRITICAL risk -> REQUIRE_APPROVAL",
  "builtin:allow-reversible: LOW and MEDIUM risk with undo none or builtin, or with a declared compensation -> ALLOW",
].join("\n");

// ---------------------------------------------------------------------------------------------
// Compiled rules (built by policy-compile.ts)
// ---------------------------------------------------------------------------------------------

/** One compiled condition on a resolved input field. */
export interface CompiledCondition {
  /** Path into the inputs (`inputs.` prefix already removed). */
  readonly path: readonly string[];
  /** Path-like field: glob matching on the normalized POSIX path. */
  readonly pathLike: boolean;
  /** For path-like fields: globs and literal (`equals`) paths, all normalized. */
  readonly pathMatchers: readonly Matcher[];
  /** For other fields: the accepted values (strings NFC-normalized). */
  readonly values: readonly JsonPrimitive[];
  /** Whether a value that cannot be proven safe matches (true for DENY / REQUIRE_APPROVAL). */
  readonly unprovableMatches: boolean;
  /** Where the path is looked up: the call's inputs, or its preview's facts (`facts.rows`). */
  readonly source: "inputs" | "facts";
  /** Numeric bounds (`{gt: 10}`): the value must be a number within all of them; null: none. */
  readonly bounds: readonly NumericBound[] | null;
}

/** A numeric comparison of a condition (`gt`, `gte`, `lt`, `lte`). */
export interface NumericBound {
  readonly op: "gt" | "gte" | "lt" | "lte";
  readonly n: number;
}

function withinBound(v: number, b: NumericBound): boolean {
  return b.op === "gt" ? v > b.n : b.op === "gte" ? v >= b.n : b.op === "lt" ? v < b.n : v <= b.n;
}

/** A principal pattern: a principal glob, or a role glob (`role:x`). */
export interface CompiledPrincipal {
  readonly role: boolean;
  readonly match: Matcher;
}

/** One compiled rule. Internal to the policy modules (exported for `policy-compile.ts`). */
export interface CompiledRule {
  /** Declaration order (0-based). */
  readonly index: number;
  readonly id: string;
  readonly decision: Decision;
  readonly approvers: readonly string[];
  readonly reason: string | null;
  /** Capability patterns as written (used to index the rule). */
  readonly capabilityPatterns: readonly string[];
  /** True when any of the capability patterns matches. */
  readonly matchCapability: Matcher;
  /** `null` matches every principal. */
  readonly principals: readonly CompiledPrincipal[] | null;
  /** `null` matches every risk level. */
  readonly risks: ReadonlySet<string> | null;
  readonly conditions: readonly CompiledCondition[];
}

/** Everything `createRulePolicy` needs. */
export interface RulePolicyDefinition {
  readonly source: string;
  readonly hash: string;
  readonly text: string;
  readonly defaultDecision: Decision;
  readonly rules: readonly CompiledRule[];
  readonly warnings?: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

const RANK: Readonly<Record<Decision, number>> = { ALLOW: 0, REQUIRE_APPROVAL: 1, DENY: 2 };
const EMPTY: readonly string[] = Object.freeze([]);
const CANDIDATE_CACHE_LIMIT = 4096;
const DECISION_CACHE_LIMIT = 4096;
const ROLE_SETS_PER_PRINCIPAL = 16;

/**
 * How restrictive a decision is: ALLOW 0 < REQUIRE_APPROVAL 1 < DENY 2. Anything unrecognized
 * ranks as DENY (fails closed).
 */
export function decisionRank(decision: string): number {
  return RANK[decision as Decision] ?? RANK.DENY;
}

/** HIGH, CRITICAL, and anything unrecognized (fail closed) cannot be plain ALLOW. */
function isHighRisk(risk: string): boolean {
  return risk !== "LOW" && risk !== "MEDIUM";
}

/** An effect nothing can undo: irreversible, or compensable with no compensation declared. */
function isUncompensatedIrreversible(req: PolicyRequest): boolean {
  if (req.hasCompensation || req.undoOf !== undefined) return false;
  return req.undo !== "none" && req.undo !== "builtin";
}

function firstSegment(capability: string): string {
  const dot = capability.indexOf(".");
  return dot < 0 ? capability : capability.slice(0, dot);
}

/** Index of rules by capability: exact names, literal first segments, and the rest. */
class CapabilityIndex {
  private readonly exact = new Map<string, CompiledRule[]>();
  private readonly byFirst = new Map<string, CompiledRule[]>();
  private readonly anywhere: CompiledRule[] = [];
  private readonly cache = new Map<string, readonly CompiledRule[]>();

  constructor(rules: readonly CompiledRule[]) {
    const push = (map: Map<string, CompiledRule[]>, key: string, rule: CompiledRule) => {
      const list = map.get(key);
      if (list === undefined) map.set(key, [rule]);
      else if (list[list.length - 1] !== rule) list.push(rule);
    };
    for (const rule of rules) {
      let global = false;
      for (const p of rule.capabilityPatterns) {
        if (!/[*?]/.test(p)) {
          push(this.exact, p, rule);
          continue;
        }
        const first = firstSegment(p);
        if (/[*?]/.test(first) || first === p) global = true;
        else push(this.byFirst, first, rule);
      }
      if (global) this.anywhere.push(rule);
    }
  }

  /** Rules whose capability patterns match `capability`, in declaration order (cached). */
  candidates(capability: string): readonly CompiledRule[] {
    const hit = this.cache.get(capability);
    if (hit !== undefined) return hit;
    const seen = new Set<CompiledRule>();
    const add = (list: readonly CompiledRule[] | undefined) => {
      if (list === undefined) return;
      for (const r of list) if (r.matchCapability(capability)) seen.add(r);
    };
    add(this.exact.get(capability));
    add(this.byFirst.get(firstSegment(capability)));
    add(this.anywhere);
    const out = Object.freeze([...seen].sort((a, b) => a.index - b.index));
    if (this.cache.size >= CANDIDATE_CACHE_LIMIT) this.cache.clear();
    this.cache.set(capability, out);
    return out;
  }

  /**
   * Candidates that also match the request's principal (by name or role), cached by capability,
   * principal and roles: principal globs are tested once per combination, not once per call.
   */
  forRequest(req: PolicyRequest): CallerRules {
    let byPrincipal = this.byCallerCache.get(req.capability);
    if (byPrincipal === undefined) {
      if (this.byCallerCache.size >= CANDIDATE_CACHE_LIMIT) this.byCallerCache.clear();
      byPrincipal = new Map();
      this.byCallerCache.set(req.capability, byPrincipal);
    }
    let entries = byPrincipal.get(req.principal);
    if (entries !== undefined) {
      for (const e of entries) if (sameRoles(e.roles, req.roles)) return e;
    } else {
      if (byPrincipal.size >= CANDIDATE_CACHE_LIMIT) byPrincipal.clear();
      entries = [];
      byPrincipal.set(req.principal, entries);
    }
    const rules = Object.freeze(
      this.candidates(req.capability).filter((r) => matchesPrincipal(r, req)),
    );
    if (entries.length >= ROLE_SETS_PER_PRINCIPAL) entries.length = 0;
    const entry: CallerRules = { roles: Object.freeze([...req.roles]), rules, fallback: null };
    entries.push(entry);
    return entry;
  }

  private readonly byCallerCache = new Map<string, Map<string, CallerRules[]>>();
}

/** The candidate rules of one capability for one principal and role set. */
interface CallerRules {
  readonly roles: readonly string[];
  readonly rules: readonly CompiledRule[];
  /** The no-match decision, cached when it depends on nothing else (a default other than ALLOW). */
  fallback: PolicyDecision | null;
}

function sameRoles(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function matchesPrincipal(rule: CompiledRule, req: PolicyRequest): boolean {
  if (rule.principals === null) return true;
  for (const p of rule.principals) {
    if (p.role) {
      for (const role of req.roles) if (p.match(role)) return true;
    } else if (p.match(req.principal)) {
      return true;
    }
  }
  return false;
}

/** Looks up a dotted path in the inputs; own properties only (no prototype surprises). */
function lookup(inputs: JsonValue, path: readonly string[]): JsonValue | undefined {
  let node: JsonValue | undefined = inputs;
  for (const key of path) {
    if (Array.isArray(node)) {
      if (!/^(0|[1-9][0-9]*)$/.test(key)) return undefined;
      node = node[Number(key)];
    } else if (isPlainObject(node)) {
      if (!Object.hasOwn(node, key)) return undefined;
      node = node[key];
    } else {
      return undefined;
    }
  }
  return node;
}

/** The last path normalized: every path condition of every rule sees the same input value. */
let lastPath: string | null = null;
let lastNormalized: NormalizedPath = { ok: true, path: "" };

function normalizeCached(value: string): NormalizedPath {
  if (value !== lastPath) {
    lastNormalized = normalizePolicyPath(value);
    lastPath = value;
  }
  return lastNormalized;
}

function matchesCondition(cond: CompiledCondition, req: PolicyRequest): boolean {
  if (req.unknown?.includes(cond.path[0] as string)) {
    return cond.unprovableMatches;
  }
  if (cond.source === "facts") {
    const fact = req.facts === undefined ? undefined : lookup(req.facts, cond.path);
    if (cond.bounds !== null) {
      if (typeof fact !== "number") return cond.unprovableMatches;
      return cond.bounds.every((b) => withinBound(fact, b));
    }
    if (fact === undefined || fact === null || typeof fact === "object") return false;
    const probe = typeof fact === "string" ? fact.normalize("NFC") : fact;
    return cond.values.includes(probe);
  }
  if (cond.bounds !== null) {
    const v = lookup(req.inputs, cond.path);
    if (typeof v !== "number") return cond.unprovableMatches;
    return cond.bounds.every((b) => withinBound(v, b));
  }
  if (cond.pathLike && req.paths !== undefined && req.paths.length > 0 && cond.path.length === 1) {
    const key = cond.path[0] as string;
    const touched = key === "path" ? req.paths : req.paths.filter((t) => t.field === key);
    if (touched.length > 0) {
      const matches = (t: TouchedPath) => cond.pathMatchers.some((m) => m(t.relative) || m(t.path));
      // Restrictive rules see any path that matches; an ALLOW needs every path to match.
      return cond.unprovableMatches ? touched.some(matches) : touched.every(matches);
    }
  }
  const value = lookup(req.inputs, cond.path);
  if (value === undefined || value === null) return false;
  if (cond.pathLike) {
    if (typeof value !== "string") return cond.unprovableMatches;
    const norm = normalizeCached(value);
    if (!norm.ok) return cond.unprovableMatches;
    for (const m of cond.pathMatchers) if (m(norm.path)) return true;
    return false;
  }
  if (typeof value === "object") return false;
  const probe = typeof value === "string" ? value.normalize("NFC") : value;
  for (const v of cond.values) if (v === probe) return true;
  return false;
}

/** Risk and conditions (the principal was matched when the candidates were selected). */
function matchesRule(rule: CompiledRule, req: PolicyRequest): boolean {
  if (rule.risks !== null && !rule.risks.has(req.risk)) return false;
  const conditions = rule.conditions;
  for (let i = 0; i < conditions.length; i++) {
    if (!matchesCondition(conditions[i] as CompiledCondition, req)) return false;
  }
  return true;
}

function quoteList(ids: readonly string[]): string {
  return ids.map((id) => `"${id}"`).join(", ");
}

const VERB: Readonly<Record<Decision, string>> = {
  ALLOW: "allowed",
  DENY: "denied",
  REQUIRE_APPROVAL: "approval required",
};

function highRiskNote(risk: string): string {
  return `${risk} risk can never be plain ALLOW, so approval is required (principle 4)`;
}

/**
 * Builds a policy from compiled rules. Every matching rule is collected; the most restrictive
 * decision wins (DENY > REQUIRE_APPROVAL > ALLOW); an ALLOW at HIGH or CRITICAL risk becomes
 * REQUIRE_APPROVAL; no match falls back to the default, except that a default ALLOW never
 * covers an irreversible effect without a declared compensation (that needs an explicit rule).
 * Used by `compilePolicy`; most callers want that instead.
 */
export function createRulePolicy(def: RulePolicyDefinition): CompiledPolicy {
  const index = new CapabilityIndex(def.rules);
  const { source, hash, text, defaultDecision } = def;

  /** Each rule's part of a matched-set cache key. */
  const keyParts: string[] = [];
  for (const r of def.rules) keyParts[r.index] = `${r.index},`;
  /** Scratch list of the rules matched by the current call (evaluation is never re-entered). */
  const matched: CompiledRule[] = [];
  /** Decisions by matched rule set and risk level: all a matched decision depends on. */
  const decisions = new Map<string, PolicyDecision>();

  const evaluate = (req: PolicyRequest): PolicyDecision => {
    const caller = index.forRequest(req);
    const candidates = caller.rules;
    let n = 0;
    let key = "";
    for (let i = 0; i < candidates.length; i++) {
      const rule = candidates[i] as CompiledRule;
      if (!matchesRule(rule, req)) continue;
      matched[n++] = rule;
      key += keyParts[rule.index] as string;
    }
    if (n === 0) {
      if (defaultDecision === "ALLOW") return defaultFor(req);
      if (caller.fallback === null) caller.fallback = Object.freeze(defaultFor(req));
      return caller.fallback;
    }
    key += req.risk;
    let decision = decisions.get(key);
    if (decision === undefined) {
      decision = combine(matched.slice(0, n), req.risk);
      if (decisions.size >= DECISION_CACHE_LIMIT) decisions.clear();
      decisions.set(key, decision);
    }
    return decision;
  };

  /** No rule matched: the default, which never covers an irreversible effect nor HIGH risk. */
  const defaultFor = (req: PolicyRequest): PolicyDecision => {
    let decision = defaultDecision;
    let reason = `no rule matched ${req.capability} for ${req.principal}; the policy default is ${defaultDecision}`;
    if (decision === "ALLOW" && isUncompensatedIrreversible(req)) {
      decision = "DENY";
      reason += `, but a default ALLOW never covers an irreversible effect (undo "${req.undo}", no declared compensation): a rule must allow it explicitly`;
    } else if (decision === "ALLOW" && isHighRisk(req.risk)) {
      decision = "REQUIRE_APPROVAL";
      reason += `; ${highRiskNote(req.risk)}`;
    }
    return {
      decision,
      ruleIds: EMPTY,
      reason,
      approvers: EMPTY,
      policyHash: hash,
      policySource: source,
    };
  };

  /** The decision of a set of matched rules (declaration order) at a risk level. */
  const combine = (rules: readonly CompiledRule[], risk: string): PolicyDecision => {
    const high = isHighRisk(risk);
    let best: Decision = "ALLOW";
    let winners: CompiledRule[] = [];
    for (const rule of rules) {
      const effective: Decision =
        rule.decision === "ALLOW" && high ? "REQUIRE_APPROVAL" : rule.decision;
      if (winners.length === 0 || RANK[effective] > RANK[best]) {
        best = effective;
        winners = [rule];
      } else if (effective === best) {
        winners.push(rule);
      }
    }
    const decision: Decision = best;
    const ids = winners.map((r) => r.id);
    let reason = `${VERB[decision]} by rule${ids.length > 1 ? "s" : ""} ${quoteList(ids)}`;
    const texts = winners.map((r) => r.reason).filter((t): t is string => t !== null && t !== "");
    if (texts.length > 0) reason += `: ${texts.join("; ")}`;
    let approvers: readonly string[] = EMPTY;
    if (decision === "REQUIRE_APPROVAL") {
      const escalated = winners.some((r) => r.decision === "ALLOW");
      if (escalated) reason += ` (${highRiskNote(risk)})`;
      const union = new Set<string>();
      for (const r of winners) for (const a of r.approvers) union.add(a);
      if (union.size > 0) approvers = Object.freeze([...union]);
    }
    // Shared between calls with the same matches: frozen, like everything it holds.
    return Object.freeze({
      decision,
      ruleIds: Object.freeze(rules.map((r) => r.id)),
      reason,
      approvers,
      policyHash: hash,
      policySource: source,
    });
  };

  return Object.freeze({
    hash,
    text,
    source,
    ruleCount: def.rules.length,
    warnings: Object.freeze([...(def.warnings ?? [])]),
    evaluate,
  });
}

// ---------------------------------------------------------------------------------------------
// Built-in default
// ---------------------------------------------------------------------------------------------

let builtin: CompiledPolicy | undefined;

/**
 * The policy that applies without a policy file (SPEC §12): an irreversible effect without a
 * declared compensation → DENY; HIGH and CRITICAL → REQUIRE_APPROVAL; LOW and MEDIUM that can
 * be undone (undo `none` or `builtin`, or a declared compensation) → ALLOW. Each decision names
 * the built-in rule that produced it (`builtin:deny-irreversible`, `builtin:approve-high-risk`,
 * `builtin:allow-reversible`); `source` is `"builtin"`.
 */
export function builtinPolicy(): CompiledPolicy {
  if (builtin !== undefined) return builtin;
  const hash = sha256Hex(BUILTIN_POLICY_TEXT);
  const source = BUILTIN_POLICY_SOURCE;
  const make = (decision: Decision, id: string, reason: string): PolicyDecision => ({
    decision,
    ruleIds: Object.freeze([id]),
    reason,
    approvers: EMPTY,
    policyHash: hash,
    policySource: source,
  });
  const evaluate = (req: PolicyRequest): PolicyDecision => {
    if (isUncompensatedIrreversible(req)) {
      return make(
        "DENY",
        "builtin:deny-irreversible",
        `built-in policy: ${req.capability} cannot be undone (undo "${req.undo}", no declared compensation), so it is denied unless a policy rule allows it explicitly`,
      );
    }
    if (isHighRisk(req.risk)) {
      return make(
        "REQUIRE_APPROVAL",
        "builtin:approve-high-risk",
        `built-in policy: ${req.risk} risk requires human approval (principle 4)`,
      );
    }
    return make(
      "ALLOW",
      "builtin:allow-reversible",
      `built-in policy: ${req.risk} risk and the effect can be undone (undo "${req.undo}"${req.hasCompensation ? ", declared compensation" : ""})`,
    );
  };
  builtin = Object.freeze({ hash, text: BUILTIN_POLICY_TEXT, source, ruleCount: 0, evaluate });
  return builtin;
}

/**
 * A human explanation of a decision, several lines: decision, policy (source and short hash),
 * matched rules, approvers, reason.
 *
 * @example
 * console.log(explainDecision(policy.evaluate(req)));
 * // Decision: REQUIRE_APPROVAL
 * // Policy:   policies.yaml (sha256 3f2a9c1d0b7e)
 * // Rules:    agents-write
 * // ...
 */
/**
 * The decision for a step together with its declared compensation (SPEC §6): the compensation
 * is authorized with the step, so a compensation the policy would deny denies the step before
 * it acts, and one that needs approval makes the step need it (the approvers of both count).
 * The step's own rule ids are kept; the compensation's answer is recorded beside it.
 */
export function withCompensation(
  step: PolicyDecision,
  comp: PolicyDecision,
  compCapability: string,
): PolicyDecision {
  if (decisionRank(comp.decision) <= decisionRank(step.decision)) {
    if (comp.decision !== "REQUIRE_APPROVAL" || step.decision !== "REQUIRE_APPROVAL") return step;
    return { ...step, approvers: unique([...step.approvers, ...comp.approvers]) };
  }
  const why =
    comp.decision === "DENY"
      ? `its compensation ${compCapability} would be denied: ${comp.reason}`
      : `its compensation ${compCapability} needs approval: ${comp.reason}`;
  return {
    ...step,
    decision: comp.decision,
    reason: `${why} (the step alone: ${step.decision}, ${step.reason})`,
    approvers: comp.decision === "REQUIRE_APPROVAL" ? [...comp.approvers] : [],
  };
}

function unique(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

export function explainDecision(d: PolicyDecision): string {
  const lines = [
    `Decision: ${d.decision}`,
    `Policy:   ${d.policySource === BUILTIN_POLICY_SOURCE ? "built-in default" : d.policySource} (sha256 ${d.policyHash.slice(0, 12)})`,
    `Rules:    ${d.ruleIds.length > 0 ? d.ruleIds.join(", ") : "none matched (default applied)"}`,
  ];
  if (d.decision === "REQUIRE_APPROVAL") {
    lines.push(
      `Approvers: ${d.approvers.length > 0 ? d.approvers.join(", ") : "the configured default approvers"}`,
    );
  }
  lines.push(`Reason:   ${d.reason}`);
  return lines.join("\n");
}
