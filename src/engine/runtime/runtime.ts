/**
 * @module The Runtime: the one façade every surface calls (CLI, SDK, HTTP API, MCP server).
 * It holds the parts the composition root built (`compose.ts`) and the worker duties
 * (`worker.ts`), and offers runs — start, resume and decide, cancel, undo after the fact,
 * recover, inspect — sessions, approvals, the ledger, replay and the capability catalogue.
 * It does no wiring of its own; one instance per process, passed explicitly. Longer than most
 * files because it is the whole public surface in one place; each method only delegates.
 *
 * The policy is loaded when a command first needs a decision (`policy-in-force.ts`): reading
 * runs, approvals, the ledger and the catalogue never touches it, so a broken policy file stops
 * only what decides. Starting, resuming, deciding and sessions refuse then, naming the file;
 * recovery, replay, cancel and an after-the-fact rollback decide under the last policy that
 * loaded (`PolicyRecords.lastRecorded`) and say so through `onWarning`.
 *
 * Longer than most engine files: it is the one door of every surface, one short method per
 * thing a surface may ask, each documented.
 */
import { stat } from "node:fs/promises";
import { userInfo } from "node:os";
import type { Gateway, PinChange } from "../../capabilities/gateway/gateway.js";
import type { CapabilityDescription, CapabilityRegistry } from "../../capabilities/registry.js";
import { describeCapability } from "../../capabilities/registry.js";
import type { AirunConfig } from "../../core/config.js";
import { ApprovalError, NotFoundError, type Problem } from "../../core/errors.js";
import { compileNameGlob } from "../../core/path-match.js";
import type { Plan } from "../../core/plan.js";
import { isPrincipal } from "../../core/principal.js";
import { validateSpec } from "../../core/spec-compile.js";
import { RunStatus } from "../../core/status.js";
import { type CopyReport, copyStore } from "../../store/copy.js";
import { openStore } from "../../store/open-store.js";
import type { EventRecord, RunFilter } from "../../store/store.js";
import {
  type ApprovalAction,
  type ApprovalDetail,
  type ApprovalView,
  approvalAction,
  getApproval,
  listApprovals,
  parseApprovalRef,
} from "../approvals/approval-view.js";
import type { DecisionInput } from "../approvals/decide.js";
import type { EngineContext, ProgressEvent } from "../context.js";
import { EventType, eventOp } from "../events.js";
import { type DriftReport, driftReport } from "../governance/baselines.js";
import { TokenRegistry } from "../keys/tokens.js";
import {
  type CheckpointResult,
  exportEvidencePack,
  type LedgerAccess,
  type LedgerKey,
  type LedgerReport,
  loadLedgerKey,
  readLedgerPublicKey,
  type VerifyKey,
  verifyKeyOf,
  verifyLedger,
  writeCheckpoint,
} from "../ledger/ledger.js";
import { type Gatekeeper, PolicyGatekeeper } from "../policy/gatekeeper.js";
import { type RecoveredRun, recoverAll } from "../recovery/sweep.js";
import { replayRun } from "../replay/replay.js";
import type { ReplayOptions, ReplayReport } from "../replay/replay-types.js";
import { openSession, resumeSession } from "../sessions/open-session.js";
import type { Session, SessionHost } from "../sessions/session.js";
import type { OpenSessionOptions } from "../sessions/session-plan.js";
import { type RunView, toRunView } from "../state/run-view.js";
import { ActiveRuns } from "./active-runs.js";
import {
  composeRuntime,
  type Releaser,
  type RuntimeInit,
  type RuntimeOptions,
  release,
} from "./compose.js";
import { readSpec } from "./config-files.js";
import { PlanCache } from "./plan-cache.js";
import { loadOrLastRecorded, type PolicyInForce } from "./policy-in-force.js";
import {
  type PolicyHistoryEntry,
  type PolicyHistoryWindow,
  PolicyRecords,
  policyHistory,
  type RecordedPolicy,
} from "./policy-records.js";
import {
  cancelRun,
  type ResumeOptions,
  resumeRun,
  rollbackRun,
  type StartRunOptions,
  startRun,
} from "./run-commands.js";
import { Worker } from "./worker.js";
import { WorkerLoop, type WorkerLoopOptions, type WorkerLoopSummary } from "./worker-loop.js";

