/**
 * @module One run in the hands of this process: the one owner of its in-memory state (the run
 * row, its steps and compensation records, the plan, the outputs templates read) and the only
 * way to change it. Every change goes through `commit`, which writes it durably (with its
 * ledger entries) BEFORE the engine acts on it, refuses to write once this process no longer
 * holds the run's lease, and then mirrors it in memory; only a pure step's completion may wait
 * for the next commit (`defer`), since nothing but more computation acts on it before then.
 * Nothing else mutates a run: the step pipeline (`engine/step/`), the driver (`engine/run/`),
 * approvals, governance and recovery build ops and hand them to `commit`, or call the named
 * transitions below. One owner of the run's state means one file (hence the length).
 */

import { CapabilityError, ConflictError, NotFoundError } from "../../core/errors.js";
import { driftGateStep } from "../../core/governance.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import type { Plan, PlanStep } from "../../core/plan.js";
import { deepFreeze } from "../../core/plan-schema.js";
import { SEED_ROOT, seedScope } from "../../core/seed-names.js";
import { planFromJson } from "../../core/spec-compile.js";
import {
  CompensationStatus,
  isTerminal,
  type Outcome,
  outcomeFor,
  Reason,
  RunStatus,
  StepStatus,
  sessionSurvives,
} from "../../core/status.js";
import type { CompensationRecord, RunRecord, StepRecord, WriteOp } from "../../store/store.js";
import type { EngineContext, ProgressEvent } from "../context.js";
import { EventType, eventOp } from "../events.js";
import { stampContextHashes } from "./context-hash.js";
import { type Deadline, Deadlines } from "./deadlines.js";
import { pendingStep } from "./run-records.js";

/**
 * Errors on which this process stops driving a run and leaves it to recovery: a lost lease
 * (another process owns the run now), or a store that cannot record (a failed or uncertain
 * commit, a closed store). Recording anything more about the run is not possible or not
 * trustworthy here; `airun recover` reads the durable truth and goes on from it.
 */
export function mustStop(err: unknown): boolean {
  if (err instanceof ConflictError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === "STORE_COMMIT_FAILED" ||
    code === "STORE_COMMIT_UNCERTAIN" ||
    code === "STORE_WRITE_FAILED" ||
    code === "STORE_CLOSED"
  );
}

/** Why a run must roll back: the reason and its details (recorded as the run's reason). */
export interface RunFailure {
  readonly reason: Reason;
  readonly detail: JsonObject;
}

/** A run loaded into this process, holding its lease. */
export class RunState {
  readonly ctx: EngineContext;
  #plan: Plan;
  #run: RunRecord;
  readonly #steps = new Map<string, StepRecord>();
  /** Compensation records by step id (at most one per step). */
  readonly #compensations = new Map<string, CompensationRecord>();
  /** `steps.<id>.outputs` as templates see them, kept up to date incrementally. */
  readonly #stepScope: Record<string, JsonObject> = {};
  #scopeVars: Record<string, JsonValue> | undefined;
  /** Aborted when the run is cancelled or rolls back; in-flight calls are asked to stop with it. */
  readonly #abort = new AbortController();
  /**
   * Abort functions of the capability calls in flight (`trackCall`), told on cancel. One
   * listener on the abort signal serves them all: a listener per call cost more.
   */
  readonly #inFlight = new Set<(reason: unknown) => void>();
  /** The timeouts of capability calls in flight, on one timer. */
  readonly #deadlines = new Deadlines();
  #failure: RunFailure | null = null;
  /**
   * The epoch of this process's lease on the run (its fencing token), or undefined once it let
   * the lease go. Every commit names it: a commit after another process took the run over
   * (this one was paused past its lease: GC, SIGSTOP, a partition) is refused, nothing applied.
   */
  #leaseEpoch: number | undefined;
  /** Ops staged by `appendStep`, written with the next commit. */
  #staged: WriteOp[] = [];
  /** Completions of pure steps, mirrored already, written with the next commit (`defer`). */
  #deferred: WriteOp[] = [];
  #lastSeq: number | undefined;
  #dependents: Map<string, PlanStep[]> | undefined;

