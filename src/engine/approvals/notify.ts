/**
 * @module The signed webhook announcing a committed approval change (in the background; never
 * throws). A step's own `webhook_url` (templates resolved now) overrides the configured URL.
 */
import type { WebhookEventType } from "../../core/config.js";
import type { PlanStep } from "../../core/plan.js";
import { resolveTemplates } from "../../core/template.js";
import type { ApprovalData } from "../state/approval-record.js";
import type { RunState } from "../state/run-state.js";
import { templateScope } from "../state/scope.js";

/** An approval change to announce once its commit is durable. */
export interface ApprovalNotice {
  readonly type: WebhookEventType;
  readonly stepId: string;
  readonly approval: ApprovalData;
}

/** Sends the webhook of each notice (call after the change was committed). */
export function notifyApprovals(state: RunState, notices: readonly ApprovalNotice[]): void {
  const hooks = state.ctx.notifier;
  if (!hooks) return;
  for (const n of notices) {
    const ps = state.planStep(n.stepId);
    hooks.send({
      type: n.type,
      runId: state.run.id,
      stepId: n.stepId,
      approval: n.approval,
      ...webhookUrl(state, ps),
    });
  }
}

function webhookUrl(state: RunState, ps: PlanStep): { url?: string; recordUrl?: string } {
  const template = ps.approval?.webhookUrl ?? null;
  if (template === null) return {};
  try {
    return {
      url: String(resolveTemplates(template, templateScope(state, null))),
      recordUrl: String(resolveTemplates(template, templateScope(state, null, true))),
    };
  } catch {
    // Unresolvable: sent to (and recorded as) an invalid URL, so the failure is on record.
    return { url: template, recordUrl: template };
  }
}
