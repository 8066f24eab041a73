/**
 * @module Deciding approvals (SPEC §8): a decision is refused for the requester itself, for an
 * ineligible principal and after expiry; it is recorded durably and announced, and the caller
 * then drives the run (approve executes the gated step, reject rolls back). Expired approvals
 * take their `on_timeout`.
 */
import picomatch from "picomatch";
import { ApprovalError } from "../../core/errors.js";
import type { JsonObject } from "../../core/json.js";
import { requirePrincipal } from "../../core/principal.js";
import { RunStatus, StepStatus } from "../../core/status.js";
import type { EngineContext } from "../context.js";
import { EventType } from "../events.js";
import { type ApprovalData, ApprovalStatus, approvalOf } from "../state/approval-record.js";
import type { RunState } from "../state/run-state.js";
import { notifyApprovals } from "./notify.js";

/**
 * Whether `principal` may decide an approval. Explicit approvers (principals, globs, `role:x`)
 * else the configured defaults, else any `user:*`. Agents only when a pattern names agents.
 */
export function isEligibleApprover(
  principal: string,
  approvers: readonly string[],
  roles: readonly string[],
): boolean {
  const isAgent = principal.startsWith("agent:");
  if (approvers.length === 0) return principal.startsWith("user:");
  return approvers.some((a) => {
    if (a.startsWith("role:")) return !isAgent && roles.includes(a.slice(5));
    if (isAgent && !a.startsWith("agent:")) return false;
    return a === principal || picomatch.isMatch(principal, a, { dot: true });
  });
}

/** A decision on the pending approval of a waiting run. */
export interface DecisionInput {
  readonly decision: "approve" | "reject";
  readonly principal: string;
  readonly comment?: string;
  /** Which waiting step, when several wait. */
  readonly stepId?: string;
  /** Decide only this approval (`<runId>/<stepId>/<n>`): a stale or used id is refused. */
  readonly approvalId?: string;
}

/**
 * Decides the pending approval of a waiting run (or of `stepId`). Validates the decider, records
 * the decision durably; the caller then drives the run (approve executes the gated step).
 */
export async function decideApproval(
  ctx: EngineContext,
  state: RunState,
  input: DecisionInput,
): Promise<ApprovalData> {
  const runId = state.run.id;
  // Self-approval and eligibility compare strings: only one spelling of a principal may get here.
  requirePrincipal(input.principal, "principal");
  if (state.run.status !== RunStatus.WAITING_APPROVAL) {
    throw new ApprovalError(
      "NOT_WAITING",
      `run ${runId} is ${state.run.status}, not waiting for approval`,
      { runId },
    );
  }
  const pending = [...state.steps.values()].filter(
    (s) =>
      approvalOf(s.decision)?.status === ApprovalStatus.PENDING &&
      (!input.stepId || s.stepId === input.stepId),
  );
  if (pending.length === 0)
    throw new ApprovalError(
      "NO_PENDING_APPROVAL",
      `run ${runId} has no pending approval${input.stepId ? ` for step ${input.stepId}` : ""}`,
      { runId },
    );
  if (pending.length > 1) {
    throw new ApprovalError(
      "AMBIGUOUS_APPROVAL",
      `run ${runId} waits on several steps (${pending.map((s) => s.stepId).join(", ")}); name the step to decide`,
      { runId, steps: pending.map((s) => s.stepId) },
    );
  }
  const rec = pending[0]!;
  const approval = approvalOf(rec.decision)!;
  if (input.approvalId !== undefined && input.approvalId !== approval.id) {
    throw new ApprovalError(
      "NO_PENDING_APPROVAL",
      `approval ${input.approvalId} is not pending (the pending one is ${approval.id})`,
      { runId, stepId: rec.stepId },
    );
  }
  const now = state.now();
  if (approval.expires_at !== null && now > approval.expires_at) {
    await expire(state, rec.stepId, approval, now);
    throw new ApprovalError(
      "APPROVAL_EXPIRED",
      `approval ${approval.id} expired at ${new Date(approval.expires_at).toISOString()}`,
      { runId, stepId: rec.stepId },
    );
  }
  if (input.principal === approval.requester) {
    throw new ApprovalError(
      "SELF_APPROVAL",
      `${input.principal} requested this action and cannot decide it`,
      { runId, stepId: rec.stepId },
    );
  }
  if (
    !isEligibleApprover(input.principal, approval.approvers, ctx.settings.rolesOf(input.principal))
  ) {
    throw new ApprovalError(
      "NOT_ELIGIBLE",
      `${input.principal} is not an eligible approver (${approval.approvers.join(", ") || "any user:*"})`,
      { runId, stepId: rec.stepId },
    );
  }
  const decided: ApprovalData = {
    ...approval,
    status: input.decision === "approve" ? ApprovalStatus.APPROVED : ApprovalStatus.REJECTED,
    decided_by: input.principal,
    decided_at: now,
    comment: input.comment ?? null,
  };
  await state.commit([
    {
      op: "putStep",
      step: { ...rec, decision: { ...(rec.decision as JsonObject), approval: decided } },
    },
    state.event(EventType.APPROVAL_DECIDED, rec.stepId, {
      approval: approval.id,
      decision: input.decision,
      by: input.principal,
      comment: input.comment ?? null,
    }),
  ]);
  notifyApprovals(state, [{ type: "approval.decided", stepId: rec.stepId, approval: decided }]);
  return decided;
}

/**
 * Applies `on_timeout` to every expired pending approval of a waiting run, then tells whether
 * any waiting step can now proceed (its approval was decided, approved or not): only then is
 * there something to drive.
 */
export async function settleApprovals(state: RunState): Promise<boolean> {
  const now = state.now();
  let proceed = false;
  for (const s of [...state.steps.values()]) {
    if (s.status !== StepStatus.WAITING_APPROVAL) continue;
    const a = approvalOf(s.decision);
    if (a?.status === ApprovalStatus.PENDING && a.expires_at !== null && now > a.expires_at) {
      await expire(state, s.stepId, a, now);
      proceed = true;
    } else if (a && a.status !== ApprovalStatus.PENDING) {
      proceed = true;
    }
  }
  return proceed;
}

async function expire(state: RunState, stepId: string, a: ApprovalData, now: number) {
  const rec = state.step(stepId);
  const next: ApprovalData =
    a.on_timeout === "approve"
      ? { ...a, status: ApprovalStatus.APPROVED, decided_by: "system:timeout", decided_at: now }
      : { ...a, status: ApprovalStatus.EXPIRED, decided_at: now };
  await state.commit([
    {
      op: "putStep",
      step: { ...rec, decision: { ...(rec.decision as JsonObject), approval: next } },
    },
    // Approved by its `on_timeout` it is a decision; otherwise it simply expired.
    a.on_timeout === "approve"
      ? state.event(EventType.APPROVAL_DECIDED, stepId, {
          approval: a.id,
          decision: "approve",
          by: "system:timeout",
        })
      : state.event(EventType.APPROVAL_EXPIRED, stepId, {
          approval: a.id,
          on_timeout: a.on_timeout,
          by: "system:timeout",
        }),
  ]);
  notifyApprovals(state, [{ type: "approval.expired", stepId, approval: next }]);
}
