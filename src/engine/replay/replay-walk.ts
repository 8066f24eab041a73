/**
 * @module The replay walk: re-walks a plan against a run's record, one step at a time in plan
 * order, with the executor's template resolution, `when` evaluation and context hash (shared
 * from step/resolve.ts), and WITHOUT any side effect: nothing is committed, no lease is taken.
 * One walk in one file (hence the length): its per-step cases read best side by side.
 *
 * Secrets resolve to the mask `***`: the record never holds their values, and the recorded
 * inputs (hence the context hash) were computed with them masked.
 *
 * Which calls run again: only a capability that is a function of its inputs alone — the
 * built-in `sys.echo`, `sys.assert`, `sys.fail`, `data.json.*`, `text.template.render` and
 * `text.regex.match` (`REPLAY_EXECUTED`; each must also declare
 * effect `read`, undo `none` and not be `nondeterministic`). Every other capability (files,
 * HTTP, exec, time, plugins: they read or change the outside world) gets its recorded result
 * served; when the record holds none (the step now runs where the record did not), the step is
 * `UNRECORDED` and the steps that need it are not reached.
 *
 * Scheduling follows the engine: a step starts when its dependencies succeeded or were skipped;
 * after a failure no new step starts, except steps the record shows already in flight then. The
 * replay goes past where the recorded run stopped only when the step that stopped it no longer
 * fails (a run still in progress, or stopped for another reason, is replayed as far as it went).
 */
import type { AnyCapability, CapabilityContext, TouchedPath } from "../../core/capability.js";
import { type AirunError, CapabilityError, toAirunError } from "../../core/errors.js";
import type { ExprScope } from "../../core/expr.js";
import { canonicalJson } from "../../core/hash.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { Plan, PlanStep } from "../../core/plan.js";
import type { CompiledPolicy, PolicyRequest } from "../../core/policy.js";
import { MASK, redact } from "../../core/redact.js";
import { SEED_ROOT, seedScope } from "../../core/seed-names.js";
import { Decision, isTerminal, StepStatus } from "../../core/status.js";
import { evaluateCondition, resolveTemplates } from "../../core/template.js";
import type { RunRecord, StepRecord } from "../../store/store.js";
import type { EngineSettings } from "../context.js";
import { ApprovalStatus, approvalOf } from "../state/approval-record.js";
import { compensationInputs, compensationRequest } from "../step/compensation-check.js";
import {
  approvalAction,
  bindPreview,
  describeCall,
  type RecordedPreview,
  recordedTouched,
} from "../step/resolve.js";
import {
  DECIDED_BEFORE_THE_CALL,
  decideAgain,
  errorOf,
  inFlightAtStop,
  passedGate,
  reachedStatus,
  recordedDecision,
  stoppingStep,
} from "./replay-record.js";
import type { ReplayDecision, ReplayedStepState } from "./replay-types.js";

/**
 * Capabilities a replay runs again: side-effect free and deterministic, their outputs a
 * function of their inputs alone. A plugin cannot join this set (it cannot take a built-in's
 * name); its recorded results are always served.
 */
export const REPLAY_EXECUTED: ReadonlySet<string> = new Set([
  "sys.echo",
  "sys.assert",
  "sys.fail",
  "data.json.parse",
  "data.json.stringify",
  "data.json.get",
  "text.template.render",
  "text.regex.match",
]);

/** Whether a replay runs `cap` again instead of serving its recorded result. */
export function replayExecutes(cap: AnyCapability): boolean {
  return (
    REPLAY_EXECUTED.has(cap.name) &&
    cap.effect === "read" &&
    cap.undo === "none" &&
    cap.nondeterministic !== true
  );
}

/** Everything a walk needs; it reads nothing else (no store, no environment). */
export interface WalkSetup {
  readonly catalog: { get(name: string): AnyCapability | undefined };
  readonly settings: Pick<EngineSettings, "redactKeys" | "sandbox" | "rolesOf">;
  readonly run: RunRecord;
  /** The plan replayed: the recorded one, or an edited spec's. */
  readonly plan: Plan;
  /** The run inputs the plan sees (the recorded ones, checked against an edited spec). */
  readonly inputs: JsonObject;
  readonly records: ReadonlyMap<string, StepRecord>;
  /** `--policy`: every action step is decided again with it. */
  readonly policy: CompiledPolicy | null;
  /** Asked only for a step with no recorded decision when there is no `--policy`. */
  readonly fallbackPolicy: CompiledPolicy;
  /** Policy hash the run started with: the context hash of a step that recorded no decision. */
  readonly startPolicyHash: string;
}

