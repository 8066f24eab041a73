/**
 * @module `sys.echo`: returns its inputs as its outputs (for gates, tests and demos).
 */
import { z } from "zod";
import type { CapabilityDefinition } from "../../core/capability.js";
import type { JsonObject, JsonValue } from "../../core/json.js";

/**
 * True for a plain object (as zod's `z.record` sees one: prototype `Object.prototype` or
 * null) whose every value is JSON: strings, finite numbers, booleans, null, dense arrays and
 * plain objects with string keys only, recursively. Own `__proto__` keys, symbol keys and
 * non-enumerable properties are refused (zod would silently drop them; echo must not).
 */
function isJsonObject(value: unknown): value is JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(value);
  if (Reflect.ownKeys(value).length !== keys.length || Object.hasOwn(value, "__proto__"))
    return false;
  for (const key of keys) if (!isJson((value as Record<string, unknown>)[key])) return false;
  return true;
}

function isJson(value: unknown): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      if (value === null) return true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!(i in value) || !isJson(value[i])) return false;
        return true;
      }
      return isJsonObject(value);
    default:
      return false;
  }
}

/** A deep copy of a value `isJson` accepted (much cheaper than `structuredClone` for it). */
function cloneJson(value: JsonValue): JsonValue {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(cloneJson);
  const out: JsonObject = {};
  for (const key of Object.keys(value)) out[key] = cloneJson(value[key] as JsonValue);
  return out;
}

/** The JSON Schema published for the input (what `z.record(z.string(), z.json())` gives). */
const JSON_OBJECT_SCHEMA = {
  type: "object",
  propertyNames: { type: "string" },
  additionalProperties: { $ref: "#/$defs/json" },
  $defs: {
    json: {
      anyOf: [
        { type: "string" },
        { type: "number" },
        { type: "boolean" },
        { type: "null" },
        { type: "array", items: { $ref: "#/$defs/json" } },
        {
          type: "object",
          propertyNames: { type: "string" },
          additionalProperties: { $ref: "#/$defs/json" },
        },
      ],
    },
  },
};

/**
 * Input of `sys.echo`: any JSON object. A direct check instead of
 * `z.record(z.string(), z.json())`: the union-per-value walk of `z.json()` cost more than the
 * rest of resolving an echo step; this is as strict (stricter on `__proto__`/symbol keys).
 */
export const sysEchoInput: z.ZodType<JsonObject> = z
  .custom<JsonObject>(isJsonObject, { message: "Invalid input: expected a JSON object" })
  .meta(JSON_OBJECT_SCHEMA);

/**
 * `sys.echo`: outputs exactly the (resolved) inputs it was given.
 *
 * @example
 * // steps: [{ id: greet, capability: sys.echo, inputs: { text: "hi ${{ inputs.who }}" } }]
 * // → steps.greet.outputs.text
 */
export const sysEcho: CapabilityDefinition<JsonObject, JsonObject> = Object.freeze({
  name: "sys.echo",
  description: "Returns its inputs as its outputs.",
  input: sysEchoInput,
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  pure: true,
  async execute(input: JsonObject): Promise<JsonObject> {
    // A copy: the outputs must not alias the inputs the engine records.
    return cloneJson(input) as JsonObject;
  },
});
