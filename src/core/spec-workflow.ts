/**
 * @module The workflow-level fields of a spec: name, version, description, principal (or the
 * seed's `agent_name` / `metadata.owner`), input declarations (and the seed's `initial_state`),
 * governance (with the seed's `max_execution_time_seconds`) and the seed-only keys Airun
 * accepts only when ignoring them is safe.
 */
import { isPlainObject, type JsonObject } from "./json.js";
import type { PlanInput } from "./plan.js";
import { INPUT_TYPES } from "./plan-schema.js";
import { principalProblem } from "./principal.js";
import { getAt, ID_PATTERN, type SpecContext } from "./spec-context.js";
import { checkGovernanceSection } from "./spec-governance.js";
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
  if (typeof doc.version === "string" && doc.version.trim()) version = doc.version.trim();
  else if (typeof doc.version === "number" && Number.isFinite(doc.version))
    version = String(doc.version);
  else if (doc.version !== undefined)
    ctx.report(["version"], "version must be a string or a number");

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
  if (doc.governance !== undefined && doc.governance !== null) {
    if (!isPlainObject(doc.governance)) {
      ctx.report(["governance"], "governance must be a mapping");
    } else {
      gov = ctx.toJson(doc.governance, ["governance"]) as JsonObject;
      checkGovernanceSection(ctx, gov);
      const required = getAt(gov, ["evidence", "required"]);
      if (Array.isArray(required)) {
        required.forEach((expr, i) => {
          const path = ["governance", "evidence", "required", i];
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

/** Seed-only top-level keys with no native meaning: accepted only where ignoring is safe. */
export function checkSeedExtras(ctx: SpecContext, doc: Record<string, unknown>): void {
  if (doc.workflow_id !== undefined && typeof doc.workflow_id !== "string") {
    ctx.report(["workflow_id"], "workflow_id must be a string");
  }
  for (const key of ["policy", "global_compensation_steps"]) {
    const v = doc[key];
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) continue;
    ctx.report(
      [key],
      key === "policy"
        ? "seed per-agent `policy` entries are not supported: move them to the policy file (SPEC §6)"
        : "`global_compensation_steps` is not supported: declare a compensation on each step",
    );
  }
  const rollback = doc.enable_auto_rollback;
  if (rollback !== undefined && rollback !== true) {
    ctx.report(
      ["enable_auto_rollback"],
      "Airun always rolls back a failed run; only `true` is accepted",
    );
  }
}
