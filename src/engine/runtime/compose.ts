/**
 * @module The composition root: builds a runtime's parts from the config — store, clock,
 * capability registry (with plugins), the policy in force (loaded from its file, and watched,
 * when a command first decides: `policy-in-force.ts`), notifier (signed webhooks), blob sealing
 * and ledger keys, lease identity — with every part injectable, then hands them to the façade
 * (`Runtime.open` in `runtime.ts`, which also starts the worker).
 *
 * Ownership: a part the runtime built itself is released by `Runtime.close()` (last built,
 * first released); an injected part is left to whoever passed it (a test that shares one store
 * between two runtimes closes it itself). Test and benchmark hooks (crash injection, an
 * unchained ledger) come in here, as options of the store the runtime opens, and only here.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { TargetDatabases } from "../../capabilities/db/db-target.js";
import { registerDeclared } from "../../capabilities/declared.js";
import { Gateway } from "../../capabilities/gateway/gateway.js";
import { loadPlugins } from "../../capabilities/plugins.js";
import { type CapabilityRegistry, createStandardRegistry } from "../../capabilities/registry.js";
import { type Clock, systemClock } from "../../core/clock.js";
import type { AirunConfig } from "../../core/config.js";
import { ValidationError } from "../../core/errors.js";
import type { JsonObject } from "../../core/json.js";
import { BUILTIN_POLICY_SOURCE, builtinPolicy } from "../../core/policy.js";
import { compilePolicy } from "../../core/policy-compile.js";
import { openStore } from "../../store/open-store.js";
import type { Store, StoreOptions } from "../../store/store.js";
import type { EngineContext, EngineSettings, Notifier, ProgressEvent } from "../context.js";
import { EventType } from "../events.js";
import { type BlobSeal, ephemeralBlobSeal, loadBlobSeal } from "../keys/blob-seal.js";
import type { LedgerKey } from "../ledger/ledger.js";
import { newOwnerId } from "../owner.js";
import { createDecisionHook } from "../policy/decision-hook.js";
import { type Gatekeeper, PolicyGatekeeper } from "../policy/gatekeeper.js";
import { DEFAULT_WEBHOOK_SETTINGS, WebhookDispatcher } from "../webhooks.js";
import { loadConfig } from "./config-files.js";
import { PolicyInForce } from "./policy-in-force.js";
import type { RecordedPolicy } from "./policy-records.js";
import type { WorkerOptions } from "./worker.js";

/** Parts a caller may supply instead of the ones the config would build. */
export interface RuntimeParts {
  /** A store to use instead of the one `store:` names (the runtime does not close it). */
  readonly store?: Store;
  /** Where "now" comes from for everything recorded (default: the system clock). */
  readonly clock?: Clock;
  /** Capabilities (default: the standard library plus the config's plugins). */
  readonly registry?: CapabilityRegistry;
  /**
   * The policy decider (default: the config's policy file, loaded when a command first
   * decides, hot-reloaded, and its hook).
   */
  readonly gatekeeper?: Gatekeeper;
  /** Where approval and run changes are announced (default: the config's signed webhooks). */
  readonly notifier?: Notifier;
  /** Seals before-images at rest (default: the key under `<home>/keys/blobs/`). */
  readonly blobSeal?: BlobSeal;
  /** Signs checkpoints and packs (default: the key pair under `<home>/keys/ledger/`). */
  readonly ledgerKey?: LedgerKey;
  /** This process's lease identity (default: `host:pid:nonce`). */
  readonly owner?: string;
  /**
   * Options of the store the runtime opens (ignored with `store`): commit hooks for crash and
   * fault injection in tests, an unchained ledger for benchmarks. Never set in production.
   */
  readonly storeOptions?: StoreOptions;
}

/** How to open a runtime. Everything is optional. */
export interface RuntimeOptions extends RuntimeParts {
  /** Config file; default `airun.yaml` in `cwd` when it exists. */
  readonly configFile?: string;
  /** State directory; overrides config and AIRUN_HOME. */
  readonly home?: string;
  readonly cwd?: string;
  /** Environment for secrets and AIRUN_* settings; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Live progress listener. */
  readonly onProgress?: (event: ProgressEvent) => void;
  /** Worker duties beyond the heartbeat (a recovery sweep on a timer, for servers). */
  readonly worker?: WorkerOptions;
  /**
   * When the policy file is read: `"at-open"` (default; a long-lived runtime then hot-reloads
   * from the policy it opened with, and a file broken at open is reported by the first command
   * that decides) or `"when-needed"` (on the first command that decides: a one-shot command
   * that only reads never touches it, as the CLI does).
   */
  readonly loadPolicy?: "at-open" | "when-needed";
  /**
   * Where the runtime says what a person should know and that is not an error: the policy
   * file is broken and recovery decides under the last policy that loaded. Default:
   * `process.emitWarning`.
   */
  readonly onWarning?: (message: string) => void;
  /**
   * The caller only reads (lists, shows, verifies): a home that holds no database yet is not
   * created (no folder, no database, no key files); the runtime reads an empty store instead.
   */
  readonly readOnly?: boolean;
}

