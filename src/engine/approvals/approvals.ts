/**
 * @module Human approvals bound to the exact action. An approval is persisted on the gated step
 * (requester, action hash, eligible approvers, expiry, on_timeout); deciding it is refused for
 * the requester itself, for ineligible principals and after expiry; an approved action whose
 * hash changed before execution voids the approval and asks again. Each of these changes, once
 * committed, is announced by a signed webhook (engine/webhooks.ts).
 */
import picomatch from "picomatch";
import type { WebhookEventType } from "../../core/config.js";
import { AirunError } from "../../core/errors.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { Reason, RunStatus, StepStatus } from "../../core/status.js";
import { resolveTemplates } from "../../core/template.js";
import type { EngineContext } from "../context.js";
import { EventType, eventOp } from "../events.js";
import type { RunExecution } from "../state/run-state.js";
import { failStep, templateScope } from "../step/step-runner.js";

/** Statuses an approval goes through. */
export const ApprovalStatus = {
  PENDING: "PENDING",
  APPROVED: "APPROVED",
  REJECTED: "REJECTED",
  EXPIRED: "EXPIRED",
  /** The action changed after approval; a new approval is required. */
  VOID: "VOID",
  /** Consumed by the execution it approved (single use). */
  USED: "USED",
} as const;
export type ApprovalStatus = (typeof ApprovalStatus)[keyof typeof ApprovalStatus];

/** An approval as persisted on its step's decision. */
export interface ApprovalData extends JsonObject {
  id: string;
  status: ApprovalStatus;
  run_id: string;
  step_id: string;
  requester: string;
  action_hash: string;
  approvers: string[];
  message: string;
  requested_at: number;
  expires_at: number | null;
  on_timeout: "reject" | "approve";
  decided_by: string | null;
  decided_at: number | null;
  comment: string | null;
}

/** The approval recorded on a step, if any. */
export function approvalOf(decision: JsonValue | null): ApprovalData | null {
  const a = (decision as { approval?: ApprovalData } | null)?.approval;
  return a ?? null;
}

/** What a gated step asks approval for. */
export interface ApprovalRequest {
  /** The step's context hash: the approval is bound to exactly this action. */
  readonly actionHash: string;
  /** The gatekeeper's recorded decision. */
  readonly decision: JsonObject;
  /** Approvers named by the deciding rules (the step's own list wins). */
  readonly approvers: readonly string[];
  readonly message: string;
  /** The step's inputs as recorded (secrets masked). */
  readonly recordInputs: JsonValue;
}

/** Result of passing an approval gate. */
export type GateResult =
  | { readonly state: "approved"; readonly approval: ApprovalData }
  | { readonly state: "waiting" }
  | { readonly state: "rejected" };

/**
 * The approval gate in front of a step: asks for an approval (the step waits), or lets an
 * approved, unchanged action through exactly once, or fails the step on rejection/expiry.
 */
export async function approvalGate(
  exec: RunExecution,
  ps: PlanStep,
  req: ApprovalRequest,
): Promise<GateResult> {
  const rec = exec.step(ps.id);
  const current = approvalOf(rec.decision);
  if (
    current &&
    (current.status === ApprovalStatus.APPROVED || current.status === ApprovalStatus.USED)
  ) {
    if (current.action_hash !== req.actionHash) {
      const voided = { ...current, status: ApprovalStatus.VOID };
      await exec.commit([
        {
          op: "putStep",
          step: { ...rec, decision: { ...(rec.decision as JsonObject), approval: voided } },
        },
        eventOp(EventType.APPROVAL_VOIDED, exec.run.id, ps.id, {
          approval: current.id,
          approved_hash: current.action_hash,
          action_hash: req.actionHash,
        }),
      ]);
      notify(exec, ps, "approval.voided", voided);
      return request(exec, ps, req);
    }
    const used = { ...current, status: ApprovalStatus.USED };
    return { state: "approved", approval: used };
  }
  if (current?.status === ApprovalStatus.REJECTED || current?.status === ApprovalStatus.EXPIRED) {
    const expired = current.status === ApprovalStatus.EXPIRED;
    await failStep(
      exec,
      ps,
      new AirunError(
        expired ? "APPROVAL_EXPIRED" : "APPROVAL_REJECTED",
        expired
          ? `approval ${current.id} expired`
          : `rejected by ${current.decided_by}${current.comment ? `: ${current.comment}` : ""}`,
      ),
      {
        effectUnknown: false,
        reason: expired ? Reason.APPROVAL_EXPIRED : Reason.APPROVAL_REJECTED,
      },
    );
    return { state: "rejected" };
  }
  if (current?.status === ApprovalStatus.PENDING) return { state: "waiting" };
  return request(exec, ps, req);
}

