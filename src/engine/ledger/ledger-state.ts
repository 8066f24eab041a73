/**
 * @module State ↔ ledger agreement. Every state change is committed together with the entry
 * recording it, so after any crash the two must still tell the same story: each run has its
 * `run.created` entry, a run's terminal status is the one its last status entry announced (and
 * the reverse), each finished step's status is the one its last step entry recorded (recovery's
 * `step.reconciled` entries name the status they set), and no
 * entry names a run that does not exist. `airun ledger verify` reports every disagreement.
 */
import { isPlainObject, type JsonValue } from "../../core/json.js";
import { RunStatus, StepStatus } from "../../core/status.js";
import type { Store } from "../../store/store.js";
import { EventType } from "../events.js";

/** A disagreement between committed state and the ledger. */
export interface StateMismatch {
  readonly runId: string;
  readonly stepId: string | null;
  readonly message: string;
}

/** The run status each run lifecycle entry announces. */
const RUN_STATUS_BY_EVENT: Readonly<Record<string, RunStatus>> = {
  [EventType.RUN_STARTED]: RunStatus.RUNNING,
  [EventType.RUN_RESUMED]: RunStatus.RUNNING,
  [EventType.RUN_WAITING]: RunStatus.WAITING_APPROVAL,
  [EventType.RUN_COMPENSATING]: RunStatus.COMPENSATING,
  [EventType.RUN_COMPLETED]: RunStatus.COMPLETED,
  [EventType.RUN_ROLLED_BACK]: RunStatus.ROLLED_BACK,
  [EventType.RUN_FAILED]: RunStatus.FAILED,
};

/** The step status each finishing step entry announces. */
const STEP_STATUS_BY_EVENT: Readonly<Record<string, StepStatus>> = {
  [EventType.STEP_SUCCEEDED]: StepStatus.SUCCEEDED,
  [EventType.STEP_SKIPPED]: StepStatus.SKIPPED,
  [EventType.COMPENSATION_DONE]: StepStatus.COMPENSATED,
};

const TERMINAL_RUN: ReadonlySet<string> = new Set([
  RunStatus.COMPLETED,
  RunStatus.ROLLED_BACK,
  RunStatus.FAILED,
]);

/** The status a `step.reconciled` entry moved its step to (recovery records it). */
function reconciledStatus(type: string, data: JsonValue): StepStatus | undefined {
  if (type !== EventType.STEP_RECONCILED || !isPlainObject(data)) return undefined;
  const s = data.status;
  return s === StepStatus.PENDING || s === StepStatus.SUCCEEDED ? s : undefined;
}

/** Compares every run and its steps with the ledger's entries. */
export async function checkStateAgainstLedger(store: Store): Promise<StateMismatch[]> {
  const out: StateMismatch[] = [];
  const runs = new Map((await store.listRuns()).map((r) => [r.id, r]));
  const created = new Set<string>();
  const lastRunStatus = new Map<string, { type: string; status: RunStatus }>();
  const lastStepStatus = new Map<string, { type: string; status: StepStatus }>();
  const types = [
    EventType.RUN_CREATED,
    EventType.STEP_RECONCILED,
    ...Object.keys(RUN_STATUS_BY_EVENT),
    ...Object.keys(STEP_STATUS_BY_EVENT),
  ];
  for (const e of await store.listEvents({ types })) {
    if (e.runId === null) continue;
    if (!runs.has(e.runId)) {
      out.push({
        runId: e.runId,
        stepId: e.stepId,
        message: `entry ${e.seq} (${e.type}) names run ${e.runId}, which does not exist`,
      });
      continue;
    }
    if (e.type === EventType.RUN_CREATED) created.add(e.runId);
    const runStatus = RUN_STATUS_BY_EVENT[e.type];
    if (runStatus !== undefined) lastRunStatus.set(e.runId, { type: e.type, status: runStatus });
    const stepStatus = STEP_STATUS_BY_EVENT[e.type] ?? reconciledStatus(e.type, e.data);
    if (stepStatus !== undefined && e.stepId !== null) {
      lastStepStatus.set(`${e.runId}\u0000${e.stepId}`, { type: e.type, status: stepStatus });
    }
  }
  for (const run of runs.values()) {
    if (!created.has(run.id)) {
      out.push({ runId: run.id, stepId: null, message: `run ${run.id} has no run.created entry` });
    }
    const last = lastRunStatus.get(run.id);
    if (
      (TERMINAL_RUN.has(run.status) || (last && TERMINAL_RUN.has(last.status))) &&
      last?.status !== run.status
    ) {
      out.push({
        runId: run.id,
        stepId: null,
        message: `run ${run.id} is ${run.status}, but its last status entry is ${last?.type ?? "missing"}`,
      });
    }
    for (const step of await store.getSteps(run.id)) {
      const lastStep = lastStepStatus.get(`${run.id}\u0000${step.stepId}`);
      const finished = Object.values(STEP_STATUS_BY_EVENT).includes(step.status);
      if ((finished || lastStep) && lastStep?.status !== step.status) {
        out.push({
          runId: run.id,
          stepId: step.stepId,
          message: `step ${run.id}/${step.stepId} is ${step.status}, but its last entry is ${lastStep?.type ?? "missing"}`,
        });
      }
    }
  }
  return out;
}
