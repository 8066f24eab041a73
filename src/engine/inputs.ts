/**
 * @module Run inputs: checks given values against the spec's declared inputs, applies defaults
 * and coerces command-line strings (`--input n=3`) to the declared type.
 */
import { type Problem, ValidationError } from "../core/errors.js";
import type { JsonObject, JsonValue } from "../core/json.js";
import type { Plan } from "../core/plan.js";

/** Returns the run's inputs, or throws ValidationError naming every bad or missing input. */
export function coerceInputs(
  plan: Plan,
  given: Readonly<Record<string, unknown>>,
  file: string,
): JsonObject {
  const problems: Problem[] = [];
  const out: JsonObject = {};
  const problem = (name: string, message: string) =>
    problems.push({ file, line: 0, col: 0, field: `inputs.${name}`, message });
  for (const name of Object.keys(given)) {
    if (!(name in plan.inputs))
      problem(name, `unknown input (declared: ${Object.keys(plan.inputs).join(", ") || "none"})`);
  }
  for (const [name, decl] of Object.entries(plan.inputs)) {
    const raw = given[name];
    if (raw === undefined) {
      if (decl.default !== undefined) out[name] = decl.default;
      else if (decl.required) problem(name, "required input is missing");
      continue;
    }
    const value = coerce(raw, decl.type);
    if (value === undefined) problem(name, `expected ${decl.type}, got ${JSON.stringify(raw)}`);
    else out[name] = value;
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return out;
}

function coerce(raw: unknown, type: string): JsonValue | undefined {
  const fromString = typeof raw === "string" && type !== "string" && type !== "any";
  let v: unknown = raw;
  if (fromString) {
    try {
      v = JSON.parse(raw as string);
    } catch {
      return undefined;
    }
  }
  switch (type) {
    case "string":
      return typeof v === "string" ? v : undefined;
    case "number":
      return typeof v === "number" && Number.isFinite(v) ? v : undefined;
    case "boolean":
      return typeof v === "boolean" ? v : undefined;
    case "array":
      return Array.isArray(v) ? (v as JsonValue) : undefined;
    case "object":
      return v !== null && typeof v === "object" && !Array.isArray(v)
        ? (v as JsonValue)
        : undefined;
    default:
      return v as JsonValue;
  }
}
