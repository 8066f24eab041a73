/**
 * @module The state of one spec compilation, shared by the `spec-*` modules: the parsed source,
 * the capability catalog, the step ids and input names declared so far, and every problem
 * found. Also the small helpers each part uses to report: key checks, "did you mean" hints and
 * YAML → JSON conversion.
 */
import type { AnyCapability, CapabilityCatalog } from "./capability.js";
import type { Problem } from "./errors.js";
import { isPlainObject, type JsonObject, type JsonValue } from "./json.js";
import { resolveCapabilityName } from "./seed-aliases.js";
import type { FieldPath, YamlSource } from "./yaml-source.js";

/** Step ids and input names are identifiers (`[A-Za-z_][A-Za-z0-9_-]*`). */
export const ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A principal (`kind:id`): the grammar of `principal.ts`, re-exported for older importers. */
export { PRINCIPAL_PATTERN } from "./principal.js";

/** Levenshtein distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/**
 * How far `candidate` is from `name`: the edit distance, except that a name extending the other
 * at a `.` or `_` boundary (`io.fs.delete_folder` / `io.fs.delete`) counts as one edit: a seed or
 * plugin name is often a known name with a word added.
 */
function nameDistance(name: string, candidate: string): number {
  const extends_ = (long: string, short: string) =>
    short.length > 0 && long.startsWith(short) && /[._]/.test(long[short.length] ?? "");
  const d = distance(name, candidate);
  return extends_(name, candidate) || extends_(candidate, name) ? Math.min(d, 1) : d;
}

/**
 * The candidates closest to `name` (at most `max`, equally close), if they are close enough to
 * be a plausible typo or variant; empty otherwise.
 *
 * @example
 * closestNames("io.fs.delete_folder", ["io.fs.delete", "io.fs.write_file"]); // ["io.fs.delete"]
 */
export function closestNames(name: string, candidates: Iterable<string>, max = 3): string[] {
  let best: string[] = [];
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = nameDistance(name, c);
    if (d < bestD) {
      bestD = d;
      best = [c];
    } else if (d === bestD && best.length < max) {
      best.push(c);
    }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : [];
}

/**
 * The closest candidate to `name`, if one is close enough to be a plausible typo.
 *
 * @example
 * closestName("capabilty", ["capability", "inputs"]); // "capability"
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  return closestNames(name, candidates, 1)[0];
}

/** ` (did you mean "x"?)` (or `"x" or "y"`) when candidates are close to `name`, else "". */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const close = closestNames(name, candidates);
  return close.length > 0 ? ` (did you mean ${close.map((c) => `"${c}"`).join(" or ")}?)` : "";
}

/** The value at `path` inside plain objects and arrays, or `undefined` when there is none. */
export function getAt(value: unknown, path: readonly (string | number)[]): unknown {
  let cur = value;
  for (const seg of path) {
    if (Array.isArray(cur) && typeof seg === "number") cur = cur[seg];
    else if (isPlainObject(cur) && Object.hasOwn(cur, String(seg))) cur = cur[String(seg)];
    else return undefined;
  }
  return cur;
}

/** Everything one compilation accumulates; created once per spec document. */
export class SpecContext {
  /** Every problem found so far, in the order found. */
  readonly problems: Problem[] = [];
  /** What the author probably did not mean but may (the spec still compiles), in order found. */
  readonly warnings: Problem[] = [];
  /** Ids of the steps declared (all of them, before any step is compiled). */
  readonly stepIds = new Set<string>();
  /** Names of the declared inputs (native `inputs` and seed `initial_state`). */
  readonly inputNames = new Set<string>();
  /**
   * The steps in the order they are listed, with the output keys their capability declares
   * (`null`: it declares none, so any key may come out). Undeclared seed names look here.
   */
  readonly listed: {
    readonly id: string;
    readonly outputs: readonly string[] | null;
    /** What produces the outputs: a capability name, or "the approval". */
    readonly by: string;
  }[] = [];
  /** Undeclared seed names read so far; `true` when no step listed before could give one. */
  readonly undeclared = new Map<string, boolean>();
  /** Edges `step → earlier step` that exist only because the step has no `depends_on`. */
  readonly orderEdges = new Set<string>();
  /** Where the envelope is written: `governance`, or the Flamehaven `sovdef` of a seed spec. */
  governanceKey: "governance" | "sovdef" = "governance";
  /** The document uses the seed format (any seed-only key present). */
  seed = false;

  constructor(
    readonly src: YamlSource,
    readonly catalog: CapabilityCatalog,
  ) {}

  /** The capability a name means: itself, or the target of a seed alias (`seed-aliases.ts`). */
  capability(name: unknown): AnyCapability | undefined {
    if (typeof name !== "string") return undefined;
    const resolved = resolveCapabilityName(name, (n) => this.catalog.get(n) !== undefined);
    return resolved ? this.catalog.get(resolved.name) : undefined;
  }

  /** Records a problem located at `path`. */
  report(path: FieldPath, message: string): void {
    this.problems.push(this.src.problem(path, message));
  }

  /** Records something the author probably did not mean, which does not stop the spec. */
  warn(path: FieldPath, message: string): void {
    this.warnings.push(this.src.problem(path, message));
  }

  /** Reports every key of `obj` not in `allowed`, with a "did you mean" hint. */
  checkKeys(
    obj: Record<string, unknown>,
    allowed: readonly string[],
    path: FieldPath,
    what: string,
  ): void {
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) {
        this.report([...path, key], `unknown ${what} key "${key}"${didYouMean(key, allowed)}`);
      }
    }
  }

  /** Converts a YAML value to JSON, reporting values JSON cannot hold. */
  toJson(value: unknown, path: FieldPath): JsonValue {
    if (value === null || typeof value === "string" || typeof value === "boolean") return value;
    if (typeof value === "number") {
      if (Number.isFinite(value)) return value;
      this.report(path, "numbers must be finite");
      return null;
    }
    if (Array.isArray(value)) return value.map((v, i) => this.toJson(v, [...path, i]));
    if (isPlainObject(value)) {
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(value)) {
        Object.defineProperty(out, k, {
          value: this.toJson(v, [...path, k]),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    this.report(path, `unsupported value ${String(value)}`);
    return null;
  }
}
