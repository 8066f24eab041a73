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
    if (gov.rollbackRequired) checkUndoable(ctx, step, ["steps", i]);
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

/**
 * With `rollback.required`, a step that cannot be undone is refused at validation: its
 * capability is irreversible, or undone only by a compensation the step does not declare. Where
 * the answer depends on inputs (an HTTP GET is not a POST), the capability classifies the step's
 * literal inputs; inputs known only at run time are checked at the step's gate instead.
 */
function checkUndoable(ctx: SpecContext, step: Record<string, unknown>, path: FieldPath): void {
  if (step.type === "approval" || step.step_type === "HUMAN_APPROVAL") return;
  const key = step.capability !== undefined ? "capability" : "capability_name";
  const cap = typeof step[key] === "string" ? ctx.catalog.get(step[key] as string) : undefined;
  if (!cap || step.compensation !== undefined || cap.compensation) return;
  let undo = cap.undo;
  if (cap.classify && isPlainObject(step.inputs) && !JSON.stringify(step.inputs).includes("{{")) {
    const parsed = cap.input.safeParse(step.inputs);
    if (!parsed.success) return; // reported with the inputs
    undo = cap.classify(parsed.data).undo ?? undo;
  } else if (cap.classify) {
    return;
  }
  if (undo !== "irreversible" && undo !== "compensation") return;
  const id = String(step.id ?? step.name ?? "");
  ctx.report(
    [...path, key],
    `step "${id}" (${cap.name}) cannot be undone (undo ${undo}) and governance.rollback.required is true: declare a compensation, or set rollback.required: false`,
  );
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
