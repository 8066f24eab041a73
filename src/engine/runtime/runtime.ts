/**
 * @module The Runtime: the engine's front door, used by every surface (CLI, SDK, later HTTP and
 * MCP). It opens the store, the capability registry (with plugins) and the gatekeeper from a
 * compiled config, and offers runs: start, resume/decide, cancel, roll back after the fact,
 * recover, inspect. One instance per process, passed explicitly.
 */
import { readFile, stat } from "node:fs/promises";
import { userInfo } from "node:os";
import { resolve } from "node:path";
import { loadPlugins } from "../../capabilities/plugins.js";
import {
  type CapabilityDescription,
  type CapabilityRegistry,
  createStandardRegistry,
  describeCapability,
} from "../../capabilities/registry.js";
import { type AirunConfig, compileConfig } from "../../core/config.js";
import {
  AirunError,
  ConflictError,
  NotFoundError,
  type Problem,
  ValidationError,
} from "../../core/errors.js";
import { governanceOf } from "../../core/governance.js";
import { sha256Hex } from "../../core/hash.js";
import type { JsonObject } from "../../core/json.js";
import { compileNameGlob } from "../../core/path-match.js";
import type { Plan } from "../../core/plan.js";
import { compileSpec, validateSpec } from "../../core/spec-compile.js";
import { isTerminal, Reason, RunStatus } from "../../core/status.js";
import { openStore } from "../../store/open-store.js";
import type { RunFilter, RunRecord, WriteOp } from "../../store/store.js";
import {
  type ApprovalDetail,
  type ApprovalView,
  getApproval,
  listApprovals,
  parseApprovalRef,
} from "../approvals/approval-view.js";
import { ApprovalError, decideApproval, settleApprovals } from "../approvals/approvals.js";
import type { EngineContext, EngineSettings, ProgressEvent } from "../context.js";
import { EventType, eventOp } from "../events.js";
import { type DriftReport, driftReport } from "../governance/baselines.js";
import { coerceInputs } from "../inputs.js";
import { loadBlobSeal } from "../keys/blob-seal.js";
import {
  type CheckpointResult,
  exportEvidencePack,
  type LedgerKey,
  type LedgerReport,
  loadLedgerKey,
  verifyLedger,
  writeCheckpoint,
} from "../ledger/ledger.js";
import { newOwnerId } from "../owner.js";
import { createDecisionHook } from "../policy/decision-hook.js";
import { PolicyGatekeeper, type PolicyReload } from "../policy/gatekeeper.js";
import { claimRun, prepareResume, type RecoveredRun, recoverAll } from "../recovery/recovery.js";
import { replayRun } from "../replay/replay.js";
import type { ReplayOptions, ReplayReport } from "../replay/replay-types.js";
import { openSession, resumeSession, type Session, type SessionHost } from "../sessions/session.js";
import type { OpenSessionOptions } from "../sessions/session-plan.js";
import { announceStart, creationOps, newRun } from "../state/run-records.js";
import { RunExecution } from "../state/run-state.js";
import { type RunView, toRunView } from "../state/run-view.js";
import { DEFAULT_WEBHOOK_SETTINGS, WebhookDispatcher } from "../webhooks.js";

/** How many compiled plans a runtime keeps. */
const PLAN_CACHE_SIZE = 64;

/** How to open a runtime. Everything is optional. */
export interface RuntimeOptions {
  /** Config file; default `airun.yaml` in `cwd` when it exists. */
  readonly configFile?: string;
  /** State directory; overrides config and AIRUN_HOME. */
  readonly home?: string;
  readonly cwd?: string;
  /** Environment for secrets and AIRUN_* settings; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Live progress listener. */
  readonly onProgress?: (event: ProgressEvent) => void;
}

/** What to run. */
export interface StartRunOptions {
  readonly specFile: string;
  /** Spec text; read from `specFile` when absent. */
  readonly specText?: string;
  /** Input values (strings from the CLI are coerced to the declared types). */
  readonly inputs?: Readonly<Record<string, unknown>>;
  readonly principal?: string;
  readonly idempotencyKey?: string;
}

