/**
 * @module Capabilities declared in config (SPEC §5): a command (argv template, never a shell) or
 * an HTTP endpoint (method, URL template, headers, body template) wrapped with typed inputs, a
 * risk floor, an effect class and a declared compensation, written under `capabilities:` in
 * `airun.yaml` or in `capabilities/*.yaml` files next to it. Pure: this compiles the YAML into
 * data (every problem named by file, line and field); `capabilities/declared.ts` turns the data
 * into a capability that runs through `sys.exec.run` or `net.http.request`.
 *
 * Templates (`${{ expr }}`, or `{{ expr }}`) may read `inputs.<declared input>` and
 * `secrets.NAME` (read from the environment at the moment of the call, masked in every record);
 * a compensation's inputs may also read `outputs.*`, the call's own outputs.
 */

import type { Problem } from "./errors.js";
import { ExpressionError } from "./errors.js";
import { compileExpression, formatPath } from "./expr.js";
import { isPlainObject, type JsonObject, type JsonValue } from "./json.js";
import { didYouMean } from "./spec-context.js";
import { type EffectClass, RiskLevel } from "./status.js";
import { rewriteTemplates } from "./template.js";
import type { FieldPath, YamlSource } from "./yaml-source.js";

/** Names of declared capabilities: two or more dotted lower-case words (`crm.create_account`). */
export const DECLARED_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/** Types a declared input may have. */
export const DECLARED_INPUT_TYPES = [
  "string",
  "number",
  "integer",
  "boolean",
  "object",
  "array",
  "any",
] as const;
/** The type of a declared input. */
export type DeclaredInputType = (typeof DECLARED_INPUT_TYPES)[number];

/** One typed input of a declared capability. */
export interface DeclaredInput {
  readonly type: DeclaredInputType;
  readonly required: boolean;
  readonly default?: JsonValue;
  readonly description?: string;
  /** The only values allowed (strings or numbers), when given. */
  readonly enum?: readonly JsonValue[];
}

/** What a declared capability does: run a command, or send an HTTP request. */
export type DeclaredAction =
  | {
      readonly kind: "command";
      /** argv templates; argv[0] must be on `sandbox.exec.allow` when the call runs. */
      readonly argv: readonly string[];
      readonly cwd: string | null;
      readonly env: Readonly<Record<string, string>> | null;
      readonly stdin: string | null;
      /** Parse stdout as JSON into the `json` output. */
      readonly parseJson: boolean;
    }
  | {
      readonly kind: "http";
      readonly method: string;
      readonly url: string;
      readonly headers: Readonly<Record<string, string>> | null;
      /** Body template: a string is sent as is, anything else as JSON. Absent: no body. */
      readonly body: JsonValue | undefined;
    };

/** Where a declaration (or one of its fields) was written. */
export interface DeclaredAt {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly field: string;
}

/** A compiled declaration: plain, frozen data (templates in the native `${{ }}` syntax). */
export interface CapabilityDeclaration {
  readonly name: string;
  readonly description: string;
  readonly inputs: Readonly<Record<string, DeclaredInput>>;
  readonly risk: RiskLevel;
  readonly effect: EffectClass;
  readonly idempotent: boolean;
  /** Input names whose values are redacted before anything is recorded. */
  readonly sensitive: readonly string[];
  readonly action: DeclaredAction;
  /** The compensation: a capability and inputs templated from `inputs.*` and `outputs.*`. */
  readonly compensation: {
    readonly capability: string;
    readonly inputs: JsonValue;
    /** Where its `capability` field is, for errors found when capabilities are registered. */
    readonly at: DeclaredAt;
  } | null;
  /** Where the declaration starts. */
  readonly at: DeclaredAt;
}