/** A replayed step, with what the comparison needs besides its report. */
export interface WalkedStep extends ReplayedStepState {
  /** Inputs as the record would hold them (secrets and sensitive fields masked). */
  readonly inputs: JsonValue | null;
  /** Why the step is not reached (status PENDING), for people. */
  readonly why: string | null;
}

/** Replays the plan's steps in order; returns each step's replayed state by id. */
export async function walkPlan(setup: WalkSetup): Promise<Map<string, WalkedStep>> {
  return new Walker(setup).walk();
}

const DONE: ReadonlySet<string> = new Set([StepStatus.SUCCEEDED, StepStatus.SKIPPED]);

/** True when `value` holds the secret mask somewhere (its real value is unknown to replay). */
function holdsMask(value: JsonValue): boolean {
  if (typeof value === "string") return value.includes(MASK);
  if (Array.isArray(value)) return value.some(holdsMask);
  if (value !== null && typeof value === "object") return Object.values(value).some(holdsMask);
  return false;
}

interface Base {
  readonly contextHash: string | null;
  readonly inputs: JsonValue | null;
  readonly decision: ReplayDecision | null;
}

const NOTHING: Base = { contextHash: null, inputs: null, decision: null };

function state(
  base: Base,
  status: WalkedStep["status"],
  source: WalkedStep["source"],
  more: { outputs?: JsonValue | null; error?: WalkedStep["error"]; why?: string } = {},
): WalkedStep {
  return {
    ...base,
    status,
    source,
    outputs: more.outputs ?? null,
    error: more.error ?? null,
    why: more.why ?? null,
  };
}

function failed(base: Base, e: AirunError | WalkedStep["error"], source: WalkedStep["source"]) {
  const error = e === null ? null : { code: e.code, message: e.message };
  return state(base, StepStatus.FAILED, source, { error });
}

class Walker {
  readonly #s: WalkSetup;
  readonly #steps = new Map<string, WalkedStep>();
  /** `steps.<id>` as templates see them: succeeded steps only, as in the engine. */
  readonly #stepScope: Record<string, JsonObject> = {};
  readonly #scope: ExprScope;
  /** The first replayed failure: no new step starts after it. */
  #stop: { readonly id: string; readonly rec: StepRecord | null } | null = null;

  constructor(setup: WalkSetup) {
    this.#s = setup;
    const run = setup.run;
    const runVars = {
      id: run.id,
      name: setup.plan.name,
      principal: run.principal,
      started_at: new Date(run.createdAt).toISOString(),
    };
    const vars: Record<string, JsonValue> = {
      inputs: setup.inputs,
      steps: this.#stepScope,
      run: runVars,
    };
    const seed = seedScope(setup.plan, {
      inputs: setup.inputs,
      steps: this.#stepScope,
      run: runVars,
    });
    if (seed !== undefined) vars[SEED_ROOT] = seed;
    this.#scope = { vars, secret: () => MASK };
  }