/** Something built here, released by `Runtime.close()` (last built, first released). */
export type Releaser = () => Promise<void> | void;

/** The parts of a runtime, as the façade receives them. */
export interface RuntimeInit {
  readonly config: AirunConfig;
  readonly ctx: EngineContext;
  /** The policy in force (also `ctx.gatekeeper`), loaded on first need. */
  readonly policy: PolicyInForce;
  /** A gatekeeper deciding under a recorded policy (with the config's hook), for recovery. */
  readonly recordedGatekeeper: (policy: RecordedPolicy) => Gatekeeper;
  readonly onWarning: (message: string) => void;
  readonly registry: CapabilityRegistry;
  /** The MCP gateway when the config names upstreams (`mcp.upstreams`), else null. */
  readonly gateway: Gateway | null;
  readonly ledgerKey: LedgerKey | undefined;
  readonly worker: WorkerOptions;
  /** Parts built here, released on close (last first). */
  readonly releasers: Releaser[];
}

/**
 * Builds a runtime's parts: config, store (migrated), capabilities with plugins, gatekeeper,
 * notifier, keys; every part replaceable through `options`. `Runtime.open` is this plus the
 * façade.
 */
export async function composeRuntime(options: RuntimeOptions = {}): Promise<RuntimeInit> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const env = options.env ?? process.env;
  const config = await loadConfig(cwd, env, options.configFile, options.home);
  const releasers: Releaser[] = [];
  try {
    const databases = new TargetDatabases(config.databases, env);
    releasers.push(() => databases.close());
    const registry =
      options.registry ?? createStandardRegistry({ llm: config.llm, env, databases });
    if (!options.registry) {
      await loadPlugins(registry, config.plugins, config.baseDir);
      registerDeclared(registry, config.capabilities, env);
    }
    let gateway: Gateway | null = null;
    if (config.mcp.upstreams.length > 0) {
      const gw = new Gateway(config.mcp.upstreams, config.baseDir);
      gateway = gw;
      releasers.push(() => gw.close());
      // What the lock file pins is registered; no upstream starts until a call needs it.
      if (!options.registry) for (const cap of await gw.capabilities()) registry.register(cap);
    }
    const policy = new PolicyInForce(
      options.gatekeeper
        ? { gatekeeper: options.gatekeeper }
        : { load: () => watchedGatekeeper(config, registry.names()) },
    );
    if (!options.gatekeeper) releasers.push(() => policy.close());
    // A broken file is not an error yet: only the commands that decide need the policy.
    if (options.loadPolicy !== "when-needed") await policy.load().catch(unlessBrokenFile);
    const readOnly = options.readOnly === true;
    const store =
      options.store ?? (await ownStore(config, options.storeOptions, releasers, readOnly));
    const clock = options.clock ?? systemClock;
    const onWarning =
      options.onWarning ?? ((message) => process.emitWarning(message, "AirunWarning"));
    const notifier =
      options.notifier ?? ownNotifier(config, store, env, clock, onWarning, releasers);
    const ctx: EngineContext = {
      store,
      clock,
      blobs:
        options.blobSeal ??
        (readOnly && !existsSync(config.home)
          ? ephemeralBlobSeal()
          : await loadBlobSeal(config.home)),
      catalog: registry,
      gatekeeper: policy,
      settings: engineSettings(config, env),
      owner: options.owner ?? newOwnerId(),
      notifier,
      onProgress: runFinishedNotifier(notifier, options.onProgress),
    };
    return {
      config,
      ctx,
      policy,
      recordedGatekeeper: (recorded) => recordedGatekeeper(config, recorded),
      onWarning,
      registry,
      gateway,
      ledgerKey: options.ledgerKey,
      worker: options.worker ?? {},
      releasers,
    };
  } catch (err) {
    await release(releasers);
    throw err;
  }
}

