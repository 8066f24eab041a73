/**
 * @module Stage 2 of a step, the gate: the policy's decision (the gatekeeper, then an optional
 * decision hook), the governance envelope's screen (tools, budgets, drift), and the approval
 * flow. Returns data: proceed with the recorded decision, wait for a person (the ops to commit
 * and the notices to send), or refuse (the failure to record). Nothing is committed here.
 *
 * The stricter answer wins: a step that already entered the approval flow stays in it even if
 * the policy (hot-reloaded since) now says ALLOW; a rejection is never bypassed.
 */
import { AirunError, toAirunError } from "../../core/errors.js";
import { hashJson } from "../../core/hash.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { type PolicyRequest, withCompensation } from "../../core/policy.js";
import { GLOBAL_COMPENSATION_PREFIX } from "../../core/seed-names.js";
import { Decision, Reason } from "../../core/status.js";
import type { WriteOp } from "../../store/store.js";
import { approvalGate } from "../approvals/gate.js";
import type { ApprovalNotice } from "../approvals/notify.js";
import type { Refusal } from "../governance/refusals.js";
import { runGovernance } from "../governance/run-governance.js";

import { approvalOf } from "../state/approval-record.js";
import type { RunState } from "../state/run-state.js";
import { checkCompensation, compensationRecord } from "./compensation-check.js";
import {
  capabilityContext,
  maskedPaths,
  policyInputs,
  type Resolved,
  touchedRecord,
} from "./resolve.js";
import { tightenWithSpecPolicy } from "./spec-policy.js";

/** The decision, context hash and inputs of a step, recorded with its first write. */
export interface Recorded {
  readonly decision: JsonObject;
  readonly contextHash: string;
  readonly inputs: JsonValue;
}

/** Why a step is refused before any effect: recorded with its failure. */
export interface Refused {
  readonly error: AirunError;
  readonly reason: Reason;
  /** Set by governance refusals (the run abstains, with figures). */
  readonly refusal?: Refusal;
  /** Absent for a rejected approval: the step already recorded its decision when it asked. */
  readonly recorded?: Recorded;
}

/** What the gate decided. */
export type GateOutcome =
  | {
      readonly kind: "proceed";
      /** The decision as recorded (with the approval that let it through, if any). */
      readonly decision: JsonObject;
      readonly verdict: Decision;
      readonly recorded: Recorded;
    }
  | {
      readonly kind: "waiting";
      readonly ops: WriteOp[];
      readonly notices: readonly ApprovalNotice[];
    }
  | { readonly kind: "refused"; readonly refused: Refused };

