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

/** Checks the `governance:` (or seed `sovdef:`) section; reports each problem under it. */
export function checkGovernanceSection(ctx: SpecContext, gov: JsonObject): void {
  compileGovernance(gov, (path, message) => ctx.report([ctx.governanceKey, ...path], message));
}

/** A Flamehaven evidence shorthand: `source_refs>=2`, `validator_pass=true`. */
const EVIDENCE_SHORTHAND = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|=|>|<)\s*(.+?)\s*$/;

/**
 * A requirement in the Flamehaven shorthand as an expression: `name>=N` (and `>`, `<=`, `<`
 * with a number) counts the contributions, `len(evidence.name) >= N`; `name=value` (or `==`,
 * `!=`) compares, `evidence.name == value`. Anything else is returned unchanged.
 */
export function expandEvidenceShorthand(source: string): string {
  const m = EVIDENCE_SHORTHAND.exec(source);
  if (!m || m[1] === "evidence" || m[1] === "len") return source;
  const [, name, op, value] = m as unknown as [string, string, string, string];
  if (op === ">=" || op === "<=" || op === ">" || op === "<") {
    return /^\d+(\.\d+)?$/.test(value) ? `len(evidence.${name}) ${op} ${value}` : source;
  }
  const literal = /^(true|false|null|-?\d+(\.\d+)?|'[^']*'|"[^"]*")$/.test(value)
    ? value
    : `'${value.replace(/'/g, "\\'")}'`;
  return `evidence.${name} ${op === "=" ? "==" : op} ${literal}`;
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
          [ctx.governanceKey, "evidence", "required", i],
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
  const cap = ctx.capability(step[key]);
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
  const named = holder[key];
  if (typeof named !== "string") return;
  const name = ctx.capability(named)?.name ?? named;
  const refusal = toolRefusal(gov, name);
  if (!refusal) return;
  const rulePath: FieldPath =
    refusal.list === "forbidden"
      ? [
          ctx.governanceKey,
          "tools",
          "forbidden",
          Math.max(0, gov.forbidden.indexOf(refusal.pattern!)),
        ]
      : [ctx.governanceKey, "tools", "allowed"];
  const ruleLine = ctx.src.locate(rulePath).line;
  ctx.report(
    [...path, key],
    refusal.list === "forbidden"
      ? `capability "${name}" is forbidden by ${ctx.governanceKey}.tools.forbidden "${refusal.pattern}" (line ${ruleLine})`
      : `capability "${name}" is not in ${ctx.governanceKey}.tools.allowed (line ${ruleLine})`,
  );
}
