/**
 * @module One run in the hands of this process: its in-memory mirror of the persisted state,
 * the DAG scheduling loop, and the terminal transitions. Every change goes through `commit`,
 * which writes it (with its events) durably BEFORE the engine acts on it, and refuses to write
 * if this process no longer holds the run's lease.
 */

import { CapabilityError, NotFoundError } from "../../core/errors.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { Plan, PlanStep } from "../../core/plan.js";
import { deepFreeze } from "../../core/plan-schema.js";
import { planFromJson } from "../../core/spec-compile.js";
import {
  CompensationStatus,
  isTerminal,
  Outcome,
  Reason,
  RunStatus,
  StepStatus,
} from "../../core/status.js";
import type { CompensationRecord, RunRecord, StepRecord, WriteOp } from "../../store/store.js";
import { ApprovalStatus, approvalOf } from "../approvals/approvals.js";
import type { EngineContext } from "../context.js";
import { EventType, eventOp } from "../events.js";
import { commitGate, gateStep } from "../governance/commit-gate.js";
import { keepsEffects } from "../governance/run-governance.js";
import { sessionSurvives } from "../sessions/session-plan.js";
import { runStep } from "../step/step-runner.js";
import { traceRun } from "../telemetry.js";
import { rollback } from "../undo/compensator.js";
import { Deadlines } from "./deadlines.js";
import { pendingStep } from "./run-records.js";

/** Outcome a reason implies when the run is rolled back (SPEC §2). */
export function outcomeFor(reason: Reason): Outcome {
  switch (reason) {
    case Reason.POLICY_DENIED:
    case Reason.BUDGET_EXCEEDED:
    case Reason.EVIDENCE_UNMET:
      return Outcome.ABSTAIN;
    case Reason.COMPLETED:
      return Outcome.ACCEPT;
    default:
      return Outcome.REMEDIATE;
  }
}

/** Step statuses that satisfy a dependency. */
const DONE: ReadonlySet<string> = new Set([StepStatus.SUCCEEDED, StepStatus.SKIPPED]);

/** Why a run stopped making progress in this process (`open`: a session between calls). */
export type DriveResult = "terminal" | "waiting" | "open";

/** A run loaded into this process, holding its lease. */
export class RunExecution {
  readonly ctx: EngineContext;
  /** The run's plan; a session's grows by one step per call (`appendStep`). */
  plan: Plan;
  run: RunRecord;
  readonly steps = new Map<string, StepRecord>();
  /** Compensation records by step id (at most one per step). */
  readonly compensations = new Map<string, CompensationRecord>();
  /** `steps.<id>.outputs` as templates see them, kept up to date incrementally. */
  readonly stepScope: Record<string, JsonObject> = {};
  /** Aborted when the run is cancelled; in-flight capability calls receive it. */
  readonly abort = new AbortController();
  /**
   * Stop functions of the capability calls in flight (see `invoke`), told on cancel. One
   * listener on `abort` serves them all: adding and removing a listener per call cost more.
   */
  readonly inFlightCalls = new Set<(reason: unknown) => void>();
  /** The timeouts of capability calls in flight, on one timer. */
  readonly deadlines = new Deadlines();
  /** Set by the first failure: the reason the run must roll back. */
  failure: { reason: Reason; detail: JsonObject } | null = null;

  private constructor(
    ctx: EngineContext,
    run: RunRecord,
    plan: Plan,
    steps: readonly StepRecord[],
    comps: readonly CompensationRecord[],
  ) {
    this.ctx = ctx;
    this.run = run;
    this.plan = plan;
    this.abort.signal.addEventListener(
      "abort",
      () => {
        for (const stop of [...this.inFlightCalls]) stop(this.abort.signal.reason);
      },
      { once: true },
    );
    for (const s of steps) {
      this.steps.set(s.stepId, s);
      if (s.status === StepStatus.SUCCEEDED) this.stepScope[s.stepId] = scopeEntry(s);
    }
    for (const c of comps) this.compensations.set(c.stepId, c);
    if (run.leaseOwner === ctx.owner && run.leaseExpiresAt !== null)
      this.leaseDeadline = run.leaseExpiresAt;
    if (run.status === RunStatus.COMPENSATING) {
      this.failure = {
        reason: run.reason ?? Reason.STEP_FAILED,
        detail: (run.reasonDetail ?? {}) as JsonObject,
      };
    }
  }

