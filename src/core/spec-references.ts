/**
 * @module What a spec's templates and dependencies refer to: checks every `${{ }}` / `{{ }}`
 * reference (seed shorthand rewritten to native paths), collects the steps a template reads as
 * dependencies, reads `depends_on`, and orders the steps topologically, reporting each cycle.
 */
import { ExpressionError } from "./errors.js";
import { compileExpression, formatPath, type PathSegment, rewriteExpressionPaths } from "./expr.js";
import { isPlainObject, type JsonObject, type JsonValue } from "./json.js";
import type { PlanStep } from "./plan.js";
import { seedOutputName } from "./seed-aliases.js";
import { RUN_NAMES, SEED_ROOT } from "./seed-names.js";
import { didYouMean, type SpecContext } from "./spec-context.js";
import { mapSeedPath, NATIVE_ROOTS, type SeedPathResult } from "./spec-seed.js";
import { formatTemplateString, parseTemplateString, type TemplatePart } from "./template.js";
import type { FieldPath } from "./yaml-source.js";

/** `run.*` fields a template may read. */
export const RUN_FIELDS: ReadonlySet<string> = new Set(["id", "name", "principal", "started_at"]);

/** Where a template is evaluated: decides which roots it may read and what it depends on. */
export interface TemplateScope {
  readonly selfId: string | undefined;
  /** Compensation and evidence run after the step: they may read its own outputs. */
  readonly allowSelf: boolean;
  readonly allowEvidence: boolean;
  /** Steps the templates read (filled in). */
  readonly deps: Set<string>;
}

/** True when the value holds a template expression anywhere (a malformed template counts). */
export function isTemplated(value: unknown): boolean {
  if (typeof value === "string") {
    if (!value.includes("{{")) return false;
    try {
      return parseTemplateString(value).some((p) => p.kind === "expr");
    } catch {
      return true;
    }
  }
  if (Array.isArray(value)) return value.some(isTemplated);
  if (isPlainObject(value)) return Object.values(value).some(isTemplated);
  return false;
}

/** Validates and normalizes every template in a value (to `${{ }}`, seed paths rewritten). */
export function normalizeTemplates(
  ctx: SpecContext,
  value: JsonValue,
  path: FieldPath,
  scope: TemplateScope,
): JsonValue {
  if (typeof value === "string") return normalizeTemplateString(ctx, value, path, scope);
  if (Array.isArray(value)) {
    return value.map((v, i) => normalizeTemplates(ctx, v, [...path, i], scope));
  }
  if (isPlainObject(value)) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: normalizeTemplates(ctx, v as JsonValue, [...path, k], scope),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/** `normalizeTemplates` for one string. */
export function normalizeTemplateString(
  ctx: SpecContext,
  s: string,
  path: FieldPath,
  scope: TemplateScope,
): string {
  if (!s.includes("{{")) return s;
  let parts: readonly TemplatePart[];
  try {
    parts = parseTemplateString(s);
  } catch (err) {
    ctx.report(path, (err as Error).message);
    return s;
  }
  if (!parts.some((p) => p.kind === "expr")) return s;
  return formatTemplateString(
    parts.map((p) =>
      p.kind === "text"
        ? p
        : { ...p, source: checkExpression(ctx, p.source, !p.dollar, path, scope) },
    ),
  );
}

/** A `when` condition: one template, a bare expression or a boolean → `${{ expr }}`. */
export function normalizeCondition(
  ctx: SpecContext,
  value: unknown,
  path: FieldPath,
  scope: TemplateScope,
): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === "boolean") return `\${{ ${value} }}`;
  if (typeof value !== "string") {
    ctx.report(path, "a condition must be an expression string or a boolean");
    return null;
  }
  let parts: readonly TemplatePart[];
  try {
    parts = parseTemplateString(value);
  } catch (err) {
    ctx.report(path, (err as Error).message);
    return null;
  }
  const only = parts.length === 1 ? parts[0] : undefined;
  if (only?.kind === "expr") {
    return `\${{ ${checkExpression(ctx, only.source, !only.dollar, path, scope)} }}`;
  }
  if (parts.some((p) => p.kind === "expr")) {
    ctx.report(path, "a condition must be a single expression, not text with templates");
    return null;
  }
  return `\${{ ${checkExpression(ctx, value.trim(), false, path, scope)} }}`;
}

