/**
 * @module A seed workflow's own per-agent `policy:` entries (SPEC §4), carried by the plan and
 * asked after the policy in force: allowlists (`agent_name: x`, `allowed_capabilities`: agent x
 * may use only those) and policy rules. They may only tighten the answer (a DENY or
 * REQUIRE_APPROVAL there wins; an ALLOW never loosens anything): a workflow cannot grant itself
 * a permission the project's policy does not give.
 */
import { compileNameGlob } from "../../core/path-match.js";
import type { Plan } from "../../core/plan.js";
import {
  type CompiledPolicy,
  decisionRank,
  type PolicyDecision,
  type PolicyRequest,
} from "../../core/policy.js";
import { compilePolicy } from "../../core/policy-compile.js";

interface Allowlist {
  readonly principal: string;
  readonly allowed: readonly string[];
  readonly matches: (capability: string) => boolean;
}

interface SpecPolicy {
  readonly rules: CompiledPolicy | null;
  readonly allowlists: readonly Allowlist[];
}

const compiled = new WeakMap<Plan, SpecPolicy>();

function specPolicyOf(plan: Plan): SpecPolicy | null {
  if (!plan.specPolicy || plan.specPolicy.length === 0) return null;
  let policy = compiled.get(plan);
  if (policy === undefined) {
    const rules = plan.specPolicy.filter((e) => e.allowed_capabilities === undefined);
    const allowlists = plan.specPolicy
      .filter((e) => Array.isArray(e.allowed_capabilities))
      .map((e) => {
        const allowed = (e.allowed_capabilities as string[]).map(String);
        const globs = allowed.map((g) => compileNameGlob(g, "."));
        return {
          principal: String(e.principal),
          allowed,
          matches: (c: string) => globs.some((m) => m(c)),
        };
      });
    const text = JSON.stringify({ version: 1, default: "ALLOW", rules });
    policy = {
      rules:
        rules.length > 0 ? compilePolicy(`${plan.name} (workflow policy entries)`, text) : null,
      allowlists,
    };
    compiled.set(plan, policy);
  }
  return policy;
}

/**
 * `decision` tightened by the plan's own policy entries when they answer more strictly; the
 * entries that did are recorded as `workflow:<id>` after the policy's own rule ids.
 */
export function tightenWithSpecPolicy(
  plan: Plan,
  request: PolicyRequest,
  decision: PolicyDecision,
): PolicyDecision {
  const policy = specPolicyOf(plan);
  if (policy === null) return decision;
  const outside = policy.allowlists.find(
    (a) => a.principal === request.principal && !a.matches(request.capability),
  );
  if (outside && decisionRank(decision.decision) < decisionRank("DENY")) {
    return {
      ...decision,
      decision: "DENY",
      ruleIds: [...decision.ruleIds, `workflow:allowlist:${outside.principal}`],
      reason: `the workflow's per-agent policy lets ${outside.principal} use only ${outside.allowed.join(", ")}, not ${request.capability}`,
      approvers: [],
    };
  }
  // Only an entry that matched speaks: their policy's default (and its floors for what no rule
  // covers) is the policy in force's business.
  const own = policy.rules?.evaluate(request);
  if (!own || own.ruleIds.length === 0) return decision;
  if (decisionRank(own.decision) <= decisionRank(decision.decision)) return decision;
  return {
    ...decision,
    decision: own.decision,
    ruleIds: [...decision.ruleIds, ...own.ruleIds.map((id) => `workflow:${id}`)],
    reason: `${own.reason} (the workflow's own policy entries, which only tighten the policy in force)`,
    approvers: own.approvers,
  };
}
