/**
 * @module Policy files: parses the YAML, validates every field (all problems reported at once,
 * each with file, line, column and field), and compiles the rules into matchers for
 * `createRulePolicy`. Accepts the native format (SPEC §6) and the two seed formats
 * (`capabilities:` + `action:`, and match keys nested under `when:`).
 *
 * Condition keys under `when:` are dotted input paths, with or without the `inputs.` prefix;
 * `capability`, `capabilities`, `principal`, `principals` and `risk_level` there are match keys
 * (seed format), so an input with one of those names is written `inputs.capability`.
 *
 * Longer than most files: the three accepted formats share one validator, so that every file
 * is checked by the same rules and reports its problems the same way.
 */
import type { Problem } from "./errors.js";
import { formatProblem, ValidationError } from "./errors.js";
import { sha256Hex } from "./hash.js";
import { isPlainObject, type JsonPrimitive } from "./json.js";
import { FORBIDDEN_KEYS, forbiddenKeyMessage } from "./limits.js";
import {
  compileNameGlob,
  compilePathGlob,
  type Matcher,
  normalizePathGlob,
  normalizePolicyPath,
} from "./path-match.js";
import {
  type CompiledCondition,
  type CompiledPolicy,
  type CompiledPrincipal,
  type CompiledRule,
  createRulePolicy,
  type NumericBound,
} from "./policy.js";
import { principalPatternProblem } from "./principal.js";
import { CAPABILITY_ALIASES } from "./seed-aliases.js";
import { didYouMean } from "./spec-context.js";
import type { Decision, RiskLevel } from "./status.js";
import {
  type FieldPath,
  parseYamlSource,
  type YamlLimits,
  type YamlSource,
} from "./yaml-source.js";

const DECISIONS: readonly Decision[] = ["ALLOW", "DENY", "REQUIRE_APPROVAL"];
const RISKS: readonly RiskLevel[] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
const TOP_KEYS = ["version", "default", "rules", "name", "description"] as const;
/** Keys that select what a rule applies to; also accepted nested under `when:` (seed format). */
const MATCH_KEYS = ["principal", "principals", "capability", "capabilities", "risk_level"] as const;
const RULE_KEYS = [
  "id",
  ...MATCH_KEYS,
  "when",
  "conditions",
  "decision",
  "action",
  "approvers",
  "reason",
] as const;
const PATH_FIELDS = new Set(["path", "from", "to", "cwd"]);
const CAPABILITY_PATTERN = /^[A-Za-z0-9_*?-]+(\.[A-Za-z0-9_*?-]+)*$/;

/** True for input fields whose values are paths: `path`, `from`, `to`, `cwd`, `*path`. */
export function isPathField(key: string): boolean {
  const k = key.toLowerCase();
  return PATH_FIELDS.has(k) || k.endsWith("path");
}

/**
 * Parses, validates and compiles a policy file. `file` names the source in messages and is the
 * policy's `source`; the hash is the SHA-256 of `text`. `opts.limits` bound the YAML (nesting,
 * aliases); given `opts.capabilities` (every capability name there is), a pattern that names
 * or matches none of them is a warning (`warnings`), with a did-you-mean: the rule loads but
 * never applies, which is rarely what its author meant.
 *
 * @throws ValidationError listing every problem (`file:line:col: field: message`).
 * @example
 * const policy = compilePolicy("policies.yaml", text);
 * policy.evaluate({ principal: "agent:planner", roles: [], capability: "io.fs.read_file",
 *   risk: "LOW", effect: "read", undo: "none", hasCompensation: false, inputs: { path: "a" } });
 */
export function compilePolicy(
  file: string,
  text: string,
  opts: { readonly limits?: YamlLimits; readonly capabilities?: readonly string[] } = {},
): CompiledPolicy {
  const src = parseYamlSource(file, text, opts.limits);
  if (src.syntaxProblems.length > 0) {
    throw new ValidationError(src.syntaxProblems, { location: locationOf(src.syntaxProblems[0]) });
  }
  const c = new Checker(src, opts.capabilities ?? null);
  const { defaultDecision, rules } = c.document(src.value);
  if (c.problems.length > 0) {
    throw new ValidationError(c.problems, { location: locationOf(c.problems[0]) });
  }
  const warnings = c.warnings.sort((a, b) => a.line - b.line || a.col - b.col).map(formatProblem);
  return createRulePolicy({
    source: file,
    hash: sha256Hex(text),
    text,
    defaultDecision,
    rules,
    warnings,
  });
}

