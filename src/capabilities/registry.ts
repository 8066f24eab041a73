/**
 * @module The capability registry: every capability a runtime can call, by name. Registration
 * checks the declaration (name, risk, effect, undo, functions) so that a malformed capability —
 * from a plugin, say — is refused at startup rather than failing mid-run.
 */
import { z } from "zod";
import type { AnyCapability, CapabilityCatalog } from "../core/capability.js";
import { CapabilityRegistrationError } from "../core/errors.js";
import type { JsonValue } from "../core/json.js";
import type { LlmConfig } from "../core/llm-config.js";
import { EffectClass, RiskLevel, UndoKind } from "../core/status.js";
import { jsonGet, jsonParse, jsonStringify } from "./data/json.js";
import { createRowCapabilities } from "./db/db-rows.js";
import { createSqlCapabilities } from "./db/db-sql-capabilities.js";
import { TargetDatabases } from "./db/db-target.js";
import { execRun } from "./exec/run.js";
import { fsCapabilities } from "./fs/index.js";
import { httpRequest } from "./http/request.js";
import { createLlmChat } from "./llm/llm-chat.js";
import { sysAssert } from "./sys/assert.js";
import { sysEcho } from "./sys/echo.js";
import { sysFail } from "./sys/fail.js";
import { createGetEnvVar, getOs, getTime } from "./sys/info.js";
import { sysSleep } from "./sys/sleep.js";
import { regexMatch } from "./text/regex-match.js";
import { templateRender } from "./text/template-render.js";

/** Names are dotted lower-case segments (`sys.echo`, `io.fs.write_file`). */
const NAME_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const RISKS: ReadonlySet<unknown> = new Set(Object.values(RiskLevel));
const EFFECTS: ReadonlySet<unknown> = new Set(Object.values(EffectClass));
const UNDOS: ReadonlySet<unknown> = new Set(Object.values(UndoKind));

/** Every problem with a capability declaration (empty when it is well formed). */
export function capabilityProblems(cap: unknown): string[] {
  if (typeof cap !== "object" || cap === null) return ["a capability must be an object"];
  const c = cap as Record<string, unknown>;
  const problems: string[] = [];
  const fn = (key: string, required: boolean) => {
    if (c[key] === undefined ? required : typeof c[key] !== "function") {
      problems.push(`${key} must be a function`);
    }
  };
  if (typeof c.name !== "string" || !NAME_PATTERN.test(c.name)) {
    problems.push(`name ${JSON.stringify(c.name)} must be dotted lower-case words (domain.verb)`);
  }
  if (typeof c.description !== "string") problems.push("description must be a string");
  if (typeof (c.input as { safeParse?: unknown } | undefined)?.safeParse !== "function") {
    problems.push("input must be a zod schema");
  }
  if (!RISKS.has(c.risk)) problems.push(`risk must be one of ${[...RISKS].join(", ")}`);
  if (!EFFECTS.has(c.effect)) problems.push(`effect must be one of ${[...EFFECTS].join(", ")}`);
  if (!UNDOS.has(c.undo)) problems.push(`undo must be one of ${[...UNDOS].join(", ")}`);
  if (typeof c.idempotent !== "boolean") problems.push("idempotent must be a boolean");
  if (c.nondeterministic !== undefined && typeof c.nondeterministic !== "boolean") {
    problems.push("nondeterministic must be a boolean");
  }
  if (c.pure !== undefined && typeof c.pure !== "boolean") problems.push("pure must be a boolean");
  if (c.pure === true && (c.undo !== "none" || c.effect !== "read")) {
    problems.push('a pure capability has undo "none" and effect "read"');
  }
  if (
    c.sensitive !== undefined &&
    !(Array.isArray(c.sensitive) && c.sensitive.every((s) => typeof s === "string"))
  ) {
    problems.push("sensitive must be an array of field paths");
  }
  fn("execute", true);
  for (const key of ["classify", "prepare", "revert", "reconcile"]) fn(key, false);
  if (c.undo === "builtin" && (c.prepare === undefined || c.revert === undefined)) {
    problems.push("builtin undo needs both prepare and revert");
  }
  return problems;
}

/**
 * Capabilities by name. The engine and compiler see it through `CapabilityCatalog`.
 *
 * @example
 * const registry = createStandardRegistry();
 * registry.register(myCapability); // throws CAPABILITY_DUPLICATE if the name is taken
 */
export class CapabilityRegistry implements CapabilityCatalog {
  readonly #byName = new Map<string, AnyCapability>();

  /** Every problem with `cap`'s declaration (empty when well formed); see `capabilityProblems`. */
  check(cap: unknown): string[] {
    return capabilityProblems(cap);
  }

