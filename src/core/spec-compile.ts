/**
 * @module The workflow spec compiler: YAML text (native or seed format, SPEC §4) → a validated,
 * frozen `Plan`. Every problem is collected with its file, line, column and field; nothing is
 * silently ignored (unknown keys, unresolved template references, bad capability inputs).
 *
 * Decisions where SPEC §4 is silent:
 * - Step ids are identifiers (`[A-Za-z_][A-Za-z0-9_-]*`); ids with `-` are read in
 *   expressions as `steps['my-step'].outputs`.
 * - A step's `risk_level` may be lower than its capability's floor: the plan records the
 *   declared value; the gatekeeper still uses max(floor, declared).
 * - Compensation and evidence templates may read the step's own outputs (they run after it);
 *   inputs and `when` may not (that is a cycle). Any other step they read becomes a dependency.
 * - `when` accepts one template, a bare expression or a boolean; it is stored as `${{ expr }}`.
 * - `timeout` follows the duration convention (a bare number is milliseconds);
 *   `timeout_seconds` is seconds. On approval steps the timeout is the approval's expiry.
 * - `{{ }}` templates whose root is not a native root (`inputs`, `steps`, `run`, `secrets`,
 *   `evidence`) are read as seed shorthand (`{{ step.key }}`, `{{ input }}`); `${{ }}` never is.
 * - Seed format (any seed-only key present): a step without `depends_on` waits for the step
 *   declared before it, as the earlier implementation ran steps in declaration order. Seed
 *   principal: `agent:<agent_name>` first (least privilege), else `metadata.owner`. Seed
 *   `policy`/`global_compensation_steps` must be empty and `enable_auto_rollback` true (Airun
 *   cannot honour them and will not ignore them); `max_execution_time_seconds` becomes
 *   `governance.budgets.max_duration` unless governance sets one. Step `description` and
 *   `agent_name` are accepted and not kept.
 * - An input declared without a default is required; a bare value is a default.
 * - `specHash` leaves out the steps' source lines: reformatting a file does not change it.
 */
import { z } from "zod";
import type { AnyCapability, CapabilityCatalog } from "./capability.js";
import { parseDuration } from "./duration.js";
import { AirunError, type Problem, ValidationError } from "./errors.js";
import { compileExpression, ExpressionError, formatPath, rewriteExpressionPaths } from "./expr.js";
import { hashJson } from "./hash.js";
import { isPlainObject, type JsonObject, type JsonValue } from "./json.js";
import type {
  ApprovalSettings,
  DeclaredCompensation,
  Plan,
  PlanInput,
  PlanStep,
  RetryPolicy,
} from "./plan.js";
import {
  inputTypeOf,
  isSeedDocument,
  mapSeedPath,
  NATIVE_ROOTS,
  SEED_TOP_LEVEL_KEYS,
  seedPrincipal,
} from "./spec-seed.js";
import { RiskLevel } from "./status.js";
import { formatTemplateString, parseTemplateString, type TemplatePart } from "./template.js";
import {
  type FieldPath,
  formatFieldPath,
  parseYamlSource,
  type YamlSource,
} from "./yaml-source.js";

/** A spec file as read by the caller (core does no I/O). */
export interface SpecSource {
  readonly file: string;
  readonly text: string;
}

/** Result of `validateSpec`: the plan when there is no problem, and every problem found. */
export interface SpecValidation {
  readonly plan?: Plan;
  readonly problems: readonly Problem[];
}

/** Retry policy of a step that declares none: one attempt. */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 1,
  backoff: "exponential",
  initialDelayMs: 200,
  maxDelayMs: 5000,
});

/** `run.*` fields a template may read. */
export const RUN_FIELDS: ReadonlySet<string> = new Set(["id", "name", "principal", "started_at"]);

const TOP_KEYS = [
  "name",
  "version",
  "description",
  "principal",
  "inputs",
  "governance",
  "steps",
  ...SEED_TOP_LEVEL_KEYS,
];
const STEP_KEYS = [
  "id",
  "name",
  "type",
  "step_type",
  "capability",
  "capability_name",
  "inputs",
  "depends_on",
  "risk_level",
  "retry",
  "max_retries",
  "timeout",
  "timeout_seconds",
  "when",
  "compensation",
  "evidence",
  "description",
  "agent_name",
  "message",
  "approvers",
  "on_timeout",
];
const APPROVAL_ONLY_KEYS = ["message", "approvers", "on_timeout"];
const ACTION_ONLY_KEYS = ["retry", "max_retries", "compensation", "evidence"];
const APPROVAL_INPUT_KEYS = [
  "message",
  "approval_message",
  "webhook_url",
  "timeout",
  "approval_timeout",
  "approvers",
  "approver_role",
];
const RETRY_KEYS = ["max_attempts", "backoff", "initial_delay", "max_delay"];
const COMPENSATION_KEYS = ["capability", "capability_name", "inputs", "step_name", "description"];
const INPUT_DECL_KEYS = ["type", "default", "required", "description"];
const INPUT_TYPES = ["string", "number", "boolean", "object", "array", "any"] as const;
const RISK_LEVELS = Object.values(RiskLevel) as readonly string[];
const ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const PRINCIPAL_PATTERN = /^[a-z][a-z0-9_-]*:\S+$/;
/** The pseudo-capability seed approval steps name; accepted and ignored. */
const SEED_APPROVAL_CAPABILITY = "human.approve";

/** Where a template is evaluated: decides which roots it may read and what it depends on. */
interface TemplateScope {
  readonly selfId: string | undefined;
  /** Compensation and evidence run after the step: they may read its own outputs. */
  readonly allowSelf: boolean;
  readonly allowEvidence: boolean;
  /** Steps the templates read (filled in). */
  readonly deps: Set<string>;
}