/** Checks one expression; returns its normalized source. `seedForm`: `{{ }}` template. */
function checkExpression(
  ctx: SpecContext,
  source: string,
  seedForm: boolean,
  path: FieldPath,
  scope: TemplateScope,
): string {
  let normalized = source;
  try {
    if (seedForm) {
      normalized = rewriteExpressionPaths(source, (p) => {
        const r = mapSeedPath(p, ctx.stepIds, ctx.inputNames, (name, rest) =>
          undeclaredName(ctx, name, rest, scope),
        );
        if (!r.ok) {
          ctx.report(path, `unresolved reference "${formatPath(p)}": ${r.message}`);
          return undefined;
        }
        const mapped = withSeedOutputName(ctx, r.path);
        return mapped === p ? undefined : mapped;
      });
    }
    const compiled = compileExpression(normalized);
    for (const ref of compiled.references) {
      if (seedForm && !NATIVE_ROOTS.has(ref[0]!)) continue; // reported by mapSeedPath
      checkReference(ctx, ref, path, scope);
    }
  } catch (err) {
    if (!(err instanceof ExpressionError)) throw err;
    ctx.report(path, err.message);
  }
  return normalized;
}

/** `steps.<id>.outputs.<key>` with the original's output name (`checksum_sha256`) as declared. */
function withSeedOutputName(
  ctx: SpecContext,
  path: readonly PathSegment[],
): readonly PathSegment[] {
  const [root, id, outputs, key, ...rest] = path;
  if (root !== "steps" || outputs !== "outputs" || typeof key !== "string") return path;
  const declared = ctx.listed.find((l) => l.id === id)?.outputs ?? null;
  const name = seedOutputName(key, declared);
  return name === key ? path : ["steps", id as PathSegment, "outputs", name, ...rest];
}

/**
 * An undeclared seed name (`{{ account_id }}`) read by the step in `scope`: `seed.<step>.<name>`,
 * resolved at run time (`seed-names.ts`). The steps listed before that could output it become
 * dependencies; two that declare it are ambiguous (an error naming both); a name nothing listed
 * before can give (nor the run's id or time) is an input the run will need.
 */
function undeclaredName(
  ctx: SpecContext,
  name: string,
  rest: readonly PathSegment[],
  scope: TemplateScope,
): SeedPathResult {
  const self = scope.selfId;
  const at = self === undefined ? -1 : ctx.listed.findIndex((l) => l.id === self);
  if (self === undefined || at < 0) {
    return {
      ok: false,
      message: `"${name}" is neither a step nor a declared input (seed templates read {{ step_name.key }} or {{ input_name }})`,
    };
  }
  const before = ctx.listed.slice(0, at);
  const own = ctx.listed[at]!;
  const selfGives = scope.allowSelf && (own.outputs === null || own.outputs.includes(name));
  const declaring = before.filter(
    (l) =>
      (l.outputs !== null && seedOutputName(name, l.outputs) !== name) || l.outputs?.includes(name),
  );
  if (declaring.length > 1 && !(scope.allowSelf && own.outputs?.includes(name))) {
    const [a, b] = declaring.map((l) => l.id);
    return {
      ok: false,
      message: `"{{ ${name} }}" is ambiguous: steps "${a}" and "${b}" both output "${name}"; write {{ ${a}.${name} }} or {{ ${b}.${name} }}`,
    };
  }
  const open = before.filter((l) => l.outputs === null);
  for (const l of [...declaring, ...open]) scope.deps.add(l.id);
  const needed =
    !selfGives && declaring.length + open.length === 0 && !Object.hasOwn(RUN_NAMES, name);
  ctx.undeclared.set(name, (ctx.undeclared.get(name) ?? false) || needed);
  return { ok: true, path: [SEED_ROOT, self, name, ...rest] };
}

/** Checks one native reference path; a step's outputs it reads become a dependency. */
function checkReference(
  ctx: SpecContext,
  ref: readonly string[],
  path: FieldPath,
  scope: TemplateScope,
): void {
  const [root, a, b] = ref;
  const shown = formatPath(ref);
  const bad = (why: string) => ctx.report(path, `unresolved reference "${shown}": ${why}`);
  switch (root) {
    case "inputs":
      if (a !== undefined && !ctx.inputNames.has(a)) {
        bad(`no declared input "${a}"${didYouMean(a, ctx.inputNames)}`);
      }
      return;
    case "steps":
      if (a === undefined) bad("name a step: steps.<id>.outputs...");
      else if (!ctx.stepIds.has(a)) bad(`no step "${a}"${didYouMean(a, ctx.stepIds)}`);
      else if (b !== "outputs") bad(`read a step's outputs as steps.${a}.outputs...`);
      else if (undeclaredOutput(ctx, a, ref[3])) {
        const l = ctx.listed.find((x) => x.id === a)!;
        bad(`${l.by} outputs ${l.outputs!.join(", ")}${didYouMean(ref[3]!, l.outputs!)}`);
      } else if (a === scope.selfId) {
        if (!scope.allowSelf) {
          ctx.report(
            path,
            `dependency cycle: step "${a}" reads its own outputs ("${shown}") before it runs`,
          );
        }
      } else scope.deps.add(a);
      return;
    case "run":
      if (a === undefined || !RUN_FIELDS.has(a) || ref.length > 2) {
        bad(`run.* has ${[...RUN_FIELDS].join(", ")}`);
      }
      return;
    case "secrets":
      if (ref.length !== 2) bad("read a secret as secrets.NAME");
      return;
    case "evidence":
      if (!scope.allowEvidence) bad("evidence.* may only be read in evidence expressions");
      return;
    default:
      bad(`unknown root "${root}" (use inputs.*, steps.<id>.outputs.*, run.*, secrets.*)`);
  }
}