/**
 * Checks the policy rules embedded in another YAML document under `key` (a seed workflow's
 * per-agent `policy:` list, `rules` being `value`), each problem located in that document.
 * Returns the problems (empty when every rule is well formed).
 */
export function checkEmbeddedRules(
  src: YamlSource,
  key: string,
  rules: unknown,
  capabilities?: readonly string[],
): { problems: readonly Problem[]; warnings: readonly Problem[] } {
  const c = new Checker(src, capabilities ?? null);
  c.rulesKey = key;
  c.document({ version: 1, default: "ALLOW", rules });
  return { problems: c.problems, warnings: c.warnings };
}

function locationOf(p: Problem | undefined): string {
  return p === undefined ? "" : `${p.file}:${p.line}:${p.col}`;
}

/** Small edit distance, for "did you mean" hints on unknown keys. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] as number;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min((prev[j] as number) + 1, (prev[j - 1] as number) + 1, diag + cost);
      diag = tmp;
    }
  }
  return prev[b.length] as number;
}

function suggest(key: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best === undefined ? "" : ` (did you mean "${best}"?)`;
}

/** Match keys of one rule after merging the top level and a nested `when:`. */
interface MatchKeys {
  principal?: { value: unknown; at: FieldPath };
  capability?: { value: unknown; at: FieldPath };
  risk?: { value: unknown; at: FieldPath };
}

/** Walks the parsed document, collecting problems and compiled parts. */
class Checker {
  readonly problems: Problem[] = [];
  readonly warnings: Problem[] = [];
  /** Where the rules are in the source: `rules` in a policy file, `policy` in a seed spec. */
  rulesKey = "rules";
  constructor(
    private readonly src: YamlSource,
    /** Every capability name there is, or null when unknown (no warnings then). */
    private readonly known: readonly string[] | null,
  ) {}

  private fail(at: FieldPath, message: string): void {
    this.problems.push(this.src.problem(at, message));
  }

  document(value: unknown): { defaultDecision: Decision; rules: CompiledRule[] } {
    let defaultDecision: Decision = "DENY";
    const rules: CompiledRule[] = [];
    if (!isPlainObject(value)) {
      this.fail(
        [],
        value === null || value === undefined
          ? "the policy file is empty (expected version, default and rules)"
          : "a policy file must be a mapping with version, default and rules",
      );
      return { defaultDecision, rules };
    }
    for (const key of Object.keys(value)) {
      if (!(TOP_KEYS as readonly string[]).includes(key)) {
        this.fail([key], `unknown key "${key}"${suggest(key, TOP_KEYS)}`);
      }
    }
    if (value.version !== undefined && value.version !== 1 && value.version !== "1") {
      this.fail(
        ["version"],
        `unsupported policy version ${JSON.stringify(value.version)} (expected 1)`,
      );
    }
    for (const key of ["name", "description"] as const) {
      if (value[key] !== undefined && typeof value[key] !== "string") {
        this.fail([key], "must be a string");
      }
    }
    if (value.default !== undefined) {
      defaultDecision = this.decision(value.default, ["default"]) ?? "DENY";
    }
    if (value.rules === undefined || value.rules === null) return { defaultDecision, rules };
    if (!Array.isArray(value.rules)) {
      this.fail([this.rulesKey], "must be a list of rules");
      return { defaultDecision, rules };
    }
    const ids = new Map<string, number>();
    value.rules.forEach((raw, i) => {
      const rule = this.rule(raw, i);
      if (rule === null) return;
      const first = ids.get(rule.id);
      if (first !== undefined) {
        this.fail(
          [this.rulesKey, i, "id"],
          `duplicate rule id "${rule.id}" (also rule ${first + 1})`,
        );
      } else {
        ids.set(rule.id, i);
      }
      rules.push(rule);
    });
    return { defaultDecision, rules };
  }

  private decision(value: unknown, at: FieldPath): Decision | null {
    if (typeof value !== "string") {
      this.fail(at, `must be one of ${DECISIONS.join(", ")}`);
      return null;
    }
    const upper = value.trim().toUpperCase() as Decision;
    if (!DECISIONS.includes(upper)) {
      this.fail(at, `unknown decision "${value}" (expected ${DECISIONS.join(", ")})`);
      return null;
    }
    return upper;
  }

