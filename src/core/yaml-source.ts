/**
 * @module YAML with positions: parses a document and maps a field path back to `line:col`,
 * so every validation message can name the file, line and field. It is also where YAML that
 * came from outside is kept within bounds (`limits.ts`), before anyone walks it: nesting
 * (guarded before parsing, `yaml-guard.ts`, then checked exactly), alias expansion (billion
 * laughs), keys that could reach a prototype, and text that is not well-formed Unicode.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { Problem } from "./errors.js";
import {
  DEFAULT_LIMITS,
  FORBIDDEN_KEYS,
  forbiddenKeyMessage,
  LIMIT_KEYS,
  type Limits,
} from "./limits.js";
import { nestingBeyond } from "./yaml-guard.js";

/** A path into a parsed document: keys and array indexes. */
export type FieldPath = readonly (string | number)[];

/** The limits a YAML document is read under. */
export type YamlLimits = Pick<Limits, "yamlDepth" | "yamlAliases">;

/** A parsed YAML source: its plain value plus position lookup. */
export interface YamlSource {
  readonly file: string;
  readonly value: unknown;
  /** Syntax errors (already as problems); when non-empty, `value` may be partial. */
  readonly syntaxProblems: readonly Problem[];
  /** Line and column (1-based) of the node at `path`, or of its nearest existing ancestor. */
  locate(path: FieldPath): { line: number; col: number };
  /** A problem located at `path`. */
  problem(path: FieldPath, message: string): Problem;
}

/** Formats a field path as `steps[2].inputs.path`. */
export function formatFieldPath(path: FieldPath): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** A value expanded from aliases may hold this many times the document's nodes (plus slack). */
const EXPANSION_FACTOR = 16;
const EXPANSION_SLACK = 10_000;

/**
 * Parses YAML text; never throws on bad input (syntax errors, and text beyond `limits`, come
 * back as problems, with `value` undefined).
 */
export function parseYamlSource(
  file: string,
  text: string,
  limits: YamlLimits = DEFAULT_LIMITS,
): YamlSource {
  const lineCounter = new LineCounter();
  const at = (offset: number) => {
    // Before parsing, the line counter is empty: count the lines of the prefix.
    const before = text.slice(0, offset);
    const nl = before.lastIndexOf("\n");
    return { line: before.split("\n").length, col: offset - nl };
  };
  const fail = (offset: number, field: string, message: string): YamlSource => ({
    file,
    value: undefined,
    syntaxProblems: [{ file, ...at(offset), field, message }],
    locate: () => at(offset),
    problem: (path, msg) => ({ file, ...at(offset), field: formatFieldPath(path), message: msg }),
  });
  if (!(text as { isWellFormed?: () => boolean }).isWellFormed?.call(text)) {
    const bad = text.search(
      /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/,
    );
    return fail(Math.max(0, bad), "", "the text is not well-formed Unicode (a lone surrogate)");
  }
  const tooDeep = nestingBeyond(text, limits.yamlDepth);
  if (tooDeep >= 0) return fail(tooDeep, "", depthMessage(limits.yamlDepth));

  // Duplicate keys are found by `checkShape` (the library's own check compares every key with
  // every other: quadratic, minutes for one mapping of a hundred thousand keys).
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const syntaxProblems: Problem[] = doc.errors.map((e) => ({
    file,
    ...pos(e.pos[0]),
    field: "",
    message: e.message.split("\n")[0] ?? e.message,
  }));

  const locate = (path: FieldPath) => {
    let node: unknown = doc.contents;
    let best = (node as Node | null)?.range?.[0] ?? 0;
    for (const key of path) {
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find(
          (it) => isScalar(it.key) && String(it.key.value) === String(key),
        );
        if (pair) {
          const keyStart = (pair.key as Node | null)?.range?.[0];
          if (keyStart !== undefined) best = keyStart;
          next = pair.value;
        }
      } else if (isSeq(node) && typeof key === "number") {
        next = node.items[key];
      }
      if (next === undefined || next === null) break;
      node = next;
      const start = (node as Node).range?.[0];
      if (start !== undefined) best = start;
    }
    return pos(best);
  };
  const source = (value: unknown, problems: Problem[]): YamlSource => ({
    file,
    value,
    syntaxProblems: problems,
    locate,
    problem(path, message) {
      return { file, ...locate(path), field: formatFieldPath(path), message };
    },
  });
  if (syntaxProblems.length > 0) return source(undefined, syntaxProblems);

  const shape = checkShape(doc.contents as Node | null, limits.yamlDepth);
  if (shape.problems.length > 0) {
    return source(
      undefined,
      shape.problems.map((p) => ({
        file,
        ...pos(p.offset),
        field: formatFieldPath(p.path),
        message: p.message,
      })),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: limits.yamlAliases });
  } catch (err) {
    const message =
      err instanceof ReferenceError && /alias/i.test(err.message)
        ? aliasMessage(limits.yamlAliases)
        : String(err);
    return source(undefined, [{ file, ...pos(shape.firstAlias ?? 0), field: "", message }]);
  }
  if (shape.aliases > 0 && expandsBeyond(value, EXPANSION_FACTOR * shape.nodes + EXPANSION_SLACK)) {
    const message = aliasMessage(limits.yamlAliases);
    return source(undefined, [{ file, ...pos(shape.firstAlias ?? 0), field: "", message }]);
  }
  return source(value, []);
}

