/**
 * @module State ↔ ledger agreement. Every state change is committed together with the entry
 * recording it, so after any crash the two must still tell the same story. `LedgerStateCheck`
 * is fed the ledger's entries in order (during the walk that verifies the chain) and keeps, for
 * each run, step and compensation, what the entries say each recorded field must now be and
 * which entry said so; `compare` then reads the rows and names every field that disagrees.
 *
 * What is compared (each field only while the entries determine it; an entry that changes a
 * field without recording the new value makes it unknown until another records it):
 * - runs: kind, name, version, principal, spec hash, spec text and plan (hashes), inputs (their
 *   hash, recorded by `run.created` since this check exists: older runs are listed in the
 *   notes), created_at, status (every lifecycle entry), outcome, reason and reason detail (the
 *   terminal entry; `run.compensating` records the reason only);
 * - steps: status, attempts, inputs and outputs (hashed at audit level BASIC, values above,
 *   compared by hash either way), error, the policy decision with its approval (request,
 *   decision, expiry, use; the time an approval was decided is recorded only once it is used),
 *   context hash;
 * - compensations: status (the set of statuses the entries leave possible: an armed record
 *   may also have failed its authorization recheck or be in doubt), kind, capability, attempts,
 *   error once an undo failed, undo data and before-image ids (audit level FORENSIC);
 * - rows the ledger records but the tables lack, and the reverse.
 * Runs and steps are checked field by field; the chain itself is `core/ledger.ts`'s job.
 */
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { LedgerRow } from "../../core/ledger.js";
import { RecordedRun } from "../../core/ledger-run.js";
import type { RunRecord, Store } from "../../store/store.js";
import { EventType } from "../events.js";
import { newStep, recovered, type StepLedger, stepEntry } from "./recorded-steps.js";
import {
  compareRun,
  compareSteps,
  type StateMismatch,
  type VerifiedPlans,
} from "./state-compare.js";

/** What `compare` found. */
export interface StateReport {
  readonly mismatches: StateMismatch[];
  /** What could not be checked, and why (not a failure). */
  readonly notes: string[];
}

/** What the entries say about one run. */
interface RunLedger {
  readonly first: { readonly seq: number; readonly type: string };
  /** The run's last entry observed (of any type read): tells whether it moved since. */
  last: number;
  readonly run: RecordedRun;
  readonly steps: Map<string, StepLedger>;
}

/** Entry types the check reads; any other entry (budgets, webhooks, policy reloads…) is skipped. */
const READ: ReadonlySet<string> = new Set<string>([
  EventType.RUN_CREATED,
  EventType.RUN_STARTED,
  EventType.RUN_RESUMED,
  EventType.RUN_WAITING,
  EventType.RUN_COMPENSATING,
  EventType.RUN_COMPLETED,
  EventType.RUN_ROLLED_BACK,
  EventType.RUN_FAILED,
  EventType.RUN_RECOVERED,
  EventType.STEP_SKIPPED,
  EventType.STEP_DECISION,
  EventType.STEP_INTENT,
  EventType.STEP_ATTEMPT,
  EventType.STEP_RETRY,
  EventType.STEP_SUCCEEDED,
  EventType.STEP_FAILED,
  EventType.STEP_RECONCILED,
  EventType.STEP_NOT_RUN,
  EventType.APPROVAL_REQUESTED,
  EventType.APPROVAL_DECIDED,
  EventType.APPROVAL_EXPIRED,
  EventType.COMPENSATION_STARTED,
  EventType.COMPENSATION_DONE,
  EventType.COMPENSATION_REFUSED,
  EventType.COMPENSATION_FAILED,
  EventType.COMPENSATION_VOID,
]);

/** Lifecycle entries whose data the run fold does not need. */
const STATUS_ONLY: ReadonlySet<string> = new Set<string>([
  EventType.RUN_STARTED,
  EventType.RUN_RESUMED,
  EventType.RUN_WAITING,
]);

/**
 * Feeds on the ledger's entries in order (`observe`, after the chain verified each), then
 * compares the runs, steps and compensations tables with what they recorded (`compare`).
 */