  async walk(): Promise<Map<string, WalkedStep>> {
    for (const ps of this.#s.plan.steps) {
      const rec = this.#s.records.get(ps.id) ?? null;
      const why = this.#unreachable(ps, rec);
      const step =
        why === null
          ? await this.#replay(ps, rec)
          : state(NOTHING, StepStatus.PENDING, "none", { why });
      this.#steps.set(ps.id, step);
      if (step.status === StepStatus.SUCCEEDED) {
        this.#stepScope[ps.id] = { outputs: step.outputs ?? {}, status: StepStatus.SUCCEEDED };
      }
      if (step.status === StepStatus.FAILED && this.#stop === null) this.#stop = { id: ps.id, rec };
    }
    return this.#steps;
  }

  /** Why a step would not start now, or null when it would. */
  #unreachable(ps: PlanStep, rec: StepRecord | null): string | null {
    for (const dep of ps.dependsOn) {
      const status = this.#steps.get(dep)?.status;
      if (status === undefined || !DONE.has(status)) {
        return `it needs ${dep}, which ${status === undefined ? "is not replayed" : `ends ${status}`}`;
      }
    }
    const stop = this.#stop;
    if (stop !== null && !inFlightAtStop(rec, stop.rec)) {
      return `the run stops at ${stop.id}, which fails`;
    }
    if (rec?.status === StepStatus.PENDING && !this.#beyondRecord()) {
      return isTerminal(this.#s.run.status)
        ? "the recorded run never reached it"
        : "the recorded run has not reached it yet";
    }
    return null;
  }

  /** Whether the replay may go past where the recorded run stopped (see the module comment). */
  #beyondRecord(): boolean {
    const run = this.#s.run;
    if (!isTerminal(run.status)) return false;
    const stopped = stoppingStep(run);
    if (stopped === null) return false;
    if (!this.#s.plan.steps.some((p) => p.id === stopped)) return true;
    const replayed = this.#steps.get(stopped);
    return replayed !== undefined && replayed.status !== StepStatus.FAILED;
  }

  async #replay(ps: PlanStep, rec: StepRecord | null): Promise<WalkedStep> {
    try {
      if (ps.when !== null && !evaluateCondition(ps.when, this.#scope)) {
        return state(NOTHING, StepStatus.SKIPPED, "none");
      }
      if (ps.kind === "action" && ps.capability === null) {
        // A session's commit evidence (`session.evidence`): data given at commit, no call.
        return state(NOTHING, rec?.status ?? StepStatus.SUCCEEDED, "recorded");
      }
      return ps.kind === "approval" ? this.#approval(ps, rec) : await this.#action(ps, rec);
    } catch (err) {
      return failed(NOTHING, toAirunError(err), "none");
    }
  }

  /** An approval step: the person's recorded decision stands. */
  #approval(ps: PlanStep, rec: StepRecord | null): WalkedStep {
    const run = this.#s.run;
    const { message, actionHash } = approvalAction(ps, this.#scope, {
      specHash: run.specHash,
      principal: run.principal,
    });
    const approval = approvalOf(rec?.decision ?? null);
    const base: Base = {
      contextHash: actionHash,
      inputs: { message },
      decision: {
        decision: Decision.REQUIRE_APPROVAL,
        ruleIds: [],
        reason: "approval step",
        policyHash: null,
        approval: approval?.status ?? null,
      },
    };
    switch (approval?.status) {
      case ApprovalStatus.USED:
      case ApprovalStatus.APPROVED:
        return state(base, StepStatus.SUCCEEDED, "recorded", {
          outputs: rec?.outputs ?? {
            approved: true,
            decided_by: approval.decided_by,
            comment: approval.comment,
          },
        });
      case ApprovalStatus.REJECTED:
      case ApprovalStatus.EXPIRED:
        return failed(
          base,
          errorOf(rec) ?? {
            code: `APPROVAL_${approval.status}`,
            message: `approval ${approval.id} ${approval.status.toLowerCase()}`,
          },
          "recorded",
        );
      default:
        return state(base, StepStatus.WAITING_APPROVAL, "none");
    }
  }

  /** An action step: resolved and decided as the executor would, then executed or served. */
  async #action(ps: PlanStep, rec: StepRecord | null): Promise<WalkedStep> {
    const { run, settings } = this.#s;
    const cap = this.#s.catalog.get(ps.capability ?? "");
    if (!cap) {
      throw new CapabilityError(
        "UNKNOWN_CAPABILITY",
        `capability ${ps.capability} is not registered`,
      );
    }
    const masked = resolveTemplates(ps.inputs, this.#scope);
    const parsed = cap.input.safeParse(masked);
    // Inputs holding a masked secret may not validate (the real value would): then the
    // capability's static classification applies.
    if (!parsed.success && !holdsMask(masked)) {
      throw new CapabilityError(
        "INVALID_INPUT",
        `inputs of ${cap.name}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
      );
    }
    const recorded = recordedDecision(rec?.decision ?? null);
    const paths = await this.#touched(cap, ps, parsed.success ? parsed.data : undefined, rec);
    const described = describeCall(
      cap,
      ps,
      parsed.success ? (cap.classify?.(parsed.data) ?? {}) : {},
      masked,
      settings.redactKeys,
      {
        specHash: run.specHash,
        policyHash: recorded?.policyHash ?? this.#s.startPolicyHash,
        principal: run.principal,
      },
      paths,
    );
    // A preview (rows a call would change) is served as recorded: replay reads no target.
    const preview = recordedPreview(rec?.decision ?? null);
    const call = { ...described, contextHash: bindPreview(described.contextHash, preview) };
    const request: PolicyRequest = {
      principal: run.principal,
      roles: settings.rolesOf(run.principal),
      capability: cap.name,
      risk: call.risk,
      effect: call.effect,
      undo: call.undo,
      hasCompensation: ps.compensation !== null,
      // As the gate asks: the inputs as the capability will use them.
      inputs: parsed.success
        ? redact(parsed.data as JsonValue, {
            fields: cap.sensitive ?? [],
            keys: settings.redactKeys,
          })
        : call.recordInputs,
      ...(paths.length > 0 ? { paths } : {}),
      ...(preview ? { facts: preview.facts } : {}),
    };
    const compensation = this.#compensationRequest(ps);
    // Without `--policy` the recorded decision stands. A record that got past the gatekeeper
    // without recording its answer (a `prepare` failure) passed it; a step the record never
    // decided asks the configured policy.
    const decision =
      this.#s.policy !== null
        ? decideAgain(this.#s.policy, request, rec, compensation)
        : (recorded ??
          (passedGate(rec)
            ? null
            : decideAgain(this.#s.fallbackPolicy, request, rec, compensation)));
    const base: Base = { contextHash: call.contextHash, inputs: call.recordInputs, decision };
    if (decision?.decision === Decision.DENY) {
      return failed(base, { code: "POLICY_DENIED", message: decision.reason ?? "denied" }, "none");
    }
    if (decision?.decision === Decision.REQUIRE_APPROVAL) {
      // The person's recorded decision stands; without one, the replay goes on as if approved
      // (the `decision` divergence says a real run would have waited here).
      const approval = approvalOf(rec?.decision ?? null);
      if (approval?.status === ApprovalStatus.PENDING) {
        return state(base, StepStatus.WAITING_APPROVAL, "none");
      }
      if (
        approval?.status === ApprovalStatus.REJECTED ||
        approval?.status === ApprovalStatus.EXPIRED
      ) {
        return failed(
          base,
          errorOf(rec) ?? { code: `APPROVAL_${approval.status}`, message: approval.status },
          "recorded",
        );
      }
    }
    if (parsed.success && replayExecutes(cap)) return this.#execute(base, cap, parsed.data, ps);
    return serve(base, rec);
  }

  /** A capability context for a call replay makes (a pure one, or `touches`). */
  #context(ps: PlanStep): CapabilityContext {
    return {
      signal: new AbortController().signal,
      sandbox: this.#s.settings.sandbox,
      runId: this.#s.run.id,
      stepId: ps.id,
      attempt: 1,
    };
  }

  /**
   * The canonical paths the call touches: as the record has them when its inputs are the
   * recorded ones, else resolved again in the sandbox now (a read: nothing is changed).
   */
  async #touched(
    cap: AnyCapability,
    ps: PlanStep,
    input: unknown,
    rec: StepRecord | null,
  ): Promise<readonly TouchedPath[]> {
    if (!cap.touches || input === undefined) return [];
    const recorded = recordedTouched(rec?.decision ?? null);
    const masked = resolveTemplates(ps.inputs, this.#scope);
    if (recorded.length > 0 && canonicalJson(masked) === canonicalJson(rec?.inputs ?? null)) {
      return recorded;
    }
    try {
      return await cap.touches(input, this.#context(ps));
    } catch {
      return [];
    }
  }

  /** The step's declared compensation, asked about as its gate does (or null). */
  #compensationRequest(ps: PlanStep): PolicyRequest | null {
    const cap = ps.compensation ? this.#s.catalog.get(ps.compensation.capability) : undefined;
    if (!cap) return null;
    const { inputs, unknown } = compensationInputs(ps, this.#scope);
    const principal = this.#s.run.principal;
    return compensationRequest(cap, inputs, unknown, {
      principal,
      roles: this.#s.settings.rolesOf(principal),
      redactKeys: this.#s.settings.redactKeys,
      undoOf: ps.capability ?? "",
    });
  }

  /** Runs a pure capability again (no timeout needed: these return at once). */
  async #execute(
    base: Base,
    cap: AnyCapability,
    input: unknown,
    ps: PlanStep,
  ): Promise<WalkedStep> {
    const ctx = this.#context(ps);
    try {
      const raw = ((await cap.execute(input, ctx)) ?? {}) as JsonValue;
      const outputs = redact(raw, { keys: this.#s.settings.redactKeys });
      return state(base, StepStatus.SUCCEEDED, "executed", { outputs });
    } catch (err) {
      return failed(base, toAirunError(err), "executed");
    }
  }
}

/**
 * The recorded result of the call: its outputs (at least one attempt made), or its failure —
 * from an attempt, or from `prepare` (which fails before any attempt is counted).
 */
function serve(base: Base, rec: StepRecord | null): WalkedStep {
  if (rec !== null) {
    const error = errorOf(rec);
    switch (reachedStatus(rec)) {
      case StepStatus.SUCCEEDED:
        if (rec.attempts > 0) {
          return state(base, StepStatus.SUCCEEDED, "recorded", { outputs: rec.outputs });
        }
        break;
      case StepStatus.FAILED:
        if (rec.attempts > 0 || (error !== null && !DECIDED_BEFORE_THE_CALL.has(error.code))) {
          return failed(base, error, "recorded");
        }
        break;
      case StepStatus.RUNNING:
        // In doubt in the record: its outcome is unknown there too.
        return state(base, StepStatus.RUNNING, "recorded");
      default:
        break;
    }
  }
  return state(base, "UNRECORDED", "none");
}

/** The preview a step's recorded decision holds (see `previewCall`), or null. */
function recordedPreview(decision: JsonValue | null): RecordedPreview | null {
  const p = isPlainObject(decision) ? decision.preview : undefined;
  return isPlainObject(p) && isPlainObject(p.facts) ? (p as RecordedPreview) : null;
}
