/**
 * @module Policy tooling without a database: `airun policy check` (explain one decision) and
 * `airun policy test` (table tests). Builds what it needs from the config (principals and their
 * roles, the policy file), the capability registry (with plugins: risk floors, effect classes,
 * undo kinds, classification of inputs) and a non-watching gatekeeper. The store is never opened.
 *
 * The external decision hook is NOT consulted: these tools explain and test the policy itself,
 * deterministically. `hookUrl` says whether a hook may make a decision stricter at run time.
 */
import { resolve } from "node:path";
import { z } from "zod";
import { registerDeclared } from "../../capabilities/declared.js";
import { loadPlugins } from "../../capabilities/plugins.js";
import { type CapabilityRegistry, createStandardRegistry } from "../../capabilities/registry.js";
import { type AnyCapability, inputsAsUsed } from "../../core/capability.js";
import type { AirunConfig } from "../../core/config.js";
import { AirunError } from "../../core/errors.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import { LIMIT_KEYS } from "../../core/limits.js";
import { type CompiledPolicy, type PolicyDecision, withCompensation } from "../../core/policy.js";
import { type PolicyCase, parsePolicyCases } from "../../core/policy-cases.js";
import { requirePrincipal } from "../../core/principal.js";
import { redact } from "../../core/redact.js";
import { didYouMean } from "../../core/spec-context.js";
import { type EffectClass, maxRisk, type RiskLevel, type UndoKind } from "../../core/status.js";
import { PolicyGatekeeper } from "../policy/gatekeeper.js";
import { compensationRequest } from "../step/compensation-check.js";
import { loadConfig, readTextFile } from "./config-files.js";

/** Where to find the config and, optionally, a policy file to use instead of the config's. */
export interface PolicyToolsOptions {
  readonly cwd?: string;
  /** Config file; default `airun.yaml` in `cwd` when it exists. */
  readonly configFile?: string;
  /** Policy file to evaluate instead of the config's `policy` (relative to `cwd`). */
  readonly policyFile?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** One question: may this principal call this capability with these inputs? */
export interface PolicyQuery {
  readonly principal: string;
  readonly capability: string;
  readonly inputs?: JsonObject;
  /** The step's declared risk; the effective risk is the max with the capability's floor. */
  readonly risk?: RiskLevel | null;
  /**
   * Whether the step declares a compensation; given as a capability and inputs, the
   * compensation is asked about too and its answer counts (SPEC §6).
   */
  readonly compensation?: boolean | { readonly capability: string; readonly inputs?: JsonObject };
}

/** The answer, with everything the policy was shown. */
export interface PolicyCheck {
  readonly principal: string;
  readonly roles: readonly string[];
  readonly capability: string;
  /** Effective risk: max(capability floor, classification of the inputs, declared risk). */
  readonly risk: RiskLevel;
  readonly riskFloor: RiskLevel;
  readonly effect: EffectClass;
  readonly undo: UndoKind;
  readonly hasCompensation: boolean;
  /** The inputs as the policy saw them (sensitive fields and redacted keys masked). */
  readonly inputs: JsonValue;
  /** The decision for the step, its compensation counted. */
  readonly decision: PolicyDecision;
  /** The declared compensation as the policy saw it, and its own answer. */
  readonly compensation: {
    readonly capability: string;
    readonly inputs: JsonValue;
    readonly risk: RiskLevel;
    readonly decision: PolicyDecision;
  } | null;
  /**
   * Capabilities asked about that no loaded capability provides (a plugin not loaded here, a
   * domain capability still to be written), each with what was assumed for it; empty when
   * every capability is known.
   */
  readonly unknown: readonly string[];
}

/**
 * What the policy is shown for a capability nothing loaded provides: MEDIUM risk (or the declared
 * one), a write, which nothing known can undo. The answer is the policy's for such a call; the
 * capability's real floor (when its plugin is loaded) may make it stricter.
 */
const STAND_IN = { risk: "MEDIUM", effect: "write", undo: "irreversible" } as const;

/** One table-test case and what the policy answered. */
export interface PolicyCaseResult {
  readonly case: PolicyCase;
  readonly check: PolicyCheck;
  readonly pass: boolean;
}

/** The policy tools, bound to one config and policy. */
export class PolicyTools {
  readonly config: AirunConfig;
  readonly registry: CapabilityRegistry;
  /** The policy answering (the `--policy` file, the config's, or the built-in default). */
  readonly policy: CompiledPolicy;
  /** The decision hook configured for run time, if any (not consulted here). */
  readonly hookUrl: string | null;