  /** Loads a run whose lease this process already holds. */
  static async load(ctx: EngineContext, run: RunRecord): Promise<RunExecution> {
    const [steps, comps] = await Promise.all([
      ctx.store.getSteps(run.id),
      ctx.store.getCompensations(run.id),
    ]);
    return new RunExecution(ctx, run, planFromJson(run.plan), steps, comps);
  }

  /** A run this process just created (and committed), with its compiled plan and steps. */
  static created(
    ctx: EngineContext,
    run: RunRecord,
    plan: Plan,
    steps: readonly StepRecord[],
  ): RunExecution {
    return new RunExecution(ctx, run, plan, steps, []);
  }

  /** Cancels the run: in-flight calls are aborted, then everything done is rolled back. */
  cancel(by: string): void {
    this.failure ??= { reason: Reason.CANCELLED, detail: { cancelled_by: by } };
    this.abort.abort(new CapabilityError("CANCELLED", `cancelled by ${by}`));
  }

  /** Template roots of this run: `inputs`, `steps` (kept current) and `run`. */
  scopeVars(): Readonly<Record<string, JsonValue>> {
    this.#scopeVars ??= {
      inputs: this.run.inputs,
      steps: this.stepScope,
      run: {
        id: this.run.id,
        name: this.run.name,
        principal: this.run.principal,
        started_at: new Date(this.run.createdAt).toISOString(),
      },
    };
    return this.#scopeVars;
  }
  #scopeVars: Record<string, JsonValue> | undefined;

  /** The plan step with this id. */
  planStep(stepId: string): PlanStep {
    // A governed run may also hold its drift gate step (engine/governance-gate.ts).
    const ps = this.plan.steps.find((s) => s.id === stepId) ?? gateStep(this, stepId);
    if (!ps) throw new NotFoundError(`step ${stepId}`, { runId: this.run.id, stepId });
    return ps;
  }

  step(stepId: string): StepRecord {
    const s = this.steps.get(stepId);
    if (!s) throw new NotFoundError(`step ${stepId}`, { runId: this.run.id, stepId });
    return s;
  }

  /**
   * Next position in the compensation stack. Allocated synchronously, so concurrent steps never
   * share a position.
   */
  nextSeq(): number {
    if (this.#lastSeq === undefined) {
      let max = 0;
      for (const s of this.steps.values()) if (s.seq !== null && s.seq > max) max = s.seq;
      for (const c of this.compensations.values()) if (c.seq > max) max = c.seq;
      this.#lastSeq = max;
    }
    this.#lastSeq += 1;
    return this.#lastSeq;
  }
  #lastSeq: number | undefined;

  /**
   * Until when this process's lease is certainly still its own: nobody takes a lease over
   * before it expires unless its holder is dead, so while well inside this deadline the
   * lease check in the database can be skipped. Extended by each successful renewal.
   */
  leaseDeadline = 0;

  /**
   * Commits a batch durably, guarded by this process's lease, then mirrors it in memory and
   * reports its events. Throws ConflictError if the lease was lost (nothing is written).
   */
  async commit(given: WriteOp[]): Promise<void> {
    // Ops staged by `appendStep` ride with the next commit (a session call's first write).
    const staged = this.#staged;
    let ops = given;
    if (staged.length > 0) {
      ops = [...staged, ...given];
      this.#staged = [];
    }
    stampContextHashes(ops, this.steps);
    const margin = this.ctx.settings.leaseTtlMs / 3;
    const batch: WriteOp[] =
      Date.now() < this.leaseDeadline - margin
        ? ops
        : [{ op: "expectRun", runId: this.run.id, expect: { leaseOwner: this.ctx.owner } }, ...ops];
    try {
      await this.ctx.store.commit(batch);
    } catch (err) {
      if (staged.length > 0) this.#staged = [...staged, ...this.#staged];
      throw err;
    }
    for (const op of ops) {
      switch (op.op) {
        case "putStep":
          this.steps.set(op.step.stepId, op.step);
          if (op.step.status === StepStatus.SUCCEEDED) {
            this.stepScope[op.step.stepId] = scopeEntry(op.step);
          }
          break;
        case "putCompensation":
          this.compensations.set(op.compensation.stepId, op.compensation);
          break;
        case "updateRun":
          this.run = { ...this.run, ...op.patch, updatedAt: Date.now() } as RunRecord;
          if (op.patch.leaseOwner === null) this.leaseDeadline = 0;
          break;
        case "appendEvent":
          this.ctx.onProgress?.({ ...op.event, runId: this.run.id });
          break;
        default:
          break;
      }
    }
  }

  #staged: WriteOp[] = [];

  /**
   * Sessions (engine/session.ts): adds a step to the plan, in memory now and durably with the
   * next commit (the plan is persisted by an `updateRun` op staged for it, so the step and its
   * first write — intent, decision, refusal or result — land in one transaction). `record`
   * defaults to a PENDING step; it is not written by itself (the step's first write is).
   */
  appendStep(ps: PlanStep, record?: StepRecord, ops: readonly WriteOp[] = []): void {
    this.plan = deepFreeze({ ...this.plan, steps: [...this.plan.steps, ps] });
    this.#dependents = undefined;
    this.steps.set(ps.id, record ?? pendingStep(this.run.id, ps.id));
    this.#staged.push(
      {
        op: "updateRun",
        runId: this.run.id,
        patch: { plan: this.plan as unknown as JsonValue, updatedAt: Date.now() },
      },
      ...ops,
    );
  }

  /** A run status change with its event. */
  runUpdate(
    patch: Partial<RunRecord>,
    type: (typeof EventType)[keyof typeof EventType],
    data: JsonValue,
  ): WriteOp[] {
    return [
      { op: "updateRun", runId: this.run.id, patch: { ...patch, updatedAt: Date.now() } },
      eventOp(type, this.run.id, null, data),
    ];
  }

  /**
   * Drives the run until it is terminal, waits for an approval, or the lease is lost: schedules
   * every ready step (dependencies done) up to the concurrency limit; on the first failure stops
   * scheduling, lets in-flight steps finish, then rolls back.
   */
  drive(): Promise<DriveResult> {
    return traceRun(this, () => this.#drive());
  }

  async #drive(): Promise<DriveResult> {
    if (this.run.status === RunStatus.COMPENSATING) return this.finishRollback();
    if (isTerminal(this.run.status)) return "terminal";
    if (this.run.status !== RunStatus.RUNNING) {
      await this.commit(
        this.runUpdate({ status: RunStatus.RUNNING }, EventType.RUN_RESUMED, {
          from: this.run.status,
        }),
      );
    }
    const running = new Map<string, Promise<void>>();
    const limit = Math.max(1, this.ctx.settings.concurrency);
    // Dependency counting: a step becomes ready when its last unfinished dependency is done.
    const unmet = new Map<string, number>();
    const ready: PlanStep[] = [];
    for (const ps of this.plan.steps) {
      if (DONE.has(this.step(ps.id).status)) continue;
      const n = ps.dependsOn.filter((d) => !DONE.has(this.steps.get(d)?.status ?? "")).length;
      unmet.set(ps.id, n);
      if (n === 0 && this.isLaunchable(ps)) ready.push(ps);
    }
    const settle = (ps: PlanStep) => {
      running.delete(ps.id);
      if (!DONE.has(this.step(ps.id).status)) return;
      for (const d of this.dependentsOf(ps.id)) {
        const n = (unmet.get(d.id) ?? 1) - 1;
        unmet.set(d.id, n);
        if (n === 0 && this.isLaunchable(d)) ready.push(d);
      }
    };
    for (;;) {
      while (!this.failure && running.size < limit && ready.length > 0) {
        const ps = ready.shift()!;
        running.set(
          ps.id,
          runStep(this, ps).finally(() => settle(ps)),
        );
      }
      if (running.size === 0) break;
      // One step in flight (a sequential chain): await it directly, no race promise per step.
      await (running.size === 1 ? running.values().next().value : Promise.race(running.values()));
    }
    // No call in flight any more: drop the deadline timer (and its hold on this execution).
    this.deadlines.idle();
    if (this.run.kind === "session" && this.run.status === RunStatus.RUNNING) {
      // A session between calls stays open; a refused or failed call does not end it.
      if (this.failure && sessionSurvives(this.failure.reason)) this.failure = null;
      if (!this.failure) return this.#pauseSession();
    }
    if (this.failure) {
      // A cancel sets the failure without a commit of its own; record the transition now.
      if ((this.run.status as RunStatus) !== RunStatus.COMPENSATING) {
        await this.commit(this.compensatingOps(this.failure.reason, this.failure.detail));
      }
      return this.finishRollback();
    }
    if (this.plan.steps.every((ps) => DONE.has(this.step(ps.id).status))) {
      // A governed run passes its commit gate (budgets, evidence, drift) before COMPLETED.
      const gate = this.plan.governance === null ? null : await commitGate(this);
      if (gate === null || gate.verdict === "pass") {
        await this.finish(RunStatus.COMPLETED, Reason.COMPLETED, null, gate?.ops);
        return "terminal";
      }
      if (gate.verdict === "failed") return this.finishRollback();
    }
    const waiting = this.#waitingSteps(() => true);
    if (waiting.length > 0) return this.#waitForApproval(waiting);
    // Nothing ready, nothing running, nothing waiting: only possible if a step is stuck in a
    // status no path leads out of. Never leave it silently: a human must look.
    await this.finish(RunStatus.FAILED, Reason.IN_DOUBT, {
      message: "no step can make progress",
      steps: Object.fromEntries([...this.steps.values()].map((s) => [s.stepId, s.status])),
    });
    return "terminal";
  }

  /** A step that may start once its dependencies are done: pending, or its approval decided. */
  private isLaunchable(ps: PlanStep): boolean {
    const rec = this.steps.get(ps.id);
    if (!rec) return false;
    if (rec.status === StepStatus.PENDING) return true;
    return (
      rec.status === StepStatus.WAITING_APPROVAL &&
      approvalOf(rec.decision)?.status !== ApprovalStatus.PENDING
    );
  }

  /**
   * A session with no call left to run: WAITING_APPROVAL (lease released) while a call waits
   * for a person, else open (RUNNING, still leased: the session's owner calls on).
   */
  async #pauseSession(): Promise<DriveResult> {
    const waiting = this.#waitingSteps(
      (s) => approvalOf(s.decision)?.status === ApprovalStatus.PENDING,
    );
    return waiting.length === 0 ? "open" : this.#waitForApproval(waiting);
  }

  /** Ids of the steps waiting for approval that also satisfy `also`. */
  #waitingSteps(also: (s: StepRecord) => boolean): string[] {
    return [...this.steps.values()]
      .filter((s) => s.status === StepStatus.WAITING_APPROVAL && also(s))
      .map((s) => s.stepId);
  }

  /** Puts the run in WAITING_APPROVAL for `waiting`, releasing its lease until a decision. */
  async #waitForApproval(waiting: readonly string[]): Promise<DriveResult> {
    await this.commit(
      this.runUpdate(
        { status: RunStatus.WAITING_APPROVAL, leaseOwner: null, leaseExpiresAt: null },
        EventType.RUN_WAITING,
        { steps: [...waiting] },
      ),
    );
    return "waiting";
  }

  /** Steps that depend on `stepId` (computed once per execution). */
  private dependentsOf(stepId: string): readonly PlanStep[] {
    if (!this.#dependents) {
      this.#dependents = new Map();
      for (const ps of this.plan.steps) {
        for (const d of ps.dependsOn) {
          const list = this.#dependents.get(d) ?? [];
          list.push(ps);
          this.#dependents.set(d, list);
        }
      }
    }
    return this.#dependents.get(stepId) ?? [];
  }
  #dependents: Map<string, PlanStep[]> | undefined;

  /** The run's move to COMPENSATING for `reason`, as ops to commit with what caused it. */
  compensatingOps(reason: Reason, detail: JsonObject, outcome = outcomeFor(reason)): WriteOp[] {
    // An open session outlives a refused or failed call (engine/session-plan.ts).
    if (
      this.run.kind === "session" &&
      this.run.status === RunStatus.RUNNING &&
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

  /** Runs (or resumes) the compensation stack and ends the run. */
  finishRollback(force = false): Promise<DriveResult> {
    return traceRun(this, () => this.#finishRollback(force));
  }

  async #finishRollback(force: boolean): Promise<DriveResult> {
    if (keepsEffects(this)) {
      // Governance `rollback.required: false`: the abstaining run keeps its effects.
      await this.finish(RunStatus.FAILED, this.run.reason ?? Reason.STEP_FAILED, {
        ...(this.run.reasonDetail as JsonObject),
        rollback: "not required by governance: effects kept (airun workflow rollback undoes them)",
      });
      return "terminal";
    }
    const result = await rollback(this, force);
    const reason = this.run.reason ?? Reason.STEP_FAILED;
    if (reason === Reason.IN_DOUBT) {
      await this.finish(RunStatus.FAILED, Reason.IN_DOUBT, {
        ...(this.run.reasonDetail as JsonObject | null),
        problems: result.problems,
      });
    } else if (result.ok) {
      await this.finish(RunStatus.ROLLED_BACK, reason, this.run.reasonDetail);
    } else {
      await this.finish(RunStatus.FAILED, Reason.COMPENSATION_FAILED, {
        original_reason: reason,
        original_detail: this.run.reasonDetail,
        problems: result.problems,
      });
    }
    return "terminal";
  }

  /** Ends the run in a terminal status and releases its lease. */
  async finish(
    status: RunStatus,
    reason: Reason,
    detail: JsonValue,
    extra: readonly WriteOp[] = [],
  ): Promise<void> {
    // The outcome recorded with the reason (e.g. ABSTAIN for a drift abstention) is kept.
    const outcome =
      status === RunStatus.COMPLETED
        ? Outcome.ACCEPT
        : reason === this.run.reason && this.run.outcome && this.run.outcome !== Outcome.ACCEPT
          ? this.run.outcome
          : outcomeFor(reason);
    const type =
      status === RunStatus.COMPLETED
        ? EventType.RUN_COMPLETED
        : status === RunStatus.ROLLED_BACK
          ? EventType.RUN_ROLLED_BACK
          : EventType.RUN_FAILED;
    await this.commit([
      ...extra,
      ...this.runUpdate(
        { status, outcome, reason, reasonDetail: detail, leaseOwner: null, leaseExpiresAt: null },
        type,
        { status, outcome, reason, detail },
      ),
    ]);
  }

  /** Compensation records still to undo, newest first. */
  pendingCompensations(): CompensationRecord[] {
    return [...this.compensations.values()]
      .filter(
        (c) =>
          c.status === CompensationStatus.ARMED ||
          c.status === CompensationStatus.RUNNING ||
          c.status === CompensationStatus.FAILED ||
          c.status === CompensationStatus.REFUSED,
      )
      .sort((a, b) => b.seq - a.seq);
  }
}

/** The template view of a succeeded step. */
function scopeEntry(s: StepRecord): JsonObject {
  return { outputs: s.outputs ?? {}, status: s.status };
}

/**
 * Stamps `context_hash` (SPEC §7) on every entry of a step that does not carry it yet: the hash
 * the same batch gives the step, else the one it has. Entries written before a step's inputs
 * are resolved (a skip, a refusal of unresolvable inputs) have none to carry.
 */
function stampContextHashes(ops: WriteOp[], steps: ReadonlyMap<string, StepRecord>): void {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as WriteOp;
    if (op.op !== "appendEvent" || op.event.stepId === null) continue;
    const data = op.event.data;
    if (!isPlainObject(data) || data.context_hash !== undefined) continue;
    const stepId = op.event.stepId;
    let hash = steps.get(stepId)?.contextHash ?? null;
    for (const other of ops) {
      if (other.op === "putStep" && other.step.stepId === stepId && other.step.contextHash) {
        hash = other.step.contextHash;
      }
    }
    if (hash !== null) {
      ops[i] = { op: "appendEvent", event: { ...op.event, data: withContextHash(data, hash) } };
    }
  }
}

/** `data` plus `context_hash`, inserted where it sorts, so sorted keys stay sorted. */
function withContextHash(data: JsonObject, hash: string): JsonObject {
  const out: JsonObject = {};
  let placed = false;
  for (const key of Object.keys(data)) {
    if (!placed && key > "context_hash") {
      out.context_hash = hash;
      placed = true;
    }
    out[key] = data[key] as JsonValue;
  }
  if (!placed) out.context_hash = hash;
  return out;
}
