/**
 * @module Redaction, applied BEFORE anything is persisted, hashed, logged or returned: secret
 * values are masked wherever they appear, and sensitive fields are replaced wholesale.
 */
import { isPlainObject, type JsonValue } from "./json.js";

/** The mask written in place of a secret or sensitive value (as CI systems mask secrets). */
export const MASK = "***";

/** What to redact. */
export interface RedactionRules {
  /** Literal secret values to mask wherever they occur inside strings. */
  readonly secrets?: readonly string[];
  /** Dotted field paths (e.g. `headers.authorization`) whose values are replaced. */
  readonly fields?: readonly string[];
  /** Case-insensitive key fragments (e.g. `password`): any key containing one is replaced. */
  readonly keys?: readonly string[];
}

/** True when no rule would change anything (lets hot paths skip the walk). */
export function isNoop(rules: RedactionRules): boolean {
  return !rules.secrets?.length && !rules.fields?.length && !rules.keys?.length;
}

/** Returns a redacted copy of `value`; the input is never mutated. */
export function redact(value: JsonValue, rules: RedactionRules): JsonValue {
  if (isNoop(rules)) return value;
  const secrets = (rules.secrets ?? [])
    .filter((s) => s.length > 0)
    .sort((a, b) => b.length - a.length);
  const keys = (rules.keys ?? []).map((k) => k.toLowerCase());
  const fields = new Set((rules.fields ?? []).map((f) => f.toLowerCase()));
  const walk = (v: JsonValue, path: string): JsonValue => {
    if (typeof v === "string") {
      let out = v;
      for (const s of secrets) if (out.includes(s)) out = out.split(s).join(MASK);
      return out;
    }
    if (Array.isArray(v)) return v.map((item) => walk(item, path));
    if (isPlainObject(v)) {
      const out: Record<string, JsonValue> = {};
      for (const [k, child] of Object.entries(v as Record<string, JsonValue>)) {
        const lower = k.toLowerCase();
        const childPath = path ? `${path}.${lower}` : lower;
        out[k] =
          fields.has(childPath) || keys.some((frag) => lower.includes(frag))
            ? MASK
            : walk(child, childPath);
      }
      return out;
    }
    return v;
  };
  return walk(value, "");
}