  private constructor(config: AirunConfig, registry: CapabilityRegistry, policy: CompiledPolicy) {
    this.config = config;
    this.registry = registry;
    this.policy = policy;
    this.hookUrl = config.policyHook?.url ?? null;
  }

  /**
   * Loads config, capabilities (with plugins) and the policy. Never opens the store.
   *
   * @throws ValidationError for a broken config or policy file (or one that cannot be read).
   * @example
   * const tools = await PolicyTools.open({ cwd: "/srv/project" });
   * tools.check({ principal: "agent:x", capability: "io.fs.write_file", inputs: { path: "a" } });
   */
  static async open(opts: PolicyToolsOptions = {}): Promise<PolicyTools> {
    const cwd = resolve(opts.cwd ?? process.cwd());
    const config = await loadConfig(cwd, opts.env ?? process.env, opts.configFile, undefined);
    const registry = createStandardRegistry();
    await loadPlugins(registry, config.plugins, config.baseDir);
    registerDeclared(registry, config.capabilities, opts.env ?? process.env);
    const file = opts.policyFile ? resolve(cwd, opts.policyFile) : config.policy;
    const gatekeeper = await PolicyGatekeeper.load(file, {
      limits: config.limits,
      capabilities: registry.names(),
    });
    return new PolicyTools(config, registry, gatekeeper.compiled);
  }

  /** What the policy's author probably did not mean (rules naming no capability), as lines. */
  get warnings(): readonly string[] {
    return this.policy.warnings ?? [];
  }

  /** Roles of a principal from the config's `principals`. */
  rolesOf(principal: string): readonly string[] {
    return this.config.principals[principal]?.roles ?? [];
  }

  /**
   * Asks the policy as the engine would before a step: the effective risk, effect and undo come
   * from the capability (classifying the inputs when they are complete and valid).
   *
   * @throws AirunError `UNKNOWN_CAPABILITY` for an unknown capability.
   */
  check(q: PolicyQuery): PolicyCheck {
    requirePrincipal(q.principal, "principal");
    const unknown: string[] = [];
    const cap = this.#capability(q.capability, unknown);
    const inputs = q.inputs ?? {};
    const cls = classify(cap, inputs);
    let risk = maxRisk(cap.risk, cls.risk ?? cap.risk);
    if (q.risk) risk = maxRisk(risk, q.risk);
    const roles = this.rolesOf(q.principal);
    const hasCompensation = q.compensation !== undefined && q.compensation !== false;
    // As the engine asks: the inputs as the capability will use them (`method=delete` is DELETE).
    const recorded = redact(inputsAsUsed(cap, inputs), {
      fields: cap.sensitive ?? [],
      keys: this.config.audit.redact,
    });
    const effect = cls.effect ?? cap.effect;
    const undo = cls.undo ?? cap.undo;
    const stepDecision = this.policy.evaluate({
      principal: q.principal,
      roles,
      capability: cap.name,
      risk,
      effect,
      undo,
      hasCompensation,
      inputs: recorded,
    });
    const comp = typeof q.compensation === "object" ? this.#compensation(q, roles, unknown) : null;
    const decision = comp
      ? withCompensation(stepDecision, comp.decision, comp.capability)
      : stepDecision;
    return {
      principal: q.principal,
      roles,
      capability: cap.name,
      risk,
      riskFloor: cap.risk,
      effect,
      undo,
      hasCompensation,
      inputs: recorded,
      decision,
      compensation: comp,
      unknown,
    };
  }