const DECL_KEYS = [
  "name",
  "id",
  "description",
  "inputs",
  "parameters",
  "risk",
  "risk_level",
  "effect",
  "operation_type",
  "idempotent",
  "sensitive",
  "command",
  "http",
  "compensation",
  "metadata",
];
const INPUT_KEYS = ["name", "type", "required", "default", "description", "enum"];
const COMMAND_KEYS = ["argv", "cwd", "env", "stdin", "parse_json"];
const HTTP_KEYS = ["method", "url", "headers", "body"];
const COMPENSATION_KEYS = ["capability", "capability_name", "capability_id", "inputs"];
const EFFECTS: readonly string[] = ["read", "write", "delete", "network", "exec"];
/** The original's `operation_type` values. */
const OPERATION_TYPES: Readonly<Record<string, EffectClass>> = {
  READ: "read",
  WRITE: "write",
  DELETE: "delete",
  NETWORK: "network",
  EXECUTE: "exec",
  EXEC: "exec",
};
const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const RISKS: readonly string[] = Object.values(RiskLevel);

/** Collects problems for one YAML source. */
class DeclContext {
  readonly problems: Problem[] = [];
  constructor(readonly src: YamlSource) {}
  report(path: FieldPath, message: string): void {
    this.problems.push(this.src.problem(path, message));
  }
  at(path: FieldPath): DeclaredAt {
    const p = this.src.problem(path, "");
    return { file: p.file, line: p.line, col: p.col, field: p.field };
  }
  keys(obj: Record<string, unknown>, allowed: readonly string[], path: FieldPath, what: string) {
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) {
        this.report([...path, key], `unknown ${what} key "${key}"${didYouMean(key, allowed)}`);
      }
    }
  }
}

/**
 * Compiles the declarations of a mapping `name → declaration` found at `path` of `src` (the
 * `capabilities:` section of `airun.yaml`, or of a capability file).
 */
export function compileDeclarationMap(
  src: YamlSource,
  value: unknown,
  path: FieldPath,
): { declarations: CapabilityDeclaration[]; problems: Problem[] } {
  const ctx = new DeclContext(src);
  const declarations: CapabilityDeclaration[] = [];
  if (value === undefined || value === null) return { declarations, problems: [] };
  if (!isPlainObject(value)) {
    ctx.report(path, "capabilities must be a mapping of capability name → declaration");
    return { declarations, problems: ctx.problems };
  }
  for (const [name, decl] of Object.entries(value)) {
    const d = compileOne(ctx, name, decl, [...path, name]);
    if (d) declarations.push(d);
  }
  return { declarations, problems: ctx.problems };
}

/**
 * Compiles a capability file: one declaration with a `name` (or the original's `id`) at the top
 * level, or a `capabilities:` mapping of several.
 */
export function compileDeclarationFile(src: YamlSource): {
  declarations: CapabilityDeclaration[];
  problems: Problem[];
} {
  const v = src.value;
  if (isPlainObject(v) && Object.keys(v).length === 1 && Object.hasOwn(v, "capabilities")) {
    return compileDeclarationMap(src, v.capabilities, ["capabilities"]);
  }
  const ctx = new DeclContext(src);
  if (!isPlainObject(v)) {
    ctx.report(
      [],
      "a capability file must be a mapping: one declaration with a name, or capabilities:",
    );
    return { declarations: [], problems: ctx.problems };
  }
  const key = v.name !== undefined ? "name" : "id";
  if (typeof v[key] !== "string") {
    ctx.report([], "the declaration needs a name (or id): the capability's dotted name");
    return { declarations: [], problems: ctx.problems };
  }
  const d = compileOne(ctx, v[key] as string, v, []);
  return { declarations: d ? [d] : [], problems: ctx.problems };
}

