/**
 * @module The workflow-level fields of a spec: name, version, description, principal (or the
 * seed's `agent_name` / `metadata.owner`), input declarations (and the seed's `initial_state`),
 * governance (with the seed's `max_execution_time_seconds`) and the seed-only keys Airun
 * accepts only when ignoring them is safe.
 */
import { isPlainObject, type JsonObject } from "./json.js";
import type { PlanInput } from "./plan.js";
import { INPUT_TYPES } from "./plan-schema.js";
import { checkEmbeddedRules } from "./policy-compile.js";
import { principalProblem } from "./principal.js";
import { getAt, ID_PATTERN, type SpecContext } from "./spec-context.js";
import { checkGovernanceSection, expandEvidenceShorthand } from "./spec-governance.js";
import { normalizeCondition } from "./spec-references.js";
import { inputTypeOf, seedPrincipal } from "./spec-seed.js";
import type { FieldPath } from "./yaml-source.js";

const INPUT_DECL_KEYS = ["type", "default", "required", "description"];

/** The workflow's name (or seed `workflow_id`), version (default "1") and description. */
export function workflowIdentity(
  ctx: SpecContext,
  doc: Record<string, unknown>,
): { name: string; version: string; description: string | null } {
  let name = doc.name ?? doc.workflow_id;
  if (typeof name !== "string" || !name.trim()) {
    ctx.report(doc.name === undefined ? [] : ["name"], "the workflow needs a non-empty name");
    name = "";
  }
  let version = "1";
  const meta = isPlainObject(doc.metadata) ? doc.metadata : {};
  // Seed: `metadata.version` is the workflow's version when `version` is not given.
  const given = doc.version !== undefined ? doc.version : meta.version;
  const field = doc.version !== undefined ? ["version"] : ["metadata", "version"];
  if (typeof given === "string" && given.trim()) version = given.trim();
  else if (typeof given === "number" && Number.isFinite(given)) version = String(given);
  else if (given !== undefined) ctx.report(field, "version must be a string or a number");
  if (
    doc.version !== undefined &&
    meta.version !== undefined &&
    String(meta.version).trim() !== version
  ) {
    ctx.report(["metadata", "version"], `metadata.version disagrees with version "${version}"`);
  }

  let description: string | null = null;
  if (typeof doc.description === "string") description = doc.description;
  else if (doc.description !== undefined && doc.description !== null) {
    ctx.report(["description"], "description must be a string");
  }
  return { name: name as string, version, description };
}

/** The workflow's principal: `principal`, else the one the seed keys imply, else null. */
export function workflowPrincipal(ctx: SpecContext, doc: Record<string, unknown>): string | null {
  if (doc.principal !== undefined && doc.principal !== null) {
    const problem = principalProblem(doc.principal);
    if (problem !== null) {
      ctx.report(["principal"], problem);
      return null;
    }
    return doc.principal as string;
  }
  const meta = doc.metadata;
  if (meta !== undefined && meta !== null && !isPlainObject(meta)) {
    ctx.report(["metadata"], "metadata must be a mapping");
  }
  const owner = isPlainObject(meta) ? meta.owner : undefined;
  if (doc.agent_name !== undefined && typeof doc.agent_name !== "string") {
    ctx.report(["agent_name"], "agent_name must be a string");
  }
  if (owner !== undefined && typeof owner !== "string") {
    ctx.report(["metadata", "owner"], "metadata.owner must be a string");
  }
  const p = seedPrincipal(doc.agent_name, owner);
  if (p === undefined) return null;
  const byOwner = seedPrincipal(undefined, owner);
  if (typeof doc.agent_name === "string" && byOwner !== undefined && byOwner !== p) {
    ctx.warn(
      ["agent_name"],
      `agent_name runs the workflow as ${p}, not metadata.owner's ${byOwner} (the agent is the least privileged reading); set principal: to choose`,
    );
  }
  const problem = principalProblem(p);
  if (problem !== null) {
    ctx.report(doc.agent_name !== undefined ? ["agent_name"] : ["metadata", "owner"], problem);
    return null;
  }
  return p;
}

/**
 * The declared inputs (`inputs` and seed `initial_state`); records their names in
 * `ctx.inputNames` for the template checks.
 */
export function workflowInputs(
  ctx: SpecContext,
  doc: Record<string, unknown>,
): Record<string, PlanInput> {
  const out: Record<string, PlanInput> = {};
  const decls = doc.inputs;
  if (decls !== undefined && decls !== null) {
    if (!isPlainObject(decls))
      ctx.report(["inputs"], "inputs must be a mapping of input declarations");
    else {
      for (const [name, decl] of Object.entries(decls)) {
        const input = inputDecl(ctx, name, decl, ["inputs", name]);
        if (input) out[name] = input;
      }
    }
  }
  const state = doc.initial_state;
  if (state !== undefined && state !== null) {
    if (!isPlainObject(state)) ctx.report(["initial_state"], "initial_state must be a mapping");
    else {
      for (const [name, value] of Object.entries(state)) {
        const path = ["initial_state", name];
        if (!ID_PATTERN.test(name)) {
          ctx.report(path, `input name "${name}" must be an identifier`);
          continue;
        }
        if (Object.hasOwn(out, name)) {
          ctx.report(path, `input "${name}" is declared in both inputs and initial_state`);
          continue;
        }
        out[name] = {
          type: inputTypeOf(value),
          required: false,
          default: ctx.toJson(value, path),
        };
      }
    }
  }
  for (const n of Object.keys(out)) ctx.inputNames.add(n);
  return out;
}

