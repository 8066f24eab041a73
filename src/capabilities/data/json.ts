/**
 * @module `data.json.parse`, `data.json.stringify` and `data.json.get`: pure JSON helpers with
 * the original project's input and output names (SPEC §5). Pure: no effect, nothing to undo,
 * outputs a function of the inputs alone (a replay runs them again).
 */
import { z } from "zod";
import type { CapabilityDefinition } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import { isPlainObject, type JsonValue } from "../../core/json.js";
import { FORBIDDEN_KEYS } from "../../core/limits.js";

/** Largest JSON text `data.json.parse` and `data.json.get` read (4 MiB). */
export const MAX_JSON_TEXT = 4 * 1024 * 1024;
/** Deepest nesting a parsed document may have. */
export const MAX_JSON_DEPTH = 256;

const jsonText = z.string().max(MAX_JSON_TEXT, `JSON text larger than ${MAX_JSON_TEXT} bytes`);

/** Checks depth and prototype keys of a parsed document, iteratively. */
function checkParsed(value: JsonValue, name: string): void {
  const stack: [JsonValue, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > MAX_JSON_DEPTH) {
      throw new CapabilityError(
        "JSON_INVALID",
        `the JSON is nested deeper than ${MAX_JSON_DEPTH}`,
        {
          context: { capability: name },
        },
      );
    }
    if (Array.isArray(v)) for (const x of v) stack.push([x, depth + 1]);
    else {
      for (const [k, x] of Object.entries(v)) {
        if (FORBIDDEN_KEYS.has(k)) {
          throw new CapabilityError("JSON_INVALID", `the JSON has a key "${k}", which is refused`, {
            context: { capability: name },
          });
        }
        stack.push([x, depth + 1]);
      }
    }
  }
}

/** Parses JSON text strictly, or fails with `JSON_INVALID` (not retryable). */
export function parseJsonText(text: string, name: string): JsonValue {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new CapabilityError("JSON_INVALID", `not valid JSON: ${(err as Error).message}`, {
      context: { capability: name },
      cause: err,
    });
  }
  checkParsed(value, name);
  return value;
}

const parseInput = z.strictObject({
  json_string: jsonText,
  /**
   * `false` also accepts raw control characters (a tab, a line break) inside strings, as
   * Python's `json.loads(strict=False)` does; nothing else is relaxed. Default true.
   */
  strict: z.boolean().default(true),
});

/** `text` with raw control characters inside JSON strings written as `\u` escapes. */
export function escapeControlsInStrings(text: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const code = c.charCodeAt(0);
    if (inString && code < 0x20) {
      out += `\\u${code.toString(16).padStart(4, "0")}`;
      continue;
    }
    out += c;
    if (c === "\\" && inString) {
      out += text[i + 1] ?? "";
      i++;
    } else if (c === '"') inString = !inString;
  }
  return out;
}

/** `data.json.parse {json_string}` → `{data}`. */
export const jsonParse: CapabilityDefinition<
  z.output<typeof parseInput>,
  { data: JsonValue }
