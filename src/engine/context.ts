/**
 * @module What every part of the engine shares: the store, the capability catalog, the
 * gatekeeper, compiled settings and this process's lease identity. One instance per Runtime,
 * passed explicitly (no global singletons).
 */
import type { CapabilityCatalog, SandboxConfig } from "../core/capability.js";
import type { Clock } from "../core/clock.js";
import type { JsonValue } from "../core/json.js";
import type { AuditLevel } from "../core/status.js";
import type { Store } from "../store/store.js";
import type { BlobSeal } from "./keys/blob-seal.js";
import type { Gatekeeper } from "./policy/gatekeeper.js";
import type { WebhookDispatcher } from "./webhooks.js";

/** Announces committed approval (and run) changes to the outside world (signed webhooks). */
export type Notifier = Pick<WebhookDispatcher, "send" | "close">;

/** Engine settings, compiled from the config. Durations in milliseconds. */
export interface EngineSettings {
  /** Steps of one run executing at once. */
  readonly concurrency: number;
  /** Per-attempt timeout of a step that declares none. */
  readonly defaultTimeoutMs: number;
  readonly leaseTtlMs: number;
  readonly heartbeatMs: number;
  /** Interrupted runs a recovery sweep prepares at once. */
  readonly recoveryConcurrency: number;
  /** How often a process holding runs reads cancel requests made elsewhere. */
  readonly cancelPollMs: number;
  readonly sandbox: SandboxConfig;
  /** Key fragments redacted from every recorded input and output (config `audit.redact`). */
  readonly redactKeys: readonly string[];
  /** How much of inputs and outputs ledger entries keep (config `audit.level`, `audit.ts`). */
  readonly auditLevel: AuditLevel;
  /** Where `${{ secrets.NAME }}` is read from, at the moment of the call. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Approvers used when neither the step nor the rule names any (config `approvals.approvers`). */
  readonly defaultApprovers: readonly string[];
  /** Approval expiry and what happens then, when the step does not say. */
  readonly approvalTimeoutMs: number;
  readonly approvalOnTimeout: "reject" | "approve";
  /** Roles of a principal (config `principals`). */
  rolesOf(principal: string): readonly string[];
}

/** Something the engine reports as it goes (the CLI prints these as live progress). */
export interface ProgressEvent {
  /** The ledger entry number, on events read back from the store (live progress has none). */
  readonly seq?: number;
  readonly type: string;
  readonly runId: string;
  readonly stepId: string | null;
  readonly at: number;
  readonly data: JsonValue;
}

/** The engine's shared dependencies. */
export interface EngineContext {
  readonly store: Store;
  /** Where "now" comes from for everything the engine records (`core/clock.ts`). */
  readonly clock: Clock;
  /** Seals before-images at rest (`blob-seal.ts`). */
  readonly blobs: BlobSeal;
  readonly catalog: CapabilityCatalog;
  readonly gatekeeper: Gatekeeper;
  readonly settings: EngineSettings;
  /** This process's lease owner id. */
  readonly owner: string;
  /** Sends signed webhooks in the background after approval (and run) changes are committed. */
  readonly notifier: Notifier | undefined;
  /** Called after each committed event; must not throw. */
  readonly onProgress: ((event: ProgressEvent) => void) | undefined;
}