export class LedgerStateCheck {
  readonly #runs = new Map<string, RunLedger>();
  readonly #only: string | undefined;

  /** `onlyRun`: keep and compare that run alone (an evidence pack's export). */
  constructor(onlyRun?: string) {
    this.#only = onlyRun;
  }

  /** Takes the next ledger entry into account. */
  observe(row: LedgerRow): void {
    const runId = row.runId;
    if (runId === null || !READ.has(row.type)) return;
    if (this.#only !== undefined && runId !== this.#only) return;
    let run = this.#runs.get(runId);
    if (run === undefined) {
      run = {
        first: { seq: row.seq, type: row.type },
        last: row.seq,
        run: new RecordedRun(),
        steps: new Map(),
      };
      this.#runs.set(runId, run);
    }
    run.last = row.seq;
    const data = STATUS_ONLY.has(row.type) ? null : parseData(row.data);
    if (RecordedRun.reads(row.type)) {
      run.run.push({ seq: row.seq, at: row.at, type: row.type, data });
      return;
    }
    if (row.type === EventType.RUN_RECOVERED) {
      recovered(run.steps, row, data);
      return;
    }
    if (row.stepId === null) return;
    let step = run.steps.get(row.stepId);
    if (step === undefined) {
      step = newStep(row);
      run.steps.set(row.stepId, step);
    }
    stepEntry(step, row, isPlainObject(data) ? (data as JsonObject) : {});
  }

  /** The last observed entry of a run (0 if none): a caller re-walking the tail sees it move. */
  lastSeq(runId: string): number {
    return this.#runs.get(runId)?.last ?? 0;
  }

  /** What the observed entries record about a run's creation and lifecycle. */
  recorded(runId: string): RecordedRun | undefined {
    return this.#runs.get(runId)?.run;
  }

  /**
   * Compares the tables with what the observed entries recorded: every run, or the runs `only`
   * names. Rows are read after the entries, so a run another process changed meanwhile may
   * disagree for that reason alone: see `settleState` in `ledger.ts`.
   */
  async compare(store: Store, only?: readonly string[]): Promise<StateReport> {
    const out: StateMismatch[] = [];
    const noInputsHash: string[] = [];
    const plans: VerifiedPlans = new Map();
    const ids = only ?? (this.#only === undefined ? undefined : [this.#only]);
    const rows =
      ids === undefined
        ? await store.listRuns()
        : (await Promise.all(ids.map((id) => store.getRun(id)))).filter(
            (r): r is RunRecord => r !== undefined,
          );
    const tables = new Map(rows.map((r) => [r.id, r]));
    for (const [runId, run] of this.#runs) {
      if (ids !== undefined && !ids.includes(runId)) continue;
      if (!tables.has(runId)) {
        out.push({
          runId,
          stepId: null,
          field: "(row)",
          seq: run.first.seq,
          message: `entry ${run.first.seq} (${run.first.type}) names run ${runId}, which does not exist`,
        });
      }
    }
    for (const row of tables.values()) {
      const run = this.#runs.get(row.id);
      if (run?.run.created == null) {
        out.push({
          runId: row.id,
          stepId: null,
          field: "(run.created)",
          seq: null,
          message: `run ${row.id} has no run.created entry`,
        });
        continue;
      }
      if (run.run.created.inputsSha256 === undefined) noInputsHash.push(row.id);
      compareRun(row, run.run, plans, out);
      const [steps, comps] = await Promise.all([
        store.getSteps(row.id),
        store.getCompensations(row.id),
      ]);
      compareSteps(row.id, run.steps, steps, comps, out);
    }
    return { mismatches: out, notes: inputsNote(noInputsHash) };
  }
}

function parseData(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return null;
  }
}

function inputsNote(ids: readonly string[]): string[] {
  if (ids.length === 0) return [];
  const list = `${ids.slice(0, 5).join(", ")}${ids.length > 5 ? `, and ${ids.length - 5} more` : ""}`;
  return [
    ids.length === 1
      ? `1 run was created before its run.created entry recorded a hash of its inputs: its inputs cannot be checked (${list})`
      : `${ids.length} runs were created before their run.created entries recorded a hash of their inputs: their inputs cannot be checked (${list})`,
  ];
}
