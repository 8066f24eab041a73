/**
 * @module Capabilities declared in config (SPEC §5), made callable. A declaration compiled by
 * `core/capability-decl.ts` becomes a capability whose call resolves the declaration's templates
 * against its inputs (and `secrets.*`, read at the moment of the call) and then runs exactly as
 * `sys.exec.run` or `net.http.request` would: the exec allowlist, the working directory inside
 * the sandbox, the minimal environment and process-group kill; the host allowlist, the
 * private-address (SSRF) guard and the pinned connections. Its preflight is theirs too, so a call
 * that cannot run fails at its gate before a person is asked. Secret values are masked out of
 * its outputs and errors. Its declared compensation reaches each step that uses it
 * (`core/declared-compensation.ts`), so gatekeeper, ledger and undo treat it as a built-in.
 */
import { z } from "zod";
import type { AnyCapability, CapabilityContext } from "../core/capability.js";
import type { CapabilityDeclaration, DeclaredInput } from "../core/capability-decl.js";
import {
  AirunError,
  CapabilityError,
  ExpressionError,
  type Problem,
  SandboxError,
  ValidationError,
} from "../core/errors.js";
import { compileExpression, type ExprScope } from "../core/expr.js";
import type { JsonObject, JsonValue } from "../core/json.js";
import { redact } from "../core/redact.js";
import {
  collectSecretNames,
  parseTemplateString,
  resolveTemplates,
  stringifyTemplateValue,
} from "../core/template.js";
import { execRun, execRunInput } from "./exec/run.js";
import { httpRequest, httpRequestInput } from "./http/request.js";
import type { CapabilityRegistry } from "./registry.js";

/** Secret values shorter than this are not masked (they would mask ordinary text). */
const MIN_MASKED = 4;

function inputSchema(inputs: Readonly<Record<string, DeclaredInput>>): z.ZodType<JsonObject> {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, d] of Object.entries(inputs)) {
    let t: z.ZodType;
    switch (d.type) {
      case "string":
        t = z.string();
        break;
      case "number":
        t = z.number();
        break;
      case "integer":
        t = z.number().int();
        break;
      case "boolean":
        t = z.boolean();
        break;
      case "object":
        t = z.record(z.string(), z.json());
        break;
      case "array":
        t = z.array(z.json());
        break;
      default:
        t = z.json();
    }
    if (d.enum) {
      const allowed = d.enum;
      t = t.refine((v) => allowed.includes(v as JsonValue), {
        message: `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`,
      });
    }
    if (d.description) t = t.describe(d.description);
    if (d.default !== undefined) t = t.default(d.default as never);
    else if (!d.required) t = t.optional();
    shape[name] = t;
  }
  return z.strictObject(shape) as unknown as z.ZodType<JsonObject>;
}

/**
 * A URL template resolved with every value percent-encoded (`encodeURIComponent`), so an input
 * cannot add path segments, a query or a fragment; only a template that opens the URL (a base
 * URL from an input) is written as is.
 */
export function resolveUrl(template: string, scope: ExprScope): string {
  let out = "";
  parseTemplateString(template).forEach((p, i) => {
    if (p.kind === "text") out += p.text;
    else {
      const v = stringifyTemplateValue(compileExpression(p.source).evaluate(scope));
      out += i === 0 ? v : encodeURIComponent(v);
    }
  });
  return out;
}

const commandOutput = z.object({
  exit_code: z.number().int(),
  stdout: z.string(),
  stderr: z.string(),
  json: z.json().optional(),
});
const httpOutput = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.string()),
  body: z.string(),
  json: z.json().optional(),
  url: z.string(),
});

/**
 * The capability a declaration describes. `env` is where `secrets.*` are read at call time.
 *
 * @example
 * registry.register(declaredCapability(config.capabilities[0], process.env));
 */
