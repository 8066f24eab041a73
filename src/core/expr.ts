/**
 * @module The expression language of templates, `when` conditions and evidence requirements:
 * paths, literals, comparison and logical operators and `len(x)`. A small safe evaluator: no
 * `eval`, no `Function`, and only own properties of plain objects and arrays are reachable.
 * Lexer, parser and evaluator stay in one file (hence its length): the safety argument — what
 * an expression can reach — is read in one place.
 */
import { ExpressionError, ExpressionErrorCode } from "./errors.js";
import { isPlainObject, type JsonValue } from "./json.js";

/** Property names an expression may never read, whatever object it is applied to. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/** What an expression can read: variables by root name, and secrets by name. */
export interface ExprScope {
  /** Roots of paths: `inputs`, `steps`, `run`, `evidence`, ... */
  readonly vars: Readonly<Record<string, JsonValue | undefined>>;
  /** Reads a secret for `secrets.NAME` (the environment at the moment of the call). */
  readonly secret?: (name: string) => string | undefined;
}

/** A compiled expression, ready to evaluate many times. */
export interface CompiledExpression {
  readonly source: string;
  /** Every path the expression reads, e.g. `["steps", "a", "outputs", "x"]`. */
  readonly references: readonly (readonly string[])[];
  /** Evaluates against a scope; throws `ExpressionError` for unresolved paths or type errors. */
  evaluate(scope: ExprScope): JsonValue;
}

/** One segment of a path after its root: a key or an array index. */
export type PathSegment = string | number;

// ---------------------------------------------------------------------------------------------
// Tokens

type TokenKind = "num" | "str" | "ident" | "op" | "eof";
interface Token {
  readonly kind: TokenKind;
  readonly value: string | number;
  /** 0-based offset of the token in the source. */
  readonly start: number;
  readonly end: number;
}

const OPERATORS = [
  "==",
  "!=",
  "<=",
  ">=",
  "&&",
  "||",
  "<",
  ">",
  "!",
  "(",
  ")",
  "[",
  "]",
  ".",
  ",",
  "-",
];

// Sticky: each matches at `lastIndex` only, so the lexer never copies the rest of the source.
const NUMBER = /\d+(\.\d+)?([eE][+-]?\d+)?/y;
const IDENT = /[A-Za-z_$][A-Za-z0-9_$]*/y;
const UNICODE_ESCAPE = /u(?:\{([0-9a-fA-F]{1,6})\}|([0-9a-fA-F]{4}))/y;

/** An expression as quoted in a message: a long one is cut (its column still says where). */
function clip(source: string): string {
  return source.length <= 200 ? source : `${source.slice(0, 200)}…`;
}

function syntaxError(source: string, offset: number, message: string): ExpressionError {
  return new ExpressionError(
    ExpressionErrorCode.SYNTAX,
    `${message} at column ${offset + 1} of expression "${clip(source)}"`,
    { column: offset + 1, source },
  );
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (/[0-9]/.test(c)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(source)!;
      i += m[0].length;
      if (i < source.length && /[A-Za-z_]/.test(source[i]!)) {
        throw syntaxError(source, i, "unexpected character after number");
      }
      const value = Number(m[0]);
      if (!Number.isFinite(value)) {
        throw syntaxError(source, start, `number ${m[0]} is out of range (not a finite number)`);
      }
      tokens.push({ kind: "num", value, start, end: i });
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      IDENT.lastIndex = i;
      const m = IDENT.exec(source)!;
      i += m[0].length;
      tokens.push({ kind: "ident", value: m[0], start, end: i });
      continue;
    }
    if (c === "'" || c === '"') {
      const [value, next] = readString(source, i);
      i = next;
      tokens.push({ kind: "str", value, start, end: i });
      continue;
    }
    const op = OPERATORS.find((o) => source.startsWith(o, i));
    if (!op) throw syntaxError(source, i, `unexpected character "${c}"`);
    i += op.length;
    tokens.push({ kind: "op", value: op, start, end: i });
  }
  tokens.push({ kind: "eof", value: "", start: source.length, end: source.length });
  return tokens;
}

