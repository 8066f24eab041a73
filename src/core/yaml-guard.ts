/**
 * @module A guard run before a YAML document is parsed: the `yaml` library composes nested
 * collections by recursion, and a document of a few kilobytes nested ten thousand deep can
 * overflow the stack — or crash the process outright, when V8 compiles a regular expression
 * at the bottom of that stack. This guard walks the lexer's tokens (an iterative generator,
 * stopped as soon as it has seen enough) and estimates the nesting of every line: flow
 * brackets, `-` and `?` indicators, and the levels of indentation. It never counts more than a
 * line's real nesting plus one, so the exact check on the parsed document (`yaml-source.ts`)
 * still decides, with the exact place, for every document this guard lets through.
 */
import { Lexer } from "yaml";

/** Lexer markers that do not stand for source text (document start, flow end, scalar). */
const MARKERS = new Set(["\u0002", "\u0018", "\u001f"]);

/**
 * The offset of the first token nested (by the estimate) deeper than `limit`, or -1.
 *
 * @example
 * nestingBeyond("a: [[[1]]]", 3) // 6: the third "[" (the mapping is level 1)
 */
export function nestingBeyond(text: string, limit: number): number {
  // Fast path: without enough brackets or indicators nothing can be that deep.
  if (!couldBeDeep(text, limit)) return -1;
  let offset = 0;
  let flow = 0;
  let indicators = 0;
  let lineStart = true;
  let lineIndent = 0;
  let quote: "'" | '"' | null = null;
  let scalarNext = false;
  const indents: number[] = [];
  for (const tok of new Lexer().lex(text)) {
    if (MARKERS.has(tok)) {
      if (tok === "\u001f") scalarNext = true;
      continue;
    }
    const start = offset;
    offset += tok.length;
    const isScalar = scalarNext;
    scalarNext = false;
    const c = tok[0];
    if (c === "\n" || c === "\r") {
      lineStart = true;
      lineIndent = 0;
      indicators = 0;
      continue;
    }
    if (c === " " || c === "\t") {
      if (lineStart) lineIndent = tok.length;
      continue;
    }
    if (c === "#" && !isScalar) continue;
    if (isScalar && (quote !== null || tok.includes("\n"))) {
      // A quoted scalar's continuation, or a block scalar's body: not a new level.
      quote = quoteAfter(quote, tok);
      lineStart = tok.endsWith("\n");
      continue;
    }
    if (lineStart && flow === 0) {
      while (indents.length > 0 && (indents[indents.length - 1] as number) > lineIndent) {
        indents.pop();
      }
      if (indents.length === 0 || (indents[indents.length - 1] as number) < lineIndent) {
        indents.push(lineIndent);
      }
      // Nesting by indentation alone (`a:` then ` b:` one space further in, and so on): each
      // deeper indentation is one more block collection around this line's first token.
      if (indents.length > limit + 1) return start;
    }
    lineStart = false;
    if (isScalar) {
      quote = quoteAfter(null, tok);
      continue;
    }
    if (tok === "[" || tok === "{") flow += 1;
    else if (tok === "]" || tok === "}") flow = Math.max(0, flow - 1);
    else if ((tok === "-" || tok === "?") && flow === 0) indicators += 1;
    else continue;
    // One more than the real nesting at most (an indicator's item may be a scalar).
    if (Math.max(indents.length, 1) + indicators + flow > limit + 1) return start;
  }
  return -1;
}

/** Whether a quoted scalar is still open after `tok` (`open`: the quote it continues). */
function quoteAfter(open: "'" | '"' | null, tok: string): "'" | '"' | null {
  let q = open;
  let body = tok;
  if (q === null) {
    const first = tok[0];
    if (first !== "'" && first !== '"') return null;
    q = first;
    body = tok.slice(1);
  }
  if (q === "'") {
    const trailing = /'*$/.exec(body)?.[0].length ?? 0;
    return trailing % 2 === 1 ? null : q;
  }
  if (!body.endsWith('"')) return q;
  const slashes = /\\*"$/.exec(body)?.[0].length ?? 1;
  return (slashes - 1) % 2 === 0 ? null : q;
}

/** Cheap upper bound: could `text` nest deeper than `limit` at all? */
function couldBeDeep(text: string, limit: number): boolean {
  let depth = 0;
  let line = 0;
  let atLineStart = true;
  let indentLevels = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x0a) {
      atLineStart = true;
      line = 0;
      continue;
    }
    if (ch === 0x5b || ch === 0x7b)
      depth += 1; // [ {
    else if (ch === 0x5d || ch === 0x7d) depth = Math.max(0, depth - 1);
    else if (ch === 0x2d || ch === 0x3f)
      line += 1; // - ?
    else if (atLineStart && ch === 0x20) {
      let n = 0;
      while (text.charCodeAt(i + n) === 0x20) n += 1;
      indentLevels = Math.max(indentLevels, n);
      i += n - 1;
      atLineStart = false;
      continue;
    }
    atLineStart = false;
    if (depth + line + 1 > limit || indentLevels + 1 > limit) return true;
  }
  return false;
}
