/**
 * @module Stage 1 of a step, resolve: the call's inputs with real secret values (for the
 * capability) and as recorded (secrets masked, sensitive fields and redacted keys replaced),
 * validated against the capability's schema; its effective risk, undo, idempotency and effect;
 * and its context hash (SPEC §7). The pure parts are shared with replay.
 */
import type {
  AnyCapability,
  CapabilityContext,
  Classification,
  TouchedPath,
} from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import type { ExprScope } from "../../core/expr.js";
import { canonicalJson, hashJson, sha256Hex } from "../../core/hash.js";
import { isPlainObject, type JsonObject, type JsonValue } from "../../core/json.js";
import type { PlanStep } from "../../core/plan.js";
import { redact } from "../../core/redact.js";
import {
  AuditLevel,
  type EffectClass,
  maxRisk,
  type RiskLevel,
  type UndoKind,
} from "../../core/status.js";
import { resolveTemplates } from "../../core/template.js";
import type { RunState } from "../state/run-state.js";
import { maskSecrets, templateScope } from "../state/scope.js";

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
  /** The canonical paths the call will touch (`locate`); empty until located, or none. */
  readonly paths: readonly TouchedPath[];
  /** What the call would change as recorded (`previewCall`), or null. */
  readonly preview: RecordedPreview | null;
}

/**
 * A call's preview as recorded on its decision and bound by its context hash: the facts, the
 * first rows (redacted keys replaced) and the SHA-256 of every previewed row.
 */
export interface RecordedPreview extends JsonObject {
  readonly facts: JsonObject;
  readonly rows: JsonObject[];
  readonly rows_shown: number;
  readonly rows_sha256: string;
}

/** How many previewed rows a decision (and so an approval) shows. */
const PREVIEW_ROWS_SHOWN = 20;

/** The context hash of a call that has a preview: the call's hash and the preview together. */
export function bindPreview(contextHash: string, preview: RecordedPreview | null): string {
  return preview === null ? contextHash : hashJson({ context: contextHash, preview });
}

/**
 * Stage 1c, for capabilities that declare `preview`: what the call would change, read without
 * effect. Policy conditions see its facts; the context hash binds it (an approval does too).
 */
export async function previewCall(
  state: RunState,
  ps: PlanStep,
  call: Resolved,
): Promise<Resolved> {
  if (!call.cap.preview) return call;
  const got = await call.cap.preview(call.input, capabilityContext(state, ps, 0));
  // At audit level BASIC no row is kept in clear: the facts (counts) and the rows' hash only.
  const basic = state.ctx.settings.auditLevel === AuditLevel.BASIC;
  const shown = basic ? [] : got.rows.slice(0, PREVIEW_ROWS_SHOWN);
  const preview: RecordedPreview = {
    facts: got.facts,
    rows: maskSecrets(
      state,
      redact(shown as JsonValue, { fields: [], keys: state.ctx.settings.redactKeys }),
    ) as JsonObject[],
    rows_shown: shown.length,
    rows_sha256: hashJson(got.rows),
  };
  return { ...call, preview, contextHash: bindPreview(call.contextHash, preview) };
}

/** Resolves a step's call: inputs (real and as recorded), classification and context hash. */
export function resolveCall(state: RunState, ps: PlanStep): Resolved {
  const cap = state.ctx.catalog.get(ps.capability ?? "");
  if (!cap) {
    throw new CapabilityError(
      "UNKNOWN_CAPABILITY",
      `capability ${ps.capability} is not registered`,
    );
  }
  const secrets = new Map<string, string>();
  const callInputs = resolveTemplates(ps.inputs, templateScope(state, secrets));
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
    secrets.size > 0 ? resolveTemplates(ps.inputs, templateScope(state, null, true)) : callInputs;
  const described = describeCall(
    cap,
    ps,
    cap.classify?.(parsed.data) ?? {},
    masked,
    state.ctx.settings.redactKeys,
    identity(state),
  );
  return { cap, input: parsed.data, secrets, paths: NO_PATHS, preview: null, ...described };
}

const NO_PATHS: readonly TouchedPath[] = Object.freeze([]);

/**
 * Stage 1b, for capabilities that declare `touches`: the canonical paths the call will touch,
 * resolved inside the sandbox as the call will resolve them. The policy sees these and the
 * context hash binds them (so an approval does too); a path outside the sandbox fails the step
 * here, before anyone is asked.
 */
export async function locate(state: RunState, ps: PlanStep, call: Resolved): Promise<Resolved> {
  if (!call.cap.touches) return call;
  const paths = await call.cap.touches(call.input, capabilityContext(state, ps, 0));
  if (paths.length === 0) return call;
  return {
    ...call,
    paths,
    // The hash binds the paths as recorded: a secret inside one is masked before hashing.
    contextHash: contextHash(
      call.cap,
      ps,
      call.recordInputs,
      maskedPaths(state, paths),
      identity(state),
    ),
  };
}