const ESCAPES: Record<string, string> = {
  n: "\n",
  t: "\t",
  r: "\r",
  b: "\b",
  f: "\f",
  v: "\v",
  "0": "\0",
  "\\": "\\",
  "'": "'",
  '"': '"',
};

function readString(source: string, start: number): [string, number] {
  const quote = source[start];
  let out = "";
  let i = start + 1;
  while (i < source.length) {
    const c = source[i]!;
    if (c === quote) return [out, i + 1];
    if (c === "\\") {
      const e = source[i + 1];
      if (e === undefined) break;
      if (e === "u") {
        UNICODE_ESCAPE.lastIndex = i + 1;
        const m = UNICODE_ESCAPE.exec(source);
        if (!m) throw syntaxError(source, i, "bad \\u escape");
        const code = Number.parseInt(m[1] ?? m[2]!, 16);
        if (code > 0x10ffff) throw syntaxError(source, i, "bad \\u escape");
        out += String.fromCodePoint(code);
        i += 1 + m[0].length;
        continue;
      }
      const mapped = ESCAPES[e];
      if (mapped === undefined) throw syntaxError(source, i, `unknown escape "\\${e}"`);
      out += mapped;
      i += 2;
      continue;
    }
    out += c;
    i++;
  }
  throw syntaxError(source, start, "unterminated string");
}

// ---------------------------------------------------------------------------------------------
// Syntax tree

type BinaryOp = "==" | "!=" | "<" | "<=" | ">" | ">=" | "&&" | "||";
type Node =
  | { readonly k: "lit"; readonly v: JsonValue }
  | {
      readonly k: "path";
      readonly root: string;
      readonly segs: readonly PathSegment[];
      readonly start: number;
      readonly end: number;
    }
  | { readonly k: "not"; readonly e: Node; readonly start: number }
  | { readonly k: "neg"; readonly e: Node; readonly start: number }
  | {
      readonly k: "bin";
      readonly op: BinaryOp;
      readonly l: Node;
      readonly r: Node;
      readonly start: number;
    }
  | { readonly k: "len"; readonly e: Node; readonly start: number };

type PathNode = Extract<Node, { k: "path" }>;

const KEYWORDS: Record<string, JsonValue> = { true: true, false: false, null: null };

/**
 * How deep an expression may nest (parentheses, `len(`, `!` and `-`), and how tall its tree may
 * grow (a chain of `a && b && ...` adds a level per operator): far beyond anything written by
 * hand, and far below what would overflow the parser's or the evaluator's stack.
 */
export const MAX_EXPRESSION_NESTING = 128;
export const MAX_EXPRESSION_HEIGHT = 1000;