function depthMessage(limit: number): string {
  return `nested deeper than ${limit} levels (${LIMIT_KEYS.yamlDepth} in airun.yaml)`;
}

function aliasMessage(limit: number): string {
  return limit === 0
    ? `YAML aliases are not allowed (${LIMIT_KEYS.yamlAliases} is 0)`
    : `the document's aliases expand beyond ${LIMIT_KEYS.yamlAliases} (${limit}): an alias bomb?`;
}

interface ShapeProblem {
  readonly offset: number;
  readonly path: FieldPath;
  readonly message: string;
}

/**
 * Walks the parsed document once, without recursion and without following aliases: nesting
 * deeper than `maxDepth`, keys that could reach a prototype, keys given twice in one mapping
 * (compared as the object key they become: `1` and `"1"` are the same key), the node count
 * and the aliases.
 */
function checkShape(
  root: Node | null,
  maxDepth: number,
): { problems: ShapeProblem[]; nodes: number; aliases: number; firstAlias: number | null } {
  const problems: ShapeProblem[] = [];
  let nodes = 0;
  let aliases = 0;
  let firstAlias: number | null = null;
  const stack: { node: unknown; depth: number; path: FieldPath }[] = [
    { node: root, depth: 1, path: [] },
  ];
  while (stack.length > 0 && problems.length < 20) {
    const { node, depth, path } = stack.pop() as (typeof stack)[number];
    if (node === null || node === undefined) continue;
    nodes += 1;
    const start = (node as Node).range?.[0] ?? 0;
    if (isAlias(node)) {
      aliases += 1;
      if (firstAlias === null || start < firstAlias) firstAlias = start;
      continue;
    }
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > maxDepth) {
      problems.push({ offset: start, path, message: depthMessage(maxDepth) });
      continue;
    }
    if (isSeq(node)) {
      node.items.forEach((item, i) => {
        stack.push({ node: item, depth: depth + 1, path: [...path, i] });
      });
      continue;
    }
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = pair.key as Node | null;
      const name = isScalar(key) ? String(key.value) : "?";
      const keyPath = [...path, name];
      if (isScalar(key) && seen.has(name)) {
        problems.push({
          offset: key.range?.[0] ?? start,
          path: keyPath,
          message: `duplicate key "${name}" (keys of a mapping must be unique)`,
        });
        continue;
      }
      if (isScalar(key)) seen.add(name);
      if (isScalar(key) && FORBIDDEN_KEYS.has(name)) {
        problems.push({
          offset: key.range?.[0] ?? start,
          path: keyPath,
          message: forbiddenKeyMessage(name),
        });
        continue;
      }
      if (key !== null && !isScalar(key))
        stack.push({ node: key, depth: depth + 1, path: keyPath });
      stack.push({ node: pair.value, depth: depth + 1, path: keyPath });
    }
  }
  problems.sort((a, b) => a.offset - b.offset);
  return { problems, nodes, aliases, firstAlias };
}

/** Whether `value`, with every shared (aliased) part counted each time, has more than `cap` nodes. */
function expandsBeyond(value: unknown, cap: number): boolean {
  let count = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    count += 1;
    if (count > cap) return true;
    if (Array.isArray(v)) for (const x of v) stack.push(x);
    else if (v !== null && typeof v === "object") for (const x of Object.values(v)) stack.push(x);
  }
  return false;
}
