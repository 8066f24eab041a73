/**
 * @module The commit gate of a governed run (SPEC §7): after its last step and before
 * COMPLETED, in this order — settled spend within every budget (a call may have used more than
 * it reserved), evidence requirements met, drift of the final metrics against the baseline.
 * A failed check makes the run abstain (ABSTAIN with BUDGET_EXCEEDED, EVIDENCE_UNMET or DRIFT)
 * and compensate. Drift under `require_approval` asks a person through the approval machinery,
 * on a gate step `governance.drift` that the run holds besides its plan steps; approving
 * completes the run, rejecting rolls it back (REMEDIATE, APPROVAL_REJECTED).
 *
 * On success the gate returns the ops the COMPLETED commit carries: the run's final metrics
 * (the sample later drift baselines use) and the `evidence.evaluated` / `drift.detected` events.
 */
import { DRIFT_GATE_STEP, type DriftSettings } from "../../core/governance.js";
import {
  computeBaselines,
  type DriftFinding,
  describeFinding,
  detectDrift,
} from "../../core/governance-drift.js";
import { hashJson } from "../../core/hash.js";
import { isPlainObject, type JsonObject } from "../../core/json.js";
import { Decision, Outcome, Reason, StepStatus } from "../../core/status.js";
import type { WriteOp } from "../../store/store.js";
import { approvalGate } from "../approvals/gate.js";
import { notifyApprovals } from "../approvals/notify.js";
import { EventType } from "../events.js";
import { errorJson } from "../state/run-records.js";
import type { RunState } from "../state/run-state.js";
import { traceStepFailure } from "../telemetry.js";
import { addDriftSample, driftSamples } from "./baselines.js";
import { evaluateEvidence, evidenceJson } from "./evidence.js";
import { budgetRefusal, driftRefusal, findingJson, type Refusal } from "./refusals.js";
import { type RunGovernance, runGovernance } from "./run-governance.js";

/** What the commit gate decided. */
export type CommitGateResult =
  | { readonly verdict: "pass"; readonly ops: WriteOp[] }
  /** The run is rolling back (`state.failure` is set). */
  | { readonly verdict: "failed" }
  /** A person must approve the drift first. */
  | { readonly verdict: "waiting" };

/** Runs the commit gate of a governed run (see module doc). */
export async function commitGate(state: RunState): Promise<CommitGateResult> {
  const gov = runGovernance(state);
  if (!gov) return { verdict: "pass", ops: [] };
  const ops: WriteOp[] = [];
  const over = gov.overrun();
  if (over) return abstain(state, gov, budgetRefusal(over, null), ops);

  const env = gov.envelope;
  if (env.required.length > 0 || state.plan.steps.some((s) => s.evidence !== null)) {
    const ev = evaluateEvidence(state, env.required);
    const json = evidenceJson(ev);
    ops.push(state.event(EventType.EVIDENCE_EVALUATED, null, json));
    if (!ev.met) {
      const failed = ev.results.filter((r) => !r.met);
      return abstain(
        state,
        gov,
        {
          error: new Error(`evidence unmet: ${failed.map((r) => r.expression).join("; ")}`),
          reason: Reason.EVIDENCE_UNMET,
          outcome: Outcome.ABSTAIN,
          detail: {
            governance: "evidence",
            failed: failed.map((r) => ({
              expression: r.expression,
              result: r.result,
              values: r.values,
              ...(r.unresolved.length ? { unresolved: [...r.unresolved] } : {}),
              ...(r.error ? { error: r.error } : {}),
            })),
            evidence: ev.evidence,
          },
        },
        ops,
      );
    }
  }

  if (env.drift) {
    const verdict = await driftAtCommit(state, gov, env.drift, ops);
    if (verdict !== "pass") return { verdict };
  }
  const metrics = gov.metrics();
  if (env.counts) {
    ops.push(gov.metaOp({ metrics: { ...metrics } }));
    addDriftSample(state.ctx.store, state.plan, metrics);
  }
  ops.push(...gov.drainEvents());
  return { verdict: "pass", ops };
}

/** Ends the run's forward path: the abstention and its evidence, committed with COMPENSATING. */
async function abstain(
  state: RunState,
  gov: RunGovernance,
  refusal: Pick<Refusal, "reason" | "outcome" | "detail"> & { error: Error },
  ops: WriteOp[],
): Promise<CommitGateResult> {
  const detail: JsonObject = { message: refusal.error.message, ...refusal.detail };
  const batch = [...ops, ...gov.drainEvents()];
  if (refusal.reason === Reason.BUDGET_EXCEEDED) {
    batch.push(state.event(EventType.BUDGET_BREACHED, null, refusal.detail));
  }
  if (gov.envelope.counts) batch.push(gov.metaOp());
  batch.push(...state.compensatingOps(refusal.reason, detail, refusal.outcome));
  await state.commitFailure(batch, { reason: refusal.reason, detail }, true);
  return { verdict: "failed" };
}

