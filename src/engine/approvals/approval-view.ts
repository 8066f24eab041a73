/**
 * @module Read-only views of approvals for the surfaces (`airun approvals list|show`, the SDK):
 * the approval as persisted on its step, plus what the run's events say about it (requested,
 * decided, voided, and every webhook delivery attempt). Earlier approvals of a step that were
 * voided and asked again live only in the events; they are rebuilt from there.
 */
import { AirunError, NotFoundError } from "../../core/errors.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import { RunStatus } from "../../core/status.js";
import type { RunRecord, Store } from "../../store/store.js";
import { EventType } from "../events.js";
import { type ApprovalData, ApprovalStatus, approvalOf } from "../state/approval-record.js";

/** An approval with the run it belongs to. */
export interface ApprovalView extends ApprovalData {
  readonly run_name: string;
  readonly run_status: RunStatus;
}

/** One event in an approval's life. */
export interface ApprovalHistoryEntry extends JsonObject {
  /** Epoch milliseconds. */
  readonly at: number;
  /** `approval.requested`, `approval.decided`, `approval.expired` or `approval.voided`. */
  readonly type: string;
  readonly data: JsonValue;
}

/** An approval with its history and its webhook delivery attempts (`webhook.delivery` data). */
export interface ApprovalDetail extends ApprovalView {
  readonly history: ApprovalHistoryEntry[];
  readonly deliveries: JsonObject[];
}

/**
 * Exactly what an approval would let happen: the gated step's capability, its inputs as
 * recorded (secrets masked, redacted keys replaced), the context hash the approval is bound to,
 * and the gatekeeper's decision (risk, rule, reason) without the approval record itself.
 */
export interface ApprovalAction extends JsonObject {
  readonly capability: string | null;
  readonly inputs: JsonValue;
  readonly context_hash: string | null;
  readonly decision: JsonValue;
}

/** The action an approval of `run` gates (see `ApprovalAction`). */
export async function approvalAction(
  store: Store,
  run: RunRecord,
  stepId: string,
): Promise<ApprovalAction> {
  const step = (await store.getSteps(run.id)).find((s) => s.stepId === stepId);
  const plan = run.plan as { steps?: { id: string; capability?: string }[] };
  const ps = plan.steps?.find((s) => s.id === stepId);
  const { approval: _approval, ...decision } = (step?.decision ?? {}) as JsonObject;
  return {
    capability: ps?.capability ?? null,
    inputs: step?.inputs ?? null,
    context_hash: step?.contextHash ?? null,
    decision,
  };
}

/** Splits `<runId>/<stepId>/<n>` (an approval id) or a bare run id. */
export function parseApprovalRef(ref: string): { runId: string; approvalId?: string } {
  const parts = ref.split("/");
  if (parts.length >= 3 && parts.every((p) => p.length > 0)) {
    return { runId: parts[0]!, approvalId: ref };
  }
  return { runId: ref };
}

const STATUS_OF_DECISION: Readonly<Record<string, ApprovalStatus>> = {
  approve: ApprovalStatus.APPROVED,
  reject: ApprovalStatus.REJECTED,
  expired: ApprovalStatus.EXPIRED,
};

/** Every approval of a run, oldest first: rebuilt from its events, current state from its steps. */
export async function approvalsOfRun(store: Store, run: RunRecord): Promise<ApprovalDetail[]> {
  const [steps, events] = await Promise.all([
    store.getSteps(run.id),
    store.listEvents({
      runId: run.id,
      types: [
        EventType.APPROVAL_REQUESTED,
        EventType.APPROVAL_DECIDED,
        EventType.APPROVAL_EXPIRED,
        EventType.APPROVAL_VOIDED,
        EventType.WEBHOOK_DELIVERY,
      ],
    }),
  ]);
  const byId = new Map<
    string,
    ApprovalData & { history: ApprovalHistoryEntry[]; deliveries: JsonObject[] }
  >();
  for (const e of events) {
    const d = (e.data ?? {}) as JsonObject;
    if (e.type === EventType.APPROVAL_REQUESTED) {
      const a = d as ApprovalData;
      byId.set(a.id, { ...a, history: [{ at: e.at, type: e.type, data: d }], deliveries: [] });
      continue;
    }
    const id = e.type === EventType.WEBHOOK_DELIVERY ? d.approval_id : d.approval;
    const a = typeof id === "string" ? byId.get(id) : undefined;
    if (!a) continue;
    if (e.type === EventType.WEBHOOK_DELIVERY) {
      a.deliveries.push({ at: e.at, ...d });
      continue;
    }
    a.history.push({ at: e.at, type: e.type, data: d });
    if (e.type === EventType.APPROVAL_VOIDED) {
      a.status = ApprovalStatus.VOID;
    } else {
      a.status = STATUS_OF_DECISION[String(d.decision)] ?? a.status;
      a.decided_by = typeof d.by === "string" ? d.by : a.decided_by;
      a.decided_at = e.at;
      a.comment = typeof d.comment === "string" ? d.comment : null;
    }
  }
  // The step's record is authoritative for its current approval (e.g. USED once executed).
  for (const s of steps) {
    const current = approvalOf(s.decision);
    if (!current) continue;
    const known = byId.get(current.id);
    byId.set(current.id, {
      ...current,
      history: known?.history ?? [],
      deliveries: known?.deliveries ?? [],
    });
  }
  return [...byId.values()]
    .sort((x, y) => x.requested_at - y.requested_at)
    .map((a) => ({ ...a, run_name: run.name, run_status: run.status }));
}

/** Pending approvals across runs, or every approval of one run (any status). */
export async function listApprovals(
  store: Store,
  filter: { readonly runId?: string } = {},
): Promise<ApprovalView[]> {
  const strip = ({ history: _h, deliveries: _d, ...view }: ApprovalDetail): ApprovalView => view;
  if (filter.runId !== undefined) {
    const run = await store.getRun(filter.runId);
    if (!run) throw new NotFoundError(`run ${filter.runId}`, { runId: filter.runId });
    return (await approvalsOfRun(store, run)).map(strip);
  }
  const out: ApprovalView[] = [];
  for (const run of await store.listRuns({ status: [RunStatus.WAITING_APPROVAL] })) {
    for (const s of await store.getSteps(run.id)) {
      const a = approvalOf(s.decision);
      if (a?.status === ApprovalStatus.PENDING) {
        out.push({ ...a, run_name: run.name, run_status: run.status });
      }
    }
  }
  return out;
}

/**
 * One approval by id (`<runId>/<stepId>/<n>`), or by run id: the run's pending approval, else
 * its latest one. Several pending approvals on a run need the approval id.
 */
export async function getApproval(store: Store, ref: string): Promise<ApprovalDetail> {
  const { runId, approvalId } = parseApprovalRef(ref);
  const run = await store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`, { runId });
  const all = await approvalsOfRun(store, run);
  if (approvalId !== undefined) {
    const found = all.find((a) => a.id === approvalId);
    if (!found) throw new NotFoundError(`approval ${approvalId}`, { runId });
    return found;
  }
  const pending = all.filter((a) => a.status === ApprovalStatus.PENDING);
  if (pending.length > 1) {
    throw new AirunError(
      "AMBIGUOUS_APPROVAL",
      `run ${runId} has several pending approvals (${pending.map((a) => a.id).join(", ")}); name one`,
      { runId },
    );
  }
  const chosen = pending[0] ?? all.at(-1);
  if (!chosen) throw new NotFoundError(`approval of run ${runId}`, { runId });
  return chosen;
}