function compileOne(
  ctx: DeclContext,
  name: string,
  raw: unknown,
  path: FieldPath,
): CapabilityDeclaration | undefined {
  const before = ctx.problems.length;
  if (!DECLARED_NAME.test(name)) {
    ctx.report(
      path,
      `capability name "${name}" must be dotted lower-case words (crm.create_account)`,
    );
  }
  if (!isPlainObject(raw)) {
    ctx.report(path, "a capability declaration must be a mapping");
    return undefined;
  }
  ctx.keys(raw, DECL_KEYS, path, "capability");
  for (const k of ["name", "id"]) {
    if (raw[k] !== undefined && raw[k] !== name) {
      ctx.report(
        [...path, k],
        `${k} "${String(raw[k])}" disagrees with the capability's name "${name}"`,
      );
    }
  }
  const description = raw.description ?? "";
  if (typeof description !== "string")
    ctx.report([...path, "description"], "description must be a string");

  const inputs = declaredInputs(ctx, raw, path);
  const risk = declaredRisk(ctx, raw, path);
  const hasCommand = raw.command !== undefined;
  const hasHttp = raw.http !== undefined;
  if (hasCommand === hasHttp) {
    ctx.report(path, "declare exactly one of command (argv template) or http (method, url)");
  }
  const names = new Set(Object.keys(inputs));
  const action = hasCommand
    ? commandAction(ctx, raw.command, [...path, "command"], names)
    : hasHttp
      ? httpAction(ctx, raw.http, [...path, "http"], names)
      : undefined;
  const effect = declaredEffect(ctx, raw, path, action);
  if (raw.idempotent !== undefined && typeof raw.idempotent !== "boolean") {
    ctx.report([...path, "idempotent"], "idempotent must be true or false");
  }
  const sensitive: string[] = [];
  if (raw.sensitive !== undefined) {
    if (!Array.isArray(raw.sensitive))
      ctx.report([...path, "sensitive"], "sensitive must be a list of input names");
    else {
      raw.sensitive.forEach((s, i) => {
        if (typeof s !== "string" || !names.has(s)) {
          ctx.report([...path, "sensitive", i], `sensitive names no declared input "${String(s)}"`);
        } else sensitive.push(s);
      });
    }
  }
  const compensation =
    raw.compensation === undefined || raw.compensation === null
      ? null
      : declaredCompensation(ctx, raw.compensation, [...path, "compensation"], names);
  if (ctx.problems.length > before || !action || !risk) return undefined;
  return deepFreeze({
    name,
    description: typeof description === "string" ? description : "",
    inputs,
    risk,
    effect,
    idempotent: raw.idempotent === true,
    sensitive,
    action,
    compensation,
    at: ctx.at(path),
  });
}