async function request(
  exec: RunExecution,
  ps: PlanStep,
  req: ApprovalRequest,
): Promise<GateResult> {
  const rec = exec.step(ps.id);
  const now = Date.now();
  const settings = exec.ctx.settings;
  const timeoutMs = ps.approval?.timeoutMs ?? settings.approvalTimeoutMs;
  const previous = approvalOf(rec.decision);
  const n = previous ? Number(previous.id.split("/").pop() ?? "0") + 1 : 1;
  const approvers = ps.approval?.approvers.length
    ? [...ps.approval.approvers]
    : req.approvers.length
      ? [...req.approvers]
      : [...settings.defaultApprovers];
  const approval: ApprovalData = {
    id: `${exec.run.id}/${ps.id}/${n}`,
    status: ApprovalStatus.PENDING,
    run_id: exec.run.id,
    step_id: ps.id,
    requester: exec.run.principal,
    action_hash: req.actionHash,
    approvers,
    message: req.message,
    requested_at: now,
    expires_at: timeoutMs > 0 ? now + timeoutMs : null,
    on_timeout: ps.approval?.onTimeout ?? settings.approvalOnTimeout,
    decided_by: null,
    decided_at: null,
    comment: null,
  };
  await exec.commit([
    {
      op: "putStep",
      step: {
        ...rec,
        status: StepStatus.WAITING_APPROVAL,
        inputs: req.recordInputs,
        contextHash: req.actionHash,
        decision: { ...req.decision, approval },
      },
    },
    eventOp(EventType.STEP_DECISION, exec.run.id, ps.id, req.decision),
    eventOp(EventType.APPROVAL_REQUESTED, exec.run.id, ps.id, approval),
  ]);
  notify(exec, ps, "approval.requested", approval);
  return { state: "waiting" };
}

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

/** Why a decision was refused. */
export class ApprovalError extends AirunError {
  override readonly name = "ApprovalError";
}

/**
 * Decides the pending approval of a waiting run (or of `stepId`). Validates the decider, records
 * the decision durably; the caller then drives the run (approve executes the gated step).
 */
export async function decideApproval(
  ctx: EngineContext,
  exec: RunExecution,
  input: {
    decision: "approve" | "reject";
    principal: string;
    comment?: string;
    stepId?: string;
    /** Decide only this approval (`<runId>/<stepId>/<n>`): a stale or used id is refused. */
    approvalId?: string;
  },
): Promise<ApprovalData> {
  if (exec.run.status !== RunStatus.WAITING_APPROVAL) {
    throw new ApprovalError(
      "NOT_WAITING",
      `run ${exec.run.id} is ${exec.run.status}, not waiting for approval`,
      { runId: exec.run.id },
    );
  }
  const pending = [...exec.steps.values()].filter(
    (s) =>
      approvalOf(s.decision)?.status === ApprovalStatus.PENDING &&
      (!input.stepId || s.stepId === input.stepId),
  );
  if (pending.length === 0)
    throw new ApprovalError(
      "NO_PENDING_APPROVAL",
      `run ${exec.run.id} has no pending approval${input.stepId ? ` for step ${input.stepId}` : ""}`,
      { runId: exec.run.id },
    );
  if (pending.length > 1) {
    throw new ApprovalError(
      "AMBIGUOUS_APPROVAL",
      `run ${exec.run.id} waits on several steps (${pending.map((s) => s.stepId).join(", ")}); name one with --step`,
      { runId: exec.run.id },
    );
  }
  const rec = pending[0]!;
  const approval = approvalOf(rec.decision)!;
  if (input.approvalId !== undefined && input.approvalId !== approval.id) {
    throw new ApprovalError(
      "NO_PENDING_APPROVAL",
      `approval ${input.approvalId} is not pending (the pending one is ${approval.id})`,
      { runId: exec.run.id, stepId: rec.stepId },
    );
  }
  const now = Date.now();
  if (approval.expires_at !== null && now > approval.expires_at) {
    await expire(exec, rec.stepId, approval, now);
    throw new ApprovalError(
      "APPROVAL_EXPIRED",
      `approval ${approval.id} expired at ${new Date(approval.expires_at).toISOString()}`,
      { runId: exec.run.id, stepId: rec.stepId },
    );
  }
  if (input.principal === approval.requester) {
    throw new ApprovalError(
      "SELF_APPROVAL",
      `${input.principal} requested this action and cannot decide it`,
      { runId: exec.run.id, stepId: rec.stepId },
    );
  }
  if (
    !isEligibleApprover(input.principal, approval.approvers, ctx.settings.rolesOf(input.principal))
  ) {
    throw new ApprovalError(
      "NOT_ELIGIBLE",
      `${input.principal} is not an eligible approver (${approval.approvers.join(", ") || "any user:*"})`,
      { runId: exec.run.id, stepId: rec.stepId },
    );
  }
  const decided: ApprovalData = {
    ...approval,
    status: input.decision === "approve" ? ApprovalStatus.APPROVED : ApprovalStatus.REJECTED,
    decided_by: input.principal,
    decided_at: now,
    comment: input.comment ?? null,
  };
  await exec.commit([
    {
      op: "putStep",
      step: { ...rec, decision: { ...(rec.decision as JsonObject), approval: decided } },
    },
    eventOp(EventType.APPROVAL_DECIDED, exec.run.id, rec.stepId, {
      approval: approval.id,
      decision: input.decision,
      by: input.principal,
      comment: input.comment ?? null,
    }),
  ]);
  notify(exec, exec.planStep(rec.stepId), "approval.decided", decided);
  return decided;
}

