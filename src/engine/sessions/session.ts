/**
 * @module Sessions (SPEC §1), longer than most files because a `Session` is one state machine
 * (held, detached, ended; one operation at a time) best read in one place: an agent calls
 * capabilities one at a time, and the session is the transaction — it ends in `commit()`
 * (budgets, evidence and drift checked: ACCEPT) or in `rollback()` (everything the agent did is
 * undone, newest first). A session is a persisted run (`kind: "session"`) whose plan gains one
 * step per call (`session-plan.ts`); every call goes through the executor's one step path
 * (`run/driver.ts` → `step/pipeline.ts`), so policy, approvals, governance budgets, the
 * write-ahead intent, compensation, recovery, the ledger and context hashes are exactly those of
 * a workflow step.
 *
 * Lifecycle. An open session is RUNNING and leased by the process that holds the `Session`
 * (renewed by the runtime's heartbeat). A call that needs a person makes it WAITING_APPROVAL
 * (lease released): whoever decides (`Runtime.decideApproval`, `airun workflow resume`, `airun
 * approvals`) executes the gated call; the session then continues from any process.
 * `Runtime.close()` detaches open sessions (lease released, still open);
 * `Runtime.resumeSession` reopens one by id, in this or another process, after a clean exit or
 * a crash (an interrupted call is reconciled first, exactly as recovery does for a workflow
 * step).
 *
 * Decisions (SPEC is silent):
 * - A call refused before any effect (policy DENY, a tool outside the envelope) throws
 *   `CallDeniedError`, and a call that failed after its retries throws `CallFailedError`; the
 *   session stays open (the agent may try something else; the refusal is in the ledger). A
 *   budget breach, drift abstention, rejected or expired approval, or an effect that cannot be
 *   known ends it: everything is rolled back and the call throws the typed error of that end.
 * - `rollback()` ends like any cancel (`airun workflow cancel`, `Runtime.cancel`): ROLLED_BACK,
 *   outcome REMEDIATE, reason CANCELLED. SPEC §2 keeps ABSTAIN for the runtime's own refusals
 *   (evidence, permission, budget); a principal stopping the work is a rejection of it.
 * - Calls of one session are serialized (one at a time, in the order they were asked).
 *
 */
import {
  AirunError,
  type ApprovalHandle,
  ApprovalPendingError,
  ConflictError,
  NotFoundError,
  SessionClosedError,
} from "../../core/errors.js";
import { DRIFT_GATE_STEP } from "../../core/governance.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import { planFromJson } from "../../core/plan-schema.js";
import { isTerminal, Outcome, Reason, RunStatus, StepStatus } from "../../core/status.js";
import type { RunRecord, StepRecord, WriteOp } from "../../store/store.js";
import { settleApprovals } from "../approvals/decide.js";
import type { EngineContext } from "../context.js";
import { EventType, SESSION_IDLE_META } from "../events.js";
import { commitGate } from "../governance/commit-gate.js";
import { claimRun } from "../recovery/claim.js";
import { prepareResume } from "../recovery/prepare-resume.js";
import { type DriveResult, drive, finish } from "../run/driver.js";
import { ApprovalStatus, approvalOf } from "../state/approval-record.js";
import { mustStop, RunState } from "../state/run-state.js";
import type { RunView } from "../state/run-view.js";

import { callError, pendingOf, sessionEndError } from "./session-end.js";
import { type CallOptions, callStep, evidenceStep, SESSION_EVIDENCE_STEP } from "./session-plan.js";
import { type SessionStatus, sessionStatus } from "./session-status.js";

