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
import { type DriftSettings, governanceOf } from "../../core/governance.js";
import {
  computeBaselines,
  type DriftFinding,
  describeFinding,
  detectDrift,
} from "../../core/governance-drift.js";
import { hashJson } from "../../core/hash.js";
import { isPlainObject, type JsonObject } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { runtimeStep } from "../../core/plan-schema.js";
import { Decision, Outcome, Reason, StepStatus } from "../../core/status.js";
import type { WriteOp } from "../../store/store.js";
import { approvalGate } from "../approvals/approvals.js";
import { EventType, eventOp } from "../events.js";
import { pendingStep } from "../state/run-records.js";
import type { RunExecution } from "../state/run-state.js";
import { addDriftSample, driftSamples } from "./baselines.js";
import { evaluateEvidence, evidenceJson } from "./evidence.js";
import {
  budgetRefusal,
  driftRefusal,
  findingJson,
  type Refusal,
  type RunGovernance,
  runGovernance,
} from "./run-governance.js";

/** Id of the gate step a drift approval at commit is recorded on (never a plan step id). */
export const DRIFT_GATE_STEP = "governance.drift";

/** What the commit gate decided. */
export type CommitGateResult =
  | { readonly verdict: "pass"; readonly ops: WriteOp[] }
  /** The run is rolling back (`exec.failure` is set). */
  | { readonly verdict: "failed" }
  /** A person must approve the drift first. */
  | { readonly verdict: "waiting" };

/**
 * The gate step of a governed run's drift approval, as a plan step the approval machinery can
 * use (its message is the approval's own); undefined for any other id or an ungoverned plan.
 */
export function gateStep(exec: RunExecution, stepId: string): PlanStep | undefined {
  if (stepId !== DRIFT_GATE_STEP) return undefined;
  const drift = governanceOf(exec.plan)?.drift;
  if (!drift) return undefined;
  return runtimeStep({
    id: DRIFT_GATE_STEP,
    kind: "approval",
    approval: {
      message: "Approve completing a run that drifted beyond its baseline?",
      approvers: [...drift.approvers],
      timeoutMs: null,
      onTimeout: exec.ctx.settings.approvalOnTimeout,
      webhookUrl: null,
    },
  });
}