export type { PinChange } from "../../capabilities/gateway/gateway.js";
export type { CapabilityDescription } from "../../capabilities/registry.js";
export type { RuntimeOptions, RuntimeParts } from "./compose.js";
export type { ResumeOptions, StartRunOptions } from "./run-commands.js";
export type { WorkerLoopEvent, WorkerLoopOptions, WorkerLoopSummary } from "./worker-loop.js";

/** A worker loop this runtime runs (`Runtime.work`). */
export interface WorkerHandle {
  /** Stop claiming; runs in flight finish within the drain timeout, the rest are handed back. */
  drain(): void;
  /** Resolves once the loop stopped. */
  readonly done: Promise<WorkerLoopSummary>;
  /** The store pushes wakeups (PostgreSQL LISTEN/NOTIFY); false: polling only (SQLite). */
  readonly wakeups: boolean;
}

/** A ledger entry as the event stream sends it (the store's event record). */
export type LedgerEvent = EventRecord;

/** A decision on a pending approval (`Runtime.decideApproval`). */
export interface DecideApprovalInput {
  readonly decision: "approve" | "reject";
  /** Who decides (`kind:id`): must be eligible and not the requester. */
  readonly principal: string;
  readonly comment?: string;
  /** Which waiting step, when several wait. */
  readonly stepId?: string;
}

/** What `Runtime.copyStore` copied, and both ledgers' verdicts. */
export interface StoreCopyReport extends CopyReport {
  readonly sourceRoot: string;
  readonly targetRoot: string;
  /** Both ledgers verify, with one root. */
  readonly ok: boolean;
  readonly problems: readonly string[];
}

/** A governed runtime. Open one with `Runtime.open`. */
export class Runtime {
  readonly config: AirunConfig;
  readonly #ctx: EngineContext;
  readonly #registry: CapabilityRegistry;
  readonly #gateway: Gateway | null;
  readonly #runs = new ActiveRuns();
  readonly #plans: PlanCache;
  readonly #policies: PolicyRecords;
  readonly #policy: PolicyInForce;
  readonly #recordedGatekeeper: (policy: RecordedPolicy) => Gatekeeper;
  readonly #warn: (message: string) => void;
  readonly #worker: Worker;
  readonly #releasers: Releaser[];
  #sessionHost: SessionHost | undefined;
  /** A claim loop runs (`work`): sweeps leave it the runs it claims. */
  #claiming = false;
  #tokens: TokenRegistry | undefined;
  #closed = false;
  /** The ledger's signing key, loaded (or created) on first use. */
  #ledgerKey: Promise<LedgerKey> | undefined;

