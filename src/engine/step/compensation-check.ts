/**
 * @module A declared compensation, asked about at its step's gate (SPEC §6): its capability,
 * risk and inputs are part of the step's authorization, so the rollback never makes a call the
 * policy would not have allowed. Inputs that refer to the step's own outputs are not known
 * before the step runs: the policy sees them as unknown (a DENY or REQUIRE_APPROVAL rule with a
 * condition on them matches; an ALLOW rule does not).
 *
 * A compensation confined to what its step acts on — a file capability whose every path is a
 * path the step touches (`rm` of the file the step wrote) — is that step's undo, and is asked
 * about at the step's risk rather than its own floor. One that refers to the step's own outputs
 * can only be confined on trust at the gate: once the step succeeded its inputs are known, and
 * it is asked again (`recheckCompensation`); if it then needs more than was granted (it would
 * touch a path the step did not), it is not armed, and an undo never makes that call.
 */
import type { AnyCapability, TouchedPath } from "../../core/capability.js";
import { AirunError, CapabilityError, ExpressionError } from "../../core/errors.js";
import type { ExprScope } from "../../core/expr.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { decisionRank, type PolicyDecision, type PolicyRequest } from "../../core/policy.js";
import { redact } from "../../core/redact.js";
import { maxRisk, type RiskLevel } from "../../core/status.js";
import { resolveTemplates } from "../../core/template.js";
import type { RunState } from "../state/run-state.js";
import { scopeWithOwnOutputs, templateScope } from "../state/scope.js";
import { capabilityContext, type Resolved } from "./resolve.js";

/** The compensation of a step as the policy was asked about it, and its answer. */
export interface CompensationCheck {
  readonly request: PolicyRequest;
  readonly decision: PolicyDecision;
  /** It acts only on paths its step touches (on trust for inputs not known yet). */
  readonly confined: boolean;
}

/** Asks the policy about the step's declared compensation; null when it declares none. */
export async function checkCompensation(
  state: RunState,
  ps: PlanStep,
  call: Resolved,
): Promise<CompensationCheck | null> {
  if (ps.compensation === null) return null;
  const cap = compensationCapability(state, ps.compensation.capability);
  // Secrets masked: what the policy sees is what is recorded.
  const { inputs, unknown } = compensationInputs(ps, templateScope(state, null, true));
  return ask(state, ps, call, cap, inputs, unknown);
}

/**
 * After its step succeeded, asks again about a compensation that referred to the step's own
 * outputs (see the module doc): the error to record instead of arming it when it now needs
 * more than the gate granted, else null.
 */
export async function recheckCompensation(
  state: RunState,
  ps: PlanStep,
  call: Resolved,
  granted: JsonObject,
  outputs: JsonValue,
): Promise<AirunError | null> {
  if (!ps.compensation || !Array.isArray(granted.unknown)) return null;
  const cap = compensationCapability(state, ps.compensation.capability);
  const scope = scopeWithOwnOutputs(state, null, true, ps.id, outputs);
  const { inputs, unknown } = compensationInputs(ps, scope);
  const now = await ask(state, ps, call, cap, inputs, unknown);
  if (decisionRank(now.decision.decision) <= decisionRank(String(granted.decision))) return null;
  return new AirunError(
    "COMPENSATION_UNAUTHORIZED",
    `the compensation ${cap.name} of step ${ps.id} resolved to ${JSON.stringify(now.request.inputs)}, which the policy answers ${now.decision.decision} (${now.decision.reason}); it was granted ${String(granted.decision)} for the step's own effects and is not armed`,
    { runId: state.run.id, stepId: ps.id, capability: cap.name },
  );
}

function compensationCapability(state: RunState, name: string): AnyCapability {
  const cap = state.ctx.catalog.get(name);
  if (!cap) {
    throw new CapabilityError(
      "UNKNOWN_CAPABILITY",
      `compensation capability ${name} is not registered`,
    );
  }
  return cap;
}

async function ask(
  state: RunState,
  ps: PlanStep,
  call: Resolved,
  cap: AnyCapability,
  inputs: JsonObject,
  unknown: readonly string[],
): Promise<CompensationCheck> {
  const touched = await compensationPaths(state, ps, cap, inputs, unknown);
  const confined = confinedToStep(call, cap, touched, unknown);
  const request = compensationRequest(
    cap,
    inputs,
    unknown,
    {
      principal: state.run.principal,
      roles: state.ctx.settings.rolesOf(state.run.principal),
      redactKeys: state.ctx.settings.redactKeys,
      undoOf: call.cap.name,
    },
    confined ? call.risk : undefined,
    touched ?? undefined,
  );
  return { request, decision: await state.ctx.gatekeeper.decide(request), confined };
}

