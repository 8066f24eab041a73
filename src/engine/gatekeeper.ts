/**
 * @module The gatekeeper seam: before every step the engine asks it for ALLOW, DENY or
 * REQUIRE_APPROVAL and records the answer. The gatekeeper only answers (principle 9): it never
 * sees a mutable plan and never returns modified inputs.
 */
import { readFile } from "node:fs/promises";
import type { CompiledPolicy, PolicyDecision, PolicyRequest } from "../core/policy.js";
import { builtinPolicy } from "../core/policy.js";
import { compilePolicy } from "../core/policy-compile.js";

/** Anything that can decide whether a step may run. */
export interface Gatekeeper {
  /** Hash and source (file path or "builtin") of the policy in force. */
  readonly policy: { readonly hash: string; readonly source: string };
  decide(request: PolicyRequest): PolicyDecision;
}

/** A gatekeeper answering from a compiled policy file, or the built-in default. */
export class PolicyGatekeeper implements Gatekeeper {
  #compiled: CompiledPolicy;

  constructor(compiled: CompiledPolicy) {
    this.#compiled = compiled;
  }

  /** Loads the policy file at `path` (validated completely), or the built-in default. */
  static async load(path: string | null): Promise<PolicyGatekeeper> {
    if (!path) return new PolicyGatekeeper(builtinPolicy());
    const text = await readFile(path, "utf8");
    return new PolicyGatekeeper(compilePolicy(path, text));
  }

  get policy(): { hash: string; source: string } {
    return { hash: this.#compiled.hash, source: this.#compiled.source };
  }

  decide(request: PolicyRequest): PolicyDecision {
    return this.#compiled.evaluate(request);
  }
}