/** One input declaration: a mapping, or a bare value that is its default. */
function inputDecl(
  ctx: SpecContext,
  name: string,
  decl: unknown,
  path: FieldPath,
): PlanInput | undefined {
  if (!ID_PATTERN.test(name)) {
    ctx.report(path, `input name "${name}" must be an identifier`);
    return undefined;
  }
  if (!isPlainObject(decl)) {
    // A bare value is the default.
    const def = ctx.toJson(decl, path);
    if (def === null) return { type: "any", required: false, default: null };
    return { type: inputTypeOf(def), required: false, default: def };
  }
  ctx.checkKeys(decl, INPUT_DECL_KEYS, path, "input declaration");
  let type: PlanInput["type"] = "any";
  const hasDefault = Object.hasOwn(decl, "default");
  const def = hasDefault ? ctx.toJson(decl.default, [...path, "default"]) : undefined;
  if (decl.type !== undefined) {
    if (typeof decl.type !== "string" || !(INPUT_TYPES as readonly string[]).includes(decl.type)) {
      ctx.report([...path, "type"], `type must be one of ${INPUT_TYPES.join(", ")}`);
    } else type = decl.type as PlanInput["type"];
  } else if (def !== undefined) type = inputTypeOf(def);
  if (def !== undefined && def !== null && type !== "any" && inputTypeOf(def) !== type) {
    ctx.report([...path, "default"], `default is not a ${type}`);
  }
  let required = !hasDefault;
  if (decl.required !== undefined) {
    if (typeof decl.required !== "boolean")
      ctx.report([...path, "required"], "required must be true or false");
    else required = decl.required;
  }
  const input: { -readonly [K in keyof PlanInput]: PlanInput[K] } = { type, required };
  if (def !== undefined) input.default = def;
  if (decl.description !== undefined) {
    if (typeof decl.description !== "string") {
      ctx.report([...path, "description"], "description must be a string");
    } else input.description = decl.description;
  }
  return input;
}

/**
 * The raw governance section as JSON (its `evidence.required` expressions checked), with a
 * seed `max_execution_time_seconds` turned into `budgets.max_duration` unless one is set.
 */
