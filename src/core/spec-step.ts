/**
 * @module One step of a spec → a `PlanStep`: its id, kind (`type` or seed `step_type`),
 * capability and inputs (aliases `name`, `capability_name`), dependencies, risk, timing,
 * condition, compensation, evidence and approval settings. Unknown keys and keys that do not
 * fit the step's kind are reported.
 */
import type { AnyCapability } from "./capability.js";
import { stepCompensationFor } from "./declared-compensation.js";
import { ExpressionError } from "./errors.js";
import { isPlainObject, type JsonObject, type JsonValue } from "./json.js";
import type { ApprovalSettings, DeclaredCompensation, PlanStep, RetryPolicy } from "./plan.js";
import { GLOBAL_COMPENSATION_PREFIX } from "./seed-names.js";
import { approvalSettings } from "./spec-approval.js";
import { ID_PATTERN, type SpecContext } from "./spec-context.js";
import { checkCapabilityInputs, resolveCapability, seedStepInputs } from "./spec-inputs.js";
import {
  explicitDependencies,
  isTemplated,
  normalizeCondition,
  normalizeTemplates,
  type TemplateScope,
} from "./spec-references.js";
import { DEFAULT_RETRY, retryPolicy, stepTimeout } from "./spec-timing.js";
import { RiskLevel } from "./status.js";
import type { FieldPath } from "./yaml-source.js";

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
const COMPENSATION_KEYS = ["capability", "capability_name", "inputs", "step_name", "description"];
const RISK_LEVELS = Object.values(RiskLevel) as readonly string[];

/**
 * First pass over the steps: checks step `i`'s id (`id` or its alias `name`) and records it in
 * `ctx.stepIds`, so templates and `depends_on` may refer to steps declared later.
 */
export function registerStepId(ctx: SpecContext, raw: unknown, i: number): string | undefined {
  const path: FieldPath = ["steps", i];
  if (!isPlainObject(raw)) {
    ctx.report(path, "a step must be a mapping");
    return undefined;
  }
  if (raw.id !== undefined && raw.name !== undefined && raw.id !== raw.name) {
    ctx.report([...path, "name"], "`id` and its alias `name` disagree");
  }
  const id = raw.id ?? raw.name;
  const field = raw.id !== undefined ? "id" : "name";
  if (id === undefined) {
    ctx.report(path, "the step needs an `id` (or `name`)");
    return undefined;
  }
  if (typeof id !== "string" || !ID_PATTERN.test(id)) {
    ctx.report([...path, field], "a step id must be an identifier (letters, digits, _ and -)");
    return undefined;
  }
  if (ctx.stepIds.has(id)) {
    ctx.report([...path, field], `duplicate step id "${id}"`);
    return undefined;
  }
  ctx.stepIds.add(id);
  return id;
}

/**
 * Compiles step `i` (after `registerStepId` ran on every step). `listedBefore` are the steps
 * listed before it that nothing listed before it waits for: a step without `depends_on` waits
 * for them, so that it starts only once every step listed before it is done.
 */