class Parser {
  private pos = 0;
  /** Parentheses, `len(`, `!` and `-` open around the current token. */
  private depth = 0;
  /** Height of each composite node (a leaf is 1). */
  private readonly heights = new WeakMap<Node, number>();
  readonly paths: PathNode[] = [];

  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
  ) {}

  parse(): Node {
    if (this.peek().kind === "eof") throw syntaxError(this.source, 0, "empty expression");
    const node = this.or();
    const t = this.peek();
    if (t.kind !== "eof") throw syntaxError(this.source, t.start, `unexpected "${t.value}"`);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private next(): Token {
    return this.tokens[this.pos++]!;
  }

  private isOp(value: string): boolean {
    const t = this.peek();
    return t.kind === "op" && t.value === value;
  }

  private expectOp(value: string): Token {
    const t = this.peek();
    if (t.kind !== "op" || t.value !== value) {
      throw syntaxError(this.source, t.start, `expected "${value}"${describe(t)}`);
    }
    return this.next();
  }

  /** Enters one more level of nesting at `offset`; refuses past `MAX_EXPRESSION_NESTING`. */
  private enter(offset: number): void {
    this.depth += 1;
    if (this.depth > MAX_EXPRESSION_NESTING) {
      throw syntaxError(
        this.source,
        offset,
        `nested deeper than ${MAX_EXPRESSION_NESTING} levels (parentheses, len, ! and -)`,
      );
    }
  }

  /** `node`, whose height is one more than its tallest child's; refuses past the limit. */
  private grown<N extends Node>(node: N, children: readonly Node[], offset: number): N {
    let h = 0;
    for (const c of children) h = Math.max(h, this.heights.get(c) ?? 1);
    if (h + 1 > MAX_EXPRESSION_HEIGHT) {
      throw syntaxError(
        this.source,
        offset,
        `nested deeper than ${MAX_EXPRESSION_HEIGHT} levels (too many operators in one expression)`,
      );
    }
    this.heights.set(node, h + 1);
    return node;
  }

  private or(): Node {
    let l = this.and();
    while (this.isOp("||")) {
      const start = this.next().start;
      const r = this.and();
      l = this.grown({ k: "bin", op: "||", l, r, start }, [l, r], start);
    }
    return l;
  }

  private and(): Node {
    let l = this.equality();
    while (this.isOp("&&")) {
      const start = this.next().start;
      const r = this.equality();
      l = this.grown({ k: "bin", op: "&&", l, r, start }, [l, r], start);
    }
    return l;
  }

  private equality(): Node {
    let l = this.relational();
    while (this.isOp("==") || this.isOp("!=")) {
      const t = this.next();
      const r = this.relational();
      l = this.grown({ k: "bin", op: t.value as BinaryOp, l, r, start: t.start }, [l, r], t.start);
    }
    return l;
  }

  private relational(): Node {
    let l = this.unary();
    while (this.isOp("<") || this.isOp("<=") || this.isOp(">") || this.isOp(">=")) {
      const t = this.next();
      const r = this.unary();
      l = this.grown({ k: "bin", op: t.value as BinaryOp, l, r, start: t.start }, [l, r], t.start);
    }
    return l;
  }

  private unary(): Node {
    if (this.isOp("!") || this.isOp("-")) {
      const t = this.next();
      this.enter(t.start);
      const e = this.unary();
      this.depth -= 1;
      const k = t.value === "!" ? "not" : "neg";
      return this.grown({ k, e, start: t.start }, [e], t.start);
    }
    return this.primary();
  }

  private primary(): Node {
    const t = this.next();
    switch (t.kind) {
      case "num":
        return { k: "lit", v: t.value };
      case "str":
        return { k: "lit", v: t.value };
      case "op":
        if (t.value === "(") {
          this.enter(t.start);
          const inner = this.or();
          this.expectOp(")");
          this.depth -= 1;
          return inner;
        }
        throw syntaxError(this.source, t.start, `unexpected "${t.value}"`);
      case "ident": {
        const name = t.value as string;
        if (Object.hasOwn(KEYWORDS, name)) return { k: "lit", v: KEYWORDS[name]! };
        if (this.isOp("(")) {
          if (name !== "len") throw syntaxError(this.source, t.start, `unknown function "${name}"`);
          this.next();
          this.enter(t.start);
          const arg = this.or();
          this.expectOp(")");
          this.depth -= 1;
          return this.grown({ k: "len", e: arg, start: t.start }, [arg], t.start);
        }
        return this.path(t);
      }
      default:
        throw syntaxError(this.source, t.start, "unexpected end of expression");
    }
  }

  private path(rootToken: Token): Node {
    const root = rootToken.value as string;
    this.checkKey(root, rootToken.start);
    const segs: PathSegment[] = [];
    let end = rootToken.end;
    for (;;) {
      if (this.isOp(".")) {
        this.next();
        const t = this.next();
        if (t.kind !== "ident" && t.kind !== "num") {
          throw syntaxError(
            this.source,
            t.start,
            `expected a property name after "."${describe(t)}`,
          );
        }
        if (t.kind === "num" && !Number.isInteger(t.value)) {
          throw syntaxError(this.source, t.start, "expected a property name");
        }
        const key = t.kind === "num" ? (t.value as number) : (t.value as string);
        if (typeof key === "string") this.checkKey(key, t.start);
        segs.push(key);
        end = t.end;
      } else if (this.isOp("[")) {
        this.next();
        const t = this.next();
        if (t.kind === "num") {
          if (!Number.isInteger(t.value) || (t.value as number) < 0) {
            throw syntaxError(this.source, t.start, "an index must be a non-negative integer");
          }
          segs.push(t.value as number);
        } else if (t.kind === "str") {
          this.checkKey(t.value as string, t.start);
          segs.push(t.value as string);
        } else {
          throw syntaxError(
            this.source,
            t.start,
            `expected an index or a quoted key${describe(t)}`,
          );
        }
        end = this.expectOp("]").end;
      } else {
        break;
      }
    }
    const node: PathNode = { k: "path", root, segs, start: rootToken.start, end };
    this.paths.push(node);
    return node;
  }

  private checkKey(key: string, offset: number): void {
    if (FORBIDDEN_KEYS.has(key)) {
      throw syntaxError(this.source, offset, `property "${key}" may not be accessed`);
    }
  }
}

