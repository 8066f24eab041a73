/**
 * @module The zod schemas of the HTTP API: the request bodies and queries routes validate with,
 * and the response shapes; the OpenAPI document (`/api/v1/openapi.json`) is generated from
 * these same schemas, so the document and the validation cannot disagree. Response schemas
 * describe the fields clients rely on and allow more (the engine's views grow).
 */
import { z } from "@hono/zod-openapi";

const json = z.any().openapi({ type: "object", description: "JSON value" });

export const Problem = z
  .object({
    type: z.string().openapi({ example: "urn:airun:error:NOT_FOUND" }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().openapi({ description: "stable error code (README: error codes)" }),
    instance: z.string().optional(),
    context: json.optional(),
    problems: z.array(json).optional(),
  })
  .openapi("Problem");

export const Step = z
  .looseObject({
    id: z.string(),
    capability: z.string().nullable(),
    status: z.string(),
    attempts: z.number().int(),
    outputs: json.nullable(),
    error: json.nullable(),
    decision: json.nullable(),
    context_hash: z.string().nullable(),
    compensation: json.nullable(),
  })
  .openapi("Step");

export const Run = z
  .looseObject({
    id: z.string(),
    kind: z.enum(["workflow", "session"]),
    name: z.string(),
    version: z.string(),
    status: z.string(),
    outcome: z.string().nullable(),
    reason: z.string().nullable(),
    principal: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
    steps: z.array(Step),
  })
  .openapi("Run");

export const RunList = z
  .object({ runs: z.array(Run), next_cursor: z.string().nullable() })
  .openapi("RunList");

export const StartRun = z
  .object({
    spec: z.string().optional().openapi({ description: "workflow spec (YAML text)" }),
    workflow: z
      .string()
      .optional()
      .openapi({ description: "a workflow file under the project folder (relative path)" }),
    inputs: z.record(z.string(), json).optional(),
    detach: z.boolean().optional().openapi({
      description:
        "enqueue the run and answer at once (status RUNNING, no holder): an `airun worker` on the same store claims and drives it",
    }),
  })
  .openapi("StartRun");

export const RunQuery = z.object({
  status: z.string().optional().openapi({ description: "comma-separated statuses" }),
  outcome: z.string().optional(),
  name: z.string().optional(),
  principal: z.string().optional(),
  since: z.string().optional().openapi({ description: "ISO time: runs created at or after" }),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z.string().optional().openapi({ description: "next_cursor of the previous page" }),
});

export const Rollback = z.object({ force: z.boolean().optional() }).openapi("Rollback");

export const Event = z
  .object({
    seq: z.number().int(),
    runId: z.string().nullable(),
    stepId: z.string().nullable(),
    type: z.string(),
    at: z.number(),
    data: json,
  })
  .openapi("Event");

export const Approval = z
  .looseObject({
    id: z.string(),
    status: z.string(),
    run_id: z.string(),
    step_id: z.string(),
    requester: z.string(),
    approvers: z.array(z.string()),
    message: z.string(),
    action_hash: z.string(),
    requested_at: z.number(),
    expires_at: z.number().nullable(),
    on_timeout: z.string(),
  })
  .openapi("Approval");

export const ApprovalShown = z
  .looseObject({
    approval: Approval,
    action: z.object({
      capability: z.string().nullable(),
      inputs: json,
      context_hash: z.string().nullable(),
      decision: json,
    }),
  })
  .openapi("ApprovalDetail");

export const Decision = z
  .object({
    decision: z.enum(["approve", "reject"]),
    comment: z.string().max(4000).optional(),
  })
  .openapi("Decision");

export const ApprovalParams = z.object({
  run_id: z.string().openapi({ param: { name: "run_id", in: "path" } }),
  step_id: z.string().openapi({ param: { name: "step_id", in: "path" } }),
  n: z.string().openapi({ param: { name: "n", in: "path" } }),
});

export const IdParam = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" } }),
});

export const OpenSession = z
  .object({
    name: z.string().optional(),
    objective: z.string().optional(),
    governance: json.optional(),
    idle_timeout_ms: z.number().int().min(1000).optional(),
  })
  .openapi("OpenSession");

export const SessionCall = z
  .object({
    capability: z.string(),
    inputs: json.optional(),
    id: z.string().optional(),
    risk_level: z.enum(["LOW", "MEDIUM", "HIGH", "CRITICAL"]).optional(),
    compensation: z.object({ capability: z.string(), inputs: json.optional() }).optional(),
    evidence: z.record(z.string(), json).optional(),
  })
  .openapi("SessionCall");

export const CallResult = z.object({ outputs: json }).openapi("CallResult");

export const SessionStatus = z
  .object({ session: Run, pending_approval: z.string().nullable() })
  .openapi("SessionStatus");

export const Commit = z
  .object({ evidence: z.record(z.string(), json).optional() })
  .openapi("Commit");

export const SessionRollback = z
  .object({ reason: z.string().optional() })
  .openapi("SessionRollback");

export const PolicyQuery = z
  .object({
    capability: z.string(),
    inputs: z.record(z.string(), json).optional(),
    risk: z.enum(["LOW", "MEDIUM", "HIGH", "CRITICAL"]).optional(),
  })
  .openapi("PolicyQuery");

export const Anything = json;

export const Me = z
  .object({ principal: z.string(), scopes: z.array(z.string()), token_id: z.string() })
  .openapi("Me");

export const RunIdQuery = z.object({ run_id: z.string().optional() });

export const PatternQuery = z.object({
  pattern: z.string().optional().openapi({ description: "name glob, as in policy rules" }),
});
