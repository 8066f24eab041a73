/**
 * @module YAML with positions: parses a document and maps a field path back to `line:col`,
 * so every validation message can name the file, line and field.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { Problem } from "./errors.js";

/** A path into a parsed document: keys and array indexes. */
export type FieldPath = readonly (string | number)[];

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

/** Parses YAML text; never throws on bad input (syntax errors come back as problems). */
export function parseYamlSource(file: string, text: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
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
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    syntaxProblems.push({ file, line: 1, col: 1, field: "", message: String(err) });
  }

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

  return {
    file,
    value,
    syntaxProblems,
    locate,
    problem(path, message) {
      return { file, ...locate(path), field: formatFieldPath(path), message };
    },
  };
}
