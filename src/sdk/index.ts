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
} from "../core/capability.js";
export { defineCapability } from "../core/capability.js";
export type { WebhookEventType } from "../core/config.js";
export {
  AirunError,
  CapabilityError,
  ConflictError,
  DriftError,
  NotFoundError,
  type Problem,
  SandboxError,
  ValidationError,
} from "../core/errors.js";
export type { JsonObject, JsonValue } from "../core/json.js";
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
} from "../engine/approval-view.js";
export { type ApprovalData, ApprovalError, ApprovalStatus } from "../engine/approvals.js";
export type { ProgressEvent } from "../engine/context.js";
export type { RunView, StepView } from "../engine/run-view.js";
export {
  type DecideApprovalInput,
  Runtime,
  type RuntimeOptions,
  type StartRunOptions,
} from "../engine/runtime.js";
export {
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  signWebhook,
  verifyWebhook,
  type WebhookEvent,
} from "../engine/webhooks.js";