  /** The query's compensation, as the engine asks about it at the step's gate. */
  #compensation(
    q: PolicyQuery,
    roles: readonly string[],
    unknown: string[],
  ): PolicyCheck["compensation"] {
    const given = q.compensation as { capability: string; inputs?: JsonObject };
    const request = compensationRequest(
      this.#capability(given.capability, unknown),
      given.inputs ?? {},
      [],
      {
        principal: q.principal,
        roles,
        redactKeys: this.config.audit.redact,
        undoOf: q.capability,
      },
    );
    return {
      capability: request.capability,
      inputs: request.inputs,
      risk: request.risk,
      decision: this.policy.evaluate(request),
    };
  }

  /**
   * Whether `name` may be answered with a stand-in: a well-formed name that nothing loaded
   * provides, outside every group the loaded capabilities cover. A name in a covered group
   * (`io.fs.remove`) is a typo of a capability that is there, and stays an error.
   */
  standsIn(name: string): boolean {
    if (this.registry.get(name) || !CAPABILITY_NAME.test(name)) return false;
    const group = `${name.split(".").slice(0, 2).join(".")}.`;
    return !this.registry.names().some((n) => n.startsWith(group));
  }

  /**
   * The capability named `name`; for a name `standsIn` accepts, a stand-in (`STAND_IN`), with a
   * line added to `unknown` saying so.
   */
  #capability(name: string, unknown: string[]): AnyCapability {
    const cap = this.registry.get(name);
    if (cap) return cap;
    const close = didYouMean(name, this.registry.names());
    if (!this.standsIn(name)) {
      throw new AirunError(
        "UNKNOWN_CAPABILITY",
        `unknown capability "${name}"${close} (the catalogue lists the capabilities there are)`,
      );
    }
    unknown.push(
      `no loaded capability is named "${name}"${close}: answered as for a plugin capability of risk ${STAND_IN.risk}, effect ${STAND_IN.effect}, undo ${STAND_IN.undo}; load its plugin for its own risk and undo`,
    );
    return standIn(name);
  }

  /**
   * Runs a table-test file (see `core/policy-cases.ts` for the format).
   *
   * @throws ValidationError for a malformed file (every problem with file:line:col).
   */
  async runCases(file: string): Promise<PolicyCaseResult[]> {
    const text = await readTextFile(
      file,
      "the test-case file",
      this.config.limits.policyBytes,
      LIMIT_KEYS.policyBytes,
    );
    // A case may name a capability nothing here provides: `check` answers with a stand-in.
    const cases = parsePolicyCases(
      file,
      text,
      (name) => this.registry.get(name) !== undefined || this.standsIn(name),
      this.config.limits,
    );
    return cases.map((c) => {
      const check = this.check({
        principal: c.principal,
        capability: c.capability,
        inputs: c.inputs,
        risk: c.risk,
        compensation: c.compensation,
      });
      return { case: c, check, pass: check.decision.decision === c.expect };
    });
  }
}

/** Capability names: two or more dot-separated lower-case words (`crm.create_account`). */
const CAPABILITY_NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;

/** A capability nothing loaded provides, as the policy tools show it to the policy. */
function standIn(name: string): AnyCapability {
  return {
    name,
    description: "not loaded",
    risk: STAND_IN.risk,
    effect: STAND_IN.effect,
    undo: STAND_IN.undo,
    idempotent: false,
    input: z.record(z.string(), z.unknown()),
    output: z.record(z.string(), z.unknown()),
    execute: () => {
      throw new AirunError("UNKNOWN_CAPABILITY", `capability "${name}" is not loaded`);
    },
  } as unknown as AnyCapability;
}

/** The capability's classification of `inputs`, when they are valid for it. */
function classify(
  cap: AnyCapability,
  inputs: JsonObject,
): { risk?: RiskLevel; effect?: EffectClass; undo?: UndoKind } {
  if (!cap.classify) return {};
  const parsed = cap.input.safeParse(inputs);
  if (!parsed.success) return {};
  try {
    return cap.classify(parsed.data) ?? {};
  } catch {
    return {};
  }
}
