/**
 * @module The public TypeScript API of Airun. Everything exported here is public and
 * semver-governed; nothing else in the package is. Listed by name (no re-export of whole
 * modules).
 *
 * @example
 * import { Runtime } from "airun";
 * const rt = await Runtime.open({ configFile: "airun.yaml" });
 * try {
 *   const run = await rt.startRun({ specFile: "workflows/deploy.yaml", inputs: { env: "staging" } });
 *   console.log(run.status, run.outcome, run.reason);
 * } finally {
 *   await rt.close();
 * }
 *
 * @example
 * // A session: an agent's calls, one at a time, as one transaction.
 * import { BudgetExceededError, CallDeniedError, fromOutput, Runtime } from "airun";
 * const rt = await Runtime.open();
 * const s = await rt.openSession({
 *   principal: "agent:bot",
 *   governance: { budgets: { max_tool_calls: 20 }, evidence: { required: ["len(evidence.refs) >= 2"] } },
 * });
 * try {
 *   await s.call("search.docs.query", { q: "pool" }, { evidence: { refs: fromOutput("refs") } });
 *   await s.call("io.fs.write_file", { path: "out/answer.md", content: "..." });
 *   await s.commit(); // ACCEPT, or EvidenceUnmetError (everything undone)
 * } catch (err) {
 *   if (err instanceof CallDeniedError) { ... } // refused before any effect; still open
 *   if (err instanceof BudgetExceededError) { ... } // abstained; everything undone
 * } finally {
 *   await rt.close();
 * }
 */

export type {
  AnyCapability,
  CapabilityContext,
  CapabilityDefinition,
  Classification,
  ReconcileResult,
  SandboxConfig,
  UndoContext,
  UndoPlan,
  Usage,
} from "../core/capability.js";
export { defineCapability } from "../core/capability.js";
export { type Clock, ManualClock, systemClock } from "../core/clock.js";
export type { WebhookEventType } from "../core/config.js";
/** The typed errors a session's calls, commit and rollback throw (see each class). */
export {
  AirunError,
  ApprovalError,
  type ApprovalHandle,
  ApprovalPendingError,
  BudgetExceededError,
  type BudgetFigures,
  CallDeniedError,
  CallFailedError,
  CapabilityError,
  ConflictError,
  DriftError,
  EvidenceUnmetError,
  NotFoundError,
  type Problem,
  SandboxError,
  SessionClosedError,
  type SessionEnd,
  type UnmetRequirement,
  ValidationError,
} from "../core/errors.js";
export {
  type EvidencePack,
  type EvidencePackBody,
  PACK_FORMAT,
  type PackEntry,
  type PackReport,
  verifyPack,
} from "../core/evidence-pack.js";
export {
  type Budgets,
  compileGovernance,
  DriftAction,
  type DriftSettings,
  type Governance,
} from "../core/governance.js";
export type { DriftFinding, MetricBaseline } from "../core/governance-drift.js";
export type { JsonObject, JsonValue } from "../core/json.js";
export type { LedgerProblem, LedgerRow } from "../core/ledger.js";
export type {
  LlmConfig,
  LlmPrice,
  LlmProviderConfig,
  LlmProviderKind,
} from "../core/llm-config.js";
export {
  Decision,
  EffectClass,
  Outcome,
  Reason,
  RiskLevel,
  RunStatus,
  StepStatus,
  UndoKind,
} from "../core/status.js";
export type {
  ApprovalDetail,
  ApprovalHistoryEntry,
  ApprovalView,
} from "../engine/approvals/approval-view.js";
export type { ProgressEvent } from "../engine/context.js";
export type {
  DriftReport,
  DriftSettingsJson,
  VersionBaselines,
} from "../engine/governance/baselines.js";
export type { CheckpointCheck, CheckpointResult, LedgerReport } from "../engine/ledger/ledger.js";
export type { StateMismatch } from "../engine/ledger/state-compare.js";
export {
  type Divergence,
  DivergenceKind,
  type ReplayDecision,
  type ReplayedStepState,
  type ReplayOptions,
  type ReplayReport,
  type ReplayStatus,
  type ReplayStepReport,
  type ReplayStepState,
} from "../engine/replay/replay-types.js";
export type {
  PolicyHistoryEntry,
  PolicyHistoryWindow,
} from "../engine/runtime/policy-records.js";
export {
  type DecideApprovalInput,
  type ResumeOptions,
  Runtime,
  type RuntimeOptions,
  type RuntimeParts,
  type StartRunOptions,
} from "../engine/runtime/runtime.js";
/** Sessions: `Runtime.openSession` / `Runtime.resumeSession` return a `Session`. */
export { Session } from "../engine/sessions/session.js";
/** Session options, and the explicit dynamic values a call may hold (all else is literal). */
export {
  type CallCompensation,
  type CallOptions,
  fromOutput,
  type GovernanceInput,
  type OpenSessionOptions,
  ref,
  SessionRef,
  secret,
} from "../engine/sessions/session-plan.js";
export { type ApprovalData, ApprovalStatus } from "../engine/state/approval-record.js";
export type { RunView, StepView } from "../engine/state/run-view.js";
export { SpanAttr, TRACER_NAME } from "../engine/telemetry.js";
export {
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  signWebhook,
  verifyWebhook,
  type WebhookEvent,
} from "../engine/webhooks.js";
/** The HTTP client of `airun serve` for sessions and approvals. */
export {
  AirunHttpClient,
  AirunHttpError,
  type HttpApproval,
  type HttpClientOptions,
  type HttpRunView,
  HttpSession,
} from "./http-client.js";