  private stringList(
    value: unknown,
    at: FieldPath,
    what: string,
  ): { s: string; at: FieldPath }[] | null {
    if (typeof value === "string") return [{ s: value, at }];
    if (Array.isArray(value) && value.length > 0) {
      const out: { s: string; at: FieldPath }[] = [];
      value.forEach((v, i) => {
        if (typeof v === "string") out.push({ s: v, at: [...at, i] });
        else this.fail([...at, i], `each ${what} must be a string`);
      });
      return out;
    }
    this.fail(at, `must be a ${what} or a non-empty list of them`);
    return null;
  }

  private rule(raw: unknown, i: number): CompiledRule | null {
    const at: FieldPath = [this.rulesKey, i];
    if (!isPlainObject(raw)) {
      this.fail(at, "a rule must be a mapping (principal, capability, decision, ...)");
      return null;
    }
    const before = this.problems.length;
    for (const key of Object.keys(raw)) {
      if (!(RULE_KEYS as readonly string[]).includes(key)) {
        this.fail([...at, key], `unknown key "${key}"${suggest(key, RULE_KEYS)}`);
      }
    }

    let id = `rule-${i + 1}`;
    if (raw.id !== undefined) {
      if (typeof raw.id === "string" && raw.id.trim() !== "") id = raw.id.trim();
      else if (typeof raw.id === "number") id = String(raw.id);
      else this.fail([...at, "id"], "must be a non-empty string");
    }

    // decision (alias action)
    let decision: Decision | null = null;
    if (raw.decision !== undefined && raw.action !== undefined) {
      this.fail([...at, "action"], 'give "decision" or its alias "action", not both');
    } else if (raw.decision === undefined && raw.action === undefined) {
      this.fail(at, `rule "${id}" has no decision (ALLOW, DENY or REQUIRE_APPROVAL)`);
    } else {
      const key = raw.decision !== undefined ? "decision" : "action";
      decision = this.decision(raw[key], [...at, key]);
    }

    // match keys: top level, or nested under `when` (seed format)
    const match: MatchKeys = {};
    this.collectMatchKeys(raw, at, match);
    let whenKey: "when" | "conditions" | null = null;
    if (raw.when !== undefined && raw.conditions !== undefined) {
      this.fail([...at, "conditions"], 'give "when" or its alias "conditions", not both');
    } else if (raw.when !== undefined) whenKey = "when";
    else if (raw.conditions !== undefined) whenKey = "conditions";
    const condRaw: [string, unknown][] = [];
    if (whenKey !== null) {
      const w = raw[whenKey];
      if (!isPlainObject(w)) {
        this.fail([...at, whenKey], "must be a mapping of input field → pattern");
      } else {
        this.collectMatchKeys(w, [...at, whenKey], match);
        for (const [k, v] of Object.entries(w)) {
          if (!(MATCH_KEYS as readonly string[]).includes(k)) condRaw.push([k, v]);
        }
      }
    }

    const principals = match.principal
      ? this.principals(match.principal.value, match.principal.at)
      : null;
    const capabilityPatterns = match.capability
      ? this.capabilities(match.capability.value, match.capability.at, decision)
      : ["**"];
    const risks = match.risk ? this.risks(match.risk.value, match.risk.at) : null;

    const approvers: string[] = [];
    if (raw.approvers !== undefined) {
      const list = this.stringList(raw.approvers, [...at, "approvers"], "approver");
      for (const a of list ?? []) {
        const problem = principalPatternProblem(a.s);
        if (problem !== null) {
          this.fail(a.at, `approver ${problem}`);
        } else if (!approvers.includes(a.s)) {
          approvers.push(a.s);
        }
      }
      if (decision === "DENY") {
        this.fail([...at, "approvers"], "approvers have no effect on a DENY rule");
      }
    }

    let reason: string | null = null;
    if (raw.reason !== undefined) {
      if (typeof raw.reason === "string") reason = raw.reason.trim();
      else this.fail([...at, "reason"], "must be a string");
    }

    const conditions: CompiledCondition[] = [];
    for (const [key, value] of condRaw) {
      const cond = this.condition(
        key,
        value,
        [...at, whenKey ?? "when", key],
        decision !== "ALLOW",
      );
      if (cond !== null) conditions.push(cond);
    }

    if (this.problems.length > before || decision === null || capabilityPatterns === null) {
      return null;
    }
    const capMatchers = capabilityPatterns.map((p) => compileNameGlob(p, "."));
    const matchCapability: Matcher =
      capMatchers.length === 1
        ? (capMatchers[0] as Matcher)
        : (name) => capMatchers.some((m) => m(name));
    return Object.freeze({
      index: i,
      id,
      decision,
      approvers: Object.freeze(approvers),
      reason,
      capabilityPatterns: Object.freeze(capabilityPatterns),
      matchCapability,
      principals: principals === null ? null : Object.freeze(principals),
      risks,
      conditions: Object.freeze(conditions),
    });
  }