/** Levenshtein distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate to `name`, if one is close enough to be a plausible typo. */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(name, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function didYouMean(name: string, candidates: Iterable<string>): string {
  const c = closestName(name, candidates);
  return c ? ` (did you mean "${c}"?)` : "";
}

function getAt(value: unknown, path: readonly (string | number)[]): unknown {
  let cur = value;
  for (const seg of path) {
    if (Array.isArray(cur) && typeof seg === "number") cur = cur[seg];
    else if (isPlainObject(cur) && Object.hasOwn(cur, String(seg))) cur = cur[String(seg)];
    else return undefined;
  }
  return cur;
}

function isTemplated(value: unknown): boolean {
  if (typeof value === "string") {
    if (!value.includes("{{")) return false;
    try {
      return parseTemplateString(value).some((p) => p.kind === "expr");
    } catch {
      return true;
    }
  }
  if (Array.isArray(value)) return value.some(isTemplated);
  if (isPlainObject(value)) return Object.values(value).some(isTemplated);
  return false;
}

/** Compiles one spec document; all state of one compilation lives here. */
class SpecCompiler {
  readonly problems: Problem[] = [];
  private stepIds = new Set<string>();
  private inputNames = new Set<string>();
  private seed = false;

  constructor(
    private readonly src: YamlSource,
    private readonly catalog: CapabilityCatalog,
  ) {}

  private report(path: FieldPath, message: string): void {
    this.problems.push(this.src.problem(path, message));
  }

  private checkKeys(
    obj: Record<string, unknown>,
    allowed: readonly string[],
    path: FieldPath,
    what: string,
  ) {
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) {
        this.report([...path, key], `unknown ${what} key "${key}"${didYouMean(key, allowed)}`);
      }
    }
  }

  /** Converts a YAML value to JSON, reporting values JSON cannot hold. */
  private toJson(value: unknown, path: FieldPath): JsonValue {
    if (value === null || typeof value === "string" || typeof value === "boolean") return value;
    if (typeof value === "number") {
      if (Number.isFinite(value)) return value;
      this.report(path, "numbers must be finite");
      return null;
    }
    if (Array.isArray(value)) return value.map((v, i) => this.toJson(v, [...path, i]));
    if (isPlainObject(value)) {
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(value)) {
        Object.defineProperty(out, k, {
          value: this.toJson(v, [...path, k]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    this.report(path, `unsupported value ${String(value)}`);
    return null;
  }

  // -------------------------------------------------------------------------------------------
  // Templates

  /** Validates and normalizes every template in a value (to `${{ }}`, seed paths rewritten). */
  private templates(value: JsonValue, path: FieldPath, scope: TemplateScope): JsonValue {
    if (typeof value === "string") return this.templateString(value, path, scope);
    if (Array.isArray(value)) return value.map((v, i) => this.templates(v, [...path, i], scope));
    if (isPlainObject(value)) {
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(value)) {
        Object.defineProperty(out, k, {
          value: this.templates(v as JsonValue, [...path, k], scope),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    return value;
  }

  private templateString(s: string, path: FieldPath, scope: TemplateScope): string {
    if (!s.includes("{{")) return s;
    let parts: readonly TemplatePart[];
    try {
      parts = parseTemplateString(s);
    } catch (err) {
      this.report(path, (err as Error).message);
      return s;
    }
    if (!parts.some((p) => p.kind === "expr")) return s;
    return formatTemplateString(
      parts.map((p) =>
        p.kind === "text" ? p : { ...p, source: this.expression(p.source, !p.dollar, path, scope) },
      ),
    );
  }

  /** Checks one expression; returns its normalized source. `seedForm`: `{{ }}` template. */
  private expression(
    source: string,
    seedForm: boolean,
    path: FieldPath,
    scope: TemplateScope,
  ): string {
    let normalized = source;
    try {
      if (seedForm) {
        normalized = rewriteExpressionPaths(source, (p) => {
          const r = mapSeedPath(p, this.stepIds, this.inputNames);
          if (!r.ok) {
            this.report(path, `unresolved reference "${formatPath(p)}": ${r.message}`);
            return undefined;
          }
          return r.path === p ? undefined : r.path;
        });
      }
      const compiled = compileExpression(normalized);
      for (const ref of compiled.references) {
        if (seedForm && !NATIVE_ROOTS.has(ref[0]!)) continue; // reported by mapSeedPath
        this.reference(ref, path, scope);
      }
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      this.report(path, err.message);
    }
    return normalized;
  }

  private reference(ref: readonly string[], path: FieldPath, scope: TemplateScope): void {
    const [root, a, b] = ref;
    const shown = formatPath(ref);
    const bad = (why: string) => this.report(path, `unresolved reference "${shown}": ${why}`);
    switch (root) {
      case "inputs":
        if (a !== undefined && !this.inputNames.has(a)) {
          bad(`no declared input "${a}"${didYouMean(a, this.inputNames)}`);
        }
        return;
      case "steps":
        if (a === undefined) bad("name a step: steps.<id>.outputs...");
        else if (!this.stepIds.has(a)) bad(`no step "${a}"${didYouMean(a, this.stepIds)}`);
        else if (b !== "outputs") bad(`read a step's outputs as steps.${a}.outputs...`);
        else if (a === scope.selfId) {
          if (!scope.allowSelf) {
            this.report(
              path,
              `dependency cycle: step "${a}" reads its own outputs ("${shown}") before it runs`,
            );
          }
        } else scope.deps.add(a);
        return;
      case "run":
        if (a === undefined || !RUN_FIELDS.has(a) || ref.length > 2) {
          bad(`run.* has ${[...RUN_FIELDS].join(", ")}`);
        }
        return;
      case "secrets":
        if (ref.length !== 2) bad("read a secret as secrets.NAME");
        return;
      case "evidence":
        if (!scope.allowEvidence) bad("evidence.* may only be read in evidence expressions");
        return;
      default:
        bad(`unknown root "${root}" (use inputs.*, steps.<id>.outputs.*, run.*, secrets.*)`);
    }
  }

  /** A `when` condition: one template, a bare expression or a boolean → `${{ expr }}`. */
  private condition(value: unknown, path: FieldPath, scope: TemplateScope): string | null {
    if (value === undefined || value === null) return null;
    if (typeof value === "boolean") return `\${{ ${value} }}`;
    if (typeof value !== "string") {
      this.report(path, "a condition must be an expression string or a boolean");
      return null;
    }
    let parts: readonly TemplatePart[];
    try {
      parts = parseTemplateString(value);
    } catch (err) {
      this.report(path, (err as Error).message);
      return null;
    }
    const only = parts.length === 1 ? parts[0] : undefined;
    if (only?.kind === "expr") {
      return `\${{ ${this.expression(only.source, !only.dollar, path, scope)} }}`;
    }
    if (parts.some((p) => p.kind === "expr")) {
      this.report(path, "a condition must be a single expression, not text with templates");
      return null;
    }
    return `\${{ ${this.expression(value.trim(), false, path, scope)} }}`;
  }

  // -------------------------------------------------------------------------------------------
  // Capability inputs

  private capability(name: unknown, path: FieldPath): AnyCapability | undefined {
    if (typeof name !== "string" || !name) {
      this.report(path, "a capability name is required");
      return undefined;
    }
    const cap = this.catalog.get(name);
    if (!cap)
      this.report(path, `unknown capability "${name}"${didYouMean(name, this.catalog.names())}`);
    return cap;
  }

  /** Validates inputs against the capability's schema, skipping what templates decide later. */
  private capabilityInputs(cap: AnyCapability, inputs: JsonValue, path: FieldPath): void {
    if (typeof inputs === "string" && isTemplated(inputs)) return;
    const reported = new Set<string>();
    const report = (p: readonly (string | number)[], message: string) => {
      const key = JSON.stringify(p);
      if (reported.has(key)) return;
      reported.add(key);
      this.report([...path, ...p], message);
    };
    const result = cap.input.safeParse(inputs);
    if (!result.success) {
      for (const issue of result.error.issues) {
        const ip = issue.path.map((s) => (typeof s === "number" ? s : String(s)));
        if (this.underTemplate(inputs, ip, issue.code === "custom")) continue;
        if (issue.code === "unrecognized_keys") {
          for (const k of issue.keys) report([...ip, k], `unknown input "${k}" for ${cap.name}`);
          continue;
        }
        const last = ip.at(-1);
        const parent = getAt(inputs, ip.slice(0, -1));
        if (last !== undefined && isPlainObject(parent) && !Object.hasOwn(parent, String(last))) {
          report(ip, `missing required input "${formatFieldPath(ip)}" for ${cap.name}`);
        } else {
          const field = ip.length ? `input "${formatFieldPath(ip)}"` : "inputs";
          report(ip, `${field} is invalid for ${cap.name}: ${issue.message}`);
        }
      }
    }
    // Non-strict object schemas strip unknown keys silently; a typo must not be ignored.
    const def = (
      cap.input as unknown as { def?: { type?: string; shape?: object; catchall?: unknown } }
    ).def;
    if (
      def?.type === "object" &&
      def.catchall === undefined &&
      def.shape &&
      isPlainObject(inputs)
    ) {
      for (const k of Object.keys(inputs)) {
        if (!Object.hasOwn(def.shape, k)) {
          report(
            [k],
            `unknown input "${k}" for ${cap.name}${didYouMean(k, Object.keys(def.shape))}`,
          );
        }
      }
    }
  }

  private underTemplate(
    inputs: JsonValue,
    path: readonly (string | number)[],
    deep: boolean,
  ): boolean {
    for (let i = 0; i <= path.length; i++) {
      const v = getAt(inputs, path.slice(0, i));
      if (typeof v === "string" && isTemplated(v)) return true;
    }
    return deep && isTemplated(getAt(inputs, path));
  }

  // -------------------------------------------------------------------------------------------
  // Top level

  compile(): Omit<Plan, "specHash"> | undefined {
    const doc = this.src.value;
    if (!isPlainObject(doc)) {
      this.report([], "a workflow spec must be a YAML mapping");
      return undefined;
    }
    this.seed = isSeedDocument(doc);
    this.checkKeys(doc, TOP_KEYS, [], "workflow");

    let name = doc.name ?? doc.workflow_id;
    if (typeof name !== "string" || !name.trim()) {
      this.report(doc.name === undefined ? [] : ["name"], "the workflow needs a non-empty name");
      name = "";
    }
    let version = "1";
    if (typeof doc.version === "string" && doc.version.trim()) version = doc.version.trim();
    else if (typeof doc.version === "number" && Number.isFinite(doc.version))
      version = String(doc.version);
    else if (doc.version !== undefined)
      this.report(["version"], "version must be a string or a number");

    let description: string | null = null;
    if (typeof doc.description === "string") description = doc.description;
    else if (doc.description !== undefined && doc.description !== null) {
      this.report(["description"], "description must be a string");
    }

    const principal = this.principal(doc);
    const inputs = this.inputs(doc);
    const governance = this.governance(doc);
    this.seedExtras(doc);

    const rawSteps = doc.steps;
    if (!Array.isArray(rawSteps) || rawSteps.length === 0) {
      this.report(
        rawSteps === undefined ? [] : ["steps"],
        "a workflow needs a non-empty list of steps",
      );
      return undefined;
    }
    // First pass: step ids (templates and depends_on refer to steps declared later too).
    const ids: (string | undefined)[] = rawSteps.map((raw, i) => this.stepId(raw, i));
    const steps: PlanStep[] = [];
    rawSteps.forEach((raw, i) => {
      if (!isPlainObject(raw)) return;
      const step = this.step(raw, i, i > 0 ? ids[i - 1] : undefined);
      if (step) steps.push(step);
    });
    const ordered = this.order(steps);
    if (this.problems.length > 0 || !ordered) return undefined;
    return {
      name: name as string,
      version,
      description,
      principal,
      inputs,
      governance,
      steps: ordered,
      format: this.seed ? "seed" : "native",
    };
  }

  private principal(doc: Record<string, unknown>): string | null {
    if (doc.principal !== undefined && doc.principal !== null) {
      if (typeof doc.principal !== "string" || !PRINCIPAL_PATTERN.test(doc.principal)) {
        this.report(["principal"], 'principal must look like "kind:id" (e.g. agent:planner)');
        return null;
      }
      return doc.principal;
    }
    const meta = doc.metadata;
    if (meta !== undefined && meta !== null && !isPlainObject(meta)) {
      this.report(["metadata"], "metadata must be a mapping");
    }
    const owner = isPlainObject(meta) ? meta.owner : undefined;
    if (doc.agent_name !== undefined && typeof doc.agent_name !== "string") {
      this.report(["agent_name"], "agent_name must be a string");
    }
    if (owner !== undefined && typeof owner !== "string") {
      this.report(["metadata", "owner"], "metadata.owner must be a string");
    }
    const p = seedPrincipal(doc.agent_name, owner);
    if (p === undefined) return null;
    if (!PRINCIPAL_PATTERN.test(p)) {
      this.report(
        doc.agent_name !== undefined ? ["agent_name"] : ["metadata", "owner"],
        `"${p}" is not a valid principal`,
      );
      return null;
    }
    return p;
  }

  private inputs(doc: Record<string, unknown>): Record<string, PlanInput> {
    const out: Record<string, PlanInput> = {};
    const decls = doc.inputs;
    if (decls !== undefined && decls !== null) {
      if (!isPlainObject(decls))
        this.report(["inputs"], "inputs must be a mapping of input declarations");
      else {
        for (const [name, decl] of Object.entries(decls)) {
          const input = this.inputDecl(name, decl, ["inputs", name]);
          if (input) out[name] = input;
        }
      }
    }
    const state = doc.initial_state;
    if (state !== undefined && state !== null) {
      if (!isPlainObject(state)) this.report(["initial_state"], "initial_state must be a mapping");
      else {
        for (const [name, value] of Object.entries(state)) {
          const path = ["initial_state", name];
          if (!ID_PATTERN.test(name)) {
            this.report(path, `input name "${name}" must be an identifier`);
            continue;
          }
          if (Object.hasOwn(out, name)) {
            this.report(path, `input "${name}" is declared in both inputs and initial_state`);
            continue;
          }
          out[name] = {
            type: inputTypeOf(value),
            required: false,
            default: this.toJson(value, path),
          };
        }
      }
    }
    for (const n of Object.keys(out)) this.inputNames.add(n);
    return out;
  }

  private inputDecl(name: string, decl: unknown, path: FieldPath): PlanInput | undefined {
    if (!ID_PATTERN.test(name)) {
      this.report(path, `input name "${name}" must be an identifier`);
      return undefined;
    }
    if (!isPlainObject(decl)) {
      // A bare value is the default.
      const def = this.toJson(decl, path);
      if (def === null) return { type: "any", required: false, default: null };
      return { type: inputTypeOf(def), required: false, default: def };
    }
    this.checkKeys(decl, INPUT_DECL_KEYS, path, "input declaration");
    let type: PlanInput["type"] = "any";
    const hasDefault = Object.hasOwn(decl, "default");
    const def = hasDefault ? this.toJson(decl.default, [...path, "default"]) : undefined;
    if (decl.type !== undefined) {
      if (
        typeof decl.type !== "string" ||
        !(INPUT_TYPES as readonly string[]).includes(decl.type)
      ) {
        this.report([...path, "type"], `type must be one of ${INPUT_TYPES.join(", ")}`);
      } else type = decl.type as PlanInput["type"];
    } else if (def !== undefined) type = inputTypeOf(def);
    if (def !== undefined && def !== null && type !== "any" && inputTypeOf(def) !== type) {
      this.report([...path, "default"], `default is not a ${type}`);
    }
    let required = !hasDefault;
    if (decl.required !== undefined) {
      if (typeof decl.required !== "boolean")
        this.report([...path, "required"], "required must be true or false");
      else required = decl.required;
    }
    const input: { -readonly [K in keyof PlanInput]: PlanInput[K] } = { type, required };
    if (def !== undefined) input.default = def;
    if (decl.description !== undefined) {
      if (typeof decl.description !== "string") {
        this.report([...path, "description"], "description must be a string");
      } else input.description = decl.description;
    }
    return input;
  }

  private governance(doc: Record<string, unknown>): JsonObject | null {
    let gov: JsonObject | null = null;
    if (doc.governance !== undefined && doc.governance !== null) {
      if (!isPlainObject(doc.governance)) {
        this.report(["governance"], "governance must be a mapping");
      } else {
        gov = this.toJson(doc.governance, ["governance"]) as JsonObject;
        const required = getAt(gov, ["evidence", "required"]);
        if (Array.isArray(required)) {
          required.forEach((expr, i) => {
            const path = ["governance", "evidence", "required", i];
            if (typeof expr === "string") {
              this.condition(expr, path, {
                selfId: undefined,
                allowSelf: false,
                allowEvidence: true,
                deps: new Set(),
              });
            }
          });
        }
      }
    }
    // Seed: a whole-run time limit becomes the duration budget, unless governance sets one.
    const limit = doc.max_execution_time_seconds;
    if (limit !== undefined) {
      if (typeof limit !== "number" || !(limit > 0)) {
        this.report(
          ["max_execution_time_seconds"],
          "max_execution_time_seconds must be a positive number",
        );
      } else if (getAt(gov, ["budgets", "max_duration"]) === undefined) {
        const base = gov ?? {};
        const budgets = isPlainObject(base.budgets) ? (base.budgets as JsonObject) : {};
        gov = { ...base, budgets: { ...budgets, max_duration: `${limit}s` } };
      }
    }
    return gov;
  }

  /** Seed-only top-level keys with no native meaning: accepted only where ignoring is safe. */
  private seedExtras(doc: Record<string, unknown>): void {
    if (doc.workflow_id !== undefined && typeof doc.workflow_id !== "string") {
      this.report(["workflow_id"], "workflow_id must be a string");
    }
    for (const key of ["policy", "global_compensation_steps"]) {
      const v = doc[key];
      if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) continue;
      this.report(
        [key],
        key === "policy"
          ? "seed per-agent `policy` entries are not supported: move them to the policy file (SPEC §6)"
          : "`global_compensation_steps` is not supported: declare a compensation on each step",
      );
    }
    const rollback = doc.enable_auto_rollback;
    if (rollback !== undefined && rollback !== true) {
      this.report(
        ["enable_auto_rollback"],
        "Airun always rolls back a failed run; only `true` is accepted",
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Steps

  private stepId(raw: unknown, i: number): string | undefined {
    const path: FieldPath = ["steps", i];
    if (!isPlainObject(raw)) {
      this.report(path, "a step must be a mapping");
      return undefined;
    }
    if (raw.id !== undefined && raw.name !== undefined && raw.id !== raw.name) {
      this.report([...path, "name"], "`id` and its alias `name` disagree");
    }
    const id = raw.id ?? raw.name;
    const field = raw.id !== undefined ? "id" : "name";
    if (id === undefined) {
      this.report(path, "the step needs an `id` (or `name`)");
      return undefined;
    }
    if (typeof id !== "string" || !ID_PATTERN.test(id)) {
      this.report([...path, field], "a step id must be an identifier (letters, digits, _ and -)");
      return undefined;
    }
    if (this.stepIds.has(id)) {
      this.report([...path, field], `duplicate step id "${id}"`);
      return undefined;
    }
    this.stepIds.add(id);
    return id;
  }

  private step(
    raw: Record<string, unknown>,
    i: number,
    previousId: string | undefined,
  ): PlanStep | undefined {
    const path: FieldPath = ["steps", i];
    const rawId = raw.id ?? raw.name;
    const id = typeof rawId === "string" ? rawId : undefined;
    this.checkKeys(raw, STEP_KEYS, path, "step");
    const kind = this.stepKind(raw, path);
    const wrongKeys = kind === "approval" ? ACTION_ONLY_KEYS : APPROVAL_ONLY_KEYS;
    for (const k of wrongKeys) {
      if (Object.hasOwn(raw, k))
        this.report([...path, k], `"${k}" is not allowed on ${kind} steps`);
    }
    if (raw.agent_name !== undefined && typeof raw.agent_name !== "string") {
      this.report([...path, "agent_name"], "agent_name must be a string");
    }
    if (raw.description !== undefined && typeof raw.description !== "string") {
      this.report([...path, "description"], "description must be a string");
    }

    const deps = new Set<string>();
    const explicitDeps = this.dependsOn(raw, path, id);
    for (const d of explicitDeps) deps.add(d);
    // Seed specs ran their steps in declaration order: a step without `depends_on` waits for
    // the one before it.
    if (this.seed && raw.depends_on === undefined && previousId !== undefined) deps.add(previousId);

    const scope: TemplateScope = { selfId: id, allowSelf: false, allowEvidence: false, deps };
    const risk = this.risk(raw, path);
    const when = this.condition(raw.when, [...path, "when"], scope);

    let capability: string | null = null;
    let inputs: JsonValue = {};
    let approval: ApprovalSettings | null = null;
    let timeoutMs = this.timeout(raw, path);
    let retry = DEFAULT_RETRY;
    let compensation: DeclaredCompensation | null = null;
    let evidence: JsonObject | null = null;

    if (kind === "approval") {
      const capName = raw.capability ?? raw.capability_name;
      if (capName !== undefined && capName !== SEED_APPROVAL_CAPABILITY) {
        const key = raw.capability !== undefined ? "capability" : "capability_name";
        this.report([...path, key], "an approval step calls no capability");
      }
      const result = this.approval(raw, path, id, scope, timeoutMs);
      approval = result;
      timeoutMs = null;
    } else {
      const capKey = raw.capability !== undefined ? "capability" : "capability_name";
      if (
        raw.capability !== undefined &&
        raw.capability_name !== undefined &&
        raw.capability !== raw.capability_name
      ) {
        this.report(
          [...path, "capability_name"],
          "`capability` and its alias `capability_name` disagree",
        );
      }
      const capName = raw.capability ?? raw.capability_name;
      let cap: AnyCapability | undefined;
      if (capName === undefined) this.report(path, "the step needs a `capability`");
      else cap = this.capability(capName, [...path, capKey]);
      if (typeof capName === "string") capability = capName;
      const rawInputs =
        raw.inputs === undefined || raw.inputs === null
          ? {}
          : this.toJson(raw.inputs, [...path, "inputs"]);
      if (!isPlainObject(rawInputs) && !(typeof rawInputs === "string" && isTemplated(rawInputs))) {
        this.report([...path, "inputs"], "inputs must be a mapping");
      } else {
        inputs = this.templates(rawInputs, [...path, "inputs"], scope);
        if (cap) this.capabilityInputs(cap, inputs, [...path, "inputs"]);
      }
      retry = this.retry(raw, path);
      compensation = this.compensation(raw.compensation, [...path, "compensation"], id, deps);
      if (raw.evidence !== undefined && raw.evidence !== null) {
        if (!isPlainObject(raw.evidence))
          this.report([...path, "evidence"], "evidence must be a mapping");
        else {
          evidence = this.templates(
            this.toJson(raw.evidence, [...path, "evidence"]),
            [...path, "evidence"],
            {
              ...scope,
              allowSelf: true,
              allowEvidence: true,
            },
          ) as JsonObject;
        }
      }
    }

    if (id === undefined) return undefined;
    return {
      id,
      kind,
      capability,
      inputs,
      dependsOn: [...deps],
      risk,
      retry,
      timeoutMs,
      when,
      compensation,
      approval,
      evidence,
      line: this.src.locate(path).line,
    };
  }

  private stepKind(raw: Record<string, unknown>, path: FieldPath): "action" | "approval" {
    let kind: "action" | "approval" | undefined;
    if (raw.type !== undefined) {
      if (raw.type === "action" || raw.type === "approval") kind = raw.type;
      else this.report([...path, "type"], 'type must be "action" or "approval"');
    }
    if (raw.step_type !== undefined) {
      const k =
        raw.step_type === "ACTION"
          ? "action"
          : raw.step_type === "HUMAN_APPROVAL"
            ? "approval"
            : undefined;
      if (!k) this.report([...path, "step_type"], "step_type must be ACTION or HUMAN_APPROVAL");
      else if (kind !== undefined && kind !== k)
        this.report([...path, "step_type"], "`type` and `step_type` disagree");
      else kind = k;
    }
    return kind ?? "action";
  }

  private dependsOn(
    raw: Record<string, unknown>,
    path: FieldPath,
    id: string | undefined,
  ): string[] {
    const v = raw.depends_on;
    if (v === undefined || v === null) return [];
    const list = typeof v === "string" ? [v] : v;
    if (!Array.isArray(list)) {
      this.report([...path, "depends_on"], "depends_on must be a list of step ids");
      return [];
    }
    const out: string[] = [];
    list.forEach((d, j) => {
      const p = typeof v === "string" ? [...path, "depends_on"] : [...path, "depends_on", j];
      if (typeof d !== "string") this.report(p, "a dependency must be a step id");
      else if (d === id) this.report(p, `cycle: step "${d}" depends on itself`);
      else if (!this.stepIds.has(d))
        this.report(p, `unknown step "${d}"${didYouMean(d, this.stepIds)}`);
      else out.push(d);
    });
    return out;
  }

  private risk(raw: Record<string, unknown>, path: FieldPath): RiskLevel | null {
    const v = raw.risk_level;
    if (v === undefined || v === null) return null;
    if (typeof v !== "string" || !RISK_LEVELS.includes(v)) {
      this.report([...path, "risk_level"], `risk_level must be one of ${RISK_LEVELS.join(", ")}`);
      return null;
    }
    return v as RiskLevel;
  }

  private duration(v: unknown, path: FieldPath, what: string): number | undefined {
    const ms = parseDuration(v);
    if (ms === undefined)
      this.report(path, `${what} must be a duration like "30s", "5m" or milliseconds`);
    return ms;
  }

  private timeout(raw: Record<string, unknown>, path: FieldPath): number | null {
    if (raw.timeout !== undefined && raw.timeout_seconds !== undefined) {
      this.report(
        [...path, "timeout_seconds"],
        "give either `timeout` or `timeout_seconds`, not both",
      );
      return null;
    }
    if (raw.timeout !== undefined && raw.timeout !== null) {
      const ms = this.duration(raw.timeout, [...path, "timeout"], "timeout");
      if (ms === 0) this.report([...path, "timeout"], "timeout must be greater than zero");
      return ms ?? null;
    }
    if (raw.timeout_seconds !== undefined && raw.timeout_seconds !== null) {
      const s = raw.timeout_seconds;
      if (typeof s !== "number" || !(s > 0) || !Number.isFinite(s)) {
        this.report([...path, "timeout_seconds"], "timeout_seconds must be a positive number");
        return null;
      }
      return Math.round(s * 1000);
    }
    return null;
  }

  private retry(raw: Record<string, unknown>, path: FieldPath): RetryPolicy {
    const out: { -readonly [K in keyof RetryPolicy]: RetryPolicy[K] } = { ...DEFAULT_RETRY };
    const r = raw.retry;
    if (r !== undefined && r !== null) {
      const rp = [...path, "retry"];
      if (!isPlainObject(r)) this.report(rp, "retry must be a mapping");
      else {
        this.checkKeys(r, RETRY_KEYS, rp, "retry");
        if (r.max_attempts !== undefined) {
          const n = r.max_attempts;
          if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
            this.report(
              [...rp, "max_attempts"],
              "max_attempts must be an integer >= 1 (1 means a single attempt)",
            );
          } else out.maxAttempts = n;
        }
        if (r.backoff !== undefined) {
          if (r.backoff !== "exponential" && r.backoff !== "fixed") {
            this.report([...rp, "backoff"], 'backoff must be "exponential" or "fixed"');
          } else out.backoff = r.backoff;
        }
        if (r.initial_delay !== undefined) {
          out.initialDelayMs =
            this.duration(r.initial_delay, [...rp, "initial_delay"], "initial_delay") ??
            out.initialDelayMs;
        }
        if (r.max_delay !== undefined) {
          out.maxDelayMs =
            this.duration(r.max_delay, [...rp, "max_delay"], "max_delay") ?? out.maxDelayMs;
        }
        if (out.initialDelayMs > out.maxDelayMs) {
          this.report(rp, "initial_delay must not exceed max_delay");
        }
      }
    }
    if (raw.max_retries !== undefined) {
      const n = raw.max_retries;
      const mp = [...path, "max_retries"];
      if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
        this.report(mp, "max_retries must be an integer >= 0 (retries after the first attempt)");
      } else if (isPlainObject(r) && r.max_attempts !== undefined) {
        this.report(mp, "give either `retry.max_attempts` or `max_retries`, not both");
      } else out.maxAttempts = n + 1;
    }
    return Object.freeze(out);
  }

  private compensation(
    v: unknown,
    path: FieldPath,
    id: string | undefined,
    deps: Set<string>,
  ): DeclaredCompensation | null {
    if (v === undefined || v === null) return null;
    if (!isPlainObject(v)) {
      this.report(path, "compensation must be a mapping with a capability and inputs");
      return null;
    }
    this.checkKeys(v, COMPENSATION_KEYS, path, "compensation");
    if (v.step_name !== undefined && v.step_name !== id) {
      this.report([...path, "step_name"], `step_name must name the step itself ("${id}")`);
    }
    if (
      v.capability !== undefined &&
      v.capability_name !== undefined &&
      v.capability !== v.capability_name
    ) {
      this.report(
        [...path, "capability_name"],
        "`capability` and its alias `capability_name` disagree",
      );
    }
    const capKey = v.capability !== undefined ? "capability" : "capability_name";
    const cap = this.capability(v.capability ?? v.capability_name, [...path, capKey]);
    const rawInputs =
      v.inputs === undefined || v.inputs === null ? {} : this.toJson(v.inputs, [...path, "inputs"]);
    if (!isPlainObject(rawInputs) && !(typeof rawInputs === "string" && isTemplated(rawInputs))) {
      this.report([...path, "inputs"], "inputs must be a mapping");
      return null;
    }
    const inputs = this.templates(rawInputs, [...path, "inputs"], {
      selfId: id,
      allowSelf: true,
      allowEvidence: false,
      deps,
    });
    if (cap) this.capabilityInputs(cap, inputs, [...path, "inputs"]);
    const name = v.capability ?? v.capability_name;
    return typeof name === "string" ? { capability: name, inputs } : null;
  }

  private approval(
    raw: Record<string, unknown>,
    path: FieldPath,
    id: string | undefined,
    scope: TemplateScope,
    stepTimeoutMs: number | null,
  ): ApprovalSettings {
    const ip = [...path, "inputs"];
    const ins = raw.inputs;
    let inputs: Record<string, unknown> = {};
    if (ins !== undefined && ins !== null) {
      if (!isPlainObject(ins)) this.report(ip, "inputs of an approval step must be a mapping");
      else {
        inputs = ins;
        for (const key of Object.keys(ins)) {
          if (!APPROVAL_INPUT_KEYS.includes(key)) {
            this.report(
              [...ip, key],
              `unknown approval input "${key}"${didYouMean(key, APPROVAL_INPUT_KEYS)} (supported: ${APPROVAL_INPUT_KEYS.join(", ")})`,
            );
          }
        }
      }
    }
    // Message: `message`, `inputs.message` or the seed's `inputs.approval_message`.
    const messages = (
      [
        [raw.message, [...path, "message"]],
        [inputs.message, [...ip, "message"]],
        [inputs.approval_message, [...ip, "approval_message"]],
      ] as const
    ).filter(([m]) => m !== undefined);
    let message = `Approve step "${id ?? "?"}"?`;
    if (messages.length > 1) this.report(messages[1]![1], "the approval message is given twice");
    const first = messages[0];
    if (first) {
      if (typeof first[0] !== "string" || !first[0].trim())
        this.report(first[1], "message must be a non-empty string");
      else message = this.templateString(first[0], first[1], scope);
    }

    let webhookUrl: string | null = null;
    if (inputs.webhook_url !== undefined && inputs.webhook_url !== null) {
      const wp = [...ip, "webhook_url"];
      const u = inputs.webhook_url;
      if (typeof u !== "string") this.report(wp, "webhook_url must be a string");
      else if (isTemplated(u)) webhookUrl = this.templateString(u, wp, scope);
      else if (!/^https?:\/\/\S+$/.test(u)) this.report(wp, "webhook_url must be an http(s) URL");
      else webhookUrl = u;
    }

    // Timeout: the step's `timeout`/`timeout_seconds`, or the seed's inputs.timeout /
    // inputs.approval_timeout (seconds).
    let timeoutMs = stepTimeoutMs;
    for (const key of ["timeout", "approval_timeout"]) {
      const t = inputs[key];
      if (t === undefined || t === null) continue;
      const tp = [...ip, key];
      if (timeoutMs !== null) this.report(tp, "the approval timeout is given twice");
      else if (typeof t !== "number" || !(t > 0) || !Number.isFinite(t)) {
        this.report(tp, `${key} must be a positive number of seconds`);
      } else timeoutMs = Math.round(t * 1000);
    }

    const approvers: string[] = [];
    const addApprovers = (v: unknown, p: FieldPath) => {
      const list = typeof v === "string" ? [v] : v;
      if (!Array.isArray(list)) {
        this.report(p, "approvers must be a list of principals or role:NAME");
        return;
      }
      list.forEach((a, j) => {
        const ap = typeof v === "string" ? p : [...p, j];
        if (typeof a !== "string" || !PRINCIPAL_PATTERN.test(a)) {
          this.report(ap, 'an approver must look like "user:bob" or "role:sre"');
        } else if (!approvers.includes(a)) approvers.push(a);
      });
    };
    if (raw.approvers !== undefined) addApprovers(raw.approvers, [...path, "approvers"]);
    if (inputs.approvers !== undefined) addApprovers(inputs.approvers, [...ip, "approvers"]);
    if (inputs.approver_role !== undefined) {
      const r = inputs.approver_role;
      if (typeof r !== "string" || !ID_PATTERN.test(r)) {
        this.report([...ip, "approver_role"], "approver_role must be a role name");
      } else if (!approvers.includes(`role:${r}`)) approvers.push(`role:${r}`);
    }

    let onTimeout: "reject" | "approve" = "reject";
    if (raw.on_timeout !== undefined) {
      if (raw.on_timeout !== "reject" && raw.on_timeout !== "approve") {
        this.report([...path, "on_timeout"], 'on_timeout must be "reject" or "approve"');
      } else onTimeout = raw.on_timeout;
    }
    return { message, approvers, timeoutMs, onTimeout, webhookUrl };
  }

  // -------------------------------------------------------------------------------------------
  // Ordering

  /** Reports every cycle; returns the steps in a stable topological order, or undefined. */
  private order(steps: PlanStep[]): PlanStep[] | undefined {
    const index = new Map(steps.map((s, i) => [s.id, i]));
    const sorted = steps.map((s) => ({
      ...s,
      dependsOn: [...s.dependsOn]
        .filter((d) => index.has(d))
        .sort((a, b) => index.get(a)! - index.get(b)!),
    }));
    // Cycle detection (depth first), each cycle reported once.
    const state = new Map<string, 1 | 2>();
    const stack: string[] = [];
    const seen = new Set<string>();
    const visit = (id: string) => {
      state.set(id, 1);
      stack.push(id);
      for (const d of sorted[index.get(id)!]!.dependsOn) {
        if (state.get(d) === 1) {
          const cycle = stack.slice(stack.indexOf(d));
          const key = [...cycle].sort().join(",");
          if (!seen.has(key)) {
            seen.add(key);
            const start = cycle.reduce((a, b) => (index.get(a)! <= index.get(b)! ? a : b));
            const rot = [
              ...cycle.slice(cycle.indexOf(start)),
              ...cycle.slice(0, cycle.indexOf(start)),
            ];
            // Edges point from a step to what it waits for: print them in execution order.
            const path = [...rot, start].reverse().join(" -> ");
            this.report(this.stepPath(start), `dependency cycle: ${path}`);
          }
        } else if (state.get(d) === undefined) visit(d);
      }
      stack.pop();
      state.set(id, 2);
    };
    for (const s of sorted) if (!state.has(s.id)) visit(s.id);
    if (seen.size > 0) return undefined;

    const done = new Set<string>();
    const out: PlanStep[] = [];
    while (out.length < sorted.length) {
      const next = sorted.find((s) => !done.has(s.id) && s.dependsOn.every((d) => done.has(d)));
      if (!next) return undefined;
      done.add(next.id);
      out.push(next);
    }
    return out;
  }

  private stepPath(id: string): FieldPath {
    const raw = (this.src.value as { steps: unknown[] }).steps;
    const i = raw.findIndex((s) => isPlainObject(s) && (s.id ?? s.name) === id);
    return ["steps", i];
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * The spec hash of a plan: SHA-256 of the canonical JSON of the plan without `specHash` and
 * without the steps' source `line`s (reformatting a file does not change what it does).
 */
export function computeSpecHash(plan: Omit<Plan, "specHash"> | Plan): string {
  const { specHash: _omit, ...rest } = plan as Plan;
  return hashJson({ ...rest, steps: rest.steps.map(({ line: _line, ...s }) => s) });
}

function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col);
}

/**
 * Validates a spec and returns every problem found; `plan` is set only when there is none.
 *
 * @example
 * const { plan, problems } = validateSpec({ file: "wf.yaml", text }, registry);
 * for (const p of problems) console.error(formatProblem(p));
 */
export function validateSpec(source: SpecSource, catalog: CapabilityCatalog): SpecValidation {
  const src = parseYamlSource(source.file, source.text);
  if (src.syntaxProblems.length > 0) return { problems: sortProblems(src.syntaxProblems) };
  const compiler = new SpecCompiler(src, catalog);
  const body = compiler.compile();
  const problems = sortProblems(compiler.problems);
  if (!body || problems.length > 0) {
    return {
      problems: problems.length ? problems : [src.problem([], "the spec could not be compiled")],
    };
  }
  const plan: Plan = { ...body, specHash: computeSpecHash(body) };
  return { plan: deepFreeze(plan), problems: [] };
}

/**
 * Compiles a workflow spec (native or seed format) into a frozen `Plan`. Throws a
 * `ValidationError` listing EVERY problem (file, line, column, field, message).
 *
 * A step's `risk_level` may be lower than its capability's risk floor: the plan records the
 * declared value, and the gatekeeper still applies max(floor, declared).
 */
export function compileSpec(source: SpecSource, catalog: CapabilityCatalog): Plan {
  const { plan, problems } = validateSpec(source, catalog);
  if (!plan) throw new ValidationError(problems, { location: source.file });
  return plan;
}

const jsonSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(jsonSchema),
    z.record(z.string(), jsonSchema),
  ]),
);
const retrySchema = z.object({
  maxAttempts: z.number().int().min(1),
  backoff: z.enum(["exponential", "fixed"]),
  initialDelayMs: z.number().min(0),
  maxDelayMs: z.number().min(0),
});
const planSchema = z.object({
  name: z.string(),
  version: z.string(),
  description: z.string().nullable(),
  principal: z.string().nullable(),
  inputs: z.record(
    z.string(),
    z.object({
      type: z.enum(INPUT_TYPES),
      required: z.boolean(),
      default: jsonSchema.optional(),
      description: z.string().optional(),
    }),
  ),
  governance: z.record(z.string(), jsonSchema).nullable(),
  steps: z.array(
    z.object({
      id: z.string(),
      kind: z.enum(["action", "approval"]),
      capability: z.string().nullable(),
      inputs: jsonSchema,
      dependsOn: z.array(z.string()),
      risk: z.enum(["LOW", "MEDIUM", "HIGH", "CRITICAL"]).nullable(),
      retry: retrySchema,
      timeoutMs: z.number().nullable(),
      when: z.string().nullable(),
      compensation: z.object({ capability: z.string(), inputs: jsonSchema }).nullable(),
      approval: z
        .object({
          message: z.string(),
          approvers: z.array(z.string()),
          timeoutMs: z.number().nullable(),
          onTimeout: z.enum(["reject", "approve"]),
          webhookUrl: z.string().nullable(),
        })
        .nullable(),
      evidence: z.record(z.string(), jsonSchema).nullable(),
      line: z.number(),
    }),
  ),
  specHash: z.string(),
  format: z.enum(["native", "seed"]),
});

/**
 * Rebuilds a persisted plan (its JSON) as a deep-frozen `Plan`. Throws `AirunError`
 * `PLAN_INVALID` when the JSON is not a plan, or (with `verifyHash`) when its `specHash` does
 * not match its content.
 */
export function planFromJson(json: JsonValue, opts: { verifyHash?: boolean } = {}): Plan {
  const parsed = planSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AirunError(
      "PLAN_INVALID",
      `persisted plan is invalid at ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "?"}`,
    );
  }
  const plan = structuredClone(json) as unknown as Plan;
  if (opts.verifyHash && computeSpecHash(plan) !== plan.specHash) {
    throw new AirunError("PLAN_INVALID", "persisted plan does not match its specHash");
  }
  return deepFreeze(plan);
}
