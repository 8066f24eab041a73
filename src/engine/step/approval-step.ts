/**
 * @module An approval step (`type: approval`): asks a person the step's message (rendered from
 * the run's state, secrets masked; the approval is bound to that text, so a changed message
 * needs a new approval) and succeeds once approved. The approval is consumed (USED), as for a
 * gated action: it cannot be decided again.
 */
import type { JsonObject } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { Decision, StepStatus } from "../../core/status.js";
import { approvalGate } from "../approvals/gate.js";
import { notifyApprovals } from "../approvals/notify.js";
import { EventType } from "../events.js";
import type { RunState } from "../state/run-state.js";
import { templateScope } from "../state/scope.js";
import { failStep } from "./fail.js";
import { approvalAction } from "./resolve.js";

/** Runs an approval step. */
export async function approvalStep(state: RunState, ps: PlanStep): Promise<void> {
  const { message, actionHash } = approvalAction(ps, templateScope(state, null, true), {
    specHash: state.plan.specHash,
    principal: state.run.principal,
  });
  const gate = approvalGate(state, ps, {
    actionHash,
    decision: { decision: Decision.REQUIRE_APPROVAL, reason: "approval step" },
    approvers: ps.approval?.approvers ?? [],
    message,
    recordInputs: { message },
  });
  if (gate.state === "rejected") {
    return failStep(state, ps, gate.error, { effectUnknown: false, reason: gate.reason });
  }
  if (gate.state === "waiting") {
    if (gate.ops.length > 0) {
      await state.commit(gate.ops);
      notifyApprovals(state, gate.notices);
    }
    return;
  }
  const rec = state.step(ps.id);
  const approval = gate.approval;
  await state.commit([
    {
      op: "putStep",
      step: {
        ...rec,
        status: StepStatus.SUCCEEDED,
        attempts: 1,
        decision: { ...(rec.decision as JsonObject), approval },
        outputs: {
          approved: true,
          decided_by: approval.decided_by ?? null,
          comment: approval.comment ?? null,
        },
        finishedAt: state.now(),
      },
    },
    state.event(EventType.STEP_SUCCEEDED, ps.id, { approval: true }),
  ]);
}