/** `inputs:` (name → spec) or the original's `parameters:` list (`- name: x`). */
function declaredInputs(
  ctx: DeclContext,
  raw: Record<string, unknown>,
  path: FieldPath,
): Record<string, DeclaredInput> {
  const out: Record<string, DeclaredInput> = {};
  if (raw.inputs !== undefined && raw.parameters !== undefined) {
    ctx.report([...path, "parameters"], "declare inputs or parameters, not both");
  }
  const entries: [string, unknown, FieldPath][] = [];
  if (raw.inputs !== undefined && raw.inputs !== null) {
    if (!isPlainObject(raw.inputs))
      ctx.report(
        [...path, "inputs"],
        "inputs must be a mapping of name → { type, required, default }",
      );
    else
      for (const [k, v] of Object.entries(raw.inputs)) entries.push([k, v, [...path, "inputs", k]]);
  } else if (raw.parameters !== undefined && raw.parameters !== null) {
    if (!Array.isArray(raw.parameters))
      ctx.report(
        [...path, "parameters"],
        "parameters must be a list of { name, type, required, default }",
      );
    else {
      raw.parameters.forEach((p, i) => {
        const pp = [...path, "parameters", i];
        if (!isPlainObject(p) || typeof p.name !== "string")
          ctx.report(pp, "a parameter needs a name");
        else entries.push([p.name, p, pp]);
      });
    }
  }
  for (const [name, spec, p] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      ctx.report(p, `input name "${name}" must be a word (letters, digits, _)`);
      continue;
    }
    if (Object.hasOwn(out, name)) {
      ctx.report(p, `input "${name}" is declared twice`);
      continue;
    }
    const s = typeof spec === "string" ? { type: spec } : spec;
    if (!isPlainObject(s)) {
      ctx.report(p, "an input must be a type name or { type, required, default, description }");
      continue;
    }
    ctx.keys(s, INPUT_KEYS, p, "input");
    const type = s.type ?? "string";
    if (typeof type !== "string" || !(DECLARED_INPUT_TYPES as readonly string[]).includes(type)) {
      ctx.report([...p, "type"], `type must be one of ${DECLARED_INPUT_TYPES.join(", ")}`);
      continue;
    }
    if (s.required !== undefined && typeof s.required !== "boolean") {
      ctx.report([...p, "required"], "required must be true or false");
    }
    const input: { -readonly [K in keyof DeclaredInput]: DeclaredInput[K] } = {
      type: type as DeclaredInputType,
      // Without `required`, an input with no default is required; the original's `default: null` is optional.
      required: s.required === true || (s.required === undefined && !Object.hasOwn(s, "default")),
    };
    if (s.default !== undefined && s.default !== null) {
      if (!matchesType(s.default, input.type))
        ctx.report([...p, "default"], `default does not have type ${input.type}`);
      else input.default = s.default as JsonValue;
    }
    if (typeof s.description === "string") input.description = s.description;
    if (s.enum !== undefined) {
      if (
        !Array.isArray(s.enum) ||
        s.enum.length === 0 ||
        !s.enum.every((e) => typeof e === "string" || typeof e === "number")
      ) {
        ctx.report([...p, "enum"], "enum must be a non-empty list of strings or numbers");
      } else input.enum = s.enum as JsonValue[];
    }
    out[name] = input;
  }
  return out;
}

/** True when `v` has the declared input type. */
export function matchesType(v: unknown, type: DeclaredInputType): boolean {
  switch (type) {
    case "string":
      return typeof v === "string";
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "integer":
      return Number.isInteger(v);
    case "boolean":
      return typeof v === "boolean";
    case "object":
      return isPlainObject(v);
    case "array":
      return Array.isArray(v);
    default:
      return true;
  }
}

/** `risk: HIGH`, the original's `risk: { level: HIGH }`, or `risk_level: HIGH`. Required. */
function declaredRisk(
  ctx: DeclContext,
  raw: Record<string, unknown>,
  path: FieldPath,
): RiskLevel | undefined {
  const key = raw.risk !== undefined ? "risk" : "risk_level";
  let v = raw[key];
  const p: (string | number)[] = [...path, key];
  if (isPlainObject(v)) {
    v = v.level;
    p.push("level");
  }
  if (v === undefined) {
    ctx.report(path, `the declaration needs a risk (${RISKS.join(", ")})`);
    return undefined;
  }
  if (typeof v !== "string" || !RISKS.includes(v.toUpperCase())) {
    ctx.report(p, `risk must be one of ${RISKS.join(", ")}`);
    return undefined;
  }
  return v.toUpperCase() as RiskLevel;
}

/**
 * `effect`, or the original's `operation_type`. Default: `exec` for a command; for an endpoint,
 * `read` for GET, HEAD and OPTIONS (as `net.http.request` classifies them), else `network`.
 */
function declaredEffect(
  ctx: DeclContext,
  raw: Record<string, unknown>,
  path: FieldPath,
  action: DeclaredAction | undefined,
): EffectClass {
  const fallback: EffectClass =
    action?.kind !== "http"
      ? "exec"
      : ["GET", "HEAD", "OPTIONS"].includes(action.method)
        ? "read"
        : "network";
  if (raw.effect !== undefined) {
    if (typeof raw.effect !== "string" || !EFFECTS.includes(raw.effect)) {
      ctx.report([...path, "effect"], `effect must be one of ${EFFECTS.join(", ")}`);
      return fallback;
    }
    return raw.effect as EffectClass;
  }
  if (raw.operation_type !== undefined) {
    const e =
      typeof raw.operation_type === "string"
        ? OPERATION_TYPES[raw.operation_type.toUpperCase()]
        : undefined;
    if (!e) {
      ctx.report(
        [...path, "operation_type"],
        `operation_type must be one of ${Object.keys(OPERATION_TYPES).join(", ")}`,
      );
      return fallback;
    }
    return e;
  }
  return fallback;
}

