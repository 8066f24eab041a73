/**
 * @module One step, start to finish, as a straight pipeline of named stages, each a module that
 * returns data (the ops to commit) while `RunState` owns the run's state:
 *
 *   when → resolve (and locate the paths it touches) → gate (policy, envelope, approval) →
 *   reserve → write-ahead intent →
 *   attempts (invoke → complete | retry | fail)
 *
 * Steps whose capability has no side effect (undo `none`, no declared compensation) skip the
 * write-ahead intent: a crash in the middle simply runs them again, and their result is
 * committed in one transaction; a pure capability's (in-memory computation) rides with the
 * run's next commit instead, which comes before anything leaves the process. Failures are
 * recorded on the run (never thrown), except a lost lease or a store that cannot record
 * (`mustStop`), which stops the run in this process.
 */
import { toAirunError } from "../../core/errors.js";
import type { PlanStep } from "../../core/plan.js";
import { StepStatus, UndoKind } from "../../core/status.js";
import { evaluateCondition } from "../../core/template.js";
import { notifyApprovals } from "../approvals/notify.js";
import { EventType } from "../events.js";
import { runGovernance } from "../governance/run-governance.js";
import { mustStop, type RunState } from "../state/run-state.js";
import { templateScope } from "../state/scope.js";
import { approvalStep } from "./approval-step.js";
import { runAttempts } from "./attempts.js";
import { failStep, refuse } from "./fail.js";
import { gateCall } from "./gate.js";
import { intentOps } from "./intent.js";
import { locate, previewCall, resolveCall } from "./resolve.js";

/** Runs one step (see module doc). */
export async function runStep(state: RunState, ps: PlanStep): Promise<void> {
  try {
    if (await skipped(state, ps)) return;
    if (ps.kind === "approval") return await approvalStep(state, ps);
    return await actionStep(state, ps);
  } catch (err) {
    if (mustStop(err)) throw err;
    await failStep(state, ps, toAirunError(err), { effectUnknown: false });
  }
}

/** `when` is false: the step is recorded SKIPPED. */
async function skipped(state: RunState, ps: PlanStep): Promise<boolean> {
  if (ps.when === null || state.step(ps.id).status !== StepStatus.PENDING) return false;
  if (evaluateCondition(ps.when, templateScope(state, null))) return false;
  await state.commit([
    {
      op: "putStep",
      step: { ...state.step(ps.id), status: StepStatus.SKIPPED, finishedAt: state.now() },
    },
    state.event(EventType.STEP_SKIPPED, ps.id, { when: ps.when }),
  ]);
  return true;
}

async function actionStep(state: RunState, ps: PlanStep): Promise<void> {
  const resolved = resolveCall(state, ps);
  const located = resolved.cap.touches ? await locate(state, ps, resolved) : resolved;
  const call = located.cap.preview ? await previewCall(state, ps, located) : located;
  const gate = await gateCall(state, ps, call);
  if (gate.kind === "refused") {
    const r = gate.refused;
    if (r.refusal) return refuse(state, ps, r.refusal, r.recorded);
    return failStep(state, ps, r.error, {
      effectUnknown: false,
      reason: r.reason,
      recorded: r.recorded,
    });
  }
  if (gate.kind === "waiting") {
    if (gate.ops.length > 0) {
      await state.commit(gate.ops);
      notifyApprovals(state, gate.notices);
    }
    return;
  }
  const { decision, recorded } = gate;
  // Reserve: the call's worst-case spend, just before it is made (after any approval).
  const attempt = state.step(ps.id).attempts + 1;
  const gov = runGovernance(state);
  const refusal = gov?.reserve(ps, call, attempt, decision);
  if (refusal) return refuse(state, ps, refusal, recorded);
  // A declared compensation makes any capability a side effect worth recording first; a
  // budgeted call that reports usage has its reservation committed first, like an effect.
  const sideEffect = call.undo !== UndoKind.NONE || ps.compensation !== null;
  const intent = sideEffect || (gov?.durable(ps.id) ?? false);
  const started = state.now();
  if (intent) await state.commit(await intentOps(state, ps, call, decision, attempt));
  await runAttempts(state, ps, call, {
    decision,
    verdict: gate.verdict,
    recorded,
    attempt,
    started,
    intent,
    sideEffect,
  });
}