  /** Records `principal(s)`, `capability`/`capabilities` and `risk_level` found in `obj`. */
  private collectMatchKeys(obj: Record<string, unknown>, at: FieldPath, into: MatchKeys): void {
    const take = (slot: keyof MatchKeys, key: string) => {
      if (obj[key] === undefined) return;
      const existing = into[slot];
      if (existing !== undefined) {
        this.fail([...at, key], `"${key}" repeats what ${formatAt(existing.at)} already says`);
        return;
      }
      into[slot] = { value: obj[key], at: [...at, key] };
    };
    take("principal", "principal");
    take("principal", "principals");
    take("capability", "capability");
    take("capability", "capabilities");
    take("risk", "risk_level");
  }

  private principals(value: unknown, at: FieldPath): CompiledPrincipal[] | null {
    const list = this.stringList(value, at, "principal");
    if (list === null) return null;
    const out: CompiledPrincipal[] = [];
    // The grammar is `principal.ts`'s: a pattern is never trimmed or folded into one.
    for (const { s: p, at: where } of list) {
      const problem = principalPatternProblem(p);
      if (problem !== null) this.fail(where, problem);
      else if (p.startsWith("role:")) {
        out.push({ role: true, match: compileNameGlob(p.slice("role:".length), ":") });
      } else {
        out.push({ role: false, match: compileNameGlob(p, ":") });
      }
    }
    return out;
  }

  private capabilities(
    value: unknown,
    at: FieldPath,
    decision: Decision | null = null,
  ): string[] | null {
    const list = this.stringList(value, at, "capability pattern");
    if (list === null) return null;
    const out: string[] = [];
    for (const { s, at: where } of list) {
      // The original's names (`io.fs.delete_file`) match what they mean (`seed-aliases.ts`),
      // unless a capability of that very name exists.
      const written = s.trim();
      const alias = Object.hasOwn(CAPABILITY_ALIASES, written)
        ? CAPABILITY_ALIASES[written]
        : undefined;
      // An alias that implies inputs (`net.http.post`: method POST) names only part of its
      // target: it may tighten (DENY, REQUIRE_APPROVAL the whole target) but never allow it.
      const usable = alias && !(alias.implied && decision === "ALLOW");
      const p = usable && !this.known?.includes(written) ? alias.target : written;
      if (!CAPABILITY_PATTERN.test(p)) {
        this.fail(
          where,
          `capability pattern "${s}" must look like domain.group.verb (globs: *, **, ?)`,
        );
      } else if (!out.includes(p)) {
        out.push(p);
        this.warnIfUnknown(p, where);
      }
    }
    return out.length > 0 ? out : null;
  }

  /** Warns when `pattern` names or matches no capability (the rule would never apply). */
  private warnIfUnknown(pattern: string, at: FieldPath): void {
    if (this.known === null || pattern === "*" || pattern === "**") return;
    const matches = compileNameGlob(pattern, ".");
    if (this.known.some((name) => matches(name))) return;
    const glob = /[*?]/.test(pattern);
    const close = glob ? "" : didYouMean(pattern.toLowerCase(), this.known);
    this.warnings.push(
      this.src.problem(
        at,
        `${glob ? `no capability matches "${pattern}"` : `no capability is named "${pattern}"`}${close}: the rule never applies to it`,
      ),
    );
  }

  private risks(value: unknown, at: FieldPath): ReadonlySet<string> | null {
    const list = this.stringList(value, at, "risk level");
    if (list === null) return null;
    const out = new Set<string>();
    for (const { s, at: where } of list) {
      const upper = s.trim().toUpperCase() as RiskLevel;
      if (!RISKS.includes(upper))
        this.fail(where, `unknown risk level "${s}" (expected ${RISKS.join(", ")})`);
      else out.add(upper);
    }
    return out;
  }

