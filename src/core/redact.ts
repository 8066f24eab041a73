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

interface CompiledRules {
  readonly secrets: readonly string[];
  readonly keys: readonly string[];
  readonly fields: ReadonlySet<string>;
}

const NO_SECRETS: readonly string[] = [];
const NO_FIELDS: ReadonlySet<string> = new Set();
// Rule lists are long-lived (config, capability definitions): compile each once, not per call.
const compiledKeys = new WeakMap<readonly string[], readonly string[]>();
const compiledFields = new WeakMap<readonly string[], ReadonlySet<string>>();

// Secret lists are per plan (frozen): sorted once. A list that may still change is sorted anew.
const compiledSecrets = new WeakMap<readonly string[], readonly string[]>();

function compile(rules: RedactionRules): CompiledRules {
  let keys = NO_SECRETS;
  if (rules.keys?.length) {
    const known = compiledKeys.get(rules.keys);
    if (known !== undefined) keys = known;
    else {
      keys = rules.keys.map((k) => k.toLowerCase());
      compiledKeys.set(rules.keys, keys);
    }
  }
  let fields = NO_FIELDS;
  if (rules.fields?.length) {
    const known = compiledFields.get(rules.fields);
    if (known !== undefined) fields = known;
    else {
      fields = new Set(rules.fields.map((f) => f.toLowerCase()));
      compiledFields.set(rules.fields, fields);
    }
  }
  let secrets = NO_SECRETS;
  if (rules.secrets?.length) {
    const known = compiledSecrets.get(rules.secrets);
    if (known !== undefined) secrets = known;
    else {
      secrets = rules.secrets.filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
      if (Object.isFrozen(rules.secrets)) compiledSecrets.set(rules.secrets, secrets);
    }
  }
  return { secrets, keys, fields };
}

/**
 * Returns a redacted copy of `value`; the input is never mutated. Parts that nothing redacts
 * are shared with the input rather than copied (the whole value, when nothing matched).
 */
export function redact(value: JsonValue, rules: RedactionRules): JsonValue {
  if (isNoop(rules)) return value;
  return walk(value, "", compile(rules));
}

// Copy-on-write: most values contain nothing to redact, and copying them cost an allocation
// per object and per array on every step.
function walk(v: JsonValue, path: string, rules: CompiledRules): JsonValue {
  if (typeof v === "string") {
    let out = v;
    for (const s of rules.secrets) if (out.includes(s)) out = out.split(s).join(MASK);
    return out;
  }
  if (Array.isArray(v)) {
    let out: JsonValue[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const item = v[i] as JsonValue;
      const next = walk(item, path, rules);
      if (next !== item && out === undefined) out = v.slice(0, i);
      out?.push(next);
    }
    return out ?? v;
  }
  if (isPlainObject(v)) {
    const obj = v as Record<string, JsonValue>;
    let out: Record<string, JsonValue> | undefined;
    const keys = Object.keys(obj);
    // Paths matter only to field rules: without any, none is built.
    const byPath = rules.fields.size > 0;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      const child = obj[k] as JsonValue;
      const lower = k.toLowerCase();
      const childPath = byPath ? (path ? `${path}.${lower}` : lower) : "";
      const next =
        (byPath && rules.fields.has(childPath)) || keyRedacted(lower, rules.keys, child)
          ? MASK
          : walk(child, childPath, rules);
      if (next !== child && out === undefined) {
        out = {};
        for (let j = 0; j < i; j++) out[keys[j] as string] = obj[keys[j] as string] as JsonValue;
      }
      if (out !== undefined) out[k] = next;
    }
    return out ?? v;
  }
  return v;
}

/** Whether a (lower-cased) key matches any of the fragments (`keyMatches`). */
function keyRedacted(lower: string, frags: readonly string[], value: JsonValue): boolean {
  for (let i = 0; i < frags.length; i++)
    if (keyMatches(lower, frags[i] as string, value)) return true;
  return false;
}

/**
 * Whether a (lower-cased) key matches a redaction fragment. Any key containing the fragment
 * does (`access_token`, `apiToken`, `db_password`), except a plural count: a key that contains
 * it only as a whole word plus "s" and holds a number (`max_tokens: 400`, `total_tokens`) is a
 * count of something, not a secret, and recording it is what budgets and audits need.
 */
function keyMatches(lower: string, frag: string, value: JsonValue): boolean {
  for (let i = lower.indexOf(frag); i >= 0; i = lower.indexOf(frag, i + 1)) {
    const end = i + frag.length;
    const plural = lower[end] === "s" && !isAlphanumeric(lower.charCodeAt(end + 1));
    if (!plural || typeof value !== "number") return true;
  }
  return false;
}

/** a-z or 0-9 (keys are lower-cased); NaN past the end of the string is not. */
function isAlphanumeric(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
}