/** Runs the commit gate of a governed run (see module doc). */
export async function commitGate(exec: RunExecution): Promise<CommitGateResult> {
  const gov = runGovernance(exec);
  if (!gov) return { verdict: "pass", ops: [] };
  const ops: WriteOp[] = [];
  const over = gov.overrun();
  if (over) return abstain(exec, gov, budgetRefusal(over, null), ops);

  const env = gov.envelope;
  if (env.required.length > 0 || exec.plan.steps.some((s) => s.evidence !== null)) {
    const ev = evaluateEvidence(exec, env.required);
    const json = evidenceJson(ev);
    ops.push(eventOp(EventType.EVIDENCE_EVALUATED, exec.run.id, null, json));
    if (!ev.met) {
      const failed = ev.results.filter((r) => !r.met);
      return abstain(
        exec,
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
    const verdict = await driftAtCommit(exec, gov, env.drift, ops);
    if (verdict !== "pass") return { verdict };
  }
  const metrics = gov.metrics();
  if (env.counts) {
    ops.push(gov.metaOp({ metrics: { ...metrics } }));
    addDriftSample(exec.ctx.store, exec.plan, metrics);
  }
  ops.push(...gov.drainEvents());
  return { verdict: "pass", ops };
}

/** Ends the run's forward path: the abstention and its evidence, committed with COMPENSATING. */
async function abstain(
  exec: RunExecution,
  gov: RunGovernance,
  refusal: Pick<Refusal, "reason" | "outcome" | "detail"> & { error: Error },
  ops: WriteOp[],
): Promise<CommitGateResult> {
  const detail: JsonObject = { message: refusal.error.message, ...refusal.detail };
  const batch = [...ops, ...gov.drainEvents()];
  if (refusal.reason === Reason.BUDGET_EXCEEDED) {
    batch.push(eventOp(EventType.BUDGET_BREACHED, exec.run.id, null, refusal.detail));
  }
  if (gov.envelope.counts) batch.push(gov.metaOp());
  batch.push(...exec.compensatingOps(refusal.reason, detail, refusal.outcome));
  await exec.commit(batch);
  exec.failure = { reason: refusal.reason, detail };
  return { verdict: "failed" };
}

/** Drift of the final metrics: warn, abstain, or the gate step's approval. */
async function driftAtCommit(
  exec: RunExecution,
  gov: RunGovernance,
  drift: DriftSettings,
  ops: WriteOp[],
): Promise<"pass" | "failed" | "waiting"> {
  // An approval already asked at commit (the run was resumed after a decision).
  if (exec.steps.has(DRIFT_GATE_STEP)) return gateApproval(exec, gov, null, ops);
  const samples = await driftSamples(exec.ctx.store, exec.plan, drift.window);
  const findings = detectDrift(gov.metrics(), computeBaselines(samples, drift.metrics), drift);
  const event = (list: readonly DriftFinding[]) =>
    eventOp(EventType.DRIFT_DETECTED, exec.run.id, null, {
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
    await abstain(exec, gov, driftRefusal(findings, "commit"), ops);
    return "failed";
  }
  const open = findings.filter((f) => !gov.acknowledged.has(f.metric));
  if (open.length === 0) return "pass";
  // Recorded before the approval is asked (the request commits on its own).
  await exec.commit([event(open), ...(gov.envelope.counts ? [gov.metaOp()] : [])]);
  return gateApproval(exec, gov, open, ops);
}

/** Asks (or checks) the drift approval on the gate step. */
async function gateApproval(
  exec: RunExecution,
  gov: RunGovernance,
  findings: readonly DriftFinding[] | null,
  ops: WriteOp[],
): Promise<"pass" | "failed" | "waiting"> {
  const ps = gateStep(exec, DRIFT_GATE_STEP)!;
  const existing = exec.steps.get(DRIFT_GATE_STEP);
  const recorded = findings ? findings.map(findingJson) : recordedFindings(existing?.inputs);
  const message = `Drift at commit: ${
    findings ? findings.map(describeFinding).join("; ") : "see the recorded findings"
  }. Approve completing the run?`;
  if (!existing) {
    exec.steps.set(DRIFT_GATE_STEP, pendingStep(exec.run.id, DRIFT_GATE_STEP));
  }
  const actionHash =
    existing?.contextHash ??
    hashJson({
      gate: "drift",
      metrics: recorded.map((f) => String((f as JsonObject).metric)).sort(),
      run: exec.run.id,
      spec: exec.plan.specHash,
    });
  const gate = await approvalGate(exec, ps, {
    actionHash,
    decision: { decision: Decision.REQUIRE_APPROVAL, reason: message, drift: recorded },
    approvers: ps.approval?.approvers ?? [],
    message,
    recordInputs: { drift: recorded },
  });
  if (gate.state === "waiting") return "waiting";
  if (gate.state === "rejected") return "failed";
  gov.acknowledge(recorded.map((f) => String((f as JsonObject).metric)));
  const rec = exec.step(DRIFT_GATE_STEP);
  ops.push(
    {
      op: "putStep",
      step: {
        ...rec,
        status: StepStatus.SUCCEEDED,
        attempts: 1,
        decision: { ...(rec.decision as JsonObject), approval: gate.approval },
        outputs: { approved: true, decided_by: gate.approval.decided_by ?? null },
        finishedAt: Date.now(),
      },
    },
    eventOp(EventType.STEP_SUCCEEDED, exec.run.id, DRIFT_GATE_STEP, { approval: true }),
  );
  return "pass";
}

function recordedFindings(inputs: unknown): JsonObject[] {
  const list = isPlainObject(inputs) ? inputs.drift : undefined;
  return Array.isArray(list) ? (list.filter(isPlainObject) as JsonObject[]) : [];
}