function describe(t: Token): string {
  return t.kind === "eof" ? ", found the end of the expression" : `, found "${t.value}"`;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** Formats a path as it would be written in an expression: `steps.a.outputs['x-y'][0]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  path.forEach((seg, i) => {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(seg) && !Object.hasOwn(KEYWORDS, seg)) {
      out += i === 0 ? seg : `.${seg}`;
    } else {
      out += i === 0 ? seg : `['${seg.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}']`;
    }
  });
  return out;
}

/**
 * JSON truthiness used by `!`, `&&`, `||` and conditions: `false`, `null`, `0` and `""` are
 * false; everything else (including empty arrays and objects) is true.
 */
export function isTruthy(value: JsonValue): boolean {
  return !(value === false || value === null || value === 0 || value === "" || Number.isNaN(value));
}

/** Structural equality of JSON values, without coercion (`1 == '1'` is false). */
export function jsonEquals(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEquals(x, b[i]!));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every((k) => Object.hasOwn(b, k) && jsonEquals(a[k] as JsonValue, b[k] as JsonValue))
    );
  }
  return false;
}

function unresolved(source: string, path: readonly PathSegment[], why: string): ExpressionError {
  const p = formatPath(path);
  return new ExpressionError(ExpressionErrorCode.UNRESOLVED, `"${p}" does not resolve: ${why}`, {
    path: p,
    source,
  });
}

function typeError(source: string, message: string): ExpressionError {
  return new ExpressionError(
    ExpressionErrorCode.TYPE,
    `${message} in expression "${clip(source)}"`,
    {
      source,
    },
  );
}

function isPlainData(value: unknown): value is Record<string, unknown> {
  if (!isPlainObject(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function resolvePath(source: string, node: PathNode, scope: ExprScope): JsonValue {
  const full: PathSegment[] = [node.root, ...node.segs];
  if (node.root === "secrets") {
    const [name, ...rest] = node.segs;
    if (typeof name !== "string" || rest.length > 0) {
      throw unresolved(source, full, "a secret is read as secrets.NAME");
    }
    const value = scope.secret?.(name);
    if (value === undefined) throw unresolved(source, full, `secret "${name}" is not set`);
    return value;
  }
  if (!Object.hasOwn(scope.vars, node.root))
    throw unresolved(source, full, `unknown "${node.root}"`);
  let current: unknown = scope.vars[node.root];
  if (current === undefined) throw unresolved(source, full, `"${node.root}" has no value`);
  for (let i = 0; i < node.segs.length; i++) {
    const seg = node.segs[i]!;
    const at = formatPath(full.slice(0, i + 1));
    if (typeof seg === "number") {
      if (!Array.isArray(current)) throw unresolved(source, full, `${at} is not an array`);
      if (seg >= current.length) throw unresolved(source, full, `${at} has no index ${seg}`);
      current = current[seg];
    } else {
      if (FORBIDDEN_KEYS.has(seg) || !isPlainData(current) || !Object.hasOwn(current, seg)) {
        throw unresolved(source, full, `${at} has no property "${seg}"`);
      }
      current = current[seg];
    }
    if (current === undefined)
      throw unresolved(source, full, `${formatPath(full.slice(0, i + 2))} has no value`);
  }
  return current as JsonValue;
}

function evaluateNode(source: string, node: Node, scope: ExprScope): JsonValue {
  switch (node.k) {
    case "lit":
      return node.v;
    case "path":
      return resolvePath(source, node, scope);
    case "not":
      return !isTruthy(evaluateNode(source, node.e, scope));
    case "neg": {
      const v = evaluateNode(source, node.e, scope);
      if (typeof v !== "number") throw typeError(source, "unary - needs a number");
      return -v;
    }
    case "len": {
      const v = evaluateNode(source, node.e, scope);
      if (typeof v === "string") return [...v].length;
      if (Array.isArray(v)) return v.length;
      if (isPlainObject(v)) return Object.keys(v).length;
      throw typeError(source, `len() needs a string, array or object, got ${typeName(v)}`);
    }
    case "bin": {
      if (node.op === "&&") {
        return (
          isTruthy(evaluateNode(source, node.l, scope)) &&
          isTruthy(evaluateNode(source, node.r, scope))
        );
      }
      if (node.op === "||") {
        return (
          isTruthy(evaluateNode(source, node.l, scope)) ||
          isTruthy(evaluateNode(source, node.r, scope))
        );
      }
      const l = evaluateNode(source, node.l, scope);
      const r = evaluateNode(source, node.r, scope);
      if (node.op === "==") return jsonEquals(l, r);
      if (node.op === "!=") return !jsonEquals(l, r);
      const comparable =
        (typeof l === "number" && typeof r === "number") ||
        (typeof l === "string" && typeof r === "string");
      if (!comparable) {
        throw typeError(source, `cannot compare ${typeName(l)} ${node.op} ${typeName(r)}`);
      }
      const a = l as number | string;
      const b = r as number | string;
      switch (node.op) {
        case "<":
          return a < b;
        case "<=":
          return a <= b;
        case ">":
          return a > b;
        default:
          return a >= b;
      }
    }
  }
}

function typeName(v: JsonValue): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

// ---------------------------------------------------------------------------------------------
// Compilation, with a small cache

const CACHE_LIMIT = 2000;
const cache = new Map<string, CompiledExpression>();

interface Parsed {
  readonly root: Node;
  readonly paths: readonly PathNode[];
}

function parse(source: string): Parsed {
  const parser = new Parser(source, tokenize(source));
  const root = parser.parse();
  return { root, paths: parser.paths };
}

/**
 * Compiles an expression. Compiled expressions are cached by source (the engine evaluates on a
 * hot path). Throws `ExpressionError` (`EXPRESSION_SYNTAX`, with `column`) on bad syntax.
 *
 * @example
 * compileExpression("len(steps.search.outputs.refs) >= 2").evaluate({ vars: { steps } })
 */
export function compileExpression(source: string): CompiledExpression {
  const hit = cache.get(source);
  if (hit) return hit;
  const { root, paths } = parse(source);
  const references = Object.freeze(
    paths.map((p) => Object.freeze([p.root, ...p.segs.map((s) => String(s))])),
  );
  const compiled: CompiledExpression = Object.freeze({
    source,
    references,
    evaluate: (scope: ExprScope) => evaluateNode(source, root, scope),
  });
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(source, compiled);
  return compiled;
}

/**
 * Rewrites every path of an expression: `fn` receives the path (root first) and returns a
 * replacement path, or `undefined` to keep it. The rest of the source is kept byte for byte.
 * Throws `ExpressionError` on bad syntax.
 *
 * @example rewriteExpressionPaths("a.b == 1", (p) => ["steps", ...p]) // "steps.a.b == 1"
 */
export function rewriteExpressionPaths(
  source: string,
  fn: (path: readonly PathSegment[]) => readonly PathSegment[] | undefined,
): string {
  const { paths } = parse(source);
  let out = "";
  let last = 0;
  for (const p of [...paths].sort((a, b) => a.start - b.start)) {
    const replacement = fn([p.root, ...p.segs]);
    if (replacement === undefined) continue;
    out += source.slice(last, p.start) + formatPath(replacement);
    last = p.end;
  }
  return out + source.slice(last);
}

/** The paths an expression reads, with array indexes kept as numbers. */
export function expressionPaths(source: string): readonly (readonly PathSegment[])[] {
  return parse(source).paths.map((p) => [p.root, ...p.segs]);
}
