/**
 * @module A plan as data: the zod schema a persisted plan's JSON must match, its spec hash, and
 * the deep freeze every plan handed out gets.
 */
import { z } from "zod";
import { AirunError } from "./errors.js";
import { hashJson } from "./hash.js";
import type { JsonValue } from "./json.js";
import type { Plan, PlanInput, PlanStep } from "./plan.js";
import { DEFAULT_RETRY } from "./spec-timing.js";

/** The types a workflow input may declare. */
export const INPUT_TYPES = [
  "string",
  "number",
  "boolean",
  "object",
  "array",
  "any",
] as const satisfies readonly PlanInput["type"][];

const jsonSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(jsonSchema),
    z.record(z.string(), jsonSchema),
  ]),
);
const retrySchema = z.object({
  maxAttempts: z.number().int().min(1),
  backoff: z.enum(["exponential", "fixed"]),
  initialDelayMs: z.number().min(0),
  maxDelayMs: z.number().min(0),
});
const planSchema = z.object({
  name: z.string(),
  version: z.string(),
  description: z.string().nullable(),
  principal: z.string().nullable(),
  inputs: z.record(
    z.string(),
    z.object({
      type: z.enum(INPUT_TYPES),
      required: z.boolean(),
      default: jsonSchema.optional(),
      description: z.string().optional(),
      undeclared: z.boolean().optional(),
    }),
  ),
  governance: z.record(z.string(), jsonSchema).nullable(),
  steps: z.array(
    z.object({
      id: z.string(),
      kind: z.enum(["action", "approval"]),
      capability: z.string().nullable(),
      inputs: jsonSchema,
      dependsOn: z.array(z.string()),
      risk: z.enum(["LOW", "MEDIUM", "HIGH", "CRITICAL"]).nullable(),
      retry: retrySchema,
      timeoutMs: z.number().nullable(),
      when: z.string().nullable(),
      compensation: z.object({ capability: z.string(), inputs: jsonSchema }).nullable(),
      approval: z
        .object({
          message: z.string(),
          approvers: z.array(z.string()),
          timeoutMs: z.number().nullable(),
          onTimeout: z.enum(["reject", "approve"]),
          webhookUrl: z.string().nullable(),
        })
        .nullable(),
      evidence: z.record(z.string(), jsonSchema).nullable(),
      line: z.number(),
    }),
  ),
  specHash: z.string(),
  format: z.enum(["native", "seed"]),
  autoRollback: z.literal(false).optional(),
  specPolicy: z.array(z.record(z.string(), jsonSchema)).optional(),
});

/**
 * A frozen plan step that no spec file declares (a session's call, a governance gate): every
 * field not given takes its default (no dependencies, default retry, no condition, line 0).
 */
export function runtimeStep(
  fields: Pick<PlanStep, "id" | "kind"> & Partial<Omit<PlanStep, "id" | "kind">>,
): PlanStep {
  return deepFreeze({
    capability: null,
    inputs: {},
    dependsOn: [],
    risk: null,
    retry: DEFAULT_RETRY,
    timeoutMs: null,
    when: null,
    compensation: null,
    approval: null,
    evidence: null,
    line: 0,
    ...fields,
  });
}

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * The spec hash of a plan: SHA-256 of the canonical JSON of the plan without `specHash` and
 * without the steps' source `line`s (reformatting a file does not change what it does).
 */
export function computeSpecHash(plan: Omit<Plan, "specHash"> | Plan): string {
  const { specHash: _omit, ...rest } = plan as Plan;
  return hashJson({ ...rest, steps: rest.steps.map(({ line: _line, ...s }) => s) });
}

/**
 * Rebuilds a persisted plan (its JSON) as a deep-frozen `Plan`. Throws `AirunError`
 * `PLAN_INVALID` when the JSON is not a plan, or (with `verifyHash`) when its `specHash` does
 * not match its content.
 *
 * @example
 * const plan = planFromJson(run.plan, { verifyHash: true });
 */
export function planFromJson(json: JsonValue, opts: { verifyHash?: boolean } = {}): Plan {
  const parsed = planSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AirunError(
      "PLAN_INVALID",
      `persisted plan is invalid at ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "?"}`,
    );
  }
  const plan = structuredClone(json) as unknown as Plan;
  if (opts.verifyHash && computeSpecHash(plan) !== plan.specHash) {
    throw new AirunError("PLAN_INVALID", "persisted plan does not match its specHash");
  }
  return deepFreeze(plan);
}