export function compileStep(
  ctx: SpecContext,
  raw: Record<string, unknown>,
  i: number,
  listedBefore: readonly string[],
): PlanStep | undefined {
  const path: FieldPath = ["steps", i];
  const rawId = raw.id ?? raw.name;
  const id = typeof rawId === "string" ? rawId : undefined;
  ctx.checkKeys(raw, STEP_KEYS, path, "step");
  const kind = stepKind(ctx, raw, path);
  const wrongKeys = kind === "approval" ? ACTION_ONLY_KEYS : APPROVAL_ONLY_KEYS;
  for (const k of wrongKeys) {
    if (Object.hasOwn(raw, k)) ctx.report([...path, k], `"${k}" is not allowed on ${kind} steps`);
  }
  if (raw.agent_name !== undefined && typeof raw.agent_name !== "string") {
    ctx.report([...path, "agent_name"], "agent_name must be a string");
  }
  if (raw.description !== undefined && typeof raw.description !== "string") {
    ctx.report([...path, "description"], "description must be a string");
  }

  const deps = new Set<string>(explicitDependencies(ctx, raw, path, id));
  // Steps run in the order they are listed (both formats): a step without `depends_on` waits
  // for every step listed before it. `depends_on` (`[]`: at once) makes parallelism explicit.
  const inOrder = raw.depends_on === undefined || raw.depends_on === null;

  const scope: TemplateScope = { selfId: id, allowSelf: false, allowEvidence: false, deps };
  const risk = riskLevel(ctx, raw, path);
  const when = normalizeCondition(ctx, raw.when, [...path, "when"], scope);

  let capability: string | null = null;
  let inputs: JsonValue = {};
  let approval: ApprovalSettings | null = null;
  let timeoutMs = stepTimeout(ctx, raw, path);
  let retry: RetryPolicy = DEFAULT_RETRY;
  let compensation: DeclaredCompensation | null = null;
  let evidence: JsonObject | null = null;

  if (kind === "approval") {
    approval = approvalSettings(ctx, raw, path, id, scope, timeoutMs);
    timeoutMs = null;
  } else {
    const capKey = raw.capability !== undefined ? "capability" : "capability_name";
    if (
      raw.capability !== undefined &&
      raw.capability_name !== undefined &&
      raw.capability !== raw.capability_name
    ) {
      ctx.report(
        [...path, "capability_name"],
        "`capability` and its alias `capability_name` disagree",
      );
    }
    const capName = raw.capability ?? raw.capability_name;
    let cap: AnyCapability | undefined;
    if (capName === undefined) ctx.report(path, "the step needs a `capability`");
    else cap = resolveCapability(ctx, capName, [...path, capKey]);
    if (typeof capName === "string") capability = cap?.name ?? capName;
    let rawInputs =
      raw.inputs === undefined || raw.inputs === null
        ? {}
        : ctx.toJson(raw.inputs, [...path, "inputs"]);
    if (cap && typeof capName === "string") {
      const seed = seedStepInputs(ctx, cap, capName, rawInputs, [...path, "inputs"]);
      rawInputs = seed.inputs;
      if (seed.timeoutMs !== undefined && timeoutMs === null) timeoutMs = seed.timeoutMs;
    }
    if (!isPlainObject(rawInputs) && !(typeof rawInputs === "string" && isTemplated(rawInputs))) {
      ctx.report([...path, "inputs"], "inputs must be a mapping");
    } else {
      inputs = normalizeTemplates(ctx, rawInputs, [...path, "inputs"], scope);
      if (cap) checkCapabilityInputs(ctx, cap, inputs, [...path, "inputs"]);
    }
    retry = retryPolicy(ctx, raw, path);
    compensation = stepCompensation(ctx, raw.compensation, [...path, "compensation"], id, deps);
    if (
      compensation === null &&
      cap?.compensation &&
      id !== undefined &&
      raw.compensation == null
    ) {
      compensation = ownCompensation(ctx, cap, inputs, [...path, capKey], id, deps);
    }
    if (raw.evidence !== undefined && raw.evidence !== null) {
      const ep = [...path, "evidence"];
      if (!isPlainObject(raw.evidence)) ctx.report(ep, "evidence must be a mapping");
      else {
        evidence = normalizeTemplates(ctx, ctx.toJson(raw.evidence, ep), ep, {
          ...scope,
          allowSelf: true,
          allowEvidence: true,
        }) as JsonObject;
      }
    }
  }

  if (id === undefined) return undefined;
  if (inOrder) {
    for (const d of listedBefore) {
      if (!deps.has(d)) ctx.orderEdges.add(`${id}\u0000${d}`);
      deps.add(d);
    }
  }
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
    line: ctx.src.locate(path).line,
  };
}

/** `type` (`action`/`approval`) or seed `step_type` (`ACTION`/`HUMAN_APPROVAL`); default action. */
function stepKind(
  ctx: SpecContext,
  raw: Record<string, unknown>,
  path: FieldPath,
): "action" | "approval" {
  let kind: "action" | "approval" | undefined;
  if (raw.type !== undefined) {
    if (raw.type === "action" || raw.type === "approval") kind = raw.type;
    else ctx.report([...path, "type"], 'type must be "action" or "approval"');
  }
  if (raw.step_type !== undefined) {
    const k =
      raw.step_type === "ACTION"
        ? "action"
        : raw.step_type === "HUMAN_APPROVAL"
          ? "approval"
          : undefined;
    if (!k) ctx.report([...path, "step_type"], "step_type must be ACTION or HUMAN_APPROVAL");
    else if (kind !== undefined && kind !== k)
      ctx.report([...path, "step_type"], "`type` and `step_type` disagree");
    else kind = k;
  }
  return kind ?? "action";
}

/** The declared `risk_level`, or null. */
function riskLevel(
  ctx: SpecContext,
  raw: Record<string, unknown>,
  path: FieldPath,
): RiskLevel | null {
  const v = raw.risk_level;
  if (v === undefined || v === null) return null;
  if (typeof v !== "string" || !RISK_LEVELS.includes(v)) {
    ctx.report([...path, "risk_level"], `risk_level must be one of ${RISK_LEVELS.join(", ")}`);
    return null;
  }
  return v as RiskLevel;
}

/**
 * The compensation the step's capability declares for itself (a capability declared in config),
 * written in the step's terms; reported at the step's `capability` field when it cannot be.
 */
function ownCompensation(
  ctx: SpecContext,
  cap: AnyCapability,
  inputs: JsonValue,
  path: FieldPath,
  id: string,
  deps: Set<string>,
): DeclaredCompensation | null {
  let own: DeclaredCompensation;
  try {
    own = stepCompensationFor(id, inputs, cap.compensation!);
  } catch (err) {
    if (!(err instanceof ExpressionError)) throw err;
    ctx.report(path, `the compensation ${cap.name} declares cannot be used here: ${err.message}`);
    return null;
  }
  const before = ctx.problems.length;
  const out = stepCompensation(
    ctx,
    { capability: own.capability, inputs: own.inputs },
    path,
    id,
    deps,
  );
  for (let i = before; i < ctx.problems.length; i++) {
    const p = ctx.problems[i]!;
    ctx.problems[i] = { ...p, message: `the compensation ${cap.name} declares: ${p.message}` };
  }
  return out;
}