/** What a session needs from the runtime that opened it. */
export interface SessionHost {
  readonly ctx: EngineContext;
  /** Ops storing the policy's text as a blob the first time (as for every run). */
  policyBlob(policy: { readonly hash: string; readonly text: string }): WriteOp[];
  /** The blob of `policyBlob` was not written after all. */
  policyNotStored(hash: string): void;
  /** This session holds its run's lease now: heartbeat renewal and cancel polling. */
  track(state: RunState, session: Session): void;
  untrack(runId: string): void;
  /** The session of this runtime that holds the run, if any. */
  heldSession(runId: string): Session | undefined;
  /** True while the runtime itself has the run claimed (resume / decide in progress). */
  busy(runId: string): boolean;
  /** True once the runtime was closed: its sessions are detached. */
  closed(): boolean;
  view(runId: string): Promise<RunView>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * An open session. Obtain one with `Runtime.openSession` or `Runtime.resumeSession`.
 *
 * @example
 * const s = await rt.openSession({ principal: "agent:bot", governance: { budgets: { max_tool_calls: 5 } } });
 * try {
 *   const page = await s.call("io.fs.read_file", { path: "notes.md" });
 *   await s.call("io.fs.write_file", { path: "summary.md", content: String(page.content).slice(0, 80) });
 *   await s.commit();
 * } catch (err) {
 *   if (err instanceof CallDeniedError) { ... }           // refused, session still open
 *   else if (err instanceof BudgetExceededError) { ... }  // abstained, everything undone
 *   else { await s.rollback(); throw err; }
 * }
 */
export class Session {
  /** The session's run id (`airun workflow show <id>`). */
  readonly id: string;
  readonly principal: string;
  readonly name: string;
  readonly #host: SessionHost;
  /** The execution while this session holds the run's lease, else null. */
  #state: RunState | null = null;
  /** The last status seen. */
  #status: RunStatus;
  #end: RunRecord | null = null;
  #detached = false;
  #queue: Promise<unknown> = Promise.resolve();
  #inOp = false;

  /** @internal Use `Runtime.openSession` / `Runtime.resumeSession`. */
  constructor(host: SessionHost, run: RunRecord) {
    this.#host = host;
    this.id = run.id;
    this.principal = run.principal;
    this.name = run.name;
    this.#status = run.status;
    if (isTerminal(run.status)) this.#end = run;
  }

  /** The session's status as last seen by this object (RUNNING while open). */
  get status(): RunStatus {
    return this.#status;
  }