/**
 * Applies `on_timeout` to every expired pending approval of a waiting run, then tells whether
 * any waiting step can now proceed (its approval was decided, approved or not): only then is
 * there something to drive.
 */
export async function settleApprovals(exec: RunExecution, now = Date.now()): Promise<boolean> {
  let proceed = false;
  for (const s of [...exec.steps.values()]) {
    if (s.status !== StepStatus.WAITING_APPROVAL) continue;
    const a = approvalOf(s.decision);
    if (a?.status === ApprovalStatus.PENDING && a.expires_at !== null && now > a.expires_at) {
      await expire(exec, s.stepId, a, now);
      proceed = true;
    } else if (a && a.status !== ApprovalStatus.PENDING) {
      proceed = true;
    }
  }
  return proceed;
}

async function expire(
  exec: RunExecution,
  stepId: string,
  a: ApprovalData,
  now: number,
): Promise<void> {
  const rec = exec.step(stepId);
  const next: ApprovalData =
    a.on_timeout === "approve"
      ? { ...a, status: ApprovalStatus.APPROVED, decided_by: "system:timeout", decided_at: now }
      : { ...a, status: ApprovalStatus.EXPIRED, decided_at: now };
  await exec.commit([
    {
      op: "putStep",
      step: { ...rec, decision: { ...(rec.decision as JsonObject), approval: next } },
    },
    // Approved by its `on_timeout` it is a decision; otherwise it simply expired.
    a.on_timeout === "approve"
      ? eventOp(EventType.APPROVAL_DECIDED, exec.run.id, stepId, {
          approval: a.id,
          decision: "approve",
          by: "system:timeout",
        })
      : eventOp(EventType.APPROVAL_EXPIRED, exec.run.id, stepId, {
          approval: a.id,
          on_timeout: a.on_timeout,
          by: "system:timeout",
        }),
  ]);
  notify(exec, exec.planStep(stepId), "approval.expired", next);
}

/**
 * Sends the webhook of a committed approval change (in the background; never throws). A step's
 * own `webhook_url` (templates resolved now) overrides the configured URL.
 */
function notify(
  exec: RunExecution,
  ps: PlanStep,
  type: WebhookEventType,
  approval: ApprovalData,
): void {
  const hooks = exec.ctx.webhooks;
  if (!hooks) return;
  let url: string | null = null;
  let recordUrl: string | null = null;
  const template = ps.approval?.webhookUrl ?? null;
  if (template !== null) {
    try {
      url = String(resolveTemplates(template, templateScope(exec, null)));
      recordUrl = String(resolveTemplates(template, templateScope(exec, null, true)));
    } catch {
      // Unresolvable: sent to (and recorded as) an invalid URL, so the failure is on record.
      url = template;
      recordUrl = template;
    }
  }
  hooks.send({
    type,
    runId: exec.run.id,
    stepId: ps.id,
    approval,
    ...(url !== null ? { url, recordUrl } : {}),
  });
}