  private condition(
    key: string,
    value: unknown,
    at: FieldPath,
    unprovableMatches: boolean,
  ): CompiledCondition | null {
    const source = key.startsWith("facts.") ? "facts" : "inputs";
    const dotted = key.startsWith("inputs.")
      ? key.slice("inputs.".length)
      : source === "facts"
        ? key.slice("facts.".length)
        : key;
    const path = dotted.split(".");
    if (dotted === "" || key === "inputs" || path.some((s) => s === "")) {
      this.fail(at, `condition key "${key}" must be a dotted input path like inputs.path`);
      return null;
    }
    const forbidden = path.find((s) => FORBIDDEN_KEYS.has(s));
    if (forbidden !== undefined) {
      this.fail(at, `condition key "${key}": ${forbiddenKeyMessage(forbidden)}`);
      return null;
    }
    const pathLike = source === "inputs" && isPathField(path[path.length - 1] as string);

    // Numeric bounds: {gt: 10}, {gte: 1, lte: 5}.
    if (isPlainObject(value) && Object.keys(value).some((k) => BOUND_OPS.has(k))) {
      const bounds: NumericBound[] = [];
      for (const [op, n] of Object.entries(value)) {
        if (!BOUND_OPS.has(op) || typeof n !== "number" || !Number.isFinite(n)) {
          this.fail(
            [...at, op],
            "a numeric condition is {gt|gte|lt|lte: number}, alone or together (no other keys)",
          );
          return null;
        }
        bounds.push({ op: op as NumericBound["op"], n });
      }
      return Object.freeze({
        path: Object.freeze(path),
        pathLike: false,
        pathMatchers: Object.freeze([]),
        values: Object.freeze([]),
        unprovableMatches,
        source,
        bounds: Object.freeze(bounds),
      });
    }

    // Operands: a scalar (pattern or value), a list (any of), {in: [...]} or {equals: x}.
    let operands: unknown[];
    let literal = false;
    if (Array.isArray(value)) {
      operands = value;
    } else if (isPlainObject(value)) {
      const ops = Object.keys(value);
      if (ops.length !== 1 || (ops[0] !== "in" && ops[0] !== "equals")) {
        this.fail(
          at,
          `a condition is a value, a list, {in: [...]}, {equals: value} or {gt|gte|lt|lte: number}; got keys ${ops.join(", ") || "none"}`,
        );
        return null;
      }
      if (ops[0] === "in") {
        if (!Array.isArray(value.in)) {
          this.fail([...at, "in"], "must be a list");
          return null;
        }
        operands = value.in;
      } else {
        operands = [value.equals];
        literal = true;
      }
    } else {
      operands = [value];
    }
    if (operands.length === 0) {
      this.fail(at, "a condition needs at least one value");
      return null;
    }

    const pathMatchers: Matcher[] = [];
    const values: JsonPrimitive[] = [];
    let ok = true;
    for (const op of operands) {
      if (pathLike) {
        if (typeof op !== "string") {
          this.fail(at, `"${key}" is a path field: its patterns must be strings`);
          ok = false;
          continue;
        }
        if (literal) {
          const norm = normalizePolicyPath(op);
          if (!norm.ok) {
            this.fail(at, `path "${op}" cannot be used: ${norm.why}`);
            ok = false;
          } else {
            const lit = norm.path;
            pathMatchers.push((v) => v === lit);
          }
          continue;
        }
        const glob = normalizePathGlob(op);
        if (!glob.ok) {
          this.fail(at, glob.message);
          ok = false;
        } else {
          try {
            pathMatchers.push(compilePathGlob(glob.glob));
          } catch (err) {
            this.fail(at, `path pattern "${op}" is not a valid glob: ${(err as Error).message}`);
            ok = false;
          }
        }
      } else if (typeof op === "string") {
        values.push(op.normalize("NFC"));
      } else if (typeof op === "number" || typeof op === "boolean") {
        values.push(op);
      } else {
        this.fail(
          at,
          `condition values must be strings, numbers or booleans (got ${op === null ? "null" : typeof op})`,
        );
        ok = false;
      }
    }
    if (!ok) return null;
    return Object.freeze({
      path: Object.freeze(path),
      pathLike,
      pathMatchers: Object.freeze(pathMatchers),
      values: Object.freeze(values),
      unprovableMatches,
      source,
      bounds: null,
    });
  }
}

function formatAt(at: FieldPath): string {
  return `"${String(at[at.length - 1])}"`;
}

/** The numeric comparisons a condition may use. */
const BOUND_OPS: ReadonlySet<string> = new Set(["gt", "gte", "lt", "lte"]);