export function declaredCapability(
  decl: CapabilityDeclaration,
  env: Readonly<Record<string, string | undefined>>,
): AnyCapability {
  const action = decl.action;
  const secretNames = collectSecretNames(action as unknown as JsonValue);
  const secretsNow = (): string[] =>
    secretNames
      .map((n) => env[n])
      .filter((v): v is string => typeof v === "string" && v.length >= MIN_MASKED);
  const mask = <T extends JsonValue>(v: T): T => redact(v, { secrets: secretsNow() }) as T;

  /** The templates resolved against the call's inputs: the delegated capability's input. */
  const request = (input: JsonObject): unknown => {
    const scope = { vars: { inputs: input }, secret: (name: string) => env[name] };
    try {
      if (action.kind === "command") {
        const out: Record<string, unknown> = { argv: resolveTemplates([...action.argv], scope) };
        const argv = out.argv as JsonValue[];
        out.argv = argv.map((a) => (typeof a === "string" ? a : JSON.stringify(a)));
        if (action.cwd !== null) out.cwd = String(resolveTemplates(action.cwd, scope));
        if (action.env !== null) out.env = resolveTemplates({ ...action.env }, scope);
        if (action.stdin !== null) out.stdin = String(resolveTemplates(action.stdin, scope));
        return execRunInput.parse(out);
      }
      const out: Record<string, unknown> = {
        method: action.method,
        url: resolveUrl(action.url, scope),
      };
      if (action.headers !== null) out.headers = resolveTemplates({ ...action.headers }, scope);
      if (action.body !== undefined) out.body = resolveTemplates(action.body, scope);
      return httpRequestInput.parse(out);
    } catch (err) {
      const why =
        err instanceof ExpressionError || err instanceof z.ZodError
          ? err.message
          : String((err as Error)?.message ?? err);
      throw new CapabilityError(
        "INVALID_REQUEST",
        mask(`${decl.name}: cannot build the ${action.kind} from its declaration: ${why}`),
        { context: { capability: decl.name } },
      );
    }
  };

  /** Rethrows a delegated failure under this capability's name, secrets masked. */
  const rethrow = (err: unknown): never => {
    if (!(err instanceof AirunError)) throw err;
    const context = { ...err.context, capability: decl.name, via: delegate.name };
    const message = mask(err.message);
    if (err instanceof SandboxError) throw new SandboxError(message, context);
    const retryable = err instanceof CapabilityError && err.retryable;
    throw new CapabilityError(err.code, message, { retryable, context });
  };

  const delegate = action.kind === "command" ? execRun : httpRequest;
  const parseJson = action.kind === "command" && action.parseJson;

  const cap: AnyCapability = {
    name: decl.name,
    description:
      decl.description ||
      `Declared in ${decl.at.file}: ${action.kind === "command" ? `runs ${action.argv[0]}` : `${action.method} ${action.url}`}`,
    input: inputSchema(decl.inputs),
    output: action.kind === "command" ? commandOutput : httpOutput,
    risk: decl.risk,
    effect: decl.effect,
    idempotent: decl.idempotent,
    undo: decl.compensation ? "compensation" : decl.effect === "read" ? "none" : "irreversible",
    nondeterministic: true,
    sensitive: [...decl.sensitive],
    ...(decl.compensation
      ? {
          compensation: {
            capability: decl.compensation.capability,
            inputs: decl.compensation.inputs,
            defaults: Object.fromEntries(
              Object.entries(decl.inputs)
                .filter(([, d]) => d.default !== undefined)
                .map(([k, d]) => [k, d.default as JsonValue]),
            ),
          },
        }
      : {}),
    async preflight(input: JsonObject, ctx: CapabilityContext) {
      try {
        await delegate.preflight?.(request(input) as never, ctx);
      } catch (err) {
        rethrow(err);
      }
    },
    async execute(input: JsonObject, ctx: CapabilityContext) {
      let out: JsonObject;
      try {
        out = (await delegate.execute(request(input) as never, ctx)) as unknown as JsonObject;
      } catch (err) {
        return rethrow(err);
      }
      if (parseJson) {
        try {
          out = { ...out, json: JSON.parse(String(out.stdout)) as JsonValue };
        } catch (err) {
          throw new CapabilityError(
            "JSON_INVALID",
            `${decl.name}: stdout is not JSON (parse_json is set): ${(err as Error).message}`,
            { context: { capability: decl.name } },
          );
        }
      }
      return mask(out);
    },
  };
  return Object.freeze(cap);
}

/**
 * Registers every declaration as a capability, after the standard library and plugins: a name
 * already taken, or a compensation naming no registered capability, is a ValidationError naming
 * the file, line and field of the declaration.
 */
export function registerDeclared(
  registry: CapabilityRegistry,
  declarations: readonly CapabilityDeclaration[],
  env: Readonly<Record<string, string | undefined>>,
): void {
  const problems: Problem[] = [];
  const at = (a: CapabilityDeclaration["at"], message: string): Problem => ({ ...a, message });
  const fresh: AnyCapability[] = [];
  for (const decl of declarations) {
    if (registry.has(decl.name)) {
      problems.push(
        at(
          decl.at,
          `capability "${decl.name}" is already registered (a built-in or a plugin has that name)`,
        ),
      );
      continue;
    }
    fresh.push(declaredCapability(decl, env));
  }
  const names = new Set([...registry.names(), ...fresh.map((c) => c.name)]);
  for (const decl of declarations) {
    const comp = decl.compensation;
    if (comp && !names.has(comp.capability)) {
      problems.push(
        at(
          comp.at,
          `the compensation of ${decl.name} names "${comp.capability}", which no built-in, plugin or declared capability provides`,
        ),
      );
    }
  }
  if (problems.length > 0) throw new ValidationError(problems);
  for (const cap of fresh) registry.register(cap);
}
