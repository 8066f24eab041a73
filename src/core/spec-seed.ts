/**
 * @module Seed-format normalization: how the workflow YAML of the earlier implementation
 * (`capability_name`, `step_type`, `max_retries`, `initial_state`, `metadata.owner`,
 * `{{ step_name.key }}` templates) maps onto the native spec. Used by the `spec-*` compiler
 * modules.
 */
import type { PathSegment } from "./expr.js";
import { isPlainObject } from "./json.js";

/** Top-level keys only the seed format uses. */
export const SEED_TOP_LEVEL_KEYS: readonly string[] = [
  "agent_name",
  "metadata",
  "initial_state",
  "workflow_id",
  "policy",
  "global_compensation_steps",
  "max_execution_time_seconds",
  "enable_auto_rollback",
  "sovdef",
];

/** Step keys only the seed format uses (`name` and `timeout_seconds` are plain aliases). */
export const SEED_STEP_KEYS: readonly string[] = [
  "capability_name",
  "step_type",
  "max_retries",
  "agent_name",
];

/** Roots a native template path may start with. */
export const NATIVE_ROOTS: ReadonlySet<string> = new Set([
  "inputs",
  "steps",
  "run",
  "secrets",
  "evidence",
]);

/** True when a spec document uses any seed-only key (at the top or in a step). */
export function isSeedDocument(doc: Record<string, unknown>): boolean {
  if (SEED_TOP_LEVEL_KEYS.some((k) => Object.hasOwn(doc, k))) return true;
  const steps = doc.steps;
  if (!Array.isArray(steps)) return false;
  return steps.some((s) => isPlainObject(s) && SEED_STEP_KEYS.some((k) => Object.hasOwn(s, k)));
}

/**
 * The default principal a seed spec implies: `agent:<agent_name>` when the workflow names the
 * agent that runs it (the least privileged reading), else `metadata.owner` (a bare owner such
 * as `alice` becomes `user:alice`). `undefined` when neither is given. A bare name is a name,
 * not yet a principal: it is lower-cased to become the id (`Deployer` → `agent:deployer`); a
 * value already written as `kind:id` is taken as written and must follow the grammar
 * (`principal.ts`).
 */
export function seedPrincipal(agentName: unknown, owner: unknown): string | undefined {
  if (typeof agentName === "string" && agentName.trim()) {
    const a = agentName.trim();
    return a.includes(":") ? a : `agent:${a.toLowerCase()}`;
  }
  if (typeof owner === "string" && owner.trim()) {
    const o = owner.trim();
    return /^[a-z][a-z0-9_-]*:/.test(o) ? o : `user:${o.toLowerCase()}`;
  }
  return undefined;
}

/** Result of mapping one seed template path. */
export type SeedPathResult =
  | { readonly ok: true; readonly path: readonly PathSegment[] }
  | { readonly ok: false; readonly message: string };

/**
 * Maps a seed template path onto a native one: `{{ step_name.key }}` →
 * `steps.step_name.outputs.key`, `{{ input_name }}` → `inputs.input_name`. Paths that already
 * start with a native root are kept. A name that is both a step and an input is ambiguous;
 * a name that is neither is handed to `undeclared` (resolved at run time, `seed-names.ts`).
 */
export function mapSeedPath(
  path: readonly PathSegment[],
  stepIds: ReadonlySet<string>,
  inputNames: ReadonlySet<string>,
  undeclared?: (name: string, rest: readonly PathSegment[]) => SeedPathResult,
): SeedPathResult {
  const [root, ...rest] = path;
  if (typeof root !== "string" || NATIVE_ROOTS.has(root)) return { ok: true, path };
  const isStep = stepIds.has(root);
  const isInput = inputNames.has(root);
  if (isStep && isInput) {
    return {
      ok: false,
      message: `"${root}" is both a step and an input; write steps.${root}.outputs... or inputs.${root}`,
    };
  }
  if (isStep) return { ok: true, path: ["steps", root, "outputs", ...rest] };
  if (isInput) return { ok: true, path: ["inputs", root, ...rest] };
  if (undeclared) return undeclared(root, rest);
  return {
    ok: false,
    message: `"${root}" is neither a step nor a declared input (seed templates read {{ step_name.key }} or {{ input_name }})`,
  };
}

/** The input type a seed `initial_state` value implies. */
export function inputTypeOf(
  value: unknown,
): "string" | "number" | "boolean" | "object" | "array" | "any" {
  if (typeof value === "string") return "string";
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "boolean";
  if (Array.isArray(value)) return "array";
  if (isPlainObject(value)) return "object";
  return "any";
}