/** The step's compensation; its templates may read the step's own outputs. */
function stepCompensation(
  ctx: SpecContext,
  v: unknown,
  path: FieldPath,
  id: string | undefined,
  deps: Set<string>,
): DeclaredCompensation | null {
  if (v === undefined || v === null) return null;
  if (!isPlainObject(v)) {
    ctx.report(path, "compensation must be a mapping with a capability and inputs");
    return null;
  }
  ctx.checkKeys(v, COMPENSATION_KEYS, path, "compensation");
  if (v.step_name !== undefined && v.step_name !== id) {
    ctx.report([...path, "step_name"], `step_name must name the step itself ("${id}")`);
  }
  if (
    v.capability !== undefined &&
    v.capability_name !== undefined &&
    v.capability !== v.capability_name
  ) {
    ctx.report(
      [...path, "capability_name"],
      "`capability` and its alias `capability_name` disagree",
    );
  }
  const capKey = v.capability !== undefined ? "capability" : "capability_name";
  const named = v.capability ?? v.capability_name;
  const cap = resolveCapability(ctx, named, [...path, capKey]);
  let rawInputs =
    v.inputs === undefined || v.inputs === null ? {} : ctx.toJson(v.inputs, [...path, "inputs"]);
  if (cap && typeof named === "string") {
    rawInputs = seedStepInputs(ctx, cap, named, rawInputs, [...path, "inputs"]).inputs;
  }
  if (!isPlainObject(rawInputs) && !(typeof rawInputs === "string" && isTemplated(rawInputs))) {
    ctx.report([...path, "inputs"], "inputs must be a mapping");
    return null;
  }
  const inputs = normalizeTemplates(ctx, rawInputs, [...path, "inputs"], {
    selfId: id,
    allowSelf: true,
    allowEvidence: false,
    deps,
  });
  if (cap) checkCapabilityInputs(ctx, cap, inputs, [...path, "inputs"]);
  return typeof named === "string" ? { capability: cap?.name ?? named, inputs } : null;
}

/** The keys of one `global_compensation_steps` entry. */
const GLOBAL_COMPENSATION_KEYS = [
  "id",
  "name",
  "capability",
  "capability_name",
  "inputs",
  "description",
  "step_type",
];

/**
 * The seed's `global_compensation_steps`, each as an anchor step: a `sys.echo` that runs before
 * every other step and arms the entry as its declared compensation (authorized at its gate like
 * any compensation). Armed first, they are undone last: after every per-step undo, the entry
 * listed last first. Their templates may read any step's outputs (resolved at rollback).
 * The anchors are added to `ctx.listed` (after every step) for undeclared names.
 */
export function compileGlobalCompensations(ctx: SpecContext, raw: unknown): PlanStep[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    ctx.report(["global_compensation_steps"], "global_compensation_steps must be a list of steps");
    return [];
  }
  const anchors: PlanStep[] = [];
  raw.forEach((entry, j) => {
    const path: FieldPath = ["global_compensation_steps", j];
    if (!isPlainObject(entry)) {
      ctx.report(path, "a global compensation step must be a mapping (name, capability, inputs)");
      return;
    }
    ctx.checkKeys(entry, GLOBAL_COMPENSATION_KEYS, path, "global compensation step");
    if (entry.step_type !== undefined && entry.step_type !== "ACTION") {
      ctx.report([...path, "step_type"], "a global compensation step is an ACTION");
    }
    const name = entry.id ?? entry.name ?? `${j + 1}`;
    if (typeof name !== "string" || !ID_PATTERN.test(name)) {
      ctx.report(
        [...path, entry.id !== undefined ? "id" : "name"],
        "the name must be an identifier",
      );
      return;
    }
    const id = `${GLOBAL_COMPENSATION_PREFIX}${name}`;
    if (anchors.some((a) => a.id === id)) {
      ctx.report([...path, "name"], `duplicate global compensation step "${name}"`);
      return;
    }
    ctx.listed.push({ id, outputs: ["global_compensation"], by: "sys.echo" });
    const { id: _id, name: _name, step_type: _type, ...comp } = entry;
    // Templates may read any step: they resolve at rollback, so they add no dependency.
    const compensation = stepCompensation(ctx, comp, path, id, new Set<string>());
    if (!compensation) return;
    anchors.push({
      id,
      kind: "action",
      capability: "sys.echo",
      inputs: { global_compensation: name },
      dependsOn: anchors.length > 0 ? [anchors[anchors.length - 1]!.id] : [],
      risk: null,
      retry: DEFAULT_RETRY,
      timeoutMs: null,
      when: null,
      compensation,
      approval: null,
      evidence: null,
      line: ctx.src.locate(path).line,
    });
  });
  return anchors;
}
