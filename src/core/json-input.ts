/**
 * @module Run inputs as data that came from outside: JSON text parsed with its error located,
 * and any value checked before the engine walks it — nesting depth (the engine's walkers,
 * hashing and the store recurse), keys that could reach a prototype, and size. Iterative, so
 * a value nested a million deep is refused instead of overflowing the stack.
 */
import { type Problem, ValidationError } from "./errors.js";
import { FORBIDDEN_KEYS, forbiddenKeyMessage, LIMIT_KEYS } from "./limits.js";
import { formatFieldPath } from "./yaml-source.js";

/** A problem of a value, by field (`x.a[0]`, prefixed with the root given). */
export interface ValueProblem {
  readonly field: string;
  readonly message: string;
}

/** At most this many problems are listed for one value. */
const MAX_PROBLEMS = 20;

/**
 * Problems of `value`: collections nested deeper than `maxDepth` (the top-level object or array
 * is level 1), and keys in `FORBIDDEN_KEYS`. Fields start with `root` (`inputs`, or "").
 *
 * @example
 * jsonValueProblems({ x: [[1]] }, 2, "inputs") // [{ field: "inputs.x[0]", message: "nested deeper than 2 levels …" }]
 */
export function jsonValueProblems(value: unknown, maxDepth: number, root: string): ValueProblem[] {
  const problems: ValueProblem[] = [];
  const base: (string | number)[] = root === "" ? [] : [root];
  const stack: { value: unknown; depth: number; path: (string | number)[] }[] = [
    { value, depth: 1, path: base },
  ];
  while (stack.length > 0 && problems.length < MAX_PROBLEMS) {
    const item = stack.pop() as (typeof stack)[number];
    const v = item.value;
    if (v === null || typeof v !== "object") continue;
    if (item.depth > maxDepth) {
      problems.push({
        field: formatFieldPath(item.path),
        message: `nested deeper than ${maxDepth} levels (${LIMIT_KEYS.inputDepth})`,
      });
      continue;
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ value: v[i], depth: item.depth + 1, path: [...item.path, i] });
      }
      continue;
    }
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      const path = [...item.path, key];
      if (FORBIDDEN_KEYS.has(key)) {
        problems.push({ field: formatFieldPath(path), message: forbiddenKeyMessage(key) });
        continue;
      }
      stack.push({ value: (v as Record<string, unknown>)[key], depth: item.depth + 1, path });
    }
  }
  return problems;
}

/** The UTF-8 length of `s` in bytes, without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i += 1;
    } else n += 3;
  }
  return n;
}

/** A problem saying `what` at `file` is `size` bytes and the limit (`key`) is `limit`. */
export function tooLargeProblem(
  file: string,
  what: string,
  size: number,
  limit: number,
  key: string,
): Problem {
  return {
    file,
    line: 0,
    col: 0,
    field: "",
    message: `${what} is ${size} bytes; the limit is ${limit} bytes (${key})`,
  };
}

/**
 * Parses JSON text; a syntax error is a ValidationError at its line and column.
 *
 * @example
 * parseJsonText("inputs.json", '{"a": 1}') // { a: 1 }
 */
export function parseJsonText(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    // V8 names a position for most errors but not all, and may quote the whole text: locate
    // the error ourselves and keep only V8's first words.
    const offset = jsonErrorOffset(text);
    const reason = ((err as Error).message.split(/,? "| in JSON| after JSON/)[0] ?? "").trim();
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    const col = offset - (before.lastIndexOf("\n") + 1) + 1;
    throw new ValidationError(
      [
        {
          file,
          line,
          col,
          field: "",
          message: `not valid JSON${reason ? `: ${reason}` : ""}${offset >= text.length ? " (at the end)" : ""}`,
        },
      ],
      { location: `${file}:${line}:${col}` },
    );
  }
}

/** Offset of the first JSON syntax error in `t` (an iterative scan), or `t.length`. */
function jsonErrorOffset(t: string): number {
  const n = t.length;
  const stack: string[] = [];
  let i = 0;
  let state: "value" | "key" | "colon" | "after" = "value";
  const ws = () => {
    while (i < n && (t[i] === " " || t[i] === "\t" || t[i] === "\n" || t[i] === "\r")) i += 1;
  };
  const afterValue = () => {
    state = "after";
  };
  /** Moves past a string at `i`; false at the offending character (left in `i`). */
  const string = (): boolean => {
    i += 1;
    while (i < n) {
      const c = t.charCodeAt(i);
      if (c === 0x22) {
        i += 1;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 0x5c) {
        const e = t[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(t.slice(i + 2, i + 6))) return false;
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else return false;
      } else i += 1;
    }
    return false;
  };
  const number = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  for (;;) {
    ws();
    if (i >= n) return n;
    const c = t[i] as string;
    if (state === "value") {
      if (c === "{" || c === "[") {
        stack.push(c);
        i += 1;
        ws();
        if (t[i] === (c === "{" ? "}" : "]")) {
          stack.pop();
          i += 1;
          afterValue();
        } else state = c === "{" ? "key" : "value";
      } else if (c === '"') {
        if (!string()) return i;
        afterValue();
      } else if (t.startsWith("true", i) || t.startsWith("null", i)) {
        i += 4;
        afterValue();
      } else if (t.startsWith("false", i)) {
        i += 5;
        afterValue();
      } else {
        number.lastIndex = i;
        const m = number.exec(t);
        if (m === null || m[0] === "") return i;
        i += m[0].length;
        afterValue();
      }
    } else if (state === "key") {
      if (c !== '"' || !string()) return i;
      state = "colon";
    } else if (state === "colon") {
      if (c !== ":") return i;
      i += 1;
      state = "value";
    } else {
      const top = stack[stack.length - 1];
      if (top === undefined) return i;
      if (c === ",") {
        i += 1;
        state = top === "{" ? "key" : "value";
      } else if ((c === "}" && top === "{") || (c === "]" && top === "[")) {
        stack.pop();
        i += 1;
        afterValue();
      } else return i;
    }
  }
}

/** The message of a value's problems, one per line, each `field: message`. */
export function formatValueProblems(problems: readonly ValueProblem[]): string {
  return problems.map((p) => `${p.field}: ${p.message}`).join("\n");
}
