/**
 * @module Stage 1 of a step, resolve: the call's inputs with real secret values (for the
 * capability) and as recorded (secrets masked, sensitive fields and redacted keys replaced),
 * validated against the capability's schema; its effective risk, undo, idempotency and effect;
 * and its context hash (SPEC §7). The pure parts are shared with replay.
 */
import type { AnyCapability, CapabilityContext, Classification } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import type { ExprScope } from "../../core/expr.js";
import { hashJson } from "../../core/hash.js";
import type { JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { redact } from "../../core/redact.js";
import { type EffectClass, maxRisk, type RiskLevel, type UndoKind } from "../../core/status.js";
import { resolveTemplates } from "../../core/template.js";
import type { RunState } from "../state/run-state.js";
import { templateScope } from "../state/scope.js";

/** What the engine knows about a capability call before it is made. */
export interface Resolved {
  readonly cap: AnyCapability;
  readonly input: unknown;
  readonly recordInputs: JsonValue;
  readonly risk: RiskLevel;
  readonly undo: UndoKind;
  readonly idempotent: boolean;
  readonly effect: EffectClass;
  readonly contextHash: string;
  readonly secrets: Map<string, string>;
}

/** Resolves a step's call: inputs (real and as recorded), classification and context hash. */
export function resolveCall(state: RunState, ps: PlanStep): Resolved {
  const cap = state.ctx.catalog.get(ps.capability ?? "");
  if (!cap) {
    throw new CapabilityError(
      "UNKNOWN_CAPABILITY",
      `capability ${ps.capability} is not registered`,
    );
  }
  const secrets = new Map<string, string>();
  const callInputs = resolveTemplates(ps.inputs, templateScope(state, secrets));
  const parsed = cap.input.safeParse(callInputs);
  if (!parsed.success) {
    throw new CapabilityError(
      "INVALID_INPUT",
      `inputs of ${cap.name}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  }
  // Re-resolve with masked secrets only when a secret was used; otherwise the call's inputs are
  // what gets recorded.
  const masked =
    secrets.size > 0 ? resolveTemplates(ps.inputs, templateScope(state, null, true)) : callInputs;
  const described = describeCall(
    cap,
    ps,
    cap.classify?.(parsed.data) ?? {},
    masked,
    state.ctx.settings.redactKeys,
    {
      specHash: state.plan.specHash,
      policyHash: state.ctx.gatekeeper.policy.hash,
      principal: state.run.principal,
    },
  );
  return { cap, input: parsed.data, secrets, ...described };
}

/** What, besides the step itself, identifies the action a step takes (SPEC §7). */
export interface ActionIdentity {
  readonly specHash: string;
  readonly policyHash: string;
  readonly principal: string;
}

/**
 * The pure part of resolving a call (shared with replay): the inputs as recorded (`masked` with
 * sensitive fields and redacted keys replaced), the effective classification and the context
 * hash, SHA-256 over the canonical JSON of spec hash, step id, capability, recorded inputs,
 * principal and policy hash.
 */
export function describeCall(
  cap: AnyCapability,
  ps: PlanStep,
  cls: Classification,
  masked: JsonValue,
  redactKeys: readonly string[],
  id: ActionIdentity,
): Omit<Resolved, "cap" | "input" | "secrets"> {
  const recordInputs = redact(masked, { fields: cap.sensitive ?? [], keys: redactKeys });
  return {
    recordInputs,
    risk: maxRisk(maxRisk(cap.risk, cls.risk ?? cap.risk), ps.risk ?? cap.risk),
    undo: cls.undo ?? cap.undo,
    idempotent: cls.idempotent ?? cap.idempotent,
    effect: cls.effect ?? cap.effect,
    // Keys written in canonical (sorted) order: hashJson then serializes in one native pass.
    contextHash: hashJson({
      capability: cap.name,
      inputs: recordInputs,
      policy: id.policyHash,
      principal: id.principal,
      spec: id.specHash,
      step: ps.id,
    }),
  };
}

/**
 * What an approval step asks a person (its message rendered with `scope`, secrets masked) and
 * the action hash the approval is bound to (shared with replay).
 */
export function approvalAction(
  ps: PlanStep,
  scope: ExprScope,
  id: Omit<ActionIdentity, "policyHash">,
): { message: string; actionHash: string } {
  const settings = ps.approval;
  const message = String(resolveTemplates(settings?.message ?? `Approve step ${ps.id}?`, scope));
  const actionHash = hashJson({
    spec: id.specHash,
    step: ps.id,
    approval: { ...settings, message } as unknown as JsonValue,
    principal: id.principal,
  });
  return { message, actionHash };
}

/** The capability context of an attempt made outside `invoke` (prepare, reconcile). */
export function capabilityContext(
  state: RunState,
  ps: PlanStep,
  attempt: number,
): CapabilityContext {
  return {
    signal: state.signal,
    sandbox: state.ctx.settings.sandbox,
    runId: state.run.id,
    stepId: ps.id,
    attempt,
  };
}