> = Object.freeze({
  name: "data.json.parse",
  description: "Parses JSON text into data (strict JSON; no effect).",
  input: parseInput,
  output: z.object({ data: z.json() }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  pure: true,
  async execute(input: z.output<typeof parseInput>) {
    const text = input.strict ? input.json_string : escapeControlsInStrings(input.json_string);
    return { data: parseJsonText(text, "data.json.parse") };
  },
});

const stringifyInput = z.strictObject({
  data: z.json(),
  /** Spaces of indentation (0–10); `pretty: true` means 2. */
  indent: z.number().int().min(0).max(10).optional(),
  pretty: z.boolean().optional(),
  /** Sort object keys (gives the same text for the same data). */
  sort_keys: z.boolean().default(false),
});

function sortedKeys(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (!isPlainObject(value)) return value;
  const out: Record<string, JsonValue> = {};
  for (const k of Object.keys(value).sort()) out[k] = sortedKeys(value[k] as JsonValue);
  return out;
}

/** `data.json.stringify {data, indent?, pretty?}` → `{json_string}`. */
export const jsonStringify: CapabilityDefinition<
  z.output<typeof stringifyInput>,
  { json_string: string }
> = Object.freeze({
  name: "data.json.stringify",
  description: "Writes data as JSON text (no effect).",
  input: stringifyInput,
  output: z.object({ json_string: z.string() }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  pure: true,
  async execute(input: z.output<typeof stringifyInput>) {
    const indent = input.indent ?? (input.pretty ? 2 : 0);
    const data = input.sort_keys ? sortedKeys(input.data) : input.data;
    return { json_string: JSON.stringify(data, null, indent) };
  },
});

/** A path segment: an object key or an array index. */
type Segment = string | number;

/**
 * Parses a path: `a.b[0].c`, `a.b.0.c`, with an optional leading `$` or `$.`; `["a.b"]` quotes a
 * key holding dots. Empty (or `$`) is the whole document.
 */
export function parseJsonPath(path: string): Segment[] | string {
  let s = path.trim();
  if (s.startsWith("$")) s = s.slice(1);
  const out: Segment[] = [];
  let i = 0;
  if (s.startsWith(".")) i = 1;
  while (i < s.length) {
    if (s[i] === "[") {
      const close = s.indexOf("]", i);
      if (close < 0) return `"[" at ${i + 1} is not closed`;
      const inner = s.slice(i + 1, close).trim();
      if (/^\d+$/.test(inner)) out.push(Number(inner));
      else if (/^(["']).*\1$/.test(inner)) out.push(inner.slice(1, -1));
      else return `"[${inner}]" is neither an index nor a quoted key`;
      i = close + 1;
      if (s[i] === ".") i++;
      continue;
    }
    let j = i;
    while (j < s.length && s[j] !== "." && s[j] !== "[") j++;
    const key = s.slice(i, j);
    if (key === "") return `empty key at ${i + 1}`;
    out.push(/^\d+$/.test(key) ? Number(key) : key);
    i = s[j] === "." ? j + 1 : j;
    if (s[j] === "." && i >= s.length) return "the path ends with a dot";
  }
  return out;
}

/** The value at `path` inside `data`, or `undefined` when a segment is missing. */
function valueAt(data: JsonValue, path: readonly Segment[]): JsonValue | undefined {
  let cur: JsonValue | undefined = data;
  for (const seg of path) {
    if (Array.isArray(cur)) {
      const idx = typeof seg === "number" ? seg : Number.NaN;
      cur = Number.isInteger(idx) && idx < cur.length ? cur[idx] : undefined;
    } else if (isPlainObject(cur) && Object.hasOwn(cur, String(seg))) {
      cur = cur[String(seg)] as JsonValue;
    } else {
      return undefined;
    }
  }
  return cur;
}

const getInput = z
  .strictObject({
    json_string: jsonText.optional(),
    data: z.json().optional(),
    path: z.string().max(4096),
    /** Returned (with `found: false`) when the path does not exist. Default null. */
    default: z.json().optional(),
  })
  .refine((v) => (v.json_string === undefined) !== (v.data === undefined), {
    message: "give exactly one of json_string or data",
    path: ["json_string"],
  });

/** `data.json.get {json_string | data, path}` → `{value, found}`. */
export const jsonGet: CapabilityDefinition<
  z.output<typeof getInput>,
  { value: JsonValue; found: boolean }
> = Object.freeze({
  name: "data.json.get",
  description: "Reads the value at a path (a.b[0].c) of JSON data or text (no effect).",
  input: getInput,
  output: z.object({ value: z.json(), found: z.boolean() }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  pure: true,
  async execute(input: z.output<typeof getInput>) {
    const path = parseJsonPath(input.path);
    if (typeof path === "string") {
      throw new CapabilityError("JSON_PATH_INVALID", `path "${input.path}": ${path}`, {
        context: { capability: "data.json.get" },
      });
    }
    const data =
      input.json_string !== undefined
        ? parseJsonText(input.json_string, "data.json.get")
        : (input.data as JsonValue);
    const value = valueAt(data, path);
    return value === undefined
      ? { value: input.default ?? null, found: false }
      : { value, found: true };
  },
});
