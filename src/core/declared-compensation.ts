/**
 * @module A capability's own compensation turned into its step's compensation. A capability
 * declared in config (or a plugin) may name the compensation that undoes it, with inputs
 * templated from the call's `inputs.*` and `outputs.*`. A step that uses it and declares no
 * compensation of its own gets that one, rewritten into the step's terms at compile time:
 * `outputs.x` becomes `steps.<id>.outputs.x`, and `inputs.f` becomes what the step passes as `f`
 * (its literal value, or its template), or the input's default. The result is an ordinary
 * declared compensation of the plan: asked about at the step's gate, armed with the step's
 * outputs, run by the undo and replayed like any other.
 */
import { ExpressionError } from "./errors.js";
import { formatPath, type PathSegment, rewriteExpressionPaths } from "./expr.js";
import { isPlainObject, type JsonObject, type JsonValue } from "./json.js";
import type { DeclaredCompensation } from "./plan.js";
import {
  formatTemplateString,
  hasTemplate,
  parseTemplateString,
  type TemplatePart,
} from "./template.js";

/** The compensation a capability declares for itself. */
export interface CapabilityCompensation {
  /** The capability that undoes a call (built-in, plugin or declared). */
  readonly capability: string;
  /** Its inputs: templates reading `inputs.*` (the call's), `outputs.*` and `secrets.*`. */
  readonly inputs: JsonValue;
  /** Defaults of the call's inputs, used when a step leaves one out. */
  readonly defaults: JsonObject;
}

class Unexpressible extends Error {}

/**
 * The step compensation for a call of a capability with its own `compensation`, given the step's
 * id and its (normalized) inputs. Throws `ExpressionError` when a template cannot be written in
 * the step's terms (say, an arithmetic expression over an input the step passes as an object).
 */
export function stepCompensationFor(
  stepId: string,
  stepInputs: JsonValue,
  own: CapabilityCompensation,
): DeclaredCompensation {
  const given = isPlainObject(stepInputs) ? (stepInputs as JsonObject) : {};
  const inputValue = (field: string): JsonValue | undefined =>
    Object.hasOwn(given, field)
      ? (given[field] as JsonValue)
      : Object.hasOwn(own.defaults, field)
        ? own.defaults[field]
        : undefined;
  const rewrite = (v: JsonValue): JsonValue => {
    if (typeof v === "string") return rewriteString(v, stepId, inputValue);
    if (Array.isArray(v)) return v.map(rewrite);
    if (isPlainObject(v)) {
      const out: JsonObject = {};
      for (const [k, x] of Object.entries(v)) out[k] = rewrite(x as JsonValue);
      return out;
    }
    return v;
  };
  try {
    return { capability: own.capability, inputs: rewrite(own.inputs) };
  } catch (err) {
    if (err instanceof Unexpressible) {
      throw new ExpressionError("EXPRESSION_TYPE", err.message, { stepId });
    }
    throw err;
  }
}

/** The segments of a bare path, numbers kept (re-parsed through the rewriter). */
function pathSegments(source: string): readonly PathSegment[] | null {
  let found: readonly PathSegment[] | null = null;
  let count = 0;
  const rest = rewriteExpressionPaths(source, (p) => {
    found = p;
    count += 1;
    return ["__p"];
  });
  return count === 1 && rest.trim() === "__p" ? found : null;
}

function valueAt(v: JsonValue | undefined, path: readonly PathSegment[]): JsonValue | undefined {
  let cur = v;
  for (const seg of path) {
    if (cur === undefined) return undefined;
    if (typeof cur === "string" && hasTemplate(cur)) return undefined;
    if (Array.isArray(cur) && typeof seg === "number") cur = cur[seg];
    else if (isPlainObject(cur) && Object.hasOwn(cur, String(seg)))
      cur = cur[String(seg)] as JsonValue;
    else return undefined;
  }
  return cur;
}

