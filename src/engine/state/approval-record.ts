/**
 * @module An approval as persisted on its gated step (`step.decision.approval`): its statuses
 * and how to read it back. The approval machinery that asks, decides and expires approvals is
 * in `engine/approvals/`.
 */
import type { JsonObject, JsonValue } from "../../core/json.js";

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
  /** The run ended (cancelled, failed elsewhere) before anyone decided. */
  CANCELLED: "CANCELLED",
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

/** True while an approval waits for a person and has not expired by `now`. */
export function isOpenApproval(a: ApprovalData | null, now: number): boolean {
  return a?.status === ApprovalStatus.PENDING && (a.expires_at === null || a.expires_at > now);
}