  /** Adds a capability; throws `CapabilityRegistrationError` if malformed or the name is taken. */
  register(cap: AnyCapability): this {
    const problems = capabilityProblems(cap);
    const name = (cap as { name?: unknown } | null)?.name;
    if (problems.length > 0) {
      throw new CapabilityRegistrationError(
        "CAPABILITY_INVALID",
        `invalid capability ${typeof name === "string" ? `"${name}"` : ""}: ${problems.join("; ")}`,
        typeof name === "string" ? { capability: name } : {},
      );
    }
    if (this.#byName.has(cap.name)) {
      throw new CapabilityRegistrationError(
        "CAPABILITY_DUPLICATE",
        `capability "${cap.name}" is already registered`,
        { capability: cap.name },
      );
    }
    this.#byName.set(cap.name, cap);
    return this;
  }

  /** True when a capability of that name is registered. */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** The capability of that name, if any. */
  get(name: string): AnyCapability | undefined {
    return this.#byName.get(name);
  }

  /** Every registered name, sorted. */
  names(): readonly string[] {
    return [...this.#byName.keys()].sort();
  }

  /** Every registered capability, sorted by name. */
  list(): readonly AnyCapability[] {
    return this.names().map((n) => this.#byName.get(n)!);
  }
}

/**
 * The standard library: the `io.fs.*` capabilities, `net.http.request`, `sys.exec.run`, `sys.*`,
 * and the small pure helpers (`data.json.*`, `text.*`, `sys.info.*`) the original project's
 * workflows use. `sys.info.get_env_var` and `llm.chat` are bound to the configuration by
 * `createStandardRegistry`.
 */
export const standardCapabilities: readonly AnyCapability[] = Object.freeze([
  ...fsCapabilities,
  httpRequest,
  execRun,
  sysEcho,
  sysSleep,
  sysFail,
  sysAssert,
  jsonParse,
  jsonStringify,
  jsonGet,
  templateRender,
  regexMatch,
  getTime,
  getOs,
]);

/** Settings of the standard capabilities that depend on the configuration. */
export interface StandardRegistryOptions {
  /** The compiled `llm:` section for `llm.chat` (null: no provider, every call refused). */
  readonly llm?: LlmConfig | null;
  /**
   * Where `llm.chat` reads API keys and `sys.info.get_env_var` reads variables, at call time.
   * Default `process.env`.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * The target databases of the `db.*` capabilities (`databases:`); the caller closes them.
   * Default: none configured (every `db.*` call fails with `DB_UNKNOWN`).
   */
  readonly databases?: TargetDatabases;
}

/**
 * A new registry holding the standard library, `sys.info.get_env_var` reading `options.env`
 * and `llm.chat` bound to `options.llm` (plugins are added with `loadPlugins`, declared
 * capabilities with `registerDeclared`).
 */
export function createStandardRegistry(options: StandardRegistryOptions = {}): CapabilityRegistry {
  const registry = new CapabilityRegistry();
  for (const cap of standardCapabilities) registry.register(cap);
  registry.register(createGetEnvVar(options.env ?? process.env));
  registry.register(
    createLlmChat(options.llm ?? null, options.env === undefined ? {} : { env: options.env }),
  );
  const databases = options.databases ?? new TargetDatabases({});
  for (const cap of createRowCapabilities(databases)) registry.register(cap);
  for (const cap of createSqlCapabilities(databases)) registry.register(cap);
  return registry;
}

/** A JSON summary of a capability, as `airun capabilities` prints it. */
export interface CapabilityDescription {
  readonly name: string;
  readonly description: string;
  readonly risk: RiskLevel;
  readonly effect: EffectClass;
  readonly idempotent: boolean;
  readonly undo: UndoKind;
  readonly nondeterministic: boolean;
  readonly sensitive: readonly string[];
  /** JSON Schema (draft 2020-12) of the input; `null` when the schema cannot be expressed. */
  readonly inputSchema: JsonValue | null;
  /** JSON Schema of the output when the capability declares one (else, or unexpressible, null). */
  readonly outputSchema: JsonValue | null;
}

/** A zod schema as JSON Schema (draft 2020-12), or null when it cannot be expressed. */
function jsonSchemaOf(schema: z.ZodType | undefined, io: "input" | "output"): JsonValue | null {
  if (schema === undefined) return null;
  try {
    return z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonValue;
  } catch {
    return null;
  }
}

/** Summarizes a capability for listings (`airun capabilities`, the HTTP API, MCP tool lists). */
export function describeCapability(cap: AnyCapability): CapabilityDescription {
  return {
    name: cap.name,
    description: cap.description,
    risk: cap.risk,
    effect: cap.effect,
    idempotent: cap.idempotent,
    undo: cap.undo,
    nondeterministic: cap.nondeterministic ?? false,
    sensitive: [...(cap.sensitive ?? [])],
    inputSchema: jsonSchemaOf(cap.input, "input"),
    outputSchema: jsonSchemaOf(cap.output, "output"),
  };
}