/** A decision on a pending approval (`Runtime.decideApproval`). */
export interface DecideApprovalInput {
  readonly decision: "approve" | "reject";
  /** Who decides (`kind:id`): must be eligible and not the requester. */
  readonly principal: string;
  readonly comment?: string;
  /** Which waiting step, when several wait. */
  readonly stepId?: string;
}

/** A governed runtime. */
export class Runtime {
  readonly config: AirunConfig;
  readonly #registry: CapabilityRegistry;
  readonly #ctx: EngineContext;
  readonly #heartbeat: NodeJS.Timeout;
  /** Compiled plans by file and text hash, least recently used first. */
  readonly #plans = new Map<string, Plan>();
  /** Runs this process is driving right now (their cancel requests are polled). */
  readonly #active = new Map<string, RunExecution>();
  /** Open sessions of this runtime that hold their run's lease (engine/session.ts). */
  readonly #sessions = new Map<string, Session>();
  /** Runs claimed by `resume` / `decideApproval` right now (a session waits for them). */
  readonly #claimed = new Set<string>();
  #sessionHost: SessionHost | undefined;
  #closed = false;
  /** The ledger's signing key, loaded (or created) on first use. */
  #ledgerKey: Promise<LedgerKey> | undefined;
  /** Hashes of policy texts this runtime knows are stored (blobs, for evidence packs and replay). */
  readonly #storedPolicies = new Set<string>();
  /** Policy reload events being committed (awaited by close). */
  readonly #policyWrites = new Set<Promise<void>>();