/** Effect classes a compensation confined to its step's paths may have. */
const CONFINABLE: ReadonlySet<string> = new Set(["read", "write", "delete"]);

/**
 * The canonical paths a compensation whose inputs are all known will touch (its capability's
 * `touches`, resolved as the call will resolve them): path conditions see these, as they do
 * for a step, so an absolute spelling or a symlinked folder does not walk a compensation past
 * a DENY, and a rule on `path` covers a copy's `from`. Null when it declares no `touches`, an
 * input is not known yet, the inputs are invalid, or a path resolves outside the sandbox (the
 * undo would be refused then anyway).
 */
async function compensationPaths(
  state: RunState,
  ps: PlanStep,
  cap: AnyCapability,
  inputs: JsonObject,
  unknown: readonly string[],
): Promise<readonly TouchedPath[] | null> {
  if (!cap.touches || unknown.length > 0) return null;
  const parsed = cap.input.safeParse(inputs);
  if (!parsed.success) return null;
  try {
    return await cap.touches(parsed.data, capabilityContext(state, ps, 0));
  } catch {
    return null;
  }
}

/**
 * Whether the compensation acts only on paths its step touches: a file capability (it declares
 * `touches` and has no other effect) whose every path is one of the step's. Inputs not known
 * yet are trusted here and checked once the step succeeded.
 */
function confinedToStep(
  call: Resolved,
  cap: AnyCapability,
  touched: readonly TouchedPath[] | null,
  unknown: readonly string[],
): boolean {
  if (!cap.touches || !CONFINABLE.has(cap.effect) || call.paths.length === 0) return false;
  if (unknown.length > 0) return true;
  if (touched === null) return false; // invalid, or outside the sandbox: not confined
  const own = new Set(call.paths.map((t) => t.path));
  return touched.length > 0 && touched.every((t) => own.has(t.path));
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
 * and valid; effect and undo likewise; inputs as the capability will use them when they are
 * complete and valid (sensitive fields and redacted keys masked). A compensation declares no compensation of its own.
 */
export function compensationRequest(
  cap: AnyCapability,
  inputs: JsonObject,
  unknown: readonly string[],
  who: {
    principal: string;
    roles: readonly string[];
    redactKeys: readonly string[];
    /** The capability of the step this compensation undoes. */
    undoOf: string;
  },
  /** The step's risk, for a compensation confined to the step's own paths. */
  stepRisk?: RiskLevel,
  /** The canonical paths it will touch, when known (`compensationPaths`). */
  paths?: readonly TouchedPath[],
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
    risk: stepRisk ?? maxRisk(cap.risk, cls.risk ?? cap.risk),
    effect: cls.effect ?? cap.effect,
    undo: cls.undo ?? cap.undo,
    hasCompensation: false,
    undoOf: who.undoOf,
    // As the capability will use them (defaults filled in, values normalized), when complete.
    inputs: redact(parsed?.success ? (parsed.data as JsonObject) : inputs, {
      fields: cap.sensitive ?? [],
      keys: who.redactKeys,
    }),
    ...(unknown.length > 0 ? { unknown: [...unknown] } : {}),
    ...(paths !== undefined && paths.length > 0 ? { paths } : {}),
  };
}

/** The compensation's answer as recorded on the step's decision (`compensation_decision`). */
export function compensationRecord(
  check: CompensationCheck,
  /** The canonical paths it will touch, as recorded (secrets masked); the undo holds to them. */
  paths: readonly TouchedPath[] = [],
): JsonObject {
  const { request, decision } = check;
  return {
    capability: request.capability,
    confined: check.confined,
    decision: decision.decision,
    inputs: request.inputs,
    ...(paths.length > 0
      ? { paths: paths.map((t) => ({ field: t.field, path: t.path, relative: t.relative })) }
      : {}),
    reason: decision.reason,
    risk: request.risk,
    rule_ids: [...decision.ruleIds],
    ...(request.unknown ? { unknown: [...request.unknown] } : {}),
  };
}
