/**
 * @module The governance section of a workflow spec, checked at validation time with the
 * line and field of every problem: the section itself (compiled by `core/governance.ts`), the
 * tools each step (and each declared compensation) uses against `tools.allowed`/`forbidden`,
 * and that every `evidence.<key>` a requirement reads is contributed by some step.
 */
import { compileExpression } from "./expr.js";
import { compileGovernance, type Governance, toolRefusal } from "./governance.js";
import { isPlainObject, type JsonObject } from "./json.js";
import type { SpecContext } from "./spec-context.js";
import type { FieldPath } from "./yaml-source.js";

/** Checks the `governance:` section; reports each problem under `governance.*`. */
export function checkGovernanceSection(ctx: SpecContext, gov: JsonObject): void {
  compileGovernance(gov, (path, message) => ctx.report(["governance", ...path], message));
}

/**
 * Checks the steps against the envelope: a forbidden (or not allowed) capability is refused
 * before anything runs, at the step's `capability` field; so is a compensation's. Also
 * reports a required `evidence.<key>` that no step contributes.
 */
export function checkGovernanceSteps(
  ctx: SpecContext,
  raw: JsonObject,
  rawSteps: readonly unknown[],
): void {
  let gov: Governance;
  try {
    gov = compileGovernance(raw);
  } catch {
    return; // the section's own problems are already reported
  }
  const contributed = new Set<string>();
  rawSteps.forEach((step, i) => {
    if (!isPlainObject(step)) return;
    checkTool(ctx, gov, step, ["steps", i]);
    if (isPlainObject(step.compensation)) {
      checkTool(ctx, gov, step.compensation, ["steps", i, "compensation"]);
    }
    if (isPlainObject(step.evidence))
      for (const k of Object.keys(step.evidence)) contributed.add(k);
  });
  gov.required.forEach((source, i) => {
    let refs: readonly (readonly string[])[];
    try {
      refs = compileExpression(source).references;
    } catch {
      return; // reported with the section
    }
    for (const ref of refs) {
      const key = ref[0] === "evidence" ? ref[1] : undefined;
      if (key !== undefined && !contributed.has(key)) {
        ctx.report(
          ["governance", "evidence", "required", i],
          `evidence.${key} is required but no step contributes it (add \`evidence: { ${key}: ... }\` to a step)`,
        );
      }
    }
  });
}

/** Reports the capability named at `path` (a step or a compensation) if the envelope refuses it. */
function checkTool(
  ctx: SpecContext,
  gov: Governance,
  holder: Record<string, unknown>,
  path: FieldPath,
): void {
  const key = holder.capability !== undefined ? "capability" : "capability_name";
  const name = holder[key];
  if (typeof name !== "string") return;
  const refusal = toolRefusal(gov, name);
  if (!refusal) return;
  const rulePath: FieldPath =
    refusal.list === "forbidden"
      ? ["governance", "tools", "forbidden", Math.max(0, gov.forbidden.indexOf(refusal.pattern!))]
      : ["governance", "tools", "allowed"];
  const ruleLine = ctx.src.locate(rulePath).line;
  ctx.report(
    [...path, key],
    refusal.list === "forbidden"
      ? `capability "${name}" is forbidden by governance.tools.forbidden "${refusal.pattern}" (line ${ruleLine})`
      : `capability "${name}" is not in governance.tools.allowed (line ${ruleLine})`,
  );
}
