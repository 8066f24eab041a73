/**
 * @module Templates: `${{ expr }}` (or `{{ expr }}`, same meaning) inside strings anywhere in a
 * JSON value. A string that is exactly one template keeps the value's type; otherwise values
 * are written into the string (objects and arrays as JSON; `null` as `null`).
 *
 * There is no escape syntax: a literal `{{` is written as `${{ '{{' }}`.
 */
import { ExpressionError, ExpressionErrorCode } from "./errors.js";
import { compileExpression, type ExprScope, isTruthy } from "./expr.js";
import { isPlainObject, type JsonValue } from "./json.js";

/** A piece of a templated string: literal text, or an expression. */
export type TemplatePart =
  | { readonly kind: "text"; readonly text: string }
  | {
      readonly kind: "expr";
      /** The expression source, trimmed. */
      readonly source: string;
      /** True for `${{ }}`, false for the seed form `{{ }}`. */
      readonly dollar: boolean;
      /** 0-based offset of the template's opening in the string. */
      readonly offset: number;
    };

const partsCache = new Map<string, readonly TemplatePart[]>();
const PARTS_CACHE_LIMIT = 2000;

/**
 * Splits a string into text and template parts. Throws `ExpressionError` (`EXPRESSION_SYNTAX`)
 * when a template is not closed. Expressions are not compiled here.
 */
export function parseTemplateString(s: string): readonly TemplatePart[] {
  const hit = partsCache.get(s);
  if (hit) return hit;
  const parts: TemplatePart[] = [];
  let text = "";
  let i = 0;
  while (i < s.length) {
    const open = s.indexOf("{{", i);
    if (open < 0) break;
    const dollar = open > 0 && s[open - 1] === "$";
    const start = dollar ? open - 1 : open;
    const close = findClose(s, open + 2);
    if (close < 0) {
      throw new ExpressionError(
        ExpressionErrorCode.SYNTAX,
        `template opened at column ${start + 1} is not closed with "}}" in "${s}"`,
        { column: start + 1, source: s },
      );
    }
    text += s.slice(i, start);
    if (text) parts.push({ kind: "text", text });
    text = "";
    parts.push({ kind: "expr", source: s.slice(open + 2, close).trim(), dollar, offset: start });
    i = close + 2;
  }
  text += s.slice(i);
  if (text) parts.push({ kind: "text", text });
  const frozen = Object.freeze(parts.map((p) => Object.freeze(p)));
  if (partsCache.size >= PARTS_CACHE_LIMIT) partsCache.delete(partsCache.keys().next().value!);
  partsCache.set(s, frozen);
  return frozen;
}

/** Index of the `}}` closing a template whose expression starts at `from`, skipping quotes. */
function findClose(s: string, from: number): number {
  let quote: string | null = null;
  for (let i = from; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === "}" && s[i + 1] === "}") {
      return i;
    }
  }
  return -1;
}

/** Formats parts back into a string, every template in the native `${{ expr }}` syntax. */
export function formatTemplateString(parts: readonly TemplatePart[]): string {
  return parts.map((p) => (p.kind === "text" ? p.text : `\${{ ${p.source} }}`)).join("");
}

function stringHasTemplate(s: string): boolean {
  if (!s.includes("{{")) return false;
  try {
    return parseTemplateString(s).some((p) => p.kind === "expr");
  } catch {
    return true; // an unclosed template is still a template (an invalid one)
  }
}

/** True when a template appears anywhere in the value (strings only, not object keys). */
export function hasTemplate(value: JsonValue): boolean {
  if (typeof value === "string") return stringHasTemplate(value);
  if (Array.isArray(value)) return value.some(hasTemplate);
  if (isPlainObject(value)) return Object.values(value).some((v) => hasTemplate(v as JsonValue));
  return false;
}

function eachTemplate(value: JsonValue, visit: (source: string) => void): void {
  if (typeof value === "string") {
    if (!value.includes("{{")) return;
    for (const p of parseTemplateString(value)) if (p.kind === "expr") visit(p.source);
  } else if (Array.isArray(value)) {
    for (const v of value) eachTemplate(v, visit);
  } else if (isPlainObject(value)) {
    for (const v of Object.values(value)) eachTemplate(v as JsonValue, visit);
  }
}

