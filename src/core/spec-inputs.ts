/**
 * @module Capability inputs at compile time: looks a capability up in the catalog and checks a
 * step's (or compensation's) inputs against its zod schema. Fields a template decides at run
 * time are skipped; unknown keys are reported even where the schema would strip them.
 */
import type { AnyCapability } from "./capability.js";
import { isPlainObject, type JsonValue } from "./json.js";
import { CAPABILITY_ALIASES, seedInputs } from "./seed-aliases.js";
import { didYouMean, getAt, type SpecContext } from "./spec-context.js";
import { isTemplated } from "./spec-references.js";
import { type FieldPath, formatFieldPath } from "./yaml-source.js";

/** The capability named `name`, reporting a missing name or an unknown capability. */
export function resolveCapability(
  ctx: SpecContext,
  name: unknown,
  path: FieldPath,
): AnyCapability | undefined {
  if (typeof name !== "string" || !name) {
    ctx.report(path, "a capability name is required");
    return undefined;
  }
  const cap = ctx.capability(name);
  if (!cap)
    ctx.report(path, `unknown capability "${name}"${didYouMean(name, ctx.catalog.names())}`);
  return cap;
}

/**
 * A step's (or compensation's) inputs in the original's spelling written as `cap` takes them
 * (`seed-aliases.ts`), for seed specs and capabilities named by a seed alias; each field with
 * no equivalent is reported. Returns the inputs and the timeout a `timeout` input implied.
 */
export function seedStepInputs(
  ctx: SpecContext,
  cap: AnyCapability,
  named: string,
  inputs: JsonValue,
  path: FieldPath,
): { inputs: JsonValue; timeoutMs?: number } {
  const alias = named === cap.name ? undefined : CAPABILITY_ALIASES[named];
  if (!isPlainObject(inputs) || (!ctx.seed && alias === undefined)) return { inputs };
  const shape = (cap.input as unknown as { def?: { shape?: object } }).def?.shape;
  const accepts = (field: string) => shape === undefined || Object.hasOwn(shape, field);
  const r = seedInputs(cap.name, inputs, alias, accepts);
  for (const p of r.problems) ctx.report([...path, p.field], p.message);
  return { inputs: r.inputs, ...(r.timeoutMs !== undefined ? { timeoutMs: r.timeoutMs } : {}) };
}

/** Validates inputs against the capability's schema, skipping what templates decide later. */
export function checkCapabilityInputs(
  ctx: SpecContext,
  cap: AnyCapability,
  inputs: JsonValue,
  path: FieldPath,
): void {
  if (typeof inputs === "string" && isTemplated(inputs)) return;
  const reported = new Set<string>();
  const report = (p: readonly (string | number)[], message: string) => {
    const key = JSON.stringify(p);
    if (reported.has(key)) return;
    reported.add(key);
    ctx.report([...path, ...p], message);
  };
  const result = cap.input.safeParse(inputs);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const ip = issue.path.map((s) => (typeof s === "number" ? s : String(s)));
      if (underTemplate(inputs, ip, issue.code === "custom")) continue;
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
  if (def?.type === "object" && def.catchall === undefined && def.shape && isPlainObject(inputs)) {
    for (const k of Object.keys(inputs)) {
      if (!Object.hasOwn(def.shape, k)) {
        report([k], `unknown input "${k}" for ${cap.name}${didYouMean(k, Object.keys(def.shape))}`);
      }
    }
  }
}

/**
 * True when a template decides the value at `path`: it, or one of its ancestors, is a
 * templated string; with `deep` (custom refinements), also a template anywhere below it.
 */
function underTemplate(
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

/**
 * The output keys a capability declares (its `output` is a zod object without a catch-all),
 * or `null` when it declares none that can be listed (no schema, a record, a passthrough).
 */
export function declaredOutputKeys(cap: AnyCapability | undefined): readonly string[] | null {
  const def = (
    cap?.output as unknown as
      | { def?: { type?: string; shape?: object; catchall?: unknown } }
      | undefined
  )?.def;
  if (def?.type !== "object" || def.catchall !== undefined || !def.shape) return null;
  return Object.keys(def.shape);
}