/** True when step `id`'s capability declares its outputs and `key` is not one of them. */
function undeclaredOutput(ctx: SpecContext, id: string, key: string | undefined): boolean {
  if (key === undefined) return false;
  const outputs = ctx.listed.find((l) => l.id === id)?.outputs;
  return outputs !== undefined && outputs !== null && !outputs.includes(key);
}

/** A step's `depends_on` (one id or a list): the known step ids it names. */
export function explicitDependencies(
  ctx: SpecContext,
  raw: Record<string, unknown>,
  path: FieldPath,
  id: string | undefined,
): string[] {
  const v = raw.depends_on;
  if (v === undefined || v === null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list)) {
    ctx.report([...path, "depends_on"], "depends_on must be a list of step ids");
    return [];
  }
  const out: string[] = [];
  list.forEach((d, j) => {
    const p = typeof v === "string" ? [...path, "depends_on"] : [...path, "depends_on", j];
    if (typeof d !== "string") ctx.report(p, "a dependency must be a step id");
    else if (d === id) ctx.report(p, `cycle: step "${d}" depends on itself`);
    else if (!ctx.stepIds.has(d)) ctx.report(p, `unknown step "${d}"${didYouMean(d, ctx.stepIds)}`);
    else out.push(d);
  });
  return out;
}

/** Reports every cycle; returns the steps in a stable topological order, or undefined. */
export function orderSteps(ctx: SpecContext, steps: PlanStep[]): PlanStep[] | undefined {
  const index = new Map(steps.map((s, i) => [s.id, i]));
  const sorted = steps.map((s) => ({
    ...s,
    dependsOn: [...s.dependsOn]
      .filter((d) => index.has(d))
      .sort((a, b) => index.get(a)! - index.get(b)!),
  }));
  // Cycle detection (depth first), each cycle reported once.
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const seen = new Set<string>();
  const visit = (id: string) => {
    state.set(id, 1);
    stack.push(id);
    for (const d of sorted[index.get(id)!]!.dependsOn) {
      if (state.get(d) === 1) {
        const cycle = stack.slice(stack.indexOf(d));
        const key = [...cycle].sort().join(",");
        if (!seen.has(key)) {
          seen.add(key);
          const start = cycle.reduce((a, b) => (index.get(a)! <= index.get(b)! ? a : b));
          const rot = [
            ...cycle.slice(cycle.indexOf(start)),
            ...cycle.slice(0, cycle.indexOf(start)),
          ];
          // Edges point from a step to what it waits for: print them in execution order.
          const path = [...rot, start].reverse().join(" -> ");
          const hint = cycle.some((from, k) =>
            ctx.orderEdges.has(`${from}\u0000${cycle[(k + 1) % cycle.length]}`),
          )
            ? " (a step without depends_on waits for every step listed before it; give it depends_on to run it earlier)"
            : "";
          ctx.report(stepPath(ctx, start), `dependency cycle: ${path}${hint}`);
        }
      } else if (state.get(d) === undefined) visit(d);
    }
    stack.pop();
    state.set(id, 2);
  };
  for (const s of sorted) if (!state.has(s.id)) visit(s.id);
  if (seen.size > 0) return undefined;

  // Kahn's algorithm, always taking the earliest-declared ready step: dependencies first,
  // otherwise declaration order, in O(n log n).
  const unmet = sorted.map((s) => s.dependsOn.length);
  const dependents: number[][] = sorted.map(() => []);
  sorted.forEach((s, i) => {
    for (const d of s.dependsOn) dependents[index.get(d)!]!.push(i);
  });
  const ready = new MinHeap();
  unmet.forEach((n, i) => {
    if (n === 0) ready.push(i);
  });
  const out: PlanStep[] = [];
  for (let i = ready.pop(); i !== undefined; i = ready.pop()) {
    out.push(sorted[i]!);
    for (const j of dependents[i]!) if (--unmet[j]! === 0) ready.push(j);
  }
  return out.length === sorted.length ? out : undefined;
}

/** A binary min-heap of numbers. */
class MinHeap {
  readonly #items: number[] = [];

  push(n: number): void {
    const a = this.#items;
    a.push(n);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= a[i]!) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }

  pop(): number | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

/** Path of the step declared with `id` (for locating a cycle). */
function stepPath(ctx: SpecContext, id: string): FieldPath {
  const raw = (ctx.src.value as { steps: unknown[] }).steps;
  const i = raw.findIndex((s) => isPlainObject(s) && (s.id ?? s.name) === id);
  return ["steps", i];
}