  /** @internal Use `Runtime.open`: the composition root builds the parts. */
  constructor(init: RuntimeInit) {
    this.config = init.config;
    this.#ctx = init.ctx;
    this.#registry = init.registry;
    this.#gateway = init.gateway;
    this.#releasers = init.releasers;
    this.#plans = new PlanCache(init.registry, init.config.limits, 64, init.onWarning);
    this.#policies = new PolicyRecords(init.ctx);
    this.#policy = init.policy;
    this.#recordedGatekeeper = init.recordedGatekeeper;
    this.#warn = init.onWarning;
    if (init.ledgerKey) this.#ledgerKey = Promise.resolve(init.ledgerKey);
    this.#policy.onLoad((gatekeeper) => {
      for (const w of gatekeeper.policy.warnings ?? []) this.#warn(w);
      if (gatekeeper instanceof PolicyGatekeeper) {
        gatekeeper.onReload((e) => {
          this.#policies.recordReload(e);
          if (e.type === "loaded") for (const w of e.warnings) this.#warn(w);
        });
      }
    });
    this.#worker = new Worker(init.ctx, this.#runs, () => this.recover(), init.worker);
  }

  /**
   * Opens a runtime: config, store (migrated), capabilities with plugins, gatekeeper, notifier,
   * keys (`compose.ts`); any part can be supplied instead (`RuntimeParts`), and what the runtime
   * did not build itself it does not close.
   *
   * @example
   * const rt = await Runtime.open({ cwd: "/srv/project" });
   * try { await rt.startRun({ specFile: "deploy.yaml" }); } finally { await rt.close(); }
   */
  static async open(options: RuntimeOptions = {}): Promise<Runtime> {
    return new Runtime(await composeRuntime(options));
  }

  // ---- runs ------------------------------------------------------------------------------

  /** Validates a spec file: every problem, or the compiled plan; and its warnings. */
  async validate(
    specFile: string,
    specText?: string,
  ): Promise<{ plan?: Plan; problems: readonly Problem[]; warnings: readonly Problem[] }> {
    const text = specText ?? (await readSpec(specFile, this.config.limits.specBytes));
    return validateSpec({ file: specFile, text }, this.#registry, this.config.limits);
  }

  /**
   * Starts a run and drives it until it is terminal or waits for an approval. A run started
   * again with the same idempotency key is the same run: its current view is returned.
   */
  async startRun(opts: StartRunOptions): Promise<RunView> {
    await this.#policy.load();
    return this.getRun(await startRun(this.#commands(), opts, defaultPrincipal));
  }

  /**
   * Resumes a run: with a decision, decides its pending approval first (eligibility, self-approval
   * and expiry are checked); then drives it as far as it can go.
   */
  async resume(runId: string, opts: ResumeOptions = {}): Promise<RunView> {
    await this.#policy.load();
    await resumeRun(this.#commands(), runId, opts);
    return this.getRun(runId);
  }

  /**
   * Cancels a running or waiting run: in-flight calls are aborted and everything the run did is
   * rolled back (reason CANCELLED). A run another live process is executing is asked to cancel
   * (a durable request it sees at its next heartbeat); this call waits up to `waitMs` for the end.
   */
  async cancel(runId: string, principal: string, waitMs = 60_000): Promise<RunView> {
    await this.#policyOrRecorded(false);
    await cancelRun(this.#commands(), runId, principal, waitMs);
    return this.getRun(runId);
  }

  /**
   * Undoes a finished run after the fact (COMPLETED, or FAILED with effects still armed), newest
   * first, with the same drift check: a target changed since is refused unless `force`.
   */
  async rollback(runId: string, opts: { principal: string; force?: boolean }): Promise<RunView> {
    await this.#policyOrRecorded(false);
    await rollbackRun(this.#commands(), runId, opts);
    return this.getRun(runId);
  }

  /**
   * Recovers every non-terminal run whose owner is gone, several at once
   * (`engine.recovery_concurrency`); see `recovery/sweep.ts`. With nothing to recover the
   * policy is not read; with a broken policy file, recovery decides under the last policy that
   * loaded, and says so (`onWarning`).
   */
  async recover(): Promise<RecoveredRun[]> {
    if ((await this.#ctx.store.listActiveRuns()).length === 0) return [];
    await this.#policyOrRecorded(true);
    const runs = this.#runs;
    return recoverAll(this.#ctx, {
      concurrency: this.#ctx.settings.recoveryConcurrency,
      drive: (state) => runs.drive(state),
      // Runs this process already has are in use, not orphaned: several sweeps (the worker's
      // timer, `airun serve`'s expiry timer) may run at once beside the runs being driven.
      take: (runId) => {
        if (runs.get(runId) || runs.isClaimed(runId) || runs.session(runId)) return false;
        runs.claim(runId);
        return true;
      },
      release: (runId) => runs.unclaim(runId),
      leaveQueued: this.#claiming,
    });
  }

  /**
   * Works as an `airun worker`: claims runs that want a worker (queued by `startRun` with
   * `detach`, handed back, or left by a dead worker whose lease lapsed) and drives them, woken
   * by the store's notifications and polling as well (`worker-loop.ts`). Open the runtime with
   * `worker.sweepIntervalMs` to run recovery sweeps beside it. With a broken policy file, runs
   * are decided under the last policy that loaded, and it says so (`onWarning`).
   *
   * @example
   * const w = await rt.work({ concurrency: 8, pollMs: 1000, drainTimeoutMs: 30_000 });
   * process.once("SIGTERM", () => w.drain());
   * await w.done;
   */
  async work(opts: WorkerLoopOptions): Promise<WorkerHandle> {
    await this.#policyOrRecorded(true);
    const loop = new WorkerLoop(this.#ctx, this.#runs, opts);
    this.#claiming = true;
    const worker = this.#worker;
    const stop = await this.#ctx.store.listen?.((what) => {
      if (what === "ready") loop.nudge();
      else worker.pollCancels().catch(() => undefined);
    });
    const done = loop.run().finally(() => stop?.());
    return { drain: () => loop.drain(), done, wakeups: stop !== undefined };
  }

  /** The view of one run. */
  async getRun(runId: string): Promise<RunView> {
    const run = await this.#ctx.store.getRun(runId);
    if (!run) throw new NotFoundError(`run ${runId}`, { runId });
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

  /** The events of a run, in order. */
  async events(runId: string): Promise<ProgressEvent[]> {
    return (await this.#ctx.store.listEvents({ runId })).map((e) => ({ ...e, runId }));
  }

  /**
   * Ledger entries after `afterSeq` (the ledger sequence), in order, of every run or of one, at
   * most `limit`: what the HTTP API's event stream sends. Entries of no run (policy loads) have
   * a null `runId`.
   */
  async eventsAfter(
    afterSeq: number,
    filter: { readonly runId?: string; readonly limit?: number } = {},
  ): Promise<LedgerEvent[]> {
    return this.#ctx.store.listEvents({ ...filter, afterSeq, limit: filter.limit ?? 500 });
  }

  /**
   * The policy's own ledger entries, oldest first: `policy.loaded` (a hot reload, or a policy
   * first stored with warnings) and `policy.reload_refused` (an edit that did not load, and the
   * policy kept). With `afterSeq` / `untilSeq`, only the entries between those ledger numbers
   * (the span of one run, to show next to its own entries).
   */
  policyHistory(window: PolicyHistoryWindow = {}): Promise<PolicyHistoryEntry[]> {
    return policyHistory(this.#ctx.store, window);
  }

  /**
   * Replays a recorded run without side effects and reports every divergence from the record;
   * with `specFile` / `policyFile`, against an edited spec or policy (see replay/replay.ts).
   * Reads the run, never writes to it.
   *
   * @example
   * const report = await rt.replay(runId, { policyFile: "policies.next.yaml" });
   * for (const s of report.steps) for (const d of s.divergences) console.log(s.id, d.kind, d.message);
   */
  async replay(runId: string, options: ReplayOptions = {}): Promise<ReplayReport> {
    await this.#policyOrRecorded(true);
    // The replay asks the policy gatekeeper itself for steps the record has no decision for.
    const gatekeeper = this.#policy.current as Gatekeeper;
    return replayRun({ ...this.#ctx, gatekeeper }, runId, options, {
      readSpec: (file) => readSpec(file, this.config.limits.specBytes),
      compile: (file, text) => this.#plans.compile(file, text),
    });
  }

  // ---- sessions --------------------------------------------------------------------------

  /**
   * Opens a session: an agent calls capabilities one at a time under this runtime's policy and
   * the given governance envelope, then commits or rolls back (sessions/session.ts). The session
   * is a persisted run (`kind: "session"`), RUNNING and leased by this process while open.
   *
   * @example
   * const s = await rt.openSession({ principal: "agent:bot", governance: { budgets: { max_tool_calls: 3 } } });
   * await s.call("io.fs.write_file", { path: "out/a.txt", content: "hi" });
   * await s.commit();
   */
  async openSession(opts: OpenSessionOptions): Promise<Session> {
    await this.#policy.load();
    // The principal is checked with the rest of the session's definition (`session-plan.ts`,
    // against `core/principal.ts`'s grammar), so every problem is reported at once.
    return openSession(this.#host(), opts);
  }

  /**
   * Reopens a session by id, in this or another process, after the process that held it
   * exited (`close()` detaches open sessions) or died (its lease is taken over as recovery
   * does; an interrupted call is reconciled first). Throws `SessionClosedError` (or the typed
   * error of its end) for a session that has ended, `ConflictError` while a live process holds it.
   */
  async resumeSession(runId: string): Promise<Session> {
    await this.#policy.load();
    return resumeSession(this.#host(), runId);
  }

  // ---- approvals -------------------------------------------------------------------------

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
    const run = await this.#ctx.store.getRun(runId);
    if (!run) throw new NotFoundError(`run ${runId}`, { runId });
    if (run.status !== RunStatus.WAITING_APPROVAL) {
      throw new ApprovalError(
        "NOT_WAITING",
        `run ${runId} is ${run.status}, not waiting for approval`,
        { runId },
      );
    }
    const decision: Partial<DecisionInput> = {
      ...input,
      ...(approvalId !== undefined ? { approvalId } : {}),
    };
    return this.resume(runId, decision);
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

  /** What an approval gates, exactly (`approvals/approval-view.ts`, `ApprovalAction`). */
  async approvalAction(approval: ApprovalView): Promise<ApprovalAction> {
    const run = await this.#ctx.store.getRun(approval.run_id);
    if (!run) throw new NotFoundError(`run ${approval.run_id}`, { runId: approval.run_id });
    return approvalAction(this.#ctx.store, run, approval.step_id);
  }

  // ---- ledger ----------------------------------------------------------------------------

  /**
   * Verifies the whole ledger: chain, every checkpoint saved under the home directory and the
   * given ones (file name and text), and state ↔ ledger agreement.
   */
  async verifyLedger(
    checkpoints: readonly { readonly source: string; readonly text: string }[] = [],
  ): Promise<LedgerReport> {
    const home = this.config.home;
    return verifyLedger(
      { store: this.#ctx.store, home, key: await this.#verifyKey() },
      checkpoints,
    );
  }

  /**
   * Copies this runtime's store into the empty store at `url` (`store/copy.ts`: runs, steps,
   * compensations, blobs, then the ledger entry by entry, each with the hash its source stored),
   * then verifies both ledgers; `ok` when both verify with one root. Stop every process using
   * this store first: a run held by a live process refuses the copy.
   */
  async copyStore(url: string): Promise<StoreCopyReport> {
    const home = this.config.home;
    const target = await openStore({ url, home });
    try {
      const copied = await copyStore(this.#ctx.store, target, this.#ctx.clock.now());
      const key = await this.#verifyKey();
      const [source, copy] = await Promise.all(
        [this.#ctx.store, target].map((store) => verifyLedger({ store, home, key }, [])),
      );
      return {
        ...copied,
        sourceRoot: source!.root,
        targetRoot: copy!.root,
        ok: source!.ok && copy!.ok && source!.root === copy!.root,
        problems: [
          ...source!.problems.map((p) => `source: ${p}`),
          ...copy!.problems.map((p) => `copy: ${p}`),
        ],
      };
    } finally {
      await target.close();
    }
  }

  /** The key that checks signatures: a verification never creates the signing key. */
  async #verifyKey(): Promise<VerifyKey> {
    const home = this.config.home;
    return this.#ledgerKey
      ? verifyKeyOf(home, await this.#ledgerKey)
      : await readLedgerPublicKey(home);
  }

  /** Signs a checkpoint of the (verified) ledger and saves it under the home directory. */
  async checkpointLedger(): Promise<CheckpointResult> {
    return writeCheckpoint(await this.#ledger());
  }

  /** The evidence pack of a run, as file text (`core/evidence-pack.ts`). */
  async exportEvidencePack(runId: string): Promise<string> {
    return exportEvidencePack(await this.#ledger(), runId);
  }

  /** The ledger's public key (PEM) and its fingerprint. */
  async ledgerPublicKey(): Promise<{ readonly pem: string; readonly fingerprint: string }> {
    const key = await this.#key();
    return { pem: key.publicKeyPem, fingerprint: key.fingerprint };
  }

  // ---- catalogue and governance ----------------------------------------------------------

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
   * Pins the tools of the MCP upstreams (`mcp.upstreams`) in the lock file next to the config
   * (`capabilities/gateway/pins.ts`): `new` pins the tools used for the first time and registers
   * their capabilities in this runtime; `all` is a person re-pinning every tool as the
   * upstreams list it now (a changed tool is refused until then). Every newly pinned or
   * re-pinned tool is recorded in the ledger (`mcp.tool_pinned`), and so is every changed tool
   * `new` left refused (`mcp.tool_changed`).
   */
  async pinUpstreamTools(mode: "new" | "all", only: readonly string[] = []): Promise<PinChange[]> {
    if (!this.#gateway) return [];
    const changes = await this.#gateway.pin(mode, only);
    if (mode === "new") {
      const fresh = new Set(changes.filter((c) => c.status === "pinned").map((c) => c.capability));
      if (fresh.size > 0) {
        for (const cap of await this.#gateway.capabilities()) {
          if (fresh.has(cap.name) && !this.#registry.has(cap.name)) this.#registry.register(cap);
        }
      }
    }
    await recordPinChanges(this.#ctx, changes);
    return changes;
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
    const plan = isFile
      ? this.#plans.compile(
          specNameOrFile,
          await readSpec(specNameOrFile, this.config.limits.specBytes),
        )
      : null;
    return driftReport(this.#ctx.store, plan ?? specNameOrFile);
  }

  // ---- identity ------------------------------------------------------------------------

  /**
   * The HTTP API's bearer tokens, kept hashed under the home directory (`keys/tokens.ts`):
   * `airun token create|list|revoke` and `airun serve` use this.
   */
  get tokens(): TokenRegistry {
    this.#tokens ??= new TokenRegistry(this.config.home);
    return this.#tokens;
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /**
   * Closes the runtime: open sessions are detached (still open, resumable by id), the worker
   * stops, policy reload records are written, and every part the runtime built is released.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#runs.sessions().map((s) => s.detach().catch(() => undefined)));
    await this.#worker.stop();
    await this.#policies.drain();
    await release(this.#releasers);
  }

  /** The policy, or the last one that loaded standing in for a broken file (`policy-in-force.ts`). */
  #policyOrRecorded(required: boolean): Promise<void> {
    return loadOrLastRecorded(this.#policy, required, {
      lastRecorded: () => this.#policies.lastRecorded(),
      build: this.#recordedGatekeeper,
      warn: this.#warn,
    });
  }

  #commands() {
    return {
      ctx: this.#ctx,
      runs: this.#runs,
      plans: this.#plans,
      policies: this.#policies,
      limits: this.config.limits,
    };
  }

  #host(): SessionHost {
    const runs = this.#runs;
    this.#sessionHost ??= {
      ctx: this.#ctx,
      policyBlob: (policy) => {
        // The policy in force carries its source and warnings; a session passes hash and text.
        const inForce = this.#ctx.gatekeeper.policy;
        return this.#policies.blobOps(inForce.hash === policy.hash ? inForce : policy);
      },
      policyNotStored: (hash) => this.#policies.notStored(hash),
      track: (state, session) => runs.trackSession(state, session),
      untrack: (runId) => runs.untrackSession(runId),
      heldSession: (runId) => runs.session(runId),
      busy: (runId) => runs.isClaimed(runId),
      closed: () => this.#closed,
      view: (runId) => this.getRun(runId),
    };
    return this.#sessionHost;
  }

  #key(): Promise<LedgerKey> {
    this.#ledgerKey ??= loadLedgerKey(this.config.home);
    return this.#ledgerKey;
  }

  async #ledger(): Promise<LedgerAccess> {
    const { store, clock } = this.#ctx;
    return { store, clock, home: this.config.home, key: await this.#key() };
  }
}

/** Records what pinning did to the upstream tools: one ledger entry per tool pinned or refused. */
async function recordPinChanges(ctx: EngineContext, changes: readonly PinChange[]): Promise<void> {
  const at = ctx.clock.now();
  const ops = changes
    .filter((c) => c.status !== "unchanged")
    .map((c) =>
      eventOp(
        c.status === "changed" ? EventType.MCP_TOOL_CHANGED : EventType.MCP_TOOL_PINNED,
        null,
        null,
        {
          upstream: c.upstream,
          tool: c.tool,
          capability: c.capability,
          sha256: c.sha256,
          previous: c.previous,
          ...(c.status === "changed" ? { refused: true } : { repinned: c.status === "repinned" }),
        },
        at,
      ),
    );
  if (ops.length > 0) await ctx.store.commit(ops);
}

/**
 * The principal of a run started without one: the local user, `user:<login>` lower-cased, or
 * `user:local` when the login name is not a valid id (`core/principal.ts`).
 */
function defaultPrincipal(): string {
  try {
    const name = `user:${userInfo().username.toLowerCase()}`;
    return isPrincipal(name) ? name : "user:local";
  } catch {
    return "user:local";
  }
}
