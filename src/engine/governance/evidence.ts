/**
 * @module Evidence (SPEC §7): the evidence map a run's steps contribute (`evidence:` on a step,
 * templates resolved after it succeeded) and the envelope's `evidence.required` expressions
 * evaluated against it with the one expression evaluator of templates. Evaluated at commit.
 *
 * - Steps contribute in plan order (dependencies first); a step may read the evidence of the
 *   steps before it as `evidence.*`. When several steps contribute the same key, lists are
 *   concatenated and any other value is replaced by the later step's.
 * - Only SUCCEEDED steps contribute. A contribution that does not resolve is left out and
 *   reported (a step whose outputs were lost to a crash, or a missing field).
 * - Secrets read by an evidence template are masked (`***`): evidence is recorded.
 */
import { compileExpression, expressionPaths, formatPath, isTruthy } from "../../core/expr.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import { StepStatus } from "../../core/status.js";
import { resolveTemplates } from "../../core/template.js";
import type { RunState } from "../state/run-state.js";
import { templateScope } from "../state/scope.js";

/** One requirement's result. */
export interface RequirementResult {
  readonly expression: string;
  readonly met: boolean;
  /** What the expression evaluated to (null when it could not be evaluated). */
  readonly result: JsonValue;
  /** The value of every path the expression reads (`evidence.source_refs` → [...]). */
  readonly values: JsonObject;
  /** Paths that do not resolve. */
  readonly unresolved: readonly string[];
  readonly error: string | null;
}

/** The evidence of a run and its requirements, as recorded in `evidence.evaluated`. */
export interface EvidenceResult {
  readonly evidence: JsonObject;
  readonly results: readonly RequirementResult[];
  /** Contributions that could not be resolved, by `step.key`. */
  readonly errors: JsonObject;
  readonly met: boolean;
}

/**
 * Adds a step's contribution under `key`. A list is copied when it first enters the map, so
 * later lists are appended to that copy in place (linear, not quadratic, in the run's size).
 */
function merge(map: JsonObject, key: string, value: JsonValue): void {
  const prev = Object.hasOwn(map, key) ? map[key] : undefined;
  if (Array.isArray(prev) && Array.isArray(value)) {
    for (const v of value) prev.push(v);
    return;
  }
  Object.defineProperty(map, key, {
    value: Array.isArray(value) ? [...value] : value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** Builds the evidence map and evaluates `required` against it. */
export function evaluateEvidence(state: RunState, required: readonly string[]): EvidenceResult {
  const evidence: JsonObject = {};
  const errors: JsonObject = {};
  const base = templateScope(state, null, true);
  const scope = { ...base, vars: { ...base.vars, evidence } };
  for (const ps of state.plan.steps) {
    if (ps.evidence === null || state.steps.get(ps.id)?.status !== StepStatus.SUCCEEDED) continue;
    for (const [key, template] of Object.entries(ps.evidence)) {
      try {
        merge(evidence, key, resolveTemplates(template as JsonValue, scope));
      } catch (err) {
        errors[`${ps.id}.${key}`] = (err as Error).message;
      }
    }
  }
  const results = required.map((expression) => requirement(expression, scope));
  return { evidence, results, errors, met: results.every((r) => r.met) };
}

function requirement(
  expression: string,
  scope: Parameters<typeof resolveTemplates>[1],
): RequirementResult {
  const values: JsonObject = {};
  const unresolved: string[] = [];
  let paths: readonly (readonly (string | number)[])[] = [];
  try {
    paths = expressionPaths(expression);
  } catch {
    // reported below by compileExpression
  }
  for (const p of paths) {
    const shown = formatPath(p);
    try {
      values[shown] = compileExpression(shown).evaluate(scope);
    } catch {
      unresolved.push(shown);
    }
  }
  try {
    const result = compileExpression(expression).evaluate(scope);
    return { expression, met: isTruthy(result), result, values, unresolved, error: null };
  } catch (err) {
    return {
      expression,
      met: false,
      result: null,
      values,
      unresolved,
      error: (err as Error).message,
    };
  }
}

/** The recorded form of a result (for events and the run's reason detail). */
export function evidenceJson(r: EvidenceResult): JsonObject {
  return {
    met: r.met,
    evidence: r.evidence,
    results: r.results.map((x) => ({ ...x, unresolved: [...x.unresolved] })),
    ...(Object.keys(r.errors).length > 0 ? { errors: r.errors } : {}),
  };
}