/** Swallows a `ValidationError` (a broken or unreadable policy file); rethrows anything else. */
function unlessBrokenFile(err: unknown): void {
  if (!(err instanceof ValidationError)) throw err;
}

/** Releases what was built, last first; the first error is rethrown after all ran. */
export async function release(releasers: Releaser[]): Promise<void> {
  let first: unknown;
  for (const r of releasers.splice(0).reverse()) {
    try {
      await r();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

/**
 * The config's policy file (or the built-in default), watched, within the config's limits,
 * warning about rules that name no capability of `capabilities`; closed with the runtime.
 */
function watchedGatekeeper(
  config: AirunConfig,
  capabilities: readonly string[],
): Promise<Gatekeeper> {
  return PolicyGatekeeper.load(config.policy, {
    watch: true,
    hook: config.policyHook ? createDecisionHook(config.policyHook) : null,
    limits: config.limits,
    capabilities,
  });
}

/** A recorded policy (its stored text, compiled again) deciding with the config's hook. */
function recordedGatekeeper(config: AirunConfig, recorded: RecordedPolicy): Gatekeeper {
  const compiled =
    recorded.source === BUILTIN_POLICY_SOURCE
      ? builtinPolicy()
      : compilePolicy(recorded.source, recorded.text, { limits: config.limits });
  return new PolicyGatekeeper(compiled, {
    hook: config.policyHook ? createDecisionHook(config.policyHook) : null,
  });
}

async function ownStore(
  config: AirunConfig,
  storeOptions: StoreOptions | undefined,
  releasers: Releaser[],
  readOnly: boolean,
): Promise<Store> {
  const store = await openStore({
    url: config.store.kind === "sqlite" ? "sqlite" : config.store.url,
    home: config.home,
    readOnly,
    ...(config.store.kind === "sqlite" ? { synchronous: config.store.synchronous } : {}),
    ...(storeOptions ? { storeOptions } : {}),
  });
  releasers.push(() => store.close());
  return store;
}

/**
 * The config's webhook dispatcher. Closed with the runtime: deliveries still failing after a
 * grace period are abandoned (and recorded so). A hook that cannot be signed is warned about.
 */
function ownNotifier(
  config: AirunConfig,
  store: Store,
  env: Readonly<Record<string, string | undefined>>,
  clock: Clock,
  onWarning: (message: string) => void,
  releasers: Releaser[],
): Notifier {
  const w = config.approvals.webhook;
  const settings = w
    ? {
        url: w.url,
        secretEnv: w.secretEnv ?? DEFAULT_WEBHOOK_SETTINGS.secretEnv,
        events: w.events,
        maxAttempts: w.maxAttempts,
        backoffMs: w.backoffMs,
        maxBackoffMs: w.maxBackoffMs,
        timeoutMs: w.timeoutMs,
      }
    : DEFAULT_WEBHOOK_SETTINGS;
  const dispatcher = new WebhookDispatcher(store, settings, env, clock, onWarning);
  releasers.push(() => dispatcher.close());
  return dispatcher;
}

/** Engine settings compiled from the config. */
function engineSettings(
  config: AirunConfig,
  env: Readonly<Record<string, string | undefined>>,
): EngineSettings {
  const roles = new Map(Object.entries(config.principals).map(([p, v]) => [p, v.roles]));
  return {
    concurrency: config.engine.concurrency,
    defaultTimeoutMs: config.engine.defaultTimeoutMs,
    leaseTtlMs: config.engine.leaseTtlMs,
    heartbeatMs: config.engine.heartbeatMs,
    recoveryConcurrency: config.engine.recoveryConcurrency,
    cancelPollMs: config.engine.cancelPollMs,
    sandbox: config.sandbox,
    redactKeys: config.audit.redact,
    auditLevel: config.audit.level,
    env,
    defaultApprovers: config.approvals.approvers,
    approvalTimeoutMs: config.approvals.timeoutMs,
    approvalOnTimeout: config.approvals.onTimeout,
    rolesOf: (p) => roles.get(p) ?? [],
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
  notifier: Notifier,
  onProgress: ((event: ProgressEvent) => void) | undefined,
): (event: ProgressEvent) => void {
  return (event) => {
    onProgress?.(event);
    if (!RUN_FINISHED.has(event.type)) return;
    const d = (event.data ?? {}) as JsonObject;
    // The notifier sends only the event types its config asks for.
    notifier.send({
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
