/**
 * @module The governance envelope of a running workflow (SPEC §7): one `RunGovernance` per run
 * (longer than most files: it is one class whose invariants — reserve before a call, settle
 * after it, persist both inside the step's own commits — are best checked in one place)
 * in this process, created on first use. It screens each capability call (tools, budgets, drift
 * against the running totals), reserves the call's worst-case spend, settles it with the actual
 * spend, and hands the step runner the write ops that persist it IN the commits the step makes
 * anyway (intent, retry, success, failure): no extra commit, no extra read.
 *
 * Where spend lives (durably, in the same transaction as the step it belongs to):
 * - Tool calls: every capability call attempt is one tool call (retries included; approval and
 *   skipped steps, and compensations during a rollback, count nothing and are never refused).
 *   They are counted from the attempt number each step already records before each attempt
 *   (its intent or retry commit) or with its result, so they cost no write at all; a run
 *   loaded after a crash sums its steps' attempts.
 * - Tokens and cost: a call whose capability reports usage (`estimateUsage`/`actualUsage`, e.g.
 *   `llm.chat`) reserves its estimate in a write-ahead intent (even without a side effect) and
 *   settles its actual usage in its completion commit, both in `run.meta.governance` (`used`,
 *   `in_flight`). A failed attempt settles at the usage its `CapabilityError` reports
 *   (`context.usage`), else at its reservation.
 * - `run.meta.governance` also keeps `drift` (metrics warned about or acknowledged by a person)
 *   and, once the run completed, its `metrics` (the sample drift baselines use).
 *
 * After a crash, an attempt that was recorded is counted as made and a reservation found in
 * flight is counted as SPENT (the call may have happened; conservative): recovery never resets
 * spend, and a re-run counts once more, as the new attempt it is.
 */
import type { AnyCapability } from "../../core/capability.js";
import { AirunError } from "../../core/errors.js";
import { type Governance, governanceOf, toolRefusal } from "../../core/governance.js";
import {
  addSpend,
  type Breach,
  callSpend,
  checkDuration,
  checkReservation,
  checkSettled,
  type Spend,
  ZERO_SPEND,
} from "../../core/governance-budget.js";
import {
  computeBaselines,
  type DriftFinding,
  describeFinding,
  detectDrift,
  type MetricBaseline,
  type RunMetrics,
  runMetrics,
} from "../../core/governance-drift.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { Decision, Outcome, Reason, StepStatus, UndoKind } from "../../core/status.js";
import type { WriteOp } from "../../store/store.js";
import { EventType } from "../events.js";
import { ApprovalStatus, approvalOf } from "../state/approval-record.js";
import type { RunState } from "../state/run-state.js";
import { driftSamples } from "./baselines.js";
import {
  budgetRefusal,
  driftRefusal,
  findingJson,
  type Refusal,
  reportedUsage,
  spendFrom,
  spendJson,
} from "./refusals.js";

/**
 * What the screen says of a call: refused, held behind another step's pending drift approval
 * (the step waits, unchanged, and is gated again once that approval is decided), or go on
 * (null).
 */
export type Screened = Refusal | { readonly heldBehind: string } | null;

/** What a call needs to be screened: its capability and parsed input. */
export interface GovernedCall {
  readonly cap: AnyCapability;
  readonly input: unknown;
  /** How the call is undone, as classified for its inputs. */
  readonly undo: UndoKind;
}

/** A reservation of a call in flight. */
interface InFlight {
  readonly attempt: number;
  readonly capability: string;
  readonly spend: Spend;
  /** The capability reports usage: its reservation is committed before the call. */
  readonly durable: boolean;
  /** Its intent (or retry) commit carries it, so snapshots may include it. */
  recorded: boolean;
}

/** A capability that reports usage (tokens, cost). */
function reportsUsage(cap: AnyCapability): boolean {
  return cap.estimateUsage !== undefined || cap.actualUsage !== undefined;
}

const states = new WeakMap<RunState, RunGovernance>();

/** The governance state of a run, or undefined when its plan has no envelope (cost: one check). */
export function runGovernance(state: RunState): RunGovernance | undefined {
  if (state.plan.governance === null) return undefined;
  let g = states.get(state);
  if (!g) {
    g = new RunGovernance(state, governanceOf(state.plan)!);
    states.set(state, g);
  }
  return g;
}