  /**
   * Calls a capability through the gatekeeper, governance and the write-ahead log, and returns
   * its outputs (as recorded: secrets and redacted keys masked). Throws `CallDeniedError`,
   * `CallFailedError` (session still open), `ApprovalPendingError` (the call waits for a person;
   * `err.approval.wait()` resolves with its outputs once approved and made),
   * `BudgetExceededError` (the call was not made; the session abstained and was rolled back),
   * `SessionClosedError`, or `ValidationError` for malformed options (nothing recorded).
   *
   * @example
   * const out = await s.call("io.fs.write_file", { path: "out/a.txt", content: "hi" }, { id: "write_a" });
   */
  call<T extends JsonValue = JsonObject>(
    capability: string,
    inputs: unknown = {},
    opts: CallOptions = {},
  ): Promise<T> {
    return this.#serial(async () => {
      const state = await this.#held(false);
      const ps = callStep(state.plan, state.ctx.catalog, capability, inputs, opts);
      state.appendStep(ps);
      const result = await this.#drive(state);
      return this.#callOutcome(state, ps.id, result) as T;
    });
  }

  /**
   * Ends the session: evidence (from the calls and `evidence` given here) checked against the
   * governance envelope's requirements, settled spend within every budget, drift checked; then
   * COMPLETED / ACCEPT, and the view of the run is returned. Throws `EvidenceUnmetError` or
   * `BudgetExceededError` (the session abstained and was rolled back), `ApprovalPendingError`
   * (drift needs a person: once approved, commit again) or `SessionClosedError`.
   */
  commit(opts: { readonly evidence?: Readonly<Record<string, unknown>> } = {}): Promise<RunView> {
    return this.#serial(() => this.#commit(opts));
  }

  /**
   * Abandons the session: everything it did is undone, newest first (ROLLED_BACK, REMEDIATE,
   * CANCELLED, as a cancel; FAILED / COMPENSATION_FAILED if an undo was refused because its target changed).
   * Returns the view of the run.
   */
  rollback(opts: { readonly reason?: string } = {}): Promise<RunView> {
    return this.#serial(async () => {
      const state = await this.#held(true);
      const detail: JsonObject = {
        cancelled_by: this.principal,
        requested: "session.rollback",
        ...(opts.reason !== undefined ? { message: String(opts.reason) } : {}),
      };
      await state.commitFailure(
        state.compensatingOps(Reason.CANCELLED, detail, Outcome.REMEDIATE),
        { reason: Reason.CANCELLED, detail },
        true,
      );
      await this.#drive(state);
      return this.#host.view(this.id);
    });
  }

  /** The call waiting for a person, if any. */
  async pendingApproval(): Promise<ApprovalHandle | null> {
    const steps = this.#state
      ? this.#state.steps.values()
      : await this.#host.ctx.store.getSteps(this.id);
    const s = pendingOf(steps);
    return s ? this.#handle(s) : null;
  }

  /**
   * What the session has done and spent so far: its calls, spend against each budget of its
   * envelope, the evidence collected and whether the requirements are met now
   * (`session-status.ts`). Waits for the operation in progress, if any.
   */
  statusReport(): Promise<SessionStatus> {
    return this.#serial(async () => {
      const view = await this.#host.view(this.id);
      const run = this.#state?.run ?? (await this.#host.ctx.store.getRun(this.id));
      return sessionStatus(view, this.#state, run?.meta ?? {}, this.#host.ctx.clock.now());
    });
  }

  /** The session's run as `airun workflow show` prints it: calls, outputs, decisions. */
  view(): Promise<RunView> {
    return this.#host.view(this.id);
  }

  /**
   * Lets go of the session without ending it (its lease is released; it stays open and can be
   * resumed by id, here or in another process). `Runtime.close()` detaches every open session.
   * With `idleRollbackMs` (a client that went away without committing), recovery rolls it back
   * once that time has passed, unless it was resumed and let go plainly before.
   */
  detach(opts: { readonly idleRollbackMs?: number } = {}): Promise<void> {
    return this.#serial(async () => {
      this.#detached = true;
      const state = this.#state;
      if (!state) return;
      await this.#markIdle(state, opts.idleRollbackMs);
      this.#drop();
      await this.#host.ctx.store.releaseLease(this.id, this.#host.ctx.owner);
    });
  }

  /**
   * Records (or clears) the idle deadline of a session being let go: with `idleRollbackMs`, its
   * client went away and recovery (`airun recover`) rolls it back once the time has passed.
   */
  async #markIdle(state: RunState, idleRollbackMs: number | undefined): Promise<void> {
    const had = state.run.meta[SESSION_IDLE_META] != null;
    if (idleRollbackMs === undefined && !had) return;
    const now = state.now();
    const idle =
      idleRollbackMs === undefined ? null : { since: now, rollback_at: now + idleRollbackMs };
    await state
      .commit(
        state.runUpdate(
          { meta: { ...state.run.meta, [SESSION_IDLE_META]: idle } },
          EventType.SESSION_IDLE,
          idle ?? { cleared: true },
        ),
      )
      .catch(() => undefined); // a lost lease: whoever holds the session now decides
  }

  /** @internal Takes the lease now (opening or resuming); the runtime calls it once. */
  async attach(state: RunState | null): Promise<void> {
    await this.#serial(async () => {
      if (state) this.#hold(state);
      else {
        try {
          await this.#held(false);
        } catch (err) {
          if (!(err instanceof ApprovalPendingError)) throw err;
        }
      }
    });
  }

  /** Runs `fn` after every operation asked before it. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(async () => {
      this.#inOp = true;
      try {
        return await fn();
      } finally {
        this.#inOp = false;
        // A cancel that arrived while this operation ran, after its own drive: roll back now.
        if (this.#state?.failure) this.#rollBackCancelled(this.#state);
      }
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Finishes the rollback a cancel asked for (by another process) while the agent is idle. */
  #rollBackCancelled(state: RunState): void {
    this.#serial(async () => {
      if (this.#state === state && state.failure) await this.#drive(state);
    }).catch(() => undefined);
  }

  #hold(state: RunState): void {
    this.#state = state;
    this.#status = state.run.status;
    this.#host.track(state, this);
    // A cancel asked by another process (polled by the heartbeat) while the agent is idle.
    state.signal.addEventListener(
      "abort",
      () => {
        if (!this.#inOp) this.#rollBackCancelled(state); // else: when the operation ends
      },
      { once: true },
    );
  }

  #drop(): void {
    if (this.#state) this.#host.untrack(this.id);
    this.#state = null;
  }

  /** Drives the execution; afterwards holds it only while the session is open. */
  async #drive(state: RunState): Promise<DriveResult> {
    let result: DriveResult;
    try {
      result = await drive(state);
    } catch (err) {
      if (mustStop(err)) this.#drop();
      throw err;
    }
    this.#status = state.run.status;
    if (result === "terminal") this.#end = state.run;
    if (result !== "open") this.#drop();
    return result;
  }

  /**
   * The execution of this session's run, held by this process: taken over (lease) when needed,
   * with whatever another process left settled first — an interrupted call reconciled, a
   * decided approval executed, an interrupted rollback finished. Throws the session's end error
   * when it has ended, and `ApprovalPendingError` while a call waits (unless `waiting`: a
   * rollback may proceed).
   */
  async #held(waiting: boolean): Promise<RunState> {
    if (this.#detached || this.#host.closed()) {
      throw new SessionClosedError(
        this.id,
        { status: this.#status, outcome: null, reason: null, detail: null },
        `session ${this.id} was detached (runtime closed); reopen it with Runtime.resumeSession("${this.id}")`,
      );
    }
    if (this.#end) throw sessionEndError(this.#end);
    const held = this.#state;
    if (held) {
      if (!held.failure) return held;
      await this.#drive(held); // a cancel arrived: finish the rollback
      throw sessionEndError(held.run);
    }
    const ctx = this.#host.ctx;
    const run = await ctx.store.getRun(this.id);
    if (!run) throw new NotFoundError(`session ${this.id}`, { runId: this.id });
    this.#status = run.status;
    if (isTerminal(run.status)) {
      this.#end = run;
      throw sessionEndError(run);
    }
    if (run.status === RunStatus.WAITING_APPROVAL && !waiting) {
      const pending = pendingOf(await ctx.store.getSteps(this.id));
      const a = pending ? approvalOf(pending.decision) : null;
      if (pending && (a?.expires_at == null || a.expires_at > ctx.clock.now())) {
        throw new ApprovalPendingError(this.#handle(pending));
      }
      // Decided (or expired) and not yet carried out: this session carries it out below.
    }
    const other = this.#host.heldSession(this.id);
    if ((other && other !== this) || this.#host.busy(this.id)) {
      throw new ConflictError(`session ${this.id} is in use by this runtime`, { runId: this.id });
    }
    const claimed = await claimRun(ctx, run);
    if (!claimed) {
      throw new ConflictError(`session ${this.id} is held by ${run.leaseOwner}`, {
        runId: this.id,
      });
    }
    const state = await RunState.load(ctx, claimed);
    this.#hold(state);
    if (state.run.status === RunStatus.WAITING_APPROVAL) {
      // A rollback undoes the session as it is; the call waiting is never made.
      if (waiting) return state;
      if (!(await settleApprovals(state))) {
        this.#drop();
        await ctx.store.releaseLease(this.id, ctx.owner);
        const pending = pendingOf(state.steps.values());
        if (pending) throw new ApprovalPendingError(this.#handle(pending));
      }
    }
    const steps = [...state.steps.values()];
    if (
      state.run.status === RunStatus.COMPENSATING ||
      steps.some((s) => s.status === StepStatus.RUNNING)
    ) {
      await prepareResume(state);
    }
    const result = await this.#drive(state);
    if (result === "terminal") throw sessionEndError(state.run);
    if (result === "waiting") {
      const pending = pendingOf(state.steps.values());
      if (pending) throw new ApprovalPendingError(this.#handle(pending));
    }
    return state;
  }

  /** What a call's drive came to: its outputs, or the typed error. */
  #callOutcome(state: RunState, stepId: string, result: DriveResult): JsonValue {
    if (result === "terminal") throw sessionEndError(state.run);
    const step = state.step(stepId);
    if (result === "waiting") throw new ApprovalPendingError(this.#handle(step));
    if (step.status === StepStatus.SUCCEEDED) return step.outputs ?? {};
    if (step.status === StepStatus.FAILED) throw callError(state.run.id, step, state);
    throw new AirunError("INTERNAL", `call ${stepId} stopped in status ${step.status}`, {
      runId: state.run.id,
      stepId,
    });
  }

  async #commit(opts: { readonly evidence?: Readonly<Record<string, unknown>> }) {
    const state = await this.#held(false);
    if (opts.evidence !== undefined) {
      if (state.plan.steps.some((s) => s.id === SESSION_EVIDENCE_STEP)) {
        throw new AirunError(
          "EVIDENCE_ALREADY_GIVEN",
          `session ${this.id} already recorded commit evidence; commit again without evidence`,
          { runId: this.id },
        );
      }
      const ps = evidenceStep(opts.evidence);
      const now = state.now();
      const record: StepRecord = {
        runId: this.id,
        stepId: ps.id,
        status: StepStatus.SUCCEEDED,
        attempts: 0,
        inputs: ps.evidence,
        outputs: null,
        error: null,
        decision: null,
        contextHash: null,
        seq: null,
        startedAt: now,
        finishedAt: now,
      };
      state.appendStep(ps, record, [
        { op: "putStep", step: record },
        state.event(EventType.STEP_SUCCEEDED, ps.id, { evidence: ps.evidence }),
      ]);
    }
    const gate = state.plan.governance === null ? null : await commitGate(state);
    if (gate === null || gate.verdict === "pass") {
      await finish(state, RunStatus.COMPLETED, Reason.COMPLETED, null, gate?.ops ?? []);
      this.#status = state.run.status;
      this.#end = state.run;
      this.#drop();
      return this.#host.view(this.id);
    }
    const result = await this.#drive(state); // rolls back, or records the wait for a person
    if (result === "waiting") {
      const gateStep = state.steps.get(DRIFT_GATE_STEP);
      if (gateStep) throw new ApprovalPendingError(this.#handle(gateStep));
    }
    throw sessionEndError(state.run);
  }

  #handle(step: StepRecord): ApprovalHandle {
    const a = approvalOf(step.decision);
    const handle: ApprovalHandle = Object.freeze({
      approvalId: a?.id ?? `${this.id}/${step.stepId}`,
      runId: this.id,
      stepId: step.stepId,
      message: a?.message ?? "",
      approvers: Object.freeze([...(a?.approvers ?? [])]),
      expiresAt: a?.expires_at ?? null,
      wait: (o: { readonly timeoutMs?: number; readonly pollMs?: number } = {}) =>
        this.#wait(handle, o),
    });
    return handle;
  }

  async #wait(
    handle: ApprovalHandle,
    o: { readonly timeoutMs?: number; readonly pollMs?: number },
  ): Promise<JsonValue> {
    const deadline =
      o.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + o.timeoutMs;
    const pollMs = Math.max(10, o.pollMs ?? 200);
    for (;;) {
      const done = await this.#serial(() => this.#waitOnce(handle.stepId));
      if (done) return done.value;
      if (Date.now() >= deadline) throw new ApprovalPendingError(handle);
      await sleep(pollMs);
    }
  }

  /** One look at a waiting call: its result when there is one, else null (still waiting). */
  async #waitOnce(stepId: string): Promise<{ value: JsonValue } | null> {
    if (this.#detached || this.#host.closed() || this.#end) await this.#held(false); // throws
    const state = this.#state;
    let run: RunRecord | undefined = state?.run;
    let step: StepRecord | undefined = state?.steps.get(stepId);
    if (!state) {
      const store = this.#host.ctx.store;
      run = await store.getRun(this.id);
      step = (await store.getSteps(this.id)).find((s) => s.stepId === stepId);
    }
    if (!run || !step) throw new NotFoundError(`call ${stepId} of session ${this.id}`);
    this.#status = run.status;
    if (isTerminal(run.status)) {
      this.#end = run;
      throw sessionEndError(run);
    }
    const gate = stepId === DRIFT_GATE_STEP;
    if (step.status === StepStatus.SUCCEEDED) {
      return { value: gate ? { approved: true } : (step.outputs ?? {}) };
    }
    if (step.status === StepStatus.FAILED) {
      // A failure that ends the session (a rejection, a breach) moved the run to COMPENSATING
      // in the same commit: its rollback is under way, and its end is what the agent learns.
      if (run.status === RunStatus.COMPENSATING) return null;
      if (state) throw callError(this.id, step, state);
      const comps = await this.#host.ctx.store.getCompensations(this.id);
      const planned = planFromJson(run.plan).steps.find((s) => s.id === stepId);
      throw callError(this.id, step, {
        comp: comps.find((c) => c.stepId === stepId)?.status ?? null,
        capability: planned?.capability ?? "?",
      });
    }
    const a = approvalOf(step.decision);
    if (!a) return null;
    const expired = a.expires_at !== null && a.expires_at <= this.#host.ctx.clock.now();
    if (a.status === ApprovalStatus.PENDING && !expired) return null;
    if (gate && a.status === ApprovalStatus.APPROVED && run.status === RunStatus.RUNNING) {
      return { value: { approved: true, decided_by: a.decided_by } };
    }
    if (gate && run.status === RunStatus.RUNNING) {
      await this.#commit({}); // a rejected drift approval: the commit gate rolls back
      return null;
    }
    // Decided (or expired) and not carried out yet: carry it out, unless someone (this runtime,
    // or a live process holding the lease) is doing it right now.
    if (state || this.#host.busy(this.id)) return null;
    try {
      await this.#held(false);
    } catch (err) {
      if (err instanceof ApprovalPendingError || err instanceof ConflictError) return null;
      throw err;
    }
    return null;
  }
}
