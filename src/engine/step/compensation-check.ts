/**
 * @module A declared compensation, asked about at its step's gate (SPEC §6): its capability,
 * risk and inputs are part of the step's authorization, so the rollback never makes a call the
 * policy would not have allowed. Inputs that refer to the step's own outputs are not known
 * before the step runs: the policy sees them as unknown (a DENY or REQUIRE_APPROVAL rule with a
 * condition on them matches; an ALLOW rule does not).
 */
import type { AnyCapability } from "../../core/capability.js";
import { CapabilityError, ExpressionError } from "../../core/errors.js";
import type { ExprScope } from "../../core/expr.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import type { PolicyDecision, PolicyRequest } from "../../core/policy.js";
import { redact } from "../../core/redact.js";
import { maxRisk } from "../../core/status.js";
import { resolveTemplates } from "../../core/template.js";
import type { RunState } from "../state/run-state.js";
import { templateScope } from "../state/scope.js";

/** The compensation of a step as the policy was asked about it, and its answer. */
export interface CompensationCheck {
  readonly request: PolicyRequest;
  readonly decision: PolicyDecision;
}

/** Asks the policy about the step's declared compensation; null when it declares none. */
export async function checkCompensation(
  state: RunState,
  ps: PlanStep,
): Promise<CompensationCheck | null> {
  if (ps.compensation === null) return null;
  const cap = state.ctx.catalog.get(ps.compensation.capability);
  if (!cap) {
    throw new CapabilityError(
      "UNKNOWN_CAPABILITY",
      `compensation capability ${ps.compensation.capability} is not registered`,
    );
  }
  // Secrets masked: what the policy sees is what is recorded.
  const { inputs, unknown } = compensationInputs(ps, templateScope(state, null, true));
  const request = compensationRequest(cap, inputs, unknown, {
    principal: state.run.principal,
    roles: state.ctx.settings.rolesOf(state.run.principal),
    redactKeys: state.ctx.settings.redactKeys,
  });
  return { request, decision: await state.ctx.gatekeeper.decide(request) };
}

/**
 * A declared compensation's inputs resolved with `scope` before its step runs; the fields that
 * cannot be resolved yet (they refer to the step's own outputs) are listed as unknown.
 */
export function compensationInputs(
  ps: PlanStep,
  scope: ExprScope,
): { inputs: JsonObject; unknown: string[] } {
  const inputs: JsonObject = {};
  const unknown: string[] = [];
  const declared = isPlainObject(ps.compensation?.inputs) ? ps.compensation.inputs : {};
  for (const [field, template] of Object.entries(declared)) {
    try {
      inputs[field] = resolveTemplates(template as JsonValue, scope);
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      unknown.push(field);
    }
  }
  return { inputs, unknown };
}

/**
 * The policy request for a compensation (pure, shared with `policy check` and replay): the
 * capability's risk floor, raised by its classification of the inputs when they are complete
 * and valid; effect and undo likewise; inputs as recorded (sensitive fields and redacted keys
 * masked). A compensation declares no compensation of its own.
 */
export function compensationRequest(
  cap: AnyCapability,
  inputs: JsonObject,
  unknown: readonly string[],
  who: { principal: string; roles: readonly string[]; redactKeys: readonly string[] },
): PolicyRequest {
  const parsed = unknown.length === 0 ? cap.input.safeParse(inputs) : null;
  let cls: ReturnType<NonNullable<AnyCapability["classify"]>> = {};
  if (parsed?.success && cap.classify) {
    try {
      cls = cap.classify(parsed.data) ?? {};
    } catch {
      cls = {};
    }
  }
  return {
    principal: who.principal,
    roles: who.roles,
    capability: cap.name,
    risk: maxRisk(cap.risk, cls.risk ?? cap.risk),
    effect: cls.effect ?? cap.effect,
    undo: cls.undo ?? cap.undo,
    hasCompensation: false,
    inputs: redact(inputs, { fields: cap.sensitive ?? [], keys: who.redactKeys }),
    ...(unknown.length > 0 ? { unknown: [...unknown] } : {}),
  };
}

/** The compensation's answer as recorded on the step's decision (`compensation_decision`). */
export function compensationRecord(check: CompensationCheck): JsonObject {
  const { request, decision } = check;
  return {
    capability: request.capability,
    decision: decision.decision,
    inputs: request.inputs,
    reason: decision.reason,
    risk: request.risk,
    rule_ids: [...decision.ruleIds],
    ...(request.unknown ? { unknown: [...request.unknown] } : {}),
  };
}