  private constructor(
    ctx: EngineContext,
    run: RunRecord,
    plan: Plan,
    steps: readonly StepRecord[],
    comps: readonly CompensationRecord[],
  ) {
    this.ctx = ctx;
    this.#run = run;
    this.#plan = plan;
    this.#abort.signal.addEventListener(
      "abort",
      () => {
        for (const abort of [...this.#inFlight]) abort(this.#abort.signal.reason);
      },
      { once: true },
    );
    for (const s of steps) {
      this.#steps.set(s.stepId, s);
      if (s.status === StepStatus.SUCCEEDED) this.#stepScope[s.stepId] = scopeEntry(s);
    }
    for (const c of comps) this.#compensations.set(c.stepId, c);
    if (run.leaseOwner === ctx.owner) this.#leaseEpoch = run.leaseEpoch;
    if (run.status === RunStatus.COMPENSATING) {
      this.#failure = {
        reason: run.reason ?? Reason.STEP_FAILED,
        detail: (run.reasonDetail ?? {}) as JsonObject,
      };
    } else if (run.cancelRequestedBy !== null && !isTerminal(run.status)) {
      // Someone asked to cancel it while nobody held it (or its holder died): honour that now.
      this.cancel(run.cancelRequestedBy);
    }
  }

  /** Loads a run whose lease this process already holds. */
  static async load(ctx: EngineContext, run: RunRecord): Promise<RunState> {
    const [steps, comps] = await Promise.all([
      ctx.store.getSteps(run.id),
      ctx.store.getCompensations(run.id),
    ]);
    return new RunState(ctx, run, planFromJson(run.plan), steps, comps);
  }

  /** A run this process just created (and committed), with its compiled plan and steps. */
  static created(
    ctx: EngineContext,
    run: RunRecord,
    plan: Plan,
    steps: readonly StepRecord[],
  ): RunState {
    return new RunState(ctx, run, plan, steps, []);
  }

  // ---- reading -------------------------------------------------------------------------

  /** The run's plan; a session's grows by one step per call (`appendStep`). */
  get plan(): Plan {
    return this.#plan;
  }

  /** The run row as last committed. */
  get run(): RunRecord {
    return this.#run;
  }

  /** The run's steps as last committed. */
  get steps(): ReadonlyMap<string, StepRecord> {
    return this.#steps;
  }

  /** Compensation records by step id. */
  get compensations(): ReadonlyMap<string, CompensationRecord> {
    return this.#compensations;
  }

  /** `steps.<id>` as templates see it: the outputs of every succeeded step. */
  get stepScope(): Readonly<Record<string, JsonObject>> {
    return this.#stepScope;
  }

  /** Why the run must roll back, once something failed (or it was cancelled). */
  get failure(): RunFailure | null {
    return this.#failure;
  }

  /** Aborted when the run is cancelled. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Now, on the engine's clock. */
  now(): number {
    return this.ctx.clock.now();
  }

  /** Template roots of this run: `inputs`, `steps` (kept current) and `run`. */
  scopeVars(): Readonly<Record<string, JsonValue>> {
    this.#scopeVars ??= this.scopeVarsWith(this.#stepScope);
    return this.#scopeVars;
  }

