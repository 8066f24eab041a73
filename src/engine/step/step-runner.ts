/**
 * @module One step, start to finish: `when`, input resolution, the gatekeeper, approval,
 * the write-ahead intent (step + compensation record + before-image, committed BEFORE the side
 * effect), attempts with timeouts and retries, and the completion commit.
 *
 * Steps whose capability has no side effect (undo `none`) skip the write-ahead intent: a crash
 * in the middle simply runs them again, and their result is committed in one transaction.
 */
import type {
  AnyCapability,
  CapabilityContext,
  Classification,
  UndoPlan,
} from "../../core/capability.js";
import { AirunError, CapabilityError, ConflictError, toAirunError } from "../../core/errors.js";
import type { ExprScope } from "../../core/expr.js";
import { hashJson, sha256Hex } from "../../core/hash.js";
import type { JsonObject, JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { MASK, redact } from "../../core/redact.js";
import {
  CompensationStatus,
  Decision,
  type EffectClass,
  maxRisk,
  type Outcome,
  Reason,
  type RiskLevel,
  StepStatus,
  UndoKind,
} from "../../core/status.js";
import { collectSecretNames, evaluateCondition, resolveTemplates } from "../../core/template.js";
import type { CompensationRecord, StepRecord, WriteOp } from "../../store/store.js";
import { approvalGate, approvalOf } from "../approvals/approvals.js";
import { audited, auditedUndo } from "../audit.js";
import { EventType, eventOp } from "../events.js";
import { type Refusal, runGovernance } from "../governance/run-governance.js";
import { retryDelayMs, sleep } from "../retry.js";
import type { RunExecution } from "../state/run-state.js";
import { endStepSpan, startStepSpan, traceStepFailure } from "../telemetry.js";

/** Runs one step. Failures are recorded on the execution (never thrown), except a lost lease. */
export async function runStep(exec: RunExecution, ps: PlanStep): Promise<void> {
  try {
    if (exec.step(ps.id).status === StepStatus.PENDING && ps.when !== null) {
      if (!evaluateCondition(ps.when, templateScope(exec, null))) {
        await exec.commit([
          {
            op: "putStep",
            step: { ...exec.step(ps.id), status: StepStatus.SKIPPED, finishedAt: Date.now() },
          },
          eventOp(EventType.STEP_SKIPPED, exec.run.id, ps.id, { when: ps.when }),
        ]);
        return;
      }
    }
    if (ps.kind === "approval") return await approvalStep(exec, ps);
    return await actionStep(exec, ps);
  } catch (err) {
    if (err instanceof ConflictError) throw err;
    await failStep(exec, ps, toAirunError(err), { effectUnknown: false });
  }
}

/**
 * The variables templates see; `secrets.NAME` resolve from the environment at call time (as the
 * mask when `mask`), and each value read is noted in `usedSecrets` so outputs can be masked.
 */
export function templateScope(
  exec: RunExecution,
  usedSecrets: Map<string, string> | null,
  mask = false,
): ExprScope {
  const env = exec.ctx.settings.env;
  return {
    vars: exec.scopeVars(),
    secret: (name) => {
      const value = env[name];
      if (value === undefined) return undefined;
      usedSecrets?.set(name, value);
      return mask ? MASK : value;
    },
  };
}

/** What the engine knows about a capability call before it is made. */
export interface Resolved {
  readonly cap: AnyCapability;
  readonly input: unknown;
  readonly recordInputs: JsonValue;
  readonly risk: RiskLevel;
  readonly undo: UndoKind;
  readonly idempotent: boolean;
  readonly effect: EffectClass;
  readonly contextHash: string;
  readonly secrets: Map<string, string>;
}

/** Resolves a step's call: inputs (real and as recorded), classification and context hash. */
export function resolveCall(exec: RunExecution, ps: PlanStep): Resolved {
  const cap = exec.ctx.catalog.get(ps.capability ?? "");
  if (!cap) {
    throw new CapabilityError(
      "UNKNOWN_CAPABILITY",
      `capability ${ps.capability} is not registered`,
    );
  }
  const secrets = new Map<string, string>();
  const callInputs = resolveTemplates(ps.inputs, templateScope(exec, secrets));
  const parsed = cap.input.safeParse(callInputs);
  if (!parsed.success) {
    throw new CapabilityError(
      "INVALID_INPUT",
      `inputs of ${cap.name}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  }
  // Re-resolve with masked secrets only when a secret was used; otherwise the call's inputs are
  // what gets recorded.
  const masked =
    secrets.size > 0 ? resolveTemplates(ps.inputs, templateScope(exec, null, true)) : callInputs;
  const described = describeCall(
    cap,
    ps,
    cap.classify?.(parsed.data) ?? {},
    masked,
    exec.ctx.settings.redactKeys,
    {
      specHash: exec.plan.specHash,
      policyHash: exec.ctx.gatekeeper.policy.hash,
      principal: exec.run.principal,
    },
  );
  return { cap, input: parsed.data, secrets, ...described };
}

/** What, besides the step itself, identifies the action a step takes (SPEC §7). */
export interface ActionIdentity {
  readonly specHash: string;
  readonly policyHash: string;
  readonly principal: string;
}

/**
 * The pure part of resolving a call (shared with replay): the inputs as recorded (`masked` with
 * sensitive fields and redacted keys replaced), the effective classification and the context
 * hash, SHA-256 over the canonical JSON of spec hash, step id, capability, recorded inputs,
 * principal and policy hash.
 */
export function describeCall(
  cap: AnyCapability,
  ps: PlanStep,
  cls: Classification,
  masked: JsonValue,
  redactKeys: readonly string[],
  id: ActionIdentity,
): Omit<Resolved, "cap" | "input" | "secrets"> {
  const recordInputs = redact(masked, { fields: cap.sensitive ?? [], keys: redactKeys });
  return {
    recordInputs,
    risk: maxRisk(maxRisk(cap.risk, cls.risk ?? cap.risk), ps.risk ?? cap.risk),
    undo: cls.undo ?? cap.undo,
    idempotent: cls.idempotent ?? cap.idempotent,
    effect: cls.effect ?? cap.effect,
    // Keys written in canonical (sorted) order: hashJson then serializes in one native pass.
    contextHash: hashJson({
      capability: cap.name,
      inputs: recordInputs,
      policy: id.policyHash,
      principal: id.principal,
      spec: id.specHash,
      step: ps.id,
    }),
  };
}

/**
 * What an approval step asks a person (its message rendered with `scope`, secrets masked) and
 * the action hash the approval is bound to (shared with replay).
 */
export function approvalAction(
  ps: PlanStep,
  scope: ExprScope,
  id: Omit<ActionIdentity, "policyHash">,
): { message: string; actionHash: string } {
  const settings = ps.approval;
  const message = String(resolveTemplates(settings?.message ?? `Approve step ${ps.id}?`, scope));
  const actionHash = hashJson({
    spec: id.specHash,
    step: ps.id,
    approval: { ...settings, message } as unknown as JsonValue,
    principal: id.principal,
  });
  return { message, actionHash };
}

async function actionStep(exec: RunExecution, ps: PlanStep): Promise<void> {
  const call = resolveCall(exec, ps);
  const policy = await exec.ctx.gatekeeper.decide({
    principal: exec.run.principal,
    roles: exec.ctx.settings.rolesOf(exec.run.principal),
    capability: call.cap.name,
    risk: call.risk,
    effect: call.effect,
    undo: call.undo,
    hasCompensation: ps.compensation !== null,
    inputs: call.recordInputs,
  });
  // Keys in canonical (sorted) order: the ledger then writes this entry in one native pass.
  const decision: JsonObject = {
    compensation: ps.compensation ? ps.compensation.capability : null,
    decision: policy.decision,
    policy_hash: policy.policyHash,
    policy_source: policy.policySource,
    reason: policy.reason,
    risk: call.risk,
    rule_ids: [...policy.ruleIds],
  };
  if (policy.hook) decision.hook = { ...policy.hook };
  // The stricter answer wins: a step that already entered the approval flow stays in it even
  // if the policy (hot-reloaded since) now says ALLOW; a rejection is never bypassed.
  let verdict = policy.decision;
  if (verdict === Decision.ALLOW && approvalOf(exec.step(ps.id).decision) !== null) {
    verdict = Decision.REQUIRE_APPROVAL;
    decision.decision = verdict;
    decision.reason = `${policy.reason}; the step already entered the approval flow, which a looser policy does not bypass`;
  }
  const recorded = { decision, contextHash: call.contextHash, inputs: call.recordInputs };
  if (verdict === Decision.DENY) {
    await failStep(exec, ps, new AirunError("POLICY_DENIED", policy.reason), {
      effectUnknown: false,
      reason: Reason.POLICY_DENIED,
      recorded,
    });
    return;
  }
  // Governance (engine/governance.ts): tools, budgets, drift; drift may ask for an approval.
  const gov = runGovernance(exec);
  if (gov) {
    const refusal = await gov.screen(ps, call, decision);
    if (refusal) return refuse(exec, ps, refusal, recorded);
    verdict = decision.decision as Decision;
  }
  if (verdict === Decision.REQUIRE_APPROVAL) {
    const gate = await approvalGate(exec, ps, {
      actionHash: call.contextHash,
      decision,
      approvers: gov?.approvers(decision) ?? policy.approvers,
      message: String(decision.reason),
      recordInputs: call.recordInputs,
    });
    if (gate.state !== "approved") return;
    decision.approval = gate.approval;
  }
  // A declared compensation makes any capability a side effect worth recording first.
  const sideEffect = call.undo !== UndoKind.NONE || ps.compensation !== null;
  const prior = exec.step(ps.id);
  let attempt = prior.attempts + 1;
  if (gov) {
    const refusal = gov.reserve(ps, call, attempt, decision);
    if (refusal) return refuse(exec, ps, refusal, recorded);
  }
  // A budgeted call that reports usage has its reservation committed first, like an effect.
  const intent = sideEffect || (gov?.durable(ps.id) ?? false);
  const started = Date.now();
  if (intent) await writeIntent(exec, ps, call, decision, attempt);

  for (;;) {
    const span = startStepSpan(exec, ps, call, verdict, attempt);
    try {
      const outputs = await invoke(exec, ps, call, attempt);
      await succeed(exec, ps, call, decision, outputs, attempt, started, intent);
      endStepSpan(span);
      return;
    } catch (err) {
      endStepSpan(span, err);
      if (err instanceof ConflictError) throw err;
      const e = maskError(exec, toAirunError(err));
      // A CapabilityError is an atomic failure: no effect happened (principle 11). A timeout or
      // an untyped error leaves the effect unknown.
      const effectUnknown = !(e instanceof CapabilityError) || e.code === "TIMEOUT";
      const retryable =
        e instanceof CapabilityError && e.retryable && (!effectUnknown || call.idempotent);
      if (
        retryable &&
        attempt < ps.retry.maxAttempts &&
        !exec.abort.signal.aborted &&
        !exec.failure
      ) {
        const delayMs = retryDelayMs(ps.retry, attempt + 1);
        const next = gov?.retry(ps, call, e, attempt + 1);
        if (next && "refusal" in next) {
          const unknown = effectUnknown && sideEffect;
          return refuse(exec, ps, next.refusal, recorded, {
            attempts: attempt,
            effectUnknown: unknown,
          });
        }
        await exec.commit([
          ...(next?.ops ?? []),
          {
            op: "putStep",
            step: { ...exec.step(ps.id), attempts: attempt + 1, error: errorJson(e) },
          },
          eventOp(EventType.STEP_RETRY, exec.run.id, ps.id, {
            failed_attempt: attempt,
            next_attempt: attempt + 1,
            delay_ms: delayMs,
            error: errorJson(e),
          }),
        ]);
        attempt += 1;
        try {
          await sleep(delayMs, exec.abort.signal);
        } catch {
          await failStep(exec, ps, e, { effectUnknown: false, attempts: attempt - 1, recorded });
          return;
        }
        const late = gov?.lateRefusal(ps);
        if (late) {
          const unknown = effectUnknown && sideEffect;
          return refuse(exec, ps, late, recorded, {
            attempts: attempt - 1,
            effectUnknown: unknown,
          });
        }
        continue;
      }
      await failStep(exec, ps, e, {
        effectUnknown: effectUnknown && sideEffect,
        attempts: attempt,
        recorded,
      });
      return;
    }
  }
}

/**
 * The write-ahead intent: the before-image, the compensation record (PENDING) and the step in
 * RUNNING with its attempt number, committed together BEFORE the side effect. A step resumed
 * after a crash keeps the compensation record written before its first attempt.
 */
async function writeIntent(
  exec: RunExecution,
  ps: PlanStep,
  call: Resolved,
  decision: JsonObject,
  attempt: number,
): Promise<void> {
  const ops: WriteOp[] = [];
  const existing = exec.compensations.get(ps.id);
  const kind = ps.compensation ? "declared" : call.undo === UndoKind.BUILTIN ? "builtin" : null;
  const record = !existing && (kind !== null || call.cap.prepare !== undefined);
  const plan: UndoPlan | undefined =
    record && call.cap.prepare
      ? await call.cap.prepare(call.input, capabilityContext(exec, ps, attempt))
      : undefined;
  // The stack position is taken after the last await, so positions follow the order in which
  // intents are committed (concurrent steps never interleave between the two).
  const seq = existing?.seq ?? exec.step(ps.id).seq ?? exec.nextSeq();
  const blobs: Record<string, string> = {};
  if (record) {
    for (const [name, bytes] of Object.entries(plan?.blobs ?? {})) {
      const sealed = exec.ctx.blobs.seal(bytes);
      const id = sha256Hex(sealed);
      blobs[name] = id;
      ops.push({ op: "putBlob", id, bytes: sealed });
    }
    const comp: CompensationRecord = {
      runId: exec.run.id,
      stepId: ps.id,
      seq,
      kind: kind ?? "builtin",
      capability: ps.compensation?.capability ?? call.cap.name,
      inputs: null,
      undo: plan?.data ?? null,
      blobs,
      // Without any way to undo, the record only serves reconciliation.
      status: kind ? CompensationStatus.PENDING : CompensationStatus.VOID,
      attempts: 0,
      error: null,
      updatedAt: Date.now(),
    };
    ops.push({ op: "putCompensation", compensation: comp });
  }
  const step: StepRecord = {
    ...exec.step(ps.id),
    status: StepStatus.RUNNING,
    attempts: attempt,
    inputs: call.recordInputs,
    decision,
    contextHash: call.contextHash,
    seq,
    startedAt: exec.step(ps.id).startedAt ?? Date.now(),
  };
  ops.push(
    { op: "putStep", step },
    eventOp(EventType.STEP_DECISION, exec.run.id, ps.id, decision),
    // Keys in canonical (sorted) order, as in every entry built here: see `decision` above.
    eventOp(EventType.STEP_INTENT, exec.run.id, ps.id, {
      ...auditedUndo(exec.ctx.settings.auditLevel, plan?.data ?? null, blobs),
      capability: call.cap.name,
      compensation: kind,
      context_hash: call.contextHash,
      ...audited(exec.ctx.settings.auditLevel, "inputs", call.recordInputs),
    }),
    eventOp(EventType.STEP_ATTEMPT, exec.run.id, ps.id, { attempt }),
  );
  const gov = runGovernance(exec);
  if (gov) ops.push(...gov.intentOps(ps.id));
  await exec.commit(ops);
}

/** The capability context for an attempt. */
function capabilityContext(
  exec: RunExecution,
  ps: PlanStep,
  attempt: number,
  signal: AbortSignal = exec.abort.signal,
): CapabilityContext {
  return {
    signal,
    sandbox: exec.ctx.settings.sandbox,
    runId: exec.run.id,
    stepId: ps.id,
    attempt,
  };
}

/**
 * One attempt, bounded by the step's timeout: the capability receives a signal that aborts at
 * the timeout or on cancel, and the engine stops waiting at that moment even if the capability
 * ignores it.
 */
function invoke(
  exec: RunExecution,
  ps: PlanStep,
  call: Resolved,
  attempt: number,
): Promise<JsonValue> {
  const timeoutMs = ps.timeoutMs ?? exec.ctx.settings.defaultTimeoutMs;
  return new Promise<JsonValue>((resolve, reject) => {
    // The capability's AbortController is made only when it reads `ctx.signal` (most never
    // do: creating one and wiring its listeners cost more than a whole echo call). Once the
    // engine stopped waiting, a signal read later is born aborted with the same reason.
    let ac: AbortController | undefined;
    let stopped = false;
    let stopReason: unknown;
    const stop = (reason: unknown) => {
      if (stopped) return;
      stopped = true;
      stopReason = reason;
      done();
      ac?.abort(reason);
      reject(reason);
    };
    // The run's shared deadline timer and one cancel listener per run (see RunExecution)
    // replace a timer and an abort listener per call.
    const deadline = exec.deadlines.add(timeoutMs, () => {
      stop(
        new CapabilityError("TIMEOUT", `step ${ps.id} timed out after ${timeoutMs}ms`, {
          retryable: true,
        }),
      );
    });
    exec.inFlightCalls.add(stop);
    function done() {
      exec.deadlines.remove(deadline);
      exec.inFlightCalls.delete(stop);
    }
    const ctx: CapabilityContext = {
      get signal(): AbortSignal {
        if (ac === undefined) {
          ac = new AbortController();
          if (stopped) ac.abort(stopReason);
        }
        return ac.signal;
      },
      sandbox: exec.ctx.settings.sandbox,
      runId: exec.run.id,
      stepId: ps.id,
      attempt,
    };
    let pending: Promise<unknown>;
    try {
      pending = call.cap.execute(call.input, ctx);
    } catch (err) {
      done();
      reject(err);
      return;
    }
    pending.then(
      (result: unknown) => {
        done();
        resolve((result ?? {}) as JsonValue);
      },
      (err: unknown) => {
        done();
        reject(err);
      },
    );
  });
}

async function succeed(
  exec: RunExecution,
  ps: PlanStep,
  call: Resolved,
  decision: JsonObject,
  rawOutputs: JsonValue,
  attempts: number,
  started: number,
  sideEffect: boolean,
): Promise<void> {
  const outputs = redact(rawOutputs, {
    secrets: call.secrets.size > 0 ? [...call.secrets.values()] : [],
    keys: exec.ctx.settings.redactKeys,
  });
  const step: StepRecord = {
    ...exec.step(ps.id),
    status: StepStatus.SUCCEEDED,
    attempts,
    inputs: call.recordInputs,
    outputs,
    error: null,
    decision,
    contextHash: call.contextHash,
    startedAt: exec.step(ps.id).startedAt ?? started,
    finishedAt: Date.now(),
  };
  const ops: WriteOp[] = [{ op: "putStep", step }];
  if (!sideEffect) ops.push(eventOp(EventType.STEP_DECISION, exec.run.id, ps.id, decision));
  const gov = runGovernance(exec);
  if (gov) ops.push(...gov.successOps(ps.id, call, rawOutputs));
  const comp = exec.compensations.get(ps.id);
  if (comp && comp.status === CompensationStatus.PENDING) {
    ops.push({ op: "putCompensation", compensation: armed(exec, ps, comp, outputs) });
  }
  ops.push(
    eventOp(EventType.STEP_SUCCEEDED, exec.run.id, ps.id, {
      attempts,
      context_hash: call.contextHash,
      duration_ms: Date.now() - started,
      // A side effect's inputs are on its intent entry; an effect-free step has none.
      ...(sideEffect ? {} : audited(exec.ctx.settings.auditLevel, "inputs", call.recordInputs)),
      ...audited(exec.ctx.settings.auditLevel, "outputs", outputs),
    }),
  );
  await exec.commit(ops);
}

/** A compensation record armed: its effect happened; a declared one gets its recorded inputs. */
export function armed(
  exec: RunExecution,
  ps: PlanStep,
  comp: CompensationRecord,
  outputs: JsonValue | null,
): CompensationRecord {
  let inputs: JsonValue | null = null;
  if (comp.kind === "declared" && ps.compensation) {
    const scope = templateScope(exec, null, true);
    const vars = {
      ...scope.vars,
      steps: { ...exec.stepScope, [ps.id]: { outputs: outputs ?? {} } },
    };
    try {
      inputs = resolveTemplates(ps.compensation.inputs, { ...scope, vars });
    } catch (err) {
      inputs = { unresolved: toAirunError(err).message };
    }
  }
  return { ...comp, status: CompensationStatus.ARMED, inputs, updatedAt: Date.now() };
}

/**
 * Masks, in place, the values of the secrets the run's plan reads wherever they occur in an
 * error's message (and stack), before the error is recorded or printed: a capability may
 * quote its inputs in a message (`sys.fail`, a URL, a path).
 */
export function maskError(exec: RunExecution, e: AirunError): AirunError {
  const env = exec.ctx.settings.env;
  const values: string[] = [];
  for (const ps of exec.plan.steps) {
    const when = ps.when === null || ps.when.includes("{{") ? ps.when : `\${{ ${ps.when} }}`;
    const sources = [
      ps.inputs,
      when,
      ps.compensation?.inputs ?? null,
      ps.approval?.message ?? null,
    ];
    for (const name of collectSecretNames(sources as JsonValue)) {
      const value = env[name];
      if (value) values.push(value);
    }
  }
  if (values.length > 0 && values.some((v) => e.message.includes(v))) {
    e.message = redact(e.message, { secrets: values }) as string;
    if (e.stack) e.stack = redact(e.stack, { secrets: values }) as string;
  }
  return e;
}

/** JSON form of an error, as recorded on steps and in events. */
export function errorJson(e: AirunError): JsonObject {
  const retryable = e instanceof CapabilityError ? e.retryable : false;
  return { code: e.code, message: e.message, retryable };
}

/**
 * Records a step failure and the run's reason to roll back. When the effect of the failed call
 * is unknown (timeout, untyped error), the capability's `reconcile` decides whether its
 * compensation must run; if nobody can tell, the run ends IN_DOUBT after undoing the rest.
 */
export async function failStep(
  exec: RunExecution,
  ps: PlanStep,
  e: AirunError,
  opts: {
    effectUnknown: boolean;
    /** Already reconciled (recovery): skip asking the capability again. */
    verdict?: "applied" | "not_applied" | "unknown";
    reason?: Reason;
    /** Attempts made; default: as recorded (none for a step refused before any attempt). */
    attempts?: number;
    /** The decision, context hash and inputs of a step that failed before its intent was
     * written (denied, or side-effect free): recorded with the failure. */
    recorded?: { decision: JsonObject; contextHash: string; inputs: JsonValue };
    /** Governance refusals: figures added to the run's reason detail, and the outcome. */
    detail?: JsonObject;
    outcome?: Outcome;
  },
): Promise<void> {
  // A failure before any attempt (refused, invalid, approval rejected) has no attempt span.
  maskError(exec, e);
  if (opts.attempts === undefined) traceStepFailure(exec, ps, e, opts.recorded);
  let reason = opts.reason ?? Reason.STEP_FAILED;
  const ops: WriteOp[] = [];
  const comp = exec.compensations.get(ps.id);
  if (comp && comp.status === CompensationStatus.PENDING) {
    // Refused before any attempt in this process (policy, governance, a rejected approval), a
    // step whose write-ahead record is still PENDING was interrupted by a crash: that earlier
    // attempt may have taken effect, so it is reconciled rather than assumed away.
    const interrupted = opts.attempts === undefined;
    let verdict = opts.verdict ?? "not_applied";
    if ((opts.effectUnknown || interrupted) && !opts.verdict) {
      verdict = await reconcileStep(exec, ps, comp);
    }
    if (verdict === "applied") {
      ops.push({ op: "putCompensation", compensation: armed(exec, ps, comp, null) });
    } else if (verdict === "not_applied") {
      ops.push({
        op: "putCompensation",
        compensation: { ...comp, status: CompensationStatus.VOID, updatedAt: Date.now() },
      });
      ops.push(
        eventOp(EventType.COMPENSATION_VOID, exec.run.id, ps.id, { why: "effect did not happen" }),
      );
    } else {
      reason = Reason.IN_DOUBT;
      ops.push({
        op: "putCompensation",
        compensation: {
          ...comp,
          status: CompensationStatus.FAILED,
          error: { code: "IN_DOUBT", message: "cannot tell whether the call took effect" },
          updatedAt: Date.now(),
        },
      });
    }
  }
  const prev = exec.step(ps.id);
  const unrecorded = prev.decision === null ? opts.recorded : undefined;
  const step: StepRecord = {
    ...prev,
    status: StepStatus.FAILED,
    attempts: opts.attempts ?? prev.attempts,
    ...(unrecorded
      ? {
          decision: unrecorded.decision,
          contextHash: unrecorded.contextHash,
          inputs: unrecorded.inputs,
        }
      : {}),
    error: errorJson(e),
    finishedAt: Date.now(),
  };
  ops.unshift(
    { op: "putStep", step },
    ...(unrecorded
      ? [eventOp(EventType.STEP_DECISION, exec.run.id, ps.id, unrecorded.decision)]
      : []),
  );
  ops.push(
    eventOp(EventType.STEP_FAILED, exec.run.id, ps.id, {
      ...errorJson(e),
      attempts: step.attempts,
    }),
  );
  const gov = runGovernance(exec);
  if (gov) ops.push(...gov.failureOps(ps.id, e, step.attempts));
  // The first failure (or an in-doubt one, which overrides) moves the run to COMPENSATING in
  // the same transaction, so a crash right after it still rolls back.
  const detail = { step: ps.id, code: e.code, message: e.message, ...opts.detail };
  const decisive =
    !exec.failure || (reason === Reason.IN_DOUBT && exec.failure.reason !== Reason.IN_DOUBT);
  if (decisive) ops.push(...exec.compensatingOps(reason, detail, opts.outcome));
  await exec.commit(ops);
  if (decisive) exec.failure = { reason, detail };
}

/** Fails a step governance refused before its call (the run abstains; engine/governance.ts). */
function refuse(
  exec: RunExecution,
  ps: PlanStep,
  r: Refusal,
  recorded: { decision: JsonObject; contextHash: string; inputs: JsonValue },
  opts: { attempts?: number; effectUnknown?: boolean } = {},
): Promise<void> {
  return failStep(exec, ps, r.error, {
    effectUnknown: opts.effectUnknown ?? false,
    reason: r.reason,
    outcome: r.outcome,
    detail: r.detail,
    recorded,
    ...(opts.attempts !== undefined ? { attempts: opts.attempts } : {}),
  });
}

/** Asks the capability whether an interrupted or timed-out call took effect. */
export async function reconcileStep(
  exec: RunExecution,
  ps: PlanStep,
  comp: CompensationRecord | undefined,
): Promise<"applied" | "not_applied" | "unknown"> {
  const cap = exec.ctx.catalog.get(ps.capability ?? "");
  if (!cap?.reconcile) return ps.compensation ? "applied" : "unknown";
  try {
    const secrets = new Map<string, string>();
    const input = cap.input.parse(resolveTemplates(ps.inputs, templateScope(exec, secrets)));
    const plan: UndoPlan | undefined = comp
      ? { data: comp.undo, blobs: await beforeImages(exec, comp, false) }
      : undefined;
    const verdict = await cap.reconcile(
      input,
      plan,
      capabilityContext(exec, ps, exec.step(ps.id).attempts),
    );
    await exec.commit([eventOp(EventType.STEP_RECONCILED, exec.run.id, ps.id, { verdict })]);
    return verdict;
  } catch (err) {
    if (err instanceof ConflictError) throw err;
    return "unknown";
  }
}

async function approvalStep(exec: RunExecution, ps: PlanStep): Promise<void> {
  const settings = ps.approval;
  // The message people read is rendered from the run's state (secrets masked); the approval
  // is bound to that rendered text, so a changed message needs a new approval.
  const { message, actionHash } = approvalAction(ps, templateScope(exec, null, true), {
    specHash: exec.plan.specHash,
    principal: exec.run.principal,
  });
  const gate = await approvalGate(exec, ps, {
    actionHash,
    decision: { decision: Decision.REQUIRE_APPROVAL, reason: "approval step" },
    approvers: settings?.approvers ?? [],
    message,
    recordInputs: { message },
  });
  if (gate.state !== "approved") return;
  const rec = exec.step(ps.id);
  const approval = gate.approval;
  await exec.commit([
    {
      op: "putStep",
      step: {
        ...rec,
        status: StepStatus.SUCCEEDED,
        attempts: 1,
        // The approval is consumed (USED), as for a gated action: it cannot be decided again.
        decision: { ...(rec.decision as JsonObject), approval },
        outputs: {
          approved: true,
          decided_by: approval.decided_by ?? null,
          comment: approval.comment ?? null,
        },
        finishedAt: Date.now(),
      },
    },
    eventOp(EventType.STEP_SUCCEEDED, exec.run.id, ps.id, { approval: true }),
  ]);
}

/**
 * The before-images of a compensation record, opened (`blob-seal.ts`). With `required`, a
 * missing one is an error (an undo needs it); otherwise it is left out (reconciliation copes).
 */
export async function beforeImages(
  exec: RunExecution,
  comp: CompensationRecord,
  required: boolean,
): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const [name, id] of Object.entries(comp.blobs)) {
    const bytes = await exec.ctx.store.getBlob(id);
    if (bytes) out[name] = exec.ctx.blobs.open(bytes, id);
    else if (required) {
      throw new AirunError("BLOB_MISSING", `before-image ${id} of step ${comp.stepId} is missing`);
    }
  }
  return out;
}