/** Checks the templates of a value; returns it with every template in `${{ }}` form. */
function templates(
  ctx: DeclContext,
  value: unknown,
  path: FieldPath,
  inputs: ReadonlySet<string>,
  allowOutputs: boolean,
): JsonValue {
  const json = toJson(ctx, value, path);
  const check = (v: JsonValue, p: FieldPath): void => {
    if (typeof v === "string") {
      if (!v.includes("{{")) return;
      try {
        rewriteTemplates(v, (source) => {
          for (const ref of compileExpression(source).references)
            checkRef(ctx, ref, p, inputs, allowOutputs);
          return source;
        });
      } catch (err) {
        if (!(err instanceof ExpressionError)) throw err;
        ctx.report(p, err.message);
      }
    } else if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) check(x, [...p, i]);
    } else if (isPlainObject(v))
      for (const [k, x] of Object.entries(v)) check(x as JsonValue, [...p, k]);
  };
  check(json, path);
  try {
    return rewriteTemplates(json, (s) => s);
  } catch {
    return json; // reported above
  }
}

function checkRef(
  ctx: DeclContext,
  ref: readonly string[],
  path: FieldPath,
  inputs: ReadonlySet<string>,
  allowOutputs: boolean,
): void {
  const [root, a] = ref;
  const shown = formatPath(ref);
  if (root === "inputs") {
    if (a === undefined || !inputs.has(a)) {
      ctx.report(
        path,
        `unresolved reference "${shown}": no declared input "${a ?? ""}"${a ? didYouMean(a, inputs) : ""}`,
      );
    }
  } else if (root === "secrets") {
    if (ref.length !== 2)
      ctx.report(path, `unresolved reference "${shown}": read a secret as secrets.NAME`);
  } else if (root === "outputs" && allowOutputs) {
    return;
  } else {
    ctx.report(
      path,
      `unresolved reference "${shown}": a declared capability reads inputs.*, secrets.*${allowOutputs ? " and (in its compensation) outputs.*" : ""}`,
    );
  }
}

function toJson(ctx: DeclContext, value: unknown, path: FieldPath): JsonValue {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
    ctx.report(path, "numbers must be finite");
    return null;
  }
  if (Array.isArray(value)) return value.map((v, i) => toJson(ctx, v, [...path, i]));
  if (isPlainObject(value)) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJson(ctx, v, [...path, k]);
    return out;
  }
  ctx.report(path, `unsupported value ${String(value)}`);
  return null;
}

function stringMap(
  ctx: DeclContext,
  v: unknown,
  path: FieldPath,
  inputs: ReadonlySet<string>,
  what: string,
): Record<string, string> | null {
  if (v === undefined || v === null) return null;
  if (!isPlainObject(v) || !Object.values(v).every((x) => typeof x === "string")) {
    ctx.report(path, `${what} must be a mapping of names to strings (templates allowed)`);
    return null;
  }
  return templates(ctx, v, path, inputs, false) as Record<string, string>;
}

function optionalString(
  ctx: DeclContext,
  v: unknown,
  path: FieldPath,
  inputs: ReadonlySet<string>,
): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") {
    ctx.report(path, "must be a string (templates allowed)");
    return null;
  }
  return templates(ctx, v, path, inputs, false) as string;
}