  /**
   * The variables templates see, with `steps` as given (a compensation adds its own step's
   * outputs); a seed plan's undeclared names (`seed.*`) read the same `steps`.
   */
  scopeVarsWith(steps: Readonly<Record<string, JsonObject>>): Record<string, JsonValue> {
    const run = {
      id: this.#run.id,
      name: this.#run.name,
      principal: this.#run.principal,
      started_at: new Date(this.#run.createdAt).toISOString(),
    };
    const vars: Record<string, JsonValue> = { inputs: this.#run.inputs, steps, run };
    const seed = seedScope(this.#plan, {
      inputs: this.#run.inputs,
      steps,
      run,
    });
    if (seed !== undefined) vars[SEED_ROOT] = seed;
    return vars;
  }

  /** The plan step with this id (a governed run may also hold its drift gate step). */
  planStep(stepId: string): PlanStep {
    const ps =
      this.#plan.steps.find((s) => s.id === stepId) ??
      driftGateStep(this.#plan, this.ctx.settings.approvalOnTimeout);
    if (!ps || ps.id !== stepId) {
      throw new NotFoundError(`step ${stepId}`, { runId: this.#run.id, stepId });
    }
    return ps;
  }

  step(stepId: string): StepRecord {
    const s = this.#steps.get(stepId);
    if (!s) throw new NotFoundError(`step ${stepId}`, { runId: this.#run.id, stepId });
    return s;
  }

  /** Steps that depend on `stepId` (computed once per plan). */
  dependentsOf(stepId: string): readonly PlanStep[] {
    if (!this.#dependents) {
      this.#dependents = new Map();
      for (const ps of this.#plan.steps) {
        for (const d of ps.dependsOn) {
          const list = this.#dependents.get(d) ?? [];
          list.push(ps);
          this.#dependents.set(d, list);
        }
      }
    }
    return this.#dependents.get(stepId) ?? [];
  }

  /** Compensation records still to undo, newest first. */
  pendingCompensations(): CompensationRecord[] {
    return [...this.#compensations.values()]
      .filter(
        (c) =>
          c.status === CompensationStatus.ARMED ||
          c.status === CompensationStatus.RUNNING ||
          c.status === CompensationStatus.FAILED ||
          c.status === CompensationStatus.REFUSED,
      )
      .sort((a, b) => b.seq - a.seq);
  }

  /**
   * Next position in the compensation stack. Allocated synchronously, so concurrent steps never
   * share a position.
   */
  nextSeq(): number {
    if (this.#lastSeq === undefined) {
      let max = 0;
      for (const s of this.#steps.values()) if (s.seq !== null && s.seq > max) max = s.seq;
      for (const c of this.#compensations.values()) if (c.seq > max) max = c.seq;
      this.#lastSeq = max;
    }
    this.#lastSeq += 1;
    return this.#lastSeq;
  }

  // ---- building ops ----------------------------------------------------------------------

  /** A ledger entry of this run (of `stepId`, or of the run when null), stamped now. */
  event(type: EventType, stepId: string | null, data: JsonValue): WriteOp {
    return eventOp(type, this.#run.id, stepId, data, this.now());
  }

  /** A run row change with its ledger entry. */
  runUpdate(patch: Partial<RunRecord>, type: EventType, data: JsonValue): WriteOp[] {
    return [
      { op: "updateRun", runId: this.#run.id, patch: { ...patch, updatedAt: this.now() } },
      this.event(type, null, data),
    ];
  }

  /**
   * The run's move to COMPENSATING for `reason`, as ops to commit with what caused it. An open
   * session outlives a refused or failed call (`sessionSurvives`): then nothing changes.
   */
  compensatingOps(reason: Reason, detail: JsonObject, outcome: Outcome = outcomeFor(reason)) {
    if (
      this.#run.kind === "session" &&
      this.#run.status === RunStatus.RUNNING &&
      sessionSurvives(reason)
    ) {
      return [];
    }
    return this.runUpdate(
      { status: RunStatus.COMPENSATING, reason, outcome, reasonDetail: detail },
      EventType.RUN_COMPENSATING,
      { reason, ...detail },
    );
  }

  // ---- changing ------------------------------------------------------------------------

  /**
   * Commits a batch durably, guarded by this process's lease, then mirrors it in memory and
   * reports its events. Throws ConflictError if the lease was lost (nothing is written).
   */
  async commit(given: WriteOp[]): Promise<void> {
    // Ops staged by `appendStep` (a session call's first write) and deferred ones (`defer`)
    // ride with the next commit, before the given ones.
    const staged = this.#staged;
    const deferred = this.#takeDeferred();
    let ops = given;
    if (staged.length > 0 || deferred.length > 0) {
      ops = [...staged, ...deferred, ...given];
      this.#staged = [];
    }
    stampContextHashes(ops, this.#steps);
    // Every commit carries the fencing token: owner and epoch, checked under the row's lock.
    const expect =
      this.#leaseEpoch === undefined
        ? { leaseOwner: this.ctx.owner }
        : { leaseOwner: this.ctx.owner, leaseEpoch: this.#leaseEpoch };
    const batch: WriteOp[] = [{ op: "expectRun", runId: this.#run.id, expect }, ...ops];
    try {
      await this.ctx.store.commit(batch);
    } catch (err) {
      if (staged.length > 0) this.#staged = [...staged, ...this.#staged];
      if (deferred.length > 0) this.#deferred = [...deferred, ...this.#deferred];
      throw err;
    }
    // Deferred ops are mirrored again (the same records) and their events reported only now.
    for (const op of ops) this.#mirror(op, true);
  }

  /**
   * Takes the completion of a pure step (its capability computes in memory, `pure`) without
   * writing it now: it is mirrored in memory, so the steps after it see its outputs, and written
   * with the run's next commit, which reports its events. That commit always comes before
   * anything leaves the process: a side effect's intent, a call that is not pure (`flush`), a
   * wait, the end of the run, the end of a session's call (`drive` flushes). A crash before it
   * only means computing the same outputs again, as if it had struck during the step.
   */
  defer(ops: readonly WriteOp[]): void {
    for (const op of ops) this.#mirror(op, false);
    this.#deferred.push(...ops);
  }

  /**
   * The deferred ops as one commit writes them: their rows first, then their ledger entries,
   * each in the order they were made, so the store writes each kind in one statement (one
   * transaction: the rows it leaves and the entries' order are the same either way).
   */
  #takeDeferred(): WriteOp[] {
    const deferred = this.#deferred;
    if (deferred.length === 0) return deferred;
    this.#deferred = [];
    return [
      ...deferred.filter((op) => op.op !== "appendEvent"),
      ...deferred.filter((op) => op.op === "appendEvent"),
    ];
  }

  /** Writes what `defer` holds now (a commit of nothing else); with nothing deferred, nothing. */
  async flush(): Promise<void> {
    if (this.#deferred.length > 0) await this.commit([]);
  }

  #mirror(op: WriteOp, report: boolean): void {
    switch (op.op) {
      case "putStep":
        this.#steps.set(op.step.stepId, op.step);
        if (op.step.status === StepStatus.SUCCEEDED) {
          this.#stepScope[op.step.stepId] = scopeEntry(op.step);
        }
        break;
      case "putCompensation":
        this.#compensations.set(op.compensation.stepId, op.compensation);
        break;
      case "updateRun":
        this.#run = { ...this.#run, ...op.patch, updatedAt: this.now() } as RunRecord;
        if (op.patch.leaseOwner === null) this.#leaseEpoch = undefined;
        break;
      case "appendEvent":
        if (report && this.ctx.onProgress) {
          // Events of this run name it already: handed on as they are, not copied each.
          const e = op.event;
          this.ctx.onProgress(
            e.runId === this.#run.id ? (e as ProgressEvent) : { ...e, runId: this.#run.id },
          );
        }
        break;
      default:
        break;
    }
  }

  /**
   * Commits a step failure's ops and records `failure` as the reason the run rolls back when it
   * is decisive: the first failure, or an in-doubt one (which overrides any other). A decisive
   * failure's ops must include the move to COMPENSATING (`compensatingOps`), so a crash right
   * after it still rolls back.
   */
  async commitFailure(ops: WriteOp[], failure: RunFailure, decisive: boolean): Promise<void> {
    await this.commit(ops);
    if (!decisive) return;
    this.#failure = failure;
    // The run is rolling back: calls still in flight are asked to stop now through their
    // signal, not left to run their course (what they did is then undone like any other).
    if (this.#run.status === RunStatus.COMPENSATING && !this.#abort.signal.aborted) {
      this.#abort.abort(
        new CapabilityError("CANCELLED", `the run is rolling back (${failure.reason})`),
      );
    }
  }

  /** True when a failure for `reason` would decide how the run ends (see `commitFailure`). */
  isDecisive(reason: Reason): boolean {
    return (
      !this.#failure || (reason === Reason.IN_DOUBT && this.#failure.reason !== Reason.IN_DOUBT)
    );
  }

  /**
   * A session's refused or failed call did not end it (`sessionSurvives`): it stays open, with
   * no failure to roll back for.
   */
  forgiveFailure(): void {
    if (this.#failure && sessionSurvives(this.#failure.reason)) this.#failure = null;
  }

  /** Cancels the run: in-flight calls are aborted, then everything done is rolled back. */
  cancel(by: string): void {
    this.#failure ??= { reason: Reason.CANCELLED, detail: { cancelled_by: by } };
    this.#abort.abort(new CapabilityError("CANCELLED", `cancelled by ${by}`));
  }

  /**
   * Checks, right before a side effect, that this process still holds the run's lease at its
   * epoch and that the lease has not lapsed (on the store's clock): a process that was paused
   * past its lease must not act for a run another process may have taken over. Throws
   * `ConflictError` (the run is left to whoever holds it now) otherwise.
   */
  async confirmLease(): Promise<void> {
    const epoch = this.#leaseEpoch;
    const held =
      epoch !== undefined &&
      (await this.ctx.store.checkLease(this.#run.id, this.ctx.owner, epoch, this.now()));
    if (!held) {
      throw new ConflictError(
        `run ${this.#run.id}: this process no longer holds its lease (epoch ${epoch ?? "none"}); it stops without acting`,
        { runId: this.#run.id },
      );
    }
  }

  /**
   * A step this run holds besides its plan (the drift gate step of a governed run), PENDING
   * until its first commit.
   */
  addRuntimeStep(stepId: string): void {
    if (!this.#steps.has(stepId)) this.#steps.set(stepId, pendingStep(this.#run.id, stepId));
  }

  /**
   * Sessions (`engine/sessions/`): adds a step to the plan, in memory now and durably with the
   * next commit (the plan is persisted by an `updateRun` op staged for it, so the step and its
   * first write — intent, decision, refusal or result — land in one transaction). `record`
   * defaults to a PENDING step; it is not written by itself (the step's first write is).
   */
  appendStep(ps: PlanStep, record?: StepRecord, ops: readonly WriteOp[] = []): void {
    this.#plan = deepFreeze({ ...this.#plan, steps: [...this.#plan.steps, ps] });
    this.#dependents = undefined;
    this.#steps.set(ps.id, record ?? pendingStep(this.#run.id, ps.id));
    this.#staged.push(
      {
        op: "updateRun",
        runId: this.#run.id,
        patch: { plan: this.#plan as unknown as JsonValue, updatedAt: this.now() },
      },
      ...ops,
    );
  }

  // ---- calls in flight -------------------------------------------------------------------

  /**
   * Watches a capability call: `abort` is told when the run stops early (cancel, rollback),
   * `onTimeout` once `timeoutMs` passed.
   * Returns the function that ends the watch (call it when the call settles).
   */
  trackCall(
    abort: (reason: unknown) => void,
    timeoutMs: number,
    onTimeout: () => void,
  ): () => void {
    const deadline: Deadline = this.#deadlines.add(timeoutMs, onTimeout);
    this.#inFlight.add(abort);
    return () => {
      this.#deadlines.remove(deadline);
      this.#inFlight.delete(abort);
    };
  }

  /** No call in flight any more: drops the deadline timer (and its hold on this run). */
  idle(): void {
    this.#deadlines.idle();
  }
}

/** The template view of a succeeded step. */
function scopeEntry(s: StepRecord): JsonObject {
  return { outputs: s.outputs ?? {}, status: s.status };
}