/** Drift of the final metrics: warn, abstain, or the gate step's approval. */
async function driftAtCommit(
  state: RunState,
  gov: RunGovernance,
  drift: DriftSettings,
  ops: WriteOp[],
): Promise<"pass" | "failed" | "waiting"> {
  // An approval already asked at commit (the run was resumed after a decision).
  if (state.steps.has(DRIFT_GATE_STEP)) return gateApproval(state, gov, null, ops);
  const samples = await driftSamples(state.ctx.store, state.plan, drift.window);
  const findings = detectDrift(gov.metrics(), computeBaselines(samples, drift.metrics), drift);
  const event = (list: readonly DriftFinding[]) =>
    state.event(EventType.DRIFT_DETECTED, null, {
      phase: "commit",
      action: drift.action,
      findings: list.map(findingJson),
    });
  if (drift.action === "warn") {
    const fresh = findings.filter((f) => !gov.warned.has(f.metric));
    if (fresh.length > 0) {
      gov.warn(fresh.map((f) => f.metric));
      ops.push(event(fresh));
    }
    return "pass";
  }
  if (drift.action === "abstain") {
    if (findings.length === 0) return "pass";
    ops.push(event(findings));
    await abstain(state, gov, driftRefusal(findings, "commit"), ops);
    return "failed";
  }
  const open = findings.filter((f) => !gov.acknowledged.has(f.metric));
  if (open.length === 0) return "pass";
  // Recorded before the approval is asked (the request commits on its own).
  await state.commit([event(open), ...(gov.envelope.counts ? [gov.metaOp()] : [])]);
  return gateApproval(state, gov, open, ops);
}

/** Asks (or checks) the drift approval on the gate step. */
async function gateApproval(
  state: RunState,
  gov: RunGovernance,
  findings: readonly DriftFinding[] | null,
  ops: WriteOp[],
): Promise<"pass" | "failed" | "waiting"> {
  const ps = state.planStep(DRIFT_GATE_STEP);
  const existing = state.steps.get(DRIFT_GATE_STEP);
  const recorded = findings ? findings.map(findingJson) : recordedFindings(existing?.inputs);
  const message = `Drift at commit: ${
    findings ? findings.map(describeFinding).join("; ") : "see the recorded findings"
  }. Approve completing the run?`;
  state.addRuntimeStep(DRIFT_GATE_STEP);
  const actionHash =
    existing?.contextHash ??
    hashJson({
      gate: "drift",
      metrics: recorded.map((f) => String((f as JsonObject).metric)).sort(),
      run: state.run.id,
      spec: state.plan.specHash,
    });
  const gate = approvalGate(state, ps, {
    actionHash,
    decision: { decision: Decision.REQUIRE_APPROVAL, reason: message, drift: recorded },
    approvers: ps.approval?.approvers ?? [],
    message,
    recordInputs: { drift: recorded },
  });
  if (gate.state === "waiting") {
    if (gate.ops.length > 0) {
      await state.commit(gate.ops);
      notifyApprovals(state, gate.notices);
    }
    return "waiting";
  }
  if (gate.state === "rejected") {
    // The gate step fails and the run rolls back (REMEDIATE, APPROVAL_REJECTED / _EXPIRED).
    const rec = state.step(DRIFT_GATE_STEP);
    const error = errorJson(gate.error);
    const detail = { step: DRIFT_GATE_STEP, code: gate.error.code, message: gate.error.message };
    const decisive = state.isDecisive(gate.reason);
    traceStepFailure(state, ps, gate.error);
    await state.commitFailure(
      [
        {
          op: "putStep",
          step: { ...rec, status: StepStatus.FAILED, error, finishedAt: state.now() },
        },
        state.event(EventType.STEP_FAILED, DRIFT_GATE_STEP, { ...error, attempts: rec.attempts }),
        ...gov.stepOps(DRIFT_GATE_STEP),
        ...(decisive ? state.compensatingOps(gate.reason, detail) : []),
      ],
      { reason: gate.reason, detail },
      decisive,
    );
    return "failed";
  }
  gov.acknowledge(recorded.map((f) => String((f as JsonObject).metric)));
  const rec = state.step(DRIFT_GATE_STEP);
  ops.push(
    {
      op: "putStep",
      step: {
        ...rec,
        status: StepStatus.SUCCEEDED,
        attempts: 1,
        decision: { ...(rec.decision as JsonObject), approval: gate.approval },
        outputs: { approved: true, decided_by: gate.approval.decided_by ?? null },
        finishedAt: state.now(),
      },
    },
    state.event(EventType.STEP_SUCCEEDED, DRIFT_GATE_STEP, { approval: true }),
  );
  return "pass";
}

function recordedFindings(inputs: unknown): JsonObject[] {
  const list = isPlainObject(inputs) ? inputs.drift : undefined;
  return Array.isArray(list) ? (list.filter(isPlainObject) as JsonObject[]) : [];
}