function commandAction(
  ctx: DeclContext,
  raw: unknown,
  path: FieldPath,
  inputs: ReadonlySet<string>,
): DeclaredAction | undefined {
  if (!isPlainObject(raw)) {
    ctx.report(path, "command must be a mapping with an argv list");
    return undefined;
  }
  ctx.keys(raw, COMMAND_KEYS, path, "command");
  const argv = raw.argv;
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
    ctx.report(
      [...path, "argv"],
      "argv must be a non-empty list of strings (the program, then its arguments; no shell)",
    );
    return undefined;
  }
  if ((argv[0] as string).includes("{{")) {
    ctx.report(
      [...path, "argv", 0],
      "argv[0], the program, must be written out (no template): the exec allowlist is checked against it",
    );
  }
  if (raw.parse_json !== undefined && typeof raw.parse_json !== "boolean") {
    ctx.report([...path, "parse_json"], "parse_json must be true or false");
  }
  return {
    kind: "command",
    argv: templates(ctx, argv, [...path, "argv"], inputs, false) as string[],
    cwd: optionalString(ctx, raw.cwd, [...path, "cwd"], inputs),
    env: stringMap(ctx, raw.env, [...path, "env"], inputs, "env"),
    stdin: optionalString(ctx, raw.stdin, [...path, "stdin"], inputs),
    parseJson: raw.parse_json === true,
  };
}

function httpAction(
  ctx: DeclContext,
  raw: unknown,
  path: FieldPath,
  inputs: ReadonlySet<string>,
): DeclaredAction | undefined {
  if (!isPlainObject(raw)) {
    ctx.report(path, "http must be a mapping with a method and a url");
    return undefined;
  }
  ctx.keys(raw, HTTP_KEYS, path, "http");
  const method = typeof raw.method === "string" ? raw.method.toUpperCase() : "GET";
  if (raw.method !== undefined && !HTTP_METHODS.includes(method)) {
    ctx.report([...path, "method"], `method must be one of ${HTTP_METHODS.join(", ")}`);
  }
  if (typeof raw.url !== "string" || !/^(https?:\/\/|\$?\{\{)/.test(raw.url)) {
    ctx.report([...path, "url"], "url must be an http(s) URL template");
    return undefined;
  }
  if (raw.body !== undefined && (method === "GET" || method === "HEAD")) {
    ctx.report([...path, "body"], `${method} cannot have a body`);
  }
  const headers = stringMap(ctx, raw.headers, [...path, "headers"], inputs, "headers");
  for (const name of Object.keys(headers ?? {})) {
    if (name.trim().toLowerCase() === "host") {
      ctx.report(
        [...path, "headers", name],
        "the Host header may not be set: it would bypass the host allowlist",
      );
    }
  }
  const action: DeclaredAction = {
    kind: "http",
    method,
    url: templates(ctx, raw.url, [...path, "url"], inputs, false) as string,
    headers,
    body:
      raw.body === undefined
        ? undefined
        : templates(ctx, raw.body, [...path, "body"], inputs, false),
  };
  return action;
}

function declaredCompensation(
  ctx: DeclContext,
  raw: unknown,
  path: FieldPath,
  inputs: ReadonlySet<string>,
): CapabilityDeclaration["compensation"] {
  if (!isPlainObject(raw)) {
    ctx.report(path, "compensation must be a mapping with a capability and inputs");
    return null;
  }
  ctx.keys(raw, COMPENSATION_KEYS, path, "compensation");
  const key =
    ["capability", "capability_name", "capability_id"].find((k) => raw[k] !== undefined) ??
    "capability";
  const capability = raw[key];
  if (typeof capability !== "string" || capability === "") {
    ctx.report(
      [...path, key],
      "the compensation needs a capability (a built-in or another declared one)",
    );
    return null;
  }
  const rawInputs = raw.inputs ?? {};
  if (!isPlainObject(rawInputs)) {
    ctx.report([...path, "inputs"], "compensation inputs must be a mapping");
    return null;
  }
  return {
    capability,
    inputs: templates(ctx, rawInputs, [...path, "inputs"], inputs, true),
    at: ctx.at([...path, key]),
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