/** The governance of one run in this process. */
export class RunGovernance {
  readonly envelope: Governance;
  readonly #state: RunState;
  #used: Spend;
  readonly #calls: Record<string, number>;
  readonly #inFlight = new Map<string, InFlight>();
  readonly #warned: Set<string>;
  readonly #acknowledged: Set<string>;
  /** Events waiting for the next commit of their step. */
  readonly #pending = new Map<string, WriteOp[]>();
  /** Budgets that count spend (not only duration): budget events are recorded. */
  readonly #budgeted: boolean;
  /** `run.meta.governance` changed since it was last written. */
  #dirty = false;
  /** Drift baselines, read once per run in this process (pre-call checks). */
  #baselines: Readonly<Record<string, MetricBaseline>> | undefined;
  /**
   * The step whose gate asked a person about drift in this process (its request may not be
   * committed yet): other drifting steps wait behind it.
   */
  #driftAsker: string | null = null;

  constructor(state: RunState, envelope: Governance) {
    this.#state = state;
    this.envelope = envelope;
    const b = envelope.budgets;
    this.#budgeted = b.maxToolCalls !== null || b.maxTokens !== null || b.maxCostUsd !== null;
    const saved = isPlainObject(state.run.meta.governance) ? state.run.meta.governance : {};
    // Tool calls: the attempts the run's action steps recorded.
    this.#calls = {};
    let toolCalls = 0;
    for (const ps of state.plan.steps) {
      const n = ps.kind === "action" ? (state.steps.get(ps.id)?.attempts ?? 0) : 0;
      if (n > 0 && ps.capability !== null) {
        this.#calls[ps.capability] = (this.#calls[ps.capability] ?? 0) + n;
        toolCalls += n;
      }
    }
    const used = spendFrom(saved.used);
    this.#used = { toolCalls, tokens: used.tokens, costUsd: used.costUsd };
    const drift = isPlainObject(saved.drift) ? saved.drift : {};
    const names = (v: unknown) => (Array.isArray(v) ? v.filter((x) => typeof x === "string") : []);
    this.#warned = new Set(names(drift.warned) as string[]);
    this.#acknowledged = new Set(names(drift.acknowledged) as string[]);
    // A reservation still in flight was interrupted by a crash: the call may have been made.
    // (Its tool call is already counted: its attempt was recorded with the reservation.)
    if (isPlainObject(saved.in_flight)) {
      for (const [stepId, v] of Object.entries(saved.in_flight)) {
        const f = isPlainObject(v) ? v : {};
        const spend = { ...spendFrom(f), toolCalls: 0 };
        this.#used = addSpend(this.#used, spend);
        this.#dirty = true;
        this.#queue(stepId, EventType.BUDGET_SETTLED, {
          attempt: typeof f.attempt === "number" ? f.attempt : null,
          capability: typeof f.capability === "string" ? f.capability : null,
          recovered: true,
          actual: spendJson({ ...spend, toolCalls: 1 }),
          used: spendJson(this.#used),
          note: "interrupted by a crash: its reservation is counted as spent",
        });
      }
    }
  }

  /** Settled spend. */
  get used(): Spend {
    return this.#used;
  }

  /** Attempts per capability, settled. */
  get calls(): Readonly<Record<string, number>> {
    return this.#calls;
  }

  /** Metrics acknowledged by a person (drift approved); they are not gated again. */
  get acknowledged(): ReadonlySet<string> {
    return this.#acknowledged;
  }

  /** Metrics already warned about. */
  get warned(): ReadonlySet<string> {
    return this.#warned;
  }

  /** Milliseconds since the run was created. */
  elapsedMs(now = this.#state.now()): number {
    return now - this.#state.run.createdAt;
  }

  #inFlightTotal(): Spend {
    let total = ZERO_SPEND;
    for (const f of this.#inFlight.values()) total = addSpend(total, f.spend);
    return total;
  }

  /** The refusal of a call whose worst-case `estimate` no longer fits a budget, if it does not. */
  #overBudget(ps: PlanStep, call: GovernedCall, estimate: Spend): Refusal | null {
    const breach = checkReservation(
      this.envelope.budgets,
      this.#used,
      this.#inFlightTotal(),
      estimate,
      this.elapsedMs(),
    );
    return breach ? this.#breach(ps.id, breach, call.cap.name) : null;
  }

  #estimate(call: GovernedCall): Spend {
    try {
      return callSpend(call.cap.estimateUsage?.(call.input));
    } catch {
      return callSpend(undefined);
    }
  }

  #queue(stepId: string, type: EventType, data: JsonValue): void {
    const list = this.#pending.get(stepId) ?? [];
    list.push(this.#state.event(type, stepId, data));
    this.#pending.set(stepId, list);
  }

  /** The run's metrics now; `extra` adds a call about to be made. */
  metrics(extra?: { capability: string; spend: Spend }): RunMetrics {
    let spend = addSpend(this.#used, this.#inFlightTotal());
    const calls: Record<string, number> = { ...this.#calls };
    for (const f of this.#inFlight.values()) calls[f.capability] = (calls[f.capability] ?? 0) + 1;
    if (extra) {
      spend = addSpend(spend, extra.spend);
      calls[extra.capability] = (calls[extra.capability] ?? 0) + 1;
    }
    return runMetrics(spend, calls, this.elapsedMs());
  }

  /**
   * Screens a call before the approval gate: a tool outside the envelope, a call that would
   * breach a budget, or drift of the running totals the envelope abstains on → a refusal (the
   * call is not made). Drift under `require_approval` turns the decision into REQUIRE_APPROVAL
   * (the step's approval flow asks a person) — once per run: while one step's drift approval
   * is pending, another drifting step of a workflow is held (`{ heldBehind }`) and runs once
   * that approval is granted. Under `warn` it records `drift.detected` once.
   */
  async screen(ps: PlanStep, call: GovernedCall, decision: JsonObject): Promise<Screened> {
    const tool = toolRefusal(this.envelope, call.cap.name);
    if (tool) {
      return {
        error: new AirunError("TOOL_FORBIDDEN", tool.message),
        reason: Reason.POLICY_DENIED,
        outcome: Outcome.ABSTAIN,
        detail: {
          governance: "tools",
          capability: call.cap.name,
          list: tool.list,
          pattern: tool.pattern,
        },
      };
    }
    // `rollback.required`: a call nothing could undo is refused before it is made (workflows
    // are refused at validation where their inputs are literal; this catches the rest).
    const irreversible =
      call.undo === UndoKind.IRREVERSIBLE ||
      (call.undo === UndoKind.COMPENSATION && ps.compensation === null);
    if (this.envelope.rollbackRequired && irreversible) {
      return {
        error: new AirunError(
          "ROLLBACK_REQUIRED",
          `${call.cap.name} cannot be undone (undo ${call.undo}) and governance.rollback.required is true`,
        ),
        reason: Reason.POLICY_DENIED,
        outcome: Outcome.ABSTAIN,
        detail: { governance: "rollback", capability: call.cap.name, undo: call.undo },
      };
    }
    const estimate = this.#estimate(call);
    const breach = this.#overBudget(ps, call, estimate);
    if (breach) return breach;
    return this.#screenDrift(ps, call, estimate, decision);
  }

  /** The drift part of `screen`: the running totals plus this call against the baseline. */
  async #screenDrift(
    ps: PlanStep,
    call: GovernedCall,
    estimate: Spend,
    decision: JsonObject,
  ): Promise<Screened> {
    const drift = this.envelope.drift;
    if (drift === null) return null;
    this.#baselines ??= computeBaselines(
      await driftSamples(this.#state.ctx.store, this.#state.plan, drift.window),
      drift.metrics,
    );
    const findings = detectDrift(
      this.metrics({ capability: call.cap.name, spend: estimate }),
      this.#baselines,
      drift,
    );
    if (findings.length === 0) return null;
    const event = (list: readonly DriftFinding[]) =>
      this.#queue(ps.id, EventType.DRIFT_DETECTED, {
        phase: "call",
        action: drift.action,
        findings: list.map(findingJson),
      });
    if (drift.action === "abstain") {
      event(findings);
      return driftRefusal(findings, "call");
    }
    if (drift.action === "warn") {
      const fresh = findings.filter((f) => !this.#warned.has(f.metric));
      this.warn(fresh.map((f) => f.metric));
      if (fresh.length > 0) event(fresh);
      return null;
    }
    const others = this.#driftAsked(ps.id);
    const open = findings.filter(
      (f) => !this.#acknowledged.has(f.metric) && !others.granted.has(f.metric),
    );
    if (open.length > 0 && decision.decision !== Decision.DENY) {
      if (others.pendingOn !== null) return { heldBehind: others.pendingOn };
      if (this.#state.run.kind !== "session") this.#driftAsker = ps.id;
      // Recorded once per step: a step re-run after its approval was decided asks nothing new.
      const asked = this.#state.step(ps.id).decision;
      if (!(isPlainObject(asked) && asked.drift !== undefined)) event(open);
      const why = `drift: ${open.map(describeFinding).join("; ")}`;
      decision.reason =
        decision.decision === Decision.REQUIRE_APPROVAL
          ? `${String(decision.reason)}; ${why}`
          : why;
      decision.decision = Decision.REQUIRE_APPROVAL;
      decision.drift = open.map(findingJson);
    }
    return null;
  }

  /**
   * Drift decisions of the run's other steps: metrics a person granted (acknowledged once the
   * approved step runs, but already settled for everyone else), and the step whose drift
   * approval is still pending, if any. Sessions make one call at a time: nothing is held.
   */
  #driftAsked(stepId: string): { granted: Set<string>; pendingOn: string | null } {
    const granted = new Set<string>();
    let pendingOn: string | null = null;
    if (this.#state.run.kind === "session") return { granted, pendingOn };
    for (const rec of this.#state.steps.values()) {
      if (rec.stepId === stepId || !isPlainObject(rec.decision)) continue;
      const drift = rec.decision.drift;
      if (!Array.isArray(drift)) continue;
      const status = approvalOf(rec.decision)?.status;
      if (status === ApprovalStatus.APPROVED || status === ApprovalStatus.USED) {
        for (const f of drift)
          if (isPlainObject(f) && typeof f.metric === "string") granted.add(f.metric);
      } else if (status === ApprovalStatus.PENDING) {
        pendingOn = rec.stepId;
      }
    }
    const asker = this.#driftAsker;
    if (pendingOn === null && asker !== null && asker !== stepId) {
      // Asked in this process, its request not committed yet (its step is still PENDING).
      if (this.#state.step(asker).status === StepStatus.PENDING) pendingOn = asker;
    }
    return { granted, pendingOn };
  }

  /** Approvers for a drift approval (`drift.approvers`), else undefined (the policy's). */
  approvers(decision: JsonObject): readonly string[] | undefined {
    const list = this.envelope.drift?.approvers;
    return decision.drift !== undefined && list && list.length > 0 ? list : undefined;
  }

  #breach(stepId: string, b: Breach, capability: string): Refusal {
    const refusal = budgetRefusal(b, capability);
    this.#dirty = true; // the spend at the refusal is recorded with it
    this.#queue(stepId, EventType.BUDGET_BREACHED, refusal.detail);
    return refusal;
  }

  /**
   * Reserves a call's worst-case spend just before it is made (after any approval): refused
   * when it no longer fits. A drift approval granted for this step acknowledges its metrics.
   */
  reserve(ps: PlanStep, call: GovernedCall, attempt: number, decision: JsonObject): Refusal | null {
    const estimate = this.#estimate(call);
    const breach = this.#overBudget(ps, call, estimate);
    if (breach) return breach;
    if (Array.isArray(decision.drift)) {
      for (const f of decision.drift) {
        if (isPlainObject(f) && typeof f.metric === "string") this.acknowledge([f.metric]);
      }
    }
    this.#inFlight.set(ps.id, {
      attempt,
      capability: call.cap.name,
      spend: estimate,
      durable: this.envelope.counts && reportsUsage(call.cap),
      recorded: false,
    });
    return null;
  }

  /** The reservation of this step must be committed before its call (it reports usage). */
  durable(stepId: string): boolean {
    return this.#inFlight.get(stepId)?.durable === true;
  }

  /** Ops for the step's write-ahead intent commit: its reservation, recorded. */
  intentOps(stepId: string): WriteOp[] {
    const f = this.#inFlight.get(stepId);
    if (f?.durable) {
      f.recorded = true;
      this.#dirty = true;
      if (this.#budgeted) {
        this.#queue(stepId, EventType.BUDGET_RESERVED, {
          attempt: f.attempt,
          capability: f.capability,
          reserved: spendJson(f.spend),
          used: spendJson(this.#used),
          in_flight: spendJson(this.#inFlightTotal()),
        });
      }
    }
    return this.stepOps(stepId);
  }

  /** Settles a step's reservation with `actual` (or the reservation itself when unknown). */
  #settle(stepId: string, actual: Spend | undefined): void {
    const f = this.#inFlight.get(stepId);
    if (!f) return;
    this.#inFlight.delete(stepId);
    const spend = actual ?? f.spend;
    this.#used = addSpend(this.#used, spend);
    this.#calls[f.capability] = (this.#calls[f.capability] ?? 0) + 1;
    // Only usage is persisted in run.meta; the tool call is the attempt the step records.
    if (f.durable || spend.tokens > 0 || spend.costUsd > 0) this.#dirty = true;
    if (this.#budgeted && f.durable) {
      this.#queue(stepId, EventType.BUDGET_SETTLED, {
        attempt: f.attempt,
        capability: f.capability,
        reserved: spendJson(f.spend),
        actual: spendJson(spend),
        used: spendJson(this.#used),
      });
    }
  }

  /** Ops for a step's success commit: its call settled with the actual usage. */
  successOps(stepId: string, call: GovernedCall, rawOutputs: JsonValue): WriteOp[] {
    let actual: Spend | undefined;
    if (call.cap.actualUsage) {
      try {
        actual = callSpend(call.cap.actualUsage(rawOutputs, call.input));
      } catch {
        actual = undefined; // settle at the reservation
      }
    }
    this.#settle(stepId, actual);
    return this.stepOps(stepId);
  }

  /**
   * Ops for a step's failure commit: an attempt in flight settled at what it reported using
   * (else its reservation); a reserved attempt that never started (`attempts` recorded below
   * its number: cancelled or out of time during a retry delay) is released.
   */
  failureOps(stepId: string, e: AirunError, attempts: number): WriteOp[] {
    const f = this.#inFlight.get(stepId);
    if (f && f.attempt > attempts) this.#inFlight.delete(stepId);
    else this.#settle(stepId, reportedUsage(e));
    return this.stepOps(stepId);
  }

  /**
   * Before a retry: settles the failed attempt and reserves the next one, whose ops go into the
   * retry commit (which records the next attempt number) — or the budget it would breach.
   */
  retry(
    ps: PlanStep,
    call: GovernedCall,
    e: AirunError,
    nextAttempt: number,
  ): { readonly ops: WriteOp[] } | { readonly refusal: Refusal } {
    this.#settle(ps.id, reportedUsage(e));
    const refusal = this.reserve(ps, call, nextAttempt, {});
    if (refusal) return { refusal };
    return { ops: this.intentOps(ps.id) };
  }

  /**
   * How long a call may still run before `max_duration` is reached (ms), or undefined without
   * that budget: the call is stopped there, and the run abstains.
   */
  remainingMs(): number | undefined {
    const lim = this.envelope.budgets.maxDurationMs;
    return lim === null ? undefined : Math.max(0, lim - this.elapsedMs());
  }

  /**
   * After a retry delay: `max_duration` may have passed meanwhile; the reserved attempt is then
   * not started (the failure commit records the attempts made and releases it).
   */
  lateRefusal(ps: PlanStep): Refusal | null {
    const b = checkDuration(this.envelope.budgets, this.elapsedMs());
    return b ? this.#breach(ps.id, b, ps.capability ?? "?") : null;
  }

  /**
   * Ops for any other commit of a step (an approval request, a refusal): events waiting for it
   * and the state snapshot.
   */
  stepOps(stepId: string): WriteOp[] {
    const events = this.#pending.get(stepId);
    if (events) this.#pending.delete(stepId);
    if (!this.#dirty) return events ?? [];
    const op = this.metaOp();
    return events ? [op, ...events] : [op];
  }

  /** Every event still waiting, whatever its step (for the run's terminal commits). */
  drainEvents(): WriteOp[] {
    const all = [...this.#pending.values()].flat();
    this.#pending.clear();
    return all;
  }

  /** Marks metrics as acknowledged by a person (a drift approval at commit). */
  acknowledge(metrics: Iterable<string>): void {
    for (const m of metrics) {
      if (!this.#acknowledged.has(m)) this.#dirty = true;
      this.#acknowledged.add(m);
    }
  }

  /** Marks metrics as warned about. */
  warn(metrics: Iterable<string>): void {
    for (const m of metrics) {
      if (!this.#warned.has(m)) this.#dirty = true;
      this.#warned.add(m);
    }
  }

  /**
   * The `updateRun` op persisting this state in `run.meta.governance` (plus `extra` fields).
   * `used.tool_calls` and `calls` there are a snapshot for people: the attempts recorded on the
   * steps are what a run loaded later counts.
   */
  metaOp(extra: JsonObject = {}): WriteOp {
    this.#dirty = false;
    const inFlight: JsonObject = {};
    for (const [id, f] of this.#inFlight) {
      if (f.recorded)
        inFlight[id] = { attempt: f.attempt, capability: f.capability, ...spendJson(f.spend) };
    }
    const gov: JsonObject = {
      used: spendJson(this.#used),
      calls: { ...this.#calls },
      in_flight: inFlight,
      ...extra,
    };
    if (this.#warned.size > 0 || this.#acknowledged.size > 0) {
      gov.drift = { warned: [...this.#warned], acknowledged: [...this.#acknowledged] };
    }
    return {
      op: "updateRun",
      runId: this.#state.run.id,
      patch: { meta: { ...this.#state.run.meta, governance: gov } },
    };
  }

  /** The budget settled spend already exceeds (a call used more than it reserved), or null. */
  overrun(): Breach | null {
    return checkSettled(this.envelope.budgets, this.#used);
  }
}