/** Runs the gate of an action step (see module doc). */
export async function gateCall(
  state: RunState,
  ps: PlanStep,
  call: Resolved,
): Promise<GateOutcome> {
  const principal = state.run.principal;
  const request: PolicyRequest = {
    principal,
    roles: state.ctx.settings.rolesOf(principal),
    capability: call.cap.name,
    risk: call.risk,
    effect: call.effect,
    undo: call.undo,
    hasCompensation: ps.compensation !== null,
    // As the capability will use them: `method: delete` is seen as DELETE.
    inputs: policyInputs(state, call),
    ...(call.paths.length > 0 ? { paths: call.paths } : {}),
    ...(call.preview ? { facts: call.preview.facts } : {}),
  };
  // A seed workflow's own `policy:` entries may tighten the answer, never loosen it (the
  // anchor of a global compensation is Airun's own step, not the agent's).
  const inForce = await state.ctx.gatekeeper.decide(request);
  const stepPolicy = ps.id.startsWith(GLOBAL_COMPENSATION_PREFIX)
    ? inForce
    : tightenWithSpecPolicy(state.plan, request, inForce);
  // The declared compensation is authorized with the step (SPEC §6).
  const comp = ps.compensation === null ? null : await checkCompensation(state, ps, call);
  const policy = comp
    ? withCompensation(stepPolicy, comp.decision, comp.request.capability)
    : stepPolicy;
  // Keys in canonical (sorted) order: the ledger then writes this entry in one native pass.
  // The canonical paths the compensation will touch (secrets masked): recorded with its answer,
  // bound by the approval, and held to by the undo.
  const compPaths = comp?.request.paths ? maskedPaths(state, comp.request.paths) : [];
  const decision: JsonObject = {
    compensation: ps.compensation ? ps.compensation.capability : null,
    ...(comp ? { compensation_decision: compensationRecord(comp, compPaths) } : {}),
    decision: policy.decision,
    ...(call.paths.length > 0 ? { paths: touchedRecord(maskedPaths(state, call.paths)) } : {}),
    policy_hash: policy.policyHash,
    policy_source: policy.policySource,
    ...(call.preview ? { preview: call.preview } : {}),
    reason: policy.reason,
    risk: call.risk,
    rule_ids: [...policy.ruleIds],
  };
  if (policy.hook) decision.hook = { ...policy.hook };
  let verdict = policy.decision;
  if (verdict === Decision.ALLOW && approvalOf(state.step(ps.id).decision) !== null) {
    verdict = Decision.REQUIRE_APPROVAL;
    decision.decision = verdict;
    decision.reason = `${policy.reason}; the step already entered the approval flow, which a looser policy does not bypass`;
  }
  const recorded: Recorded = {
    decision,
    contextHash: call.contextHash,
    inputs: call.recordInputs,
  };
  if (verdict === Decision.DENY) {
    return refused({
      error: new AirunError("POLICY_DENIED", policy.reason),
      reason: Reason.POLICY_DENIED,
      recorded,
    });
  }
  // Governance: tools, budgets, drift; drift may turn the decision into REQUIRE_APPROVAL.
  const gov = runGovernance(state);
  if (gov) {
    const screened = await gov.screen(ps, call, decision);
    // One drift decision per run: this step waits behind the one already asked.
    if (screened && "heldBehind" in screened) return { kind: "waiting", ops: [], notices: [] };
    if (screened) {
      return refused({
        error: screened.error,
        reason: screened.reason,
        refusal: screened,
        recorded,
      });
    }
    verdict = decision.decision as Decision;
  }
  if (verdict === Decision.REQUIRE_APPROVAL) {
    // Nobody is asked to approve a call that cannot run (a binary not on the allowlist, …).
    const cannotRun = await preflightError(state, ps, call);
    if (cannotRun) return refused({ error: cannotRun, reason: Reason.STEP_FAILED, recorded });
    const gate = approvalGate(state, ps, {
      // An approval covers the compensation too: a symlink re-pointed under its path voids it.
      actionHash:
        compPaths.length > 0
          ? hashJson({ action: call.contextHash, compensation: touchedRecord(compPaths) })
          : call.contextHash,
      contextHash: call.contextHash,
      decision,
      approvers: gov?.approvers(decision) ?? policy.approvers,
      message: String(decision.reason),
      recordInputs: call.recordInputs,
    });
    if (gate.state === "rejected") return refused({ error: gate.error, reason: gate.reason });
    if (gate.state === "waiting") {
      // What governance detected rides with the request: the approval may be decided, and
      // the step run, by another process.
      const ops = gate.ops.length > 0 && gov ? [...gov.stepOps(ps.id), ...gate.ops] : gate.ops;
      return { kind: "waiting", ops, notices: gate.notices };
    }
    decision.approval = gate.approval;
  }
  return { kind: "proceed", decision, verdict, recorded };
}

/** Why the call would fail whatever a person decides (the capability's `preflight`), if it would. */
async function preflightError(
  state: RunState,
  ps: PlanStep,
  call: Resolved,
): Promise<AirunError | undefined> {
  if (!call.cap.preflight) return undefined;
  try {
    await call.cap.preflight(call.input, capabilityContext(state, ps, 0));
    return undefined;
  } catch (err) {
    return toAirunError(err);
  }
}

function refused(r: Refused): GateOutcome {
  return { kind: "refused", refused: r };
}