  private constructor(config: AirunConfig, registry: CapabilityRegistry, ctx: EngineContext) {
    this.config = config;
    this.#registry = registry;
    this.#ctx = ctx;
    if (ctx.gatekeeper instanceof PolicyGatekeeper) {
      ctx.gatekeeper.onReload((e) => this.#recordPolicyReload(e));
    }
    this.#heartbeat = setInterval(() => {
      this.#beat().catch(() => undefined);
    }, ctx.settings.heartbeatMs);
    this.#heartbeat.unref();
  }

  /** Opens a runtime: config, store (migrated), capabilities with plugins, gatekeeper. */
  static async open(options: RuntimeOptions = {}): Promise<Runtime> {
    const cwd = resolve(options.cwd ?? process.cwd());
    const env = options.env ?? process.env;
    const config = await loadConfig(cwd, env, options.configFile, options.home);
    const registry = createStandardRegistry({ llm: config.llm, env });
    await loadPlugins(registry, config.plugins, config.baseDir);
    const gatekeeper = await PolicyGatekeeper.load(config.policy, {
      watch: true,
      hook: config.policyHook ? createDecisionHook(config.policyHook) : null,
    });
    const store = await openStore({
      url: config.store.kind === "sqlite" ? "sqlite" : config.store.url,
      home: config.home,
      ...(config.store.kind === "sqlite" ? { synchronous: config.store.synchronous } : {}),
    });
    const roles = new Map(Object.entries(config.principals).map(([p, v]) => [p, v.roles]));
    const webhooks = new WebhookDispatcher(store, webhookSettings(config), env);
    const settings: EngineSettings = {
      concurrency: config.engine.concurrency,
      defaultTimeoutMs: config.engine.defaultTimeoutMs,
      leaseTtlMs: config.engine.leaseTtlMs,
      heartbeatMs: config.engine.heartbeatMs,
      sandbox: config.sandbox,
      redactKeys: config.audit.redact,
      auditLevel: config.audit.level,
      env,
      defaultApprovers: config.approvals.approvers,
      approvalTimeoutMs: config.approvals.timeoutMs,
      approvalOnTimeout: config.approvals.onTimeout,
      rolesOf: (p) => roles.get(p) ?? [],
    };
    const ctx: EngineContext = {
      store,
      blobs: await loadBlobSeal(config.home),
      catalog: registry,
      gatekeeper,
      settings,
      owner: newOwnerId(),
      webhooks,
      onProgress: runFinishedNotifier(webhooks, options.onProgress),
    };
    return new Runtime(config, registry, ctx);
  }

  /** Validates a spec file: every problem, or the compiled plan. */
  async validate(
    specFile: string,
    specText?: string,
  ): Promise<{ plan?: Plan; problems: readonly Problem[] }> {
    const text = specText ?? (await readSpec(specFile));
    return validateSpec({ file: specFile, text }, this.#registry);
  }

  /**
   * Starts a run and drives it until it is terminal or waits for an approval. A run started
   * again with the same idempotency key is the same run: its current view is returned.
   */
  async startRun(opts: StartRunOptions): Promise<RunView> {
    const ctx = this.#ctx;
    if (opts.idempotencyKey) {
      const existing = await ctx.store.findRunByIdempotencyKey(opts.idempotencyKey);
      if (existing)
        return this.#continueIfOrphaned(sameKindOrRefuse(existing, opts.idempotencyKey));
    }
    const specText = opts.specText ?? (await readSpec(opts.specFile));
    const plan = this.#compile(opts.specFile, specText);
    const inputs = coerceInputs(plan, opts.inputs ?? {}, opts.specFile);
    const principal = opts.principal ?? plan.principal ?? `user:${safeUsername()}`;
    const now = Date.now();
    const { run, steps } = newRun(
      ctx,
      {
        kind: "workflow",
        plan,
        specText,
        principal,
        inputs,
        idempotencyKey: opts.idempotencyKey ?? null,
      },
      now,
    );
    const policy = ctx.gatekeeper.policy;
    const objective = plan.governance ? { objective: governanceOf(plan)?.objective ?? null } : {};
    try {
      await ctx.store.commit([
        ...this.#policyBlob(policy),
        ...creationOps(ctx, run, steps, objective),
      ]);
    } catch (err) {
      this.#storedPolicies.delete(policy.hash); // the blob went down with the batch
      if (err instanceof ConflictError && opts.idempotencyKey) {
        const existing = await ctx.store.findRunByIdempotencyKey(opts.idempotencyKey);
        if (existing) {
          return this.#continueIfOrphaned(sameKindOrRefuse(existing, opts.idempotencyKey));
        }
      }
      throw err;
    }
    announceStart(ctx, run);
    await this.#drive(RunExecution.created(ctx, run, plan, steps));
    return this.getRun(run.id);
  }

  /**
   * Resumes a run: with a decision, decides its pending approval first (eligibility, self-approval
   * and expiry are checked); then drives it as far as it can go.
   */
  async resume(
    runId: string,
    opts: {
      decision?: "approve" | "reject";
      principal?: string;
      comment?: string;
      stepId?: string;
      /** Decide only this approval id (a stale or already used one is refused). */
      approvalId?: string;
    } = {},
  ): Promise<RunView> {
    if (opts.decision && !opts.principal) {
      throw new AirunError("USAGE", "a decision needs --as <principal>");
    }
    const exec = await this.#claim(runId);
    try {
      // A decision refused because the approval expired still lets on_timeout take effect.
      let expired: ApprovalError | undefined;
      if (opts.decision && opts.principal) {
        try {
          await decideApproval(this.#ctx, exec, {
            decision: opts.decision,
            principal: opts.principal,
            ...(opts.comment !== undefined ? { comment: opts.comment } : {}),
            ...(opts.stepId !== undefined ? { stepId: opts.stepId } : {}),
            ...(opts.approvalId !== undefined ? { approvalId: opts.approvalId } : {}),
          });
        } catch (err) {
          if (!(err instanceof ApprovalError && err.code === "APPROVAL_EXPIRED")) throw err;
          expired = err;
        }
      }
      if (exec.run.status !== RunStatus.WAITING_APPROVAL || (await settleApprovals(exec))) {
        await prepareResume(exec);
        await this.#drive(exec);
      }
      if (expired) throw expired;
    } finally {
      await this.#release(runId);
    }
    return this.getRun(runId);
  }

  /**
   * Cancels a running or waiting run: in-flight calls are aborted and everything the run did is
   * rolled back (reason CANCELLED). A run another live process is executing is asked to cancel
   * (a durable request it polls with its heartbeat); this call waits up to `waitMs` for the end.
   */
  async cancel(runId: string, principal: string, waitMs = 60_000): Promise<RunView> {
    const run = await this.#requireRun(runId);
    if (isTerminal(run.status)) {
      throw new AirunError(
        "RUN_TERMINAL",
        `run ${runId} already ended ${run.status} (${run.reason})`,
        { runId },
      );
    }
    const request = eventOp(EventType.RUN_CANCEL_REQUESTED, runId, null, { by: principal });
    // An open session of this runtime is asked like one of another process (heartbeat).
    const claimed = this.#sessions.has(runId) ? undefined : await claimRun(this.#ctx, run);
    if (!claimed) {
      await this.#ctx.store.commit([request]);
      const deadline = Date.now() + waitMs;
      while (Date.now() < deadline) {
        const view = await this.getRun(runId);
        if (isTerminal(view.status as RunStatus)) return view;
        await new Promise((r) => setTimeout(r, 200));
      }
      return this.getRun(runId);
    }
    const exec = await RunExecution.load(this.#ctx, claimed);
    try {
      await exec.commit([request]);
      await prepareResume(exec);
      exec.cancel(principal);
      await this.#drive(exec);
    } finally {
      await this.#release(runId);
    }
    return this.getRun(runId);
  }

  /**
   * Undoes a finished run after the fact (COMPLETED, or FAILED with effects still armed), newest
   * first, with the same drift check: a target changed since is refused unless `force`.
   */
  async rollback(runId: string, opts: { principal: string; force?: boolean }): Promise<RunView> {
    const run = await this.#requireRun(runId);
    if (run.status !== RunStatus.COMPLETED && run.status !== RunStatus.FAILED) {
      throw new AirunError(
        "NOT_ROLLBACKABLE",
        `run ${runId} is ${run.status}; use 'workflow cancel' for an active run`,
        { runId },
      );
    }
    const claimed = await this.#ctx.store.acquireLease(
      runId,
      this.#ctx.owner,
      this.#ctx.settings.leaseTtlMs,
      Date.now(),
    );
    if (!claimed) throw new ConflictError(`run ${runId} is held by another process`, { runId });
    const exec = await RunExecution.load(this.#ctx, claimed);
    try {
      // A COMPLETED run is undone because someone asked; a FAILED one keeps the reason it
      // first had to roll back for (not the COMPENSATION_FAILED of the refused attempt).
      const original = (run.reasonDetail as { original_reason?: Reason } | null)?.original_reason;
      const reason: Reason =
        run.status === RunStatus.COMPLETED
          ? Reason.ROLLBACK_REQUESTED
          : (original ?? run.reason ?? Reason.ROLLBACK_REQUESTED);
      await exec.commit(
        exec.runUpdate(
          {
            status: RunStatus.COMPENSATING,
            reason,
            reasonDetail: { requested_by: opts.principal, previous_status: run.status },
          },
          EventType.RUN_COMPENSATING,
          { reason, requested_by: opts.principal, force: opts.force ?? false },
        ),
      );
      await exec.finishRollback(opts.force ?? false);
    } finally {
      await this.#release(runId);
    }
    return this.getRun(runId);
  }

  /**
   * Opens a session: an agent calls capabilities one at a time under this runtime's policy and
   * the given governance envelope, then commits or rolls back (engine/session.ts). The session
   * is a persisted run (`kind: "session"`), RUNNING and leased by this process while open.
   *
   * @example
   * const s = await rt.openSession({ principal: "agent:bot", governance: { budgets: { max_tool_calls: 3 } } });
   * await s.call("io.fs.write_file", { path: "out/a.txt", content: "hi" });
   * await s.commit();
   */
  openSession(opts: OpenSessionOptions): Promise<Session> {
    return openSession(this.#host(), opts);
  }

  /**
   * Reopens a session by id, in this or another process, after the process that held it
   * exited (`close()` detaches open sessions) or died (its lease is taken over as recovery
   * does; an interrupted call is reconciled first). Throws `SessionClosedError` (or the typed
   * error of its end) for a session that has ended, `ConflictError` while a live process holds it.
   */
  resumeSession(runId: string): Promise<Session> {
    return resumeSession(this.#host(), runId);
  }

  #host(): SessionHost {
    this.#sessionHost ??= {
      ctx: this.#ctx,
      policyBlob: (policy) => this.#policyBlob(policy),
      policyNotStored: (hash) => {
        this.#storedPolicies.delete(hash);
      },
      track: (exec, session) => {
        this.#active.set(exec.run.id, exec);
        this.#sessions.set(exec.run.id, session);
      },
      untrack: (runId) => {
        this.#active.delete(runId);
        this.#sessions.delete(runId);
      },
      heldSession: (runId) => this.#sessions.get(runId),
      busy: (runId) => this.#claimed.has(runId),
      closed: () => this.#closed,
      view: (runId) => this.getRun(runId),
    };
    return this.#sessionHost;
  }

  /** Recovers every non-terminal run whose owner is gone (see recovery.ts). */
  async recover(): Promise<RecoveredRun[]> {
    return recoverAll(this.#ctx);
  }

  /**
   * Replays a recorded run without side effects and reports every divergence from the record;
   * with `specFile` / `policyFile`, against an edited spec or policy (see engine/replay.ts).
   * Reads the run, never writes to it.
   *
   * @example
   * const report = await rt.replay(runId, { policyFile: "policies.next.yaml" });
   * for (const s of report.steps) for (const d of s.divergences) console.log(s.id, d.kind, d.message);
   */
  async replay(runId: string, options: ReplayOptions = {}): Promise<ReplayReport> {
    return replayRun(this.#ctx, runId, options, {
      readSpec,
      compile: (file, text) => this.#compile(file, text),
    });
  }

  /** The view of one run. */
  async getRun(runId: string): Promise<RunView> {
    const run = await this.#requireRun(runId);
    const [steps, comps] = await Promise.all([
      this.#ctx.store.getSteps(runId),
      this.#ctx.store.getCompensations(runId),
    ]);
    return toRunView(run, steps, comps);
  }

  /** Runs, newest first. */
  async listRuns(filter: RunFilter = {}): Promise<RunView[]> {
    const runs = await this.#ctx.store.listRuns(filter);
    return runs.map((r) => toRunView(r, [], []));
  }

  /**
   * Verifies the whole ledger: chain, every checkpoint saved under the home directory and the
   * given ones (file name and text), and state ↔ ledger agreement.
   */
  async verifyLedger(
    checkpoints: readonly { readonly source: string; readonly text: string }[] = [],
  ): Promise<LedgerReport> {
    return verifyLedger(this.#ctx.store, this.config.home, await this.#key(), checkpoints);
  }

  /** Signs a checkpoint of the (verified) ledger and saves it under the home directory. */
  async checkpointLedger(): Promise<CheckpointResult> {
    return writeCheckpoint(this.#ctx.store, this.config.home, await this.#key());
  }

  /** The evidence pack of a run, as file text (`core/evidence-pack.ts`). */
  async exportEvidencePack(runId: string): Promise<string> {
    return exportEvidencePack(this.#ctx.store, this.config.home, await this.#key(), runId);
  }

  /** The ledger's public key (PEM) and its fingerprint. */
  async ledgerPublicKey(): Promise<{ readonly pem: string; readonly fingerprint: string }> {
    const key = await this.#key();
    return { pem: key.publicKeyPem, fingerprint: key.fingerprint };
  }

  #key(): Promise<LedgerKey> {
    this.#ledgerKey ??= loadLedgerKey(this.config.home);
    return this.#ledgerKey;
  }

  /** The events of a run, in order. */
  async events(runId: string): Promise<ProgressEvent[]> {
    return (await this.#ctx.store.listEvents({ runId })).map((e) => ({ ...e, runId }));
  }

  /**
   * Decides a pending approval and drives the run on (approve executes the gated step; reject
   * rolls back). `ref` is a run id or an approval id (`<runId>/<stepId>/<n>`); with an approval
   * id only that approval may be decided, so a decision meant for an earlier (voided or used)
   * request is refused. A run not waiting for approval is refused with `NOT_WAITING`.
   *
   * @example
   * const run = await rt.decideApproval(runId, { decision: "approve", principal: "user:alice" });
   */
  async decideApproval(ref: string, input: DecideApprovalInput): Promise<RunView> {
    const { runId, approvalId } = parseApprovalRef(ref);
    const run = await this.#requireRun(runId);
    if (run.status !== RunStatus.WAITING_APPROVAL) {
      throw new ApprovalError(
        "NOT_WAITING",
        `run ${runId} is ${run.status}, not waiting for approval`,
        { runId },
      );
    }
    return this.resume(runId, {
      decision: input.decision,
      principal: input.principal,
      ...(input.comment !== undefined ? { comment: input.comment } : {}),
      ...(input.stepId !== undefined ? { stepId: input.stepId } : {}),
      ...(approvalId !== undefined ? { approvalId } : {}),
    });
  }

  /** Pending approvals across runs, or (with `runId`) every approval of that run. */
  async listApprovals(filter: { readonly runId?: string } = {}): Promise<ApprovalView[]> {
    return listApprovals(this.#ctx.store, filter);
  }

  /**
   * One approval with its history and webhook deliveries, by approval id or by run id (the
   * run's pending approval, else its latest).
   */
  async getApproval(ref: string): Promise<ApprovalDetail> {
    return getApproval(this.#ctx.store, ref);
  }

  /**
   * Capability names matching a glob, with the policy's glob semantics (`*` stays within one
   * dotted segment, `**` crosses them), so `airun capabilities X` shows what a rule `X` covers.
   */
  capabilities(pattern = "**"): string[] {
    const matches = compileNameGlob(pattern, ".");
    return this.#registry.names().filter((n) => matches(n));
  }

  /** What `airun capabilities` shows: each matching capability's metadata and input schema. */
  describeCapabilities(pattern = "**"): CapabilityDescription[] {
    return this.capabilities(pattern).map((n) => describeCapability(this.#registry.get(n)!));
  }

  /**
   * Drift baselines (SPEC §7) of a workflow: given a spec file, of its name and version with its
   * drift thresholds; given a workflow name, of every version of it.
   */
  async driftBaselines(specNameOrFile: string): Promise<DriftReport> {
    const isFile = await stat(specNameOrFile).then(
      (st) => st.isFile(),
      () => false,
    );
    const plan = isFile ? this.#compile(specNameOrFile, await readSpec(specNameOrFile)) : null;
    return driftReport(this.#ctx.store, plan ?? specNameOrFile);
  }

  /** Renews this process's leases and honours cancel requests made by other processes. */
  async #beat(): Promise<void> {
    const ctx = this.#ctx;
    const now = Date.now();
    const renewed = new Set(await ctx.store.renewLeases(ctx.owner, ctx.settings.leaseTtlMs, now));
    for (const [runId, exec] of this.#active) {
      if (renewed.has(runId)) exec.leaseDeadline = now + ctx.settings.leaseTtlMs;
      const [cancel] = await ctx.store.listEvents({
        runId,
        types: [EventType.RUN_CANCEL_REQUESTED],
        limit: 1,
      });
      if (cancel) exec.cancel(String((cancel.data as { by?: string } | null)?.by ?? "unknown"));
    }
  }

  /** Drives a run, registered as active while it runs. */
  async #drive(exec: RunExecution): Promise<void> {
    this.#active.set(exec.run.id, exec);
    try {
      await exec.drive();
    } finally {
      this.#active.delete(exec.run.id);
    }
  }

  /**
   * The op storing a policy's text as a blob (its id is the policy hash), the first time this
   * runtime writes it: evidence packs and replay read the exact policy a decision was made under.
   */
  #policyBlob(policy: { readonly hash: string; readonly text: string }): WriteOp[] {
    if (this.#storedPolicies.has(policy.hash)) return [];
    this.#storedPolicies.add(policy.hash);
    return [{ op: "putBlob", id: policy.hash, bytes: new TextEncoder().encode(policy.text) }];
  }

  /** Records a hot reload of the policy (accepted or refused) as an event without a run. */
  #recordPolicyReload(e: PolicyReload): void {
    const policy = this.#ctx.gatekeeper.policy;
    const blob = e.type === "loaded" && policy.hash === e.hash ? this.#policyBlob(policy) : [];
    const op =
      e.type === "loaded"
        ? eventOp(EventType.POLICY_LOADED, null, null, {
            source: e.source,
            hash: e.hash,
            previous_hash: e.previousHash,
            rules: e.ruleCount,
          })
        : eventOp(EventType.POLICY_RELOAD_REFUSED, null, null, {
            source: e.source,
            error: e.error,
            problems: [...e.problems],
            kept_hash: e.keptHash,
          });
    const write: Promise<void> = this.#ctx.store
      .commit([...blob, op])
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => this.#policyWrites.delete(write));
    this.#policyWrites.add(write);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Open sessions stay open, their leases released: resumable by id at once.
    await Promise.all([...this.#sessions.values()].map((s) => s.detach().catch(() => undefined)));
    clearInterval(this.#heartbeat);
    this.#ctx.gatekeeper.close?.();
    await Promise.all(this.#policyWrites);
    try {
      // Bounded: deliveries still failing after the grace period are abandoned (and recorded so).
      await this.#ctx.webhooks?.close();
    } finally {
      await this.#ctx.store.close();
    }
  }

  /**
   * Compiles a spec, reusing the plan of an identical earlier text: a worker running the same
   * workflow many times compiles it once. Plans are frozen, so sharing them is safe.
   */
  #compile(file: string, text: string): Plan {
    const key = `${file}\0${sha256Hex(text)}`;
    let plan = this.#plans.get(key);
    if (plan) {
      this.#plans.delete(key);
    } else {
      plan = compileSpec({ file, text }, this.#registry);
      if (this.#plans.size >= PLAN_CACHE_SIZE) {
        this.#plans.delete(this.#plans.keys().next().value as string);
      }
    }
    this.#plans.set(key, plan);
    return plan;
  }

  async #requireRun(runId: string): Promise<RunRecord> {
    const run = await this.#ctx.store.getRun(runId);
    if (!run) throw new NotFoundError(`run ${runId}`, { runId });
    return run;
  }

  async #claim(runId: string): Promise<RunExecution> {
    const run = await this.#requireRun(runId);
    if (isTerminal(run.status)) {
      throw new AirunError(
        "RUN_TERMINAL",
        `run ${runId} already ended ${run.status} (${run.reason})`,
        { runId },
      );
    }
    if (this.#sessions.has(runId)) {
      throw new ConflictError(`run ${runId} is a session open in this process`, { runId });
    }
    this.#claimed.add(runId);
    try {
      const claimed = await claimRun(this.#ctx, run);
      if (!claimed)
        throw new ConflictError(`run ${runId} is being executed by ${run.leaseOwner}`, { runId });
      return await RunExecution.load(this.#ctx, claimed);
    } catch (err) {
      this.#claimed.delete(runId);
      throw err;
    }
  }

  async #release(runId: string): Promise<void> {
    this.#claimed.delete(runId);
    await this.#ctx.store.releaseLease(runId, this.#ctx.owner);
  }

  async #continueIfOrphaned(run: RunRecord): Promise<RunView> {
    if (!isTerminal(run.status) && run.status !== RunStatus.WAITING_APPROVAL) {
      const claimed = await claimRun(this.#ctx, run);
      if (claimed) {
        const exec = await RunExecution.load(this.#ctx, claimed);
        await prepareResume(exec);
        await this.#drive(exec);
      }
    }
    return this.getRun(run.id);
  }
}

/** Largest spec file accepted: a workflow is a plan, not a data set. */
const MAX_SPEC_BYTES = 4 * 1024 * 1024;

async function readSpec(file: string): Promise<string> {
  const problem = (message: string) =>
    new ValidationError([{ file, line: 0, col: 0, field: "", message }]);
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    throw problem(`cannot read spec: ${(err as Error).message}`);
  }
  if (size > MAX_SPEC_BYTES) {
    throw problem(`spec is ${size} bytes; the limit is ${MAX_SPEC_BYTES} bytes`);
  }
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw problem(`cannot read spec: ${(err as Error).message}`);
  }
}

/** Reads and compiles the config (`airun.yaml` in `cwd` unless `configFile`); no store. */
export async function loadConfig(
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
  configFile: string | undefined,
  home: string | undefined,
): Promise<AirunConfig> {
  const file = configFile ? resolve(cwd, configFile) : resolve(cwd, "airun.yaml");
  let text: string | null = null;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (configFile || (err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new ValidationError([
        {
          file,
          line: 0,
          col: 0,
          field: "",
          message: `cannot read config: ${(err as Error).message}`,
        },
      ]);
    }
  }
  return compileConfig(text === null ? null : { file, text }, {
    cwd,
    env: env as Record<string, string | undefined>,
    ...(home ? { home: resolve(cwd, home) } : {}),
  });
}

/** Webhook settings from config `approvals.webhook`, defaulted (step URLs may still be used). */
function webhookSettings(config: AirunConfig) {
  const w = config.approvals.webhook;
  if (!w) return DEFAULT_WEBHOOK_SETTINGS;
  return {
    url: w.url,
    secretEnv: w.secretEnv ?? DEFAULT_WEBHOOK_SETTINGS.secretEnv,
    events: w.events,
    maxAttempts: w.maxAttempts,
    backoffMs: w.backoffMs,
    maxBackoffMs: w.maxBackoffMs,
    timeoutMs: w.timeoutMs,
  };
}

/** Terminal run events, each of which sends a `run.finished` webhook when configured. */
const RUN_FINISHED: ReadonlySet<string> = new Set([
  EventType.RUN_COMPLETED,
  EventType.RUN_ROLLED_BACK,
  EventType.RUN_FAILED,
]);

/** The progress listener, extended to send `run.finished` once a terminal status is committed. */
function runFinishedNotifier(
  webhooks: WebhookDispatcher,
  onProgress: ((event: ProgressEvent) => void) | undefined,
): ((event: ProgressEvent) => void) | undefined {
  if (!webhooks.settings.events.includes("run.finished")) return onProgress;
  return (event) => {
    onProgress?.(event);
    if (!RUN_FINISHED.has(event.type)) return;
    const d = (event.data ?? {}) as JsonObject;
    webhooks.send({
      type: "run.finished",
      runId: event.runId,
      stepId: null,
      run: {
        id: event.runId,
        status: d.status ?? null,
        outcome: d.outcome ?? null,
        reason: d.reason ?? null,
        detail: d.detail ?? null,
      },
    });
  };
}

function safeUsername(): string {
  try {
    return userInfo().username || "local";
  } catch {
    return "local";
  }
}

/** A workflow run found by its idempotency key; a session holding the key is refused. */
function sameKindOrRefuse(run: RunRecord, key: string): RunRecord {
  if (run.kind === "workflow") return run;
  throw new ConflictError(
    `idempotency key "${key}" belongs to session ${run.id}, not a workflow run`,
    {
      runId: run.id,
      idempotencyKey: key,
    },
  );
}
