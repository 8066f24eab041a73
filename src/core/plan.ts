/**
 * @module The compiled plan: a validated, frozen, fully defaulted workflow that the engine
 * executes. Produced by `compileSpec` (spec-compile.ts) from either spec format; persisted
 * with each run (as JSON) so recovery executes exactly what was started.
 */
import type { JsonObject, JsonValue } from "./json.js";
import type { RiskLevel } from "./status.js";

/** Retry policy of a step. `maxAttempts: 1` means a single attempt. */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly backoff: "exponential" | "fixed";
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

/** A compensation declared by a step: a capability and its (templated) inputs. */
export interface DeclaredCompensation {
  readonly capability: string;
  readonly inputs: JsonValue;
}

/** Settings of an approval step, or of the approval a REQUIRE_APPROVAL decision creates. */
export interface ApprovalSettings {
  readonly message: string;
  /** Principals or `role:x`; empty means the configured default approvers. */
  readonly approvers: readonly string[];
  readonly timeoutMs: number | null;
  readonly onTimeout: "reject" | "approve";
  readonly webhookUrl: string | null;
}

/** One step of a plan. Templates inside `inputs`, `when` and `compensation` are kept as
 * source strings in the native `${{ expr }}` syntax (seed `{{ step.key }}` is rewritten). */
export interface PlanStep {
  readonly id: string;
  readonly kind: "action" | "approval";
  /** Capability name; `null` for approval steps. */
  readonly capability: string | null;
  readonly inputs: JsonValue;
  /** Explicit `depends_on` plus every step the templates reference. */
  readonly dependsOn: readonly string[];
  /** The step's declared risk level, which may only raise the capability's floor. */
  readonly risk: RiskLevel | null;
  readonly retry: RetryPolicy;
  /** Per-attempt timeout; `null` means the engine default. */
  readonly timeoutMs: number | null;
  /** Condition expression source; a false condition skips the step. */
  readonly when: string | null;
  readonly compensation: DeclaredCompensation | null;
  readonly approval: ApprovalSettings | null;
  /** Evidence contributions (templated), evaluated after the step succeeds. */
  readonly evidence: JsonObject | null;
  /** Where the step is declared in its source file. */
  readonly line: number;
}

/** A declared workflow input. */
export interface PlanInput {
  readonly type: "string" | "number" | "boolean" | "object" | "array" | "any";
  readonly required: boolean;
  readonly default?: JsonValue;
  readonly description?: string;
  /** A seed spec read it as an undeclared name (`{{ account_id }}`); no file declares it. */
  readonly undeclared?: boolean;
}

/** A compiled workflow. */
export interface Plan {
  readonly name: string;
  readonly version: string;
  readonly description: string | null;
  /** Default principal (`--as` overrides). */
  readonly principal: string | null;
  readonly inputs: Readonly<Record<string, PlanInput>>;
  /** The raw governance section (compiled by the governance module), or null. */
  readonly governance: JsonObject | null;
  /** Steps in a topological order (dependencies first, then declaration order). */
  readonly steps: readonly PlanStep[];
  /** SHA-256 of the canonical JSON of the plan without this field. */
  readonly specHash: string;
  /** "native" or "seed": which spec format the source used. */
  readonly format: "native" | "seed";
  /** Seed `enable_auto_rollback: false`: a failed run keeps its effects (absent: true). */
  readonly autoRollback?: false;
  /** Seed per-agent `policy:` entries (policy rules); they may only tighten a decision. */
  readonly specPolicy?: readonly JsonObject[];
}
