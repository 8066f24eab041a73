/**
 * @module Undeclared names of seed-format specs (`{{ account_id }}`, `{{ timestamp }}`,
 * `{{ workflow_id }}`), resolved at run time as the original's flat state resolved them. The
 * compiler rewrites such a name read by step S into `seed.S.name`; at run time that path reads,
 * in order: the run's inputs (`initial_state`, `--input`), the outputs of the steps listed
 * before S (the step itself first, for its compensation and evidence), where two steps that
 * both output the key are an error naming both, and last the run's id (`workflow_id`,
 * `run_id`) and start time (`timestamp`).
 */
import { ExpressionError, ExpressionErrorCode } from "./errors.js";
import { isPlainObject, type JsonObject, type JsonValue } from "./json.js";
import type { Plan } from "./plan.js";
import { OUTPUT_ALIASES } from "./seed-aliases.js";
import { templateReferences } from "./template.js";

/** The template root the compiler gives undeclared seed names (`seed.<step>.<name>`). */
export const SEED_ROOT = "seed";

/**
 * Id prefix of the anchor step of a seed `global_compensation_steps` entry (not an identifier,
 * so no step of the spec can take it): its undeclared names see every step.
 */
export const GLOBAL_COMPENSATION_PREFIX = "global_compensation.";

/** Names that fall back to a field of the run when no input or earlier step gives them. */
export const RUN_NAMES: Readonly<Record<string, "id" | "started_at">> = Object.freeze({
  workflow_id: "id",
  run_id: "id",
  timestamp: "started_at",
});

/** What a seed name may read: the run's inputs, the succeeded steps' scope, the run's fields. */
export interface SeedNameSources {
  readonly inputs: JsonObject;
  /** `steps` as templates see them: `{ [id]: { outputs } }` for each succeeded step. */
  readonly steps: Readonly<Record<string, JsonValue>>;
  readonly run: { readonly id: string; readonly started_at: string };
}

/** For each step of a plan, the seed names its templates read (computed once per plan). */
const namesByPlan = new WeakMap<Plan, ReadonlyMap<string, readonly string[]>>();

function namesRead(plan: Plan): ReadonlyMap<string, readonly string[]> {
  let map = namesByPlan.get(plan);
  if (map === undefined) {
    const found = new Map<string, Set<string>>();
    for (const ps of plan.steps) {
      const sources = [
        ps.inputs,
        ps.when,
        ps.compensation?.inputs ?? null,
        ps.approval?.message ?? null,
        ps.evidence,
      ] as JsonValue;
      for (const ref of templateReferences(sources)) {
        const [root, step, name] = ref;
        if (root !== SEED_ROOT || typeof step !== "string" || typeof name !== "string") continue;
        const set = found.get(step) ?? new Set<string>();
        set.add(name);
        found.set(step, set);
      }
    }
    map = new Map([...found].map(([k, v]) => [k, [...v]]));
    namesByPlan.set(plan, map);
  }
  return map;
}

/** True when a seed plan's templates read undeclared names (a `seed` root is needed). */
export function readsSeedNames(plan: Plan): boolean {
  return plan.format === "seed" && namesRead(plan).size > 0;
}

function outputsOf(steps: SeedNameSources["steps"], id: string): JsonObject | undefined {
  const entry = steps[id];
  if (!isPlainObject(entry)) return undefined;
  const outputs = (entry as JsonObject).outputs;
  return isPlainObject(outputs) ? (outputs as JsonObject) : undefined;
}

/** Resolves one undeclared name read by step `reader`; throws when it cannot. */
export function resolveSeedName(
  plan: Plan,
  reader: string,
  name: string,
  from: SeedNameSources,
): JsonValue {
  if (Object.hasOwn(from.inputs, name) && from.inputs[name] !== undefined) {
    return from.inputs[name] as JsonValue;
  }
  // The original's output names (`checksum_sha256`) are read as Airun spells them too.
  const alias = Object.hasOwn(OUTPUT_ALIASES, name) ? OUTPUT_ALIASES[name] : undefined;
  const keyIn = (out: JsonObject | undefined): string | undefined =>
    out === undefined
      ? undefined
      : Object.hasOwn(out, name)
        ? name
        : alias !== undefined && Object.hasOwn(out, alias)
          ? alias
          : undefined;
  const own = outputsOf(from.steps, reader);
  const ownKey = keyIn(own);
  if (ownKey !== undefined) return own![ownKey] as JsonValue;
  const line = reader.startsWith(GLOBAL_COMPENSATION_PREFIX)
    ? Number.POSITIVE_INFINITY
    : (plan.steps.find((s) => s.id === reader)?.line ?? Number.POSITIVE_INFINITY);
  const givers = plan.steps.filter((s) => {
    if (s.id === reader || s.line >= line) return false;
    return keyIn(outputsOf(from.steps, s.id)) !== undefined;
  });
  const shown = `{{ ${name} }}`;
  if (givers.length > 1) {
    const [a, b] = givers.map((s) => s.id);
    throw new ExpressionError(
      ExpressionErrorCode.UNRESOLVED,
      `"${shown}" is ambiguous: steps "${a}" and "${b}" both output "${name}"; write {{ ${a}.${name} }} or {{ ${b}.${name} }}`,
      { path: name, stepId: reader },
    );
  }
  if (givers.length === 1) {
    const out = outputsOf(from.steps, givers[0]!.id)!;
    return out[keyIn(out)!] as JsonValue;
  }
  const field = RUN_NAMES[name];
  if (field !== undefined) return from.run[field];
  throw new ExpressionError(
    ExpressionErrorCode.UNRESOLVED,
    `"${shown}" does not resolve: it is not an input of the run (pass --input ${name}=…) and no step listed before "${reader}" output "${name}"`,
    { path: name, stepId: reader },
  );
}

/**
 * The `seed` template root of a run: `seed.<step>.<name>` resolves the undeclared name when a
 * template reads it (a getter; `resolveSeedName`). `undefined` when the plan reads none.
 */
export function seedScope(plan: Plan, from: SeedNameSources): JsonObject | undefined {
  if (!readsSeedNames(plan)) return undefined;
  const root: JsonObject = {};
  for (const [reader, names] of namesRead(plan)) {
    const byName: JsonObject = {};
    for (const name of names) {
      Object.defineProperty(byName, name, {
        enumerable: true,
        get: () => resolveSeedName(plan, reader, name, from),
      });
    }
    Object.defineProperty(root, reader, { value: byName, enumerable: true });
  }
  return root;
}