export function workflowGovernance(
  ctx: SpecContext,
  doc: Record<string, unknown>,
): JsonObject | null {
  let gov: JsonObject | null = null;
  // The Flamehaven `sovdef:` block is the same envelope (SPEC §7), with evidence shorthands.
  const hasGov = doc.governance !== undefined && doc.governance !== null;
  if (doc.sovdef !== undefined && doc.sovdef !== null) {
    if (hasGov)
      ctx.report(["sovdef"], "give the envelope once: `governance` or `sovdef`, not both");
    else ctx.governanceKey = "sovdef";
  }
  const key = ctx.governanceKey;
  const section = doc[key];
  if (section !== undefined && section !== null) {
    if (!isPlainObject(section)) {
      ctx.report([key], `${key} must be a mapping`);
    } else {
      gov = ctx.toJson(section, [key]) as JsonObject;
      gov = withEvidenceShorthands(gov);
      checkGovernanceSection(ctx, gov);
      const required = getAt(gov, ["evidence", "required"]);
      if (Array.isArray(required)) {
        required.forEach((expr, i) => {
          const path = [key, "evidence", "required", i];
          if (typeof expr === "string") {
            normalizeCondition(ctx, expr, path, {
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
      ctx.report(
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

/** `evidence.required` with the Flamehaven shorthands (`source_refs>=2`) written out. */
function withEvidenceShorthands(gov: JsonObject): JsonObject {
  const evidence = gov.evidence;
  if (!isPlainObject(evidence) || !Array.isArray(evidence.required)) return gov;
  const required = evidence.required.map((r) =>
    typeof r === "string" ? expandEvidenceShorthand(r) : r,
  );
  return { ...gov, evidence: { ...evidence, required } };
}

/** The seed-only top-level keys that change how a run behaves (see `checkSeedExtras`). */
export interface SeedExtras {
  /** `enable_auto_rollback` (default true): false keeps a failed run's effects, still armed. */
  readonly autoRollback: boolean;
  /** The per-agent `policy:` entries as policy rules (they may only tighten), or null. */
  readonly policy: readonly JsonObject[] | null;
}

/**
 * Seed-only top-level keys: `workflow_id` (a string), `enable_auto_rollback` (a boolean), and
 * the per-agent `policy:` entries, policy rules (SPEC §6, `agent: NAME` for
 * `principal: agent:NAME`) checked in place. `global_compensation_steps` is compiled with the
 * steps (`spec-compile.ts`).
 */
export function checkSeedExtras(ctx: SpecContext, doc: Record<string, unknown>): SeedExtras {
  if (doc.workflow_id !== undefined && typeof doc.workflow_id !== "string") {
    ctx.report(["workflow_id"], "workflow_id must be a string");
  }
  let autoRollback = true;
  const rollback = doc.enable_auto_rollback;
  if (rollback !== undefined && rollback !== null) {
    if (typeof rollback !== "boolean") {
      ctx.report(["enable_auto_rollback"], "enable_auto_rollback must be true or false");
    } else autoRollback = rollback;
  }
  return { autoRollback, policy: seedPolicy(ctx, doc.policy) };
}

const ALLOWLIST_KEYS = ["agent_name", "agent", "principal", "allowed_capabilities", "description"];

/**
 * The per-agent `policy:` entries, each checked where it is written: an allowlist
 * (`agent_name: x`, `allowed_capabilities: [...]`: agent x may use only those) or a policy rule
 * (SPEC §6; `agent: x` for `principal: agent:x`). Allowlists are kept as
 * `{ principal, allowed_capabilities }`.
 */
function seedPolicy(ctx: SpecContext, raw: unknown): readonly JsonObject[] | null {
  if (raw === undefined || raw === null || (Array.isArray(raw) && raw.length === 0)) return null;
  if (!Array.isArray(raw)) {
    ctx.report(["policy"], "policy must be a list of per-agent entries or policy rules");
    return null;
  }
  const before = ctx.problems.length;
  const entries: JsonObject[] = [];
  // Rules go to the policy checker at their own index (holes are skipped).
  const rules: unknown[] = new Array(raw.length);
  raw.forEach((entry, i) => {
    const path: FieldPath = ["policy", i];
    const json = ctx.toJson(entry, path);
    if (!isPlainObject(json)) {
      ctx.report(path, "a policy entry must be a mapping");
      return;
    }
    if (json.allowed_capabilities !== undefined) {
      const allow = allowlistEntry(ctx, json, path);
      if (allow) entries.push(allow);
      return;
    }
    const principal = agentPrincipal(ctx, json, path, "agent");
    const { agent: _agent, ...rule } = json;
    // Ids as written here, kept when the rules are compiled again without the allowlists.
    const shaped = {
      ...rule,
      ...(principal === undefined ? {} : { principal }),
      ...(rule.id === undefined ? { id: `policy-${i + 1}` } : {}),
    };
    rules[i] = shaped;
    entries.push(shaped);
  });
  const { problems } = checkEmbeddedRules(ctx.src, "policy", rules, ctx.catalog.names());
  for (const p of problems) ctx.problems.push(p);
  return ctx.problems.length > before ? null : entries;
}

/** `agent: x` / `agent_name: x` as `agent:x` (a name already `kind:id` is kept). */
function agentPrincipal(
  ctx: SpecContext,
  entry: JsonObject,
  path: FieldPath,
  key: "agent" | "agent_name",
): string | undefined {
  const agent = entry[key];
  if (agent === undefined) return undefined;
  if (entry.principal !== undefined) {
    ctx.report([...path, key], `give \`${key}\` or \`principal\`, not both`);
    return undefined;
  }
  if (typeof agent !== "string" || !agent.trim()) {
    ctx.report([...path, key], `${key} must be a name (it matches agent:<name>)`);
    return undefined;
  }
  const name = agent.trim();
  const principal = name.includes(":") ? name : `agent:${name.toLowerCase()}`;
  const problem = principalProblem(principal);
  if (problem !== null) ctx.report([...path, key], problem);
  return problem === null ? principal : undefined;
}

/** An allowlist entry: who, and the capability globs it may use. */
function allowlistEntry(ctx: SpecContext, entry: JsonObject, path: FieldPath): JsonObject | null {
  ctx.checkKeys(entry, ALLOWLIST_KEYS, path, "policy entry");
  const principal =
    agentPrincipal(ctx, entry, path, entry.agent_name !== undefined ? "agent_name" : "agent") ??
    entry.principal;
  if (typeof principal !== "string") {
    ctx.report(path, "name the agent the allowlist is for (agent_name, agent or principal)");
    return null;
  }
  const allowed = entry.allowed_capabilities;
  if (!Array.isArray(allowed) || !allowed.every((c) => typeof c === "string" && c.trim())) {
    ctx.report(
      [...path, "allowed_capabilities"],
      "allowed_capabilities must be a list of capability names or globs",
    );
    return null;
  }
  return { principal, allowed_capabilities: allowed };
}