/** The only part of a string that is exactly one template, or null. */
function onlyExpr(s: string): (TemplatePart & { kind: "expr" }) | null {
  if (!s.includes("{{")) return null;
  const parts = parseTemplateString(s);
  const p = parts.length === 1 ? parts[0] : undefined;
  return p?.kind === "expr" ? p : null;
}

type InputValue = (field: string) => JsonValue | undefined;

function rewriteString(s: string, stepId: string, inputValue: InputValue): JsonValue {
  if (!s.includes("{{")) return s;
  const parts = parseTemplateString(s);
  const whole = parts.length === 1 && parts[0]?.kind === "expr" ? parts[0] : null;
  if (whole) {
    const path = pathSegments(whole.source);
    if (path && path[0] === "inputs") {
      const v = inputAt(inputValue, path);
      if (v !== undefined) return v; // keeps its type, or the step's own template
    }
  }
  const out: TemplatePart[] = [];
  for (const p of parts) {
    if (p.kind === "text") {
      out.push(p);
      continue;
    }
    const path = pathSegments(p.source);
    if (path && path[0] === "inputs") {
      const v = inputAt(inputValue, path);
      if (typeof v === "string") {
        if (v.includes("{{")) out.push(...parseTemplateString(v));
        else out.push({ kind: "text", text: v });
        continue;
      }
      if (v !== undefined && !hasTemplate(v)) {
        out.push({ kind: "text", text: typeof v === "string" ? v : JSON.stringify(v) });
        continue;
      }
    }
    out.push({ ...p, source: rewriteExpression(p.source, stepId, inputValue) });
  }
  return formatTemplateString(escapeText(out));
}

/** The step's value for an `inputs.f.x` path: a literal, or a template string; undefined if none. */
function inputAt(inputValue: InputValue, path: readonly PathSegment[]): JsonValue | undefined {
  const field = path[1];
  if (typeof field !== "string") return undefined;
  const v = inputValue(field);
  if (path.length === 2) return v === undefined ? null : v;
  if (typeof v === "string") {
    const e = onlyExpr(v);
    const base = e ? pathSegments(e.source) : null;
    if (base) return `\${{ ${formatPath([...base, ...path.slice(2)])} }}`;
  }
  const inner = valueAt(v, path.slice(2));
  return inner;
}

/** Rewrites the paths of an expression (`outputs.*`, `inputs.*`) into the step's terms. */
function rewriteExpression(source: string, stepId: string, inputValue: InputValue): string {
  return rewriteExpressionPaths(source, (p) => {
    if (p[0] === "outputs") return ["steps", stepId, "outputs", ...p.slice(1)];
    if (p[0] !== "inputs") return undefined;
    const v = inputAt(inputValue, p);
    if (v === null || typeof v === "boolean" || (typeof v === "number" && v >= 0)) {
      return [JSON.stringify(v)]; // a first segment is printed as is: here, a literal
    }
    if (typeof v === "string") {
      const e = onlyExpr(v);
      if (e) return [`(${e.source})`];
      if (!v.includes("{{")) return [JSON.stringify(v)];
    }
    throw new Unexpressible(
      `the compensation's template "${source}" reads ${formatPath(p)}, which the step passes as ${JSON.stringify(v)}: write that template as a bare path, or pass the input as a literal or a single template`,
    );
  });
}

function escapeText(parts: TemplatePart[]): TemplatePart[] {
  // Merge adjacent text, then write every literal "{{" as a template of the text "{{".
  const merged: TemplatePart[] = [];
  for (const p of parts) {
    const last = merged.at(-1);
    if (p.kind === "text" && last?.kind === "text")
      merged[merged.length - 1] = { kind: "text", text: last.text + p.text };
    else merged.push(p);
  }
  const out: TemplatePart[] = [];
  for (const p of merged) {
    if (p.kind !== "text" || !p.text.includes("{{")) {
      out.push(p);
      continue;
    }
    const pieces = p.text.split("{{");
    pieces.forEach((piece, i) => {
      if (i > 0) out.push({ kind: "expr", source: "'{{'", dollar: true, offset: 0 });
      if (piece) out.push({ kind: "text", text: piece });
    });
  }
  return out;
}