/**
 * Every path the templates in a value read (`[["inputs", "env"], ["steps", "a", "outputs"]]`),
 * for validation and dependency inference. Throws `ExpressionError` on bad syntax.
 */
export function templateReferences(value: JsonValue): string[][] {
  const out: string[][] = [];
  eachTemplate(value, (source) => {
    for (const ref of compileExpression(source).references) out.push([...ref]);
  });
  return out;
}

/** Names of the secrets (`secrets.NAME`) the templates in a value read, without duplicates. */
export function collectSecretNames(value: JsonValue): string[] {
  const names = new Set<string>();
  for (const ref of templateReferences(value)) {
    if (ref[0] === "secrets" && ref[1] !== undefined) names.add(ref[1]);
  }
  return [...names];
}

/** Writes a value into a string: strings as they are, other values as JSON. */
export function stringifyTemplateValue(value: JsonValue): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function resolveString(s: string, scope: ExprScope): JsonValue {
  if (!s.includes("{{")) return s;
  const parts = parseTemplateString(s);
  const only = parts.length === 1 ? parts[0] : undefined;
  if (only?.kind === "expr") return compileExpression(only.source).evaluate(scope);
  let out = "";
  for (const p of parts) {
    out +=
      p.kind === "text"
        ? p.text
        : stringifyTemplateValue(compileExpression(p.source).evaluate(scope));
  }
  return out;
}

/**
 * Resolves every template in a value against a scope and returns a new value. A string that
 * is exactly one template becomes the expression's value (of any type). Throws
 * `ExpressionError` (`UNRESOLVED_REFERENCE`) when a path does not resolve.
 *
 * @example
 * resolveTemplates({ n: "${{ inputs.n }}", s: "n=${{ inputs.n }}" }, { vars: { inputs: { n: 2 } } })
 * // { n: 2, s: "n=2" }
 */
export function resolveTemplates(value: JsonValue, scope: ExprScope): JsonValue {
  if (typeof value === "string") return resolveString(value, scope);
  if (Array.isArray(value)) return value.map((v) => resolveTemplates(v, scope));
  if (isPlainObject(value)) {
    const out: Record<string, JsonValue> = {};
    for (const k of Object.keys(value)) {
      const resolved = resolveTemplates(value[k] as JsonValue, scope);
      // Plain assignment (fast) except for a `__proto__` key, which must stay an own property.
      if (k === "__proto__") defineOwn(out, k, resolved);
      else out[k] = resolved;
    }
    return out;
  }
  return value;
}

function defineOwn(out: Record<string, JsonValue>, key: string, value: JsonValue): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Evaluates a condition (a `when`): a string that is one template or a bare expression, or a
 * boolean. Returns its JSON truthiness (see `isTruthy`).
 */
export function evaluateCondition(condition: string | boolean, scope: ExprScope): boolean {
  if (typeof condition === "boolean") return condition;
  const parts = parseTemplateString(condition);
  const only = parts.length === 1 ? parts[0] : undefined;
  const source = only?.kind === "expr" ? only.source : condition;
  return isTruthy(compileExpression(source).evaluate(scope));
}

/**
 * Rewrites every template of a value: `fn` receives each expression source (and whether it
 * used `${{ }}`) and returns the new source. Every template comes out in the native
 * `${{ expr }}` syntax; text around templates is kept.
 */
export function rewriteTemplates(
  value: JsonValue,
  fn: (source: string, info: { readonly dollar: boolean }) => string,
): JsonValue {
  if (typeof value === "string") {
    if (!value.includes("{{")) return value;
    const parts = parseTemplateString(value);
    if (!parts.some((p) => p.kind === "expr")) return value;
    return formatTemplateString(
      parts.map((p) =>
        p.kind === "text" ? p : { ...p, source: fn(p.source, { dollar: p.dollar }) },
      ),
    );
  }
  if (Array.isArray(value)) return value.map((v) => rewriteTemplates(v, fn));
  if (isPlainObject(value)) {
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: rewriteTemplates(v as JsonValue, fn),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}