/** What, besides the step, identifies the action of `state`'s run (SPEC §7). */
function identity(state: RunState): ActionIdentity {
  return {
    specHash: state.plan.specHash,
    policyHash: state.ctx.gatekeeper.policy.hash,
    principal: state.run.principal,
  };
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
  paths: readonly TouchedPath[] = NO_PATHS,
): Omit<Resolved, "cap" | "input" | "secrets" | "paths" | "preview"> {
  const recordInputs = redact(masked, { fields: cap.sensitive ?? [], keys: redactKeys });
  return {
    recordInputs,
    risk: maxRisk(maxRisk(cap.risk, cls.risk ?? cap.risk), ps.risk ?? cap.risk),
    undo: cls.undo ?? cap.undo,
    idempotent: cls.idempotent ?? cap.idempotent,
    effect: cls.effect ?? cap.effect,
    contextHash: contextHash(cap, ps, recordInputs, paths, id),
  };
}

/**
 * SHA-256 over the canonical JSON of spec hash, step id, capability, recorded inputs, the
 * canonical paths the call touches (when it declares them), principal and policy hash.
 */
function contextHash(
  cap: AnyCapability,
  ps: PlanStep,
  recordInputs: JsonValue,
  paths: readonly TouchedPath[],
  id: ActionIdentity,
): string {
  // The canonical JSON of { capability, inputs, paths?, policy, principal, spec, step }, written
  // member by member in canonical (sorted) key order, each value canonical: exactly the text
  // `hashJson` of that object writes, without building the object or walking the run's
  // constants on every step (test/engine/context-hash-text.test.ts holds them equal).
  const pathsMember = paths.length > 0 ? `"paths":${canonicalJson(pathsRecord(paths))},` : "";
  return sha256Hex(
    `{"capability":${canonicalJson(cap.name)},"inputs":${canonicalJson(recordInputs)},${pathsMember}${identityMembers(id)},"step":${canonicalJson(ps.id)}}`,
  );
}

/** The last text written for `identityMembers`, and what it was written for. */
let lastIdentity: ActionIdentity | undefined;
let lastIdentityText = "";

/**
 * The members `"policy":…,"principal":…,"spec":…` of a context hash's text, canonical. They are
 * the same for every step of a run (a policy reload changes the hash): remembered for the last
 * identity seen.
 */
function identityMembers(id: ActionIdentity): string {
  if (
    lastIdentity === undefined ||
    lastIdentity.policyHash !== id.policyHash ||
    lastIdentity.principal !== id.principal ||
    lastIdentity.specHash !== id.specHash
  ) {
    lastIdentityText = `"policy":${canonicalJson(id.policyHash)},"principal":${canonicalJson(id.principal)},"spec":${canonicalJson(id.specHash)}`;
    lastIdentity = id;
  }
  return lastIdentityText;
}

/**
 * The inputs of a call as the policy sees them: as the capability will use them (`call.input`,
 * its schema applied: a value it normalizes is seen normalized, a default filled in), with the
 * run's secrets and the sensitive fields and redacted keys masked as they are recorded.
 */
export function policyInputs(state: RunState, call: Resolved): JsonValue {
  return redact(maskSecrets(state, call.input as JsonValue), {
    fields: call.cap.sensitive ?? [],
    keys: state.ctx.settings.redactKeys,
  });
}

/** Paths with every secret of the run masked, as they are recorded and hashed. */
export function maskedPaths(state: RunState, paths: readonly TouchedPath[]): TouchedPath[] {
  return paths.map((t) => ({
    field: t.field,
    path: maskSecrets(state, t.path),
    relative: maskSecrets(state, t.relative),
  }));
}

/** The paths a call touches, as its decision records them (replay reads them back). */
export function touchedRecord(paths: readonly TouchedPath[]): JsonValue {
  return paths.map((t) => ({ field: t.field, path: t.path, relative: t.relative }));
}

/** The paths recorded on a step's decision (`touchedRecord`), or none. */
export function recordedTouched(decision: JsonValue | null): TouchedPath[] {
  const list = isPlainObject(decision) ? decision.paths : undefined;
  if (!Array.isArray(list)) return [];
  return list
    .filter((t): t is JsonObject => isPlainObject(t))
    .map((t) => ({
      field: String(t.field),
      path: String(t.path),
      relative: String(t.relative),
    }));
}

/** The paths a call touches as its context hash binds them: field → canonical path. */
function pathsRecord(paths: readonly TouchedPath[]): JsonObject {
  const out: JsonObject = {};
  for (const t of [...paths].sort((a, b) => (a.field < b.field ? -1 : 1))) out[t.field] = t.path;
  return out;
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

/** The capability context of an attempt made outside `invoke` (prepare, reconcile). */
export function capabilityContext(
  state: RunState,
  ps: PlanStep,
  attempt: number,
): CapabilityContext {
  return {
    signal: state.signal,
    sandbox: state.ctx.settings.sandbox,
    runId: state.run.id,
    stepId: ps.id,
    attempt,
  };
}
