/**
 * @module The HTTP API `/api/v1`: one route per thing a surface may ask the Runtime, each
 * declared with its zod schemas (`schemas.ts`) and the token scope it needs, so validation and
 * the OpenAPI document (`/api/v1/openapi.json`) come from the same declaration. Routes call the
 * façade and nothing else; the principal of every action is the caller's (`guard.ts`), never a
 * field of the body. Errors are problem details (`problem.ts`). POSTs that start something (a
 * run, a session) take an `Idempotency-Key` header: the same key and request is the same run.
 */
import { isAbsolute, relative, resolve } from "node:path";
import { createRoute, OpenAPIHono, type z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { AirunError } from "../core/errors.js";
import type { JsonObject, JsonValue } from "../core/json.js";
import type { RunStatus } from "../core/status.js";
import type { TokenScope } from "../engine/keys/tokens.js";
import { PolicyTools } from "../engine/runtime/policy-tools.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { EventHub } from "./event-hub.js";
import { requireScope, type ServerEnv } from "./guard.js";
import { problemOf, problemResponse } from "./problem.js";
import * as S from "./schemas.js";
import type { SessionTable } from "./session-table.js";
import { eventStream, type StreamLimits } from "./sse.js";

/** What the API routes work with. */
export interface ApiDeps {
  readonly rt: Runtime;
  readonly hub: EventHub;
  readonly sessions: SessionTable;
  readonly streams: StreamLimits;
  readonly log: (line: string) => void;
}

const problemResponses = {
  400: {
    description: "malformed request",
    content: { "application/problem+json": { schema: S.Problem } },
  },
  401: {
    description: "no valid token",
    content: { "application/problem+json": { schema: S.Problem } },
  },
  403: { description: "refused", content: { "application/problem+json": { schema: S.Problem } } },
  404: { description: "not found", content: { "application/problem+json": { schema: S.Problem } } },
  409: {
    description: "not in a state for this",
    content: { "application/problem+json": { schema: S.Problem } },
  },
} as const;

type Method = "get" | "post";

interface RouteSpec {
  readonly method: Method;
  readonly path: string;
  readonly scope: TokenScope;
  readonly summary: string;
  readonly tag: string;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  readonly response: z.ZodType;
  readonly status?: 200 | 201;
  readonly headers?: z.ZodObject;
}

function route(spec: RouteSpec) {
  return createRoute({
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    tags: [spec.tag],
    security: [{ bearer: [] }],
    middleware: [requireScope(spec.scope)] as MiddlewareHandler[],
    request: {
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.query ? { query: spec.query } : {}),
      ...(spec.headers ? { headers: spec.headers } : {}),
      ...(spec.body
        ? { body: { required: true, content: { "application/json": { schema: spec.body } } } }
        : {}),
    },
    responses: {
      [spec.status ?? 200]: {
        description: spec.summary,
        content: { "application/json": { schema: spec.response } },
      },
      ...problemResponses,
    },
  });
}

/** Builds the `/api/v1` routes (mounted by `app.ts`). */
export function apiRoutes(deps: ApiDeps): OpenAPIHono<ServerEnv> {
  const { rt, sessions } = deps;
  const api = new OpenAPIHono<ServerEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issues = result.error.issues.map(
          (i) => `${i.path.join(".") || "(body)"}: ${i.message}`,
        );
        return problemResponse(
          problemOf("USAGE", `invalid request: ${issues.join("; ")}`, c.req.path),
        );
      }
      return undefined;
    },
  });
  api.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "a token from `airun token create`",
  });
  // biome-ignore lint/suspicious/noExplicitAny: handlers answer JSON the response schemas describe loosely
  const add = (spec: RouteSpec, handler: (c: any) => Promise<Response>) =>
    // biome-ignore lint/suspicious/noExplicitAny: see above
    api.openapi(route(spec) as any, handler as any);
  const who = (c: { get(k: "caller"): { principal: string } }) => c.get("caller").principal;
  const idem = (c: { req: { header(n: string): string | undefined } }) => {
    const key = c.req.header("idempotency-key");
    if (key !== undefined && (key.length === 0 || key.length > 200)) {
      throw new AirunError("USAGE", "Idempotency-Key must be 1 to 200 characters");
    }
    return key;
  };

  add(
    {
      method: "get",
      path: "/me",
      scope: "read",
      tag: "identity",
      summary: "who the token is",
      response: S.Me,
    },
    async (c) => {
      const caller = c.get("caller");
      return c.json({
        principal: caller.principal,
        scopes: caller.scopes,
        token_id: caller.tokenId,
      });
    },
  );

  // ---- runs ----
  add(
    {
      method: "post",
      path: "/runs",
      scope: "run",
      tag: "runs",
      summary:
        "start a run from a spec or a stored workflow; answers when it ends or waits (or at once, queued for the workers, with detach)",
      body: S.StartRun,
      response: S.Run,
      status: 201,
    },
    async (c) => {
      const body = c.req.valid("json") as z.infer<typeof S.StartRun>;
      if ((body.spec === undefined) === (body.workflow === undefined)) {
        throw new AirunError("USAGE", "give exactly one of spec (YAML text) or workflow (a file)");
      }
      const key = idem(c);
      const view = await rt.startRun({
        specFile: body.workflow !== undefined ? workflowFile(rt, body.workflow) : "request.yaml",
        ...(body.spec !== undefined ? { specText: body.spec } : {}),
        inputs: body.inputs ?? {},
        principal: who(c),
        ...(key !== undefined ? { idempotencyKey: key } : {}),
        ...(body.detach === true ? { detach: true } : {}),
      });
      return c.json(view, 201);
    },
  );
  add(
    {
      method: "get",
      path: "/runs",
      scope: "read",
      tag: "runs",
      summary: "runs, newest first, filtered, a page at a time",
      query: S.RunQuery,
      response: S.RunList,
    },
    async (c) => {
      const q = c.req.valid("query") as z.infer<typeof S.RunQuery>;
      const limit = q.limit ?? 50;
      const since = q.since !== undefined ? Date.parse(q.since) : undefined;
      if (since !== undefined && Number.isNaN(since)) {
        throw new AirunError("USAGE", `since: "${q.since}" is not an ISO time`);
      }
      const runs = await rt.listRuns({
        ...(q.status ? { status: q.status.toUpperCase().split(",") as RunStatus[] } : {}),
        ...(q.outcome ? { outcome: q.outcome.toUpperCase() } : {}),
        ...(q.name ? { name: q.name } : {}),
        ...(q.principal ? { principal: q.principal } : {}),
        ...(since !== undefined ? { createdFrom: since } : {}),
        ...(q.cursor ? { before: decodeCursor(q.cursor) } : {}),
        limit: limit + 1,
      });
      const page = runs.slice(0, limit);
      const last = page.at(-1);
      const next =
        runs.length > limit && last ? encodeCursor(Date.parse(last.created_at), last.id) : null;
      return c.json({ runs: page, next_cursor: next });
    },
  );
  add(
    {
      method: "get",
      path: "/runs/{id}",
      scope: "read",
      tag: "runs",
      summary: "one run",
      params: S.IdParam,
      response: S.Run,
    },
    async (c) => c.json(await rt.getRun(c.req.valid("param").id)),
  );
  add(
    {
      method: "get",
      path: "/runs/{id}/events",
      scope: "read",
      tag: "runs",
      summary: "a run's ledger entries, in order",
      params: S.IdParam,
      response: S.Anything,
    },
    async (c) => {
      const id = c.req.valid("param").id;
      await rt.getRun(id);
      return c.json({ events: await rt.events(id) });
    },
  );
  add(
    {
      method: "post",
      path: "/runs/{id}/cancel",
      scope: "run",
      tag: "runs",
      summary: "cancel a running or waiting run: everything it did is rolled back",
      params: S.IdParam,
      response: S.Run,
    },
    async (c) => c.json(await rt.cancel(c.req.valid("param").id, who(c))),
  );
  add(
    {
      method: "post",
      path: "/runs/{id}/rollback",
      scope: "run",
      tag: "runs",
      summary: "undo a finished run after the fact, newest effect first",
      params: S.IdParam,
      body: S.Rollback,
      response: S.Run,
    },
    async (c) => {
      const body = c.req.valid("json") as z.infer<typeof S.Rollback>;
      return c.json(
        await rt.rollback(c.req.valid("param").id, {
          principal: who(c),
          force: body.force === true,
        }),
      );
    },
  );
  add(
    {
      method: "get",
      path: "/runs/{id}/evidence-pack",
      scope: "read",
      tag: "ledger",
      summary: "the run's signed evidence pack (verify with `airun ledger verify-pack`)",
      params: S.IdParam,
      response: S.Anything,
    },
    async (c) => {
      const text = await rt.exportEvidencePack(c.req.valid("param").id);
      return c.body(text, 200, {
        "content-type": "application/json",
        "content-disposition": `attachment; filename="${c.req.valid("param").id}.airun-pack.json"`,
      });
    },
  );

  // ---- approvals ----
  add(
    {
      method: "get",
      path: "/approvals",
      scope: "read",
      tag: "approvals",
      summary: "pending approvals (or every approval of one run)",
      query: S.RunIdQuery,
      response: S.Anything,
    },
    async (c) => {
      const q = c.req.valid("query") as { run_id?: string };
      return c.json({ approvals: await rt.listApprovals(q.run_id ? { runId: q.run_id } : {}) });
    },
  );
  add(
    {
      method: "get",
      path: "/approvals/{run_id}/{step_id}/{n}",
      scope: "read",
      tag: "approvals",
      summary: "one approval with exactly what it lets happen",
      params: S.ApprovalParams,
      response: S.ApprovalShown,
    },
    async (c) => {
      const p = c.req.valid("param") as z.infer<typeof S.ApprovalParams>;
      const approval = await rt.getApproval(`${p.run_id}/${p.step_id}/${p.n}`);
      return c.json({ approval, action: await rt.approvalAction(approval) });
    },
  );
  add(
    {
      method: "post",
      path: "/approvals/{run_id}/{step_id}/{n}/decision",
      scope: "approve",
      tag: "approvals",
      summary: "approve or reject, as the token's principal; answers with the run once driven on",
      params: S.ApprovalParams,
      body: S.Decision,
      response: S.Run,
    },
    async (c) => {
      const p = c.req.valid("param") as z.infer<typeof S.ApprovalParams>;
      const body = c.req.valid("json") as z.infer<typeof S.Decision>;
      const view = await rt.decideApproval(`${p.run_id}/${p.step_id}/${p.n}`, {
        decision: body.decision,
        principal: who(c),
        ...(body.comment !== undefined ? { comment: body.comment } : {}),
      });
      return c.json(view);
    },
  );

  // ---- sessions ----
  add(
    {
      method: "post",
      path: "/sessions",
      scope: "run",
      tag: "sessions",
      summary: "open a session under a governance envelope; the token's principal is the agent",
      body: S.OpenSession,
      response: S.SessionStatus,
      status: 201,
    },
    async (c) => {
      const body = c.req.valid("json") as z.infer<typeof S.OpenSession>;
      const key = idem(c);
      const s = await rt.openSession({
        principal: who(c),
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.objective !== undefined ? { objective: body.objective } : {}),
        ...(body.governance !== undefined ? { governance: body.governance } : {}),
        ...(key !== undefined ? { idempotencyKey: key } : {}),
      });
      sessions.add(s, body.idle_timeout_ms);
      return c.json({ session: await s.view(), pending_approval: null }, 201);
    },
  );
  add(
    {
      method: "get",
      path: "/sessions/{id}",
      scope: "read",
      tag: "sessions",
      summary: "a session's status and calls",
      params: S.IdParam,
      response: S.SessionStatus,
    },
    async (c) => {
      const id = c.req.valid("param").id;
      const view = await rt.getRun(id);
      if (view.kind !== "session")
        throw new AirunError("NOT_A_SESSION", `run ${id} is a workflow run`);
      const pending =
        view.status === "WAITING_APPROVAL"
          ? (await rt.listApprovals({ runId: id })).find((a) => a.status === "PENDING")
          : undefined;
      return c.json({ session: view, pending_approval: pending?.id ?? null });
    },
  );
  add(
    {
      method: "post",
      path: "/sessions/{id}/calls",
      scope: "run",
      tag: "sessions",
      summary: "call a capability in the session (policy, approvals, budgets, undo as for a step)",
      params: S.IdParam,
      body: S.SessionCall,
      response: S.CallResult,
    },
    async (c) => {
      const id = c.req.valid("param").id;
      const body = c.req.valid("json") as z.infer<typeof S.SessionCall>;
      const s = await sessions.get(id, who(c));
      try {
        const outputs = await s.call(body.capability, body.inputs ?? {}, {
          ...(body.id !== undefined ? { id: body.id } : {}),
          ...(body.risk_level !== undefined ? { risk_level: body.risk_level } : {}),
          ...(body.compensation !== undefined ? { compensation: body.compensation } : {}),
          ...(body.evidence !== undefined ? { evidence: body.evidence } : {}),
        });
        return c.json({ outputs: outputs as JsonValue });
      } finally {
        sessions.touch(id);
      }
    },
  );
  add(
    {
      method: "post",
      path: "/sessions/{id}/commit",
      scope: "run",
      tag: "sessions",
      summary: "commit: evidence, budgets and drift checked; COMPLETED or rolled back",
      params: S.IdParam,
      body: S.Commit,
      response: S.Run,
    },
    async (c) => {
      const id = c.req.valid("param").id;
      const body = c.req.valid("json") as z.infer<typeof S.Commit>;
      const s = await sessions.get(id, who(c));
      const view = await s.commit(body.evidence !== undefined ? { evidence: body.evidence } : {});
      sessions.forget(id);
      return c.json(view);
    },
  );
  add(
    {
      method: "post",
      path: "/sessions/{id}/rollback",
      scope: "run",
      tag: "sessions",
      summary: "abandon the session: everything it did is undone, newest first",
      params: S.IdParam,
      body: S.SessionRollback,
      response: S.Run,
    },
    async (c) => {
      const id = c.req.valid("param").id;
      const body = c.req.valid("json") as z.infer<typeof S.SessionRollback>;
      const s = await sessions.get(id, who(c));
      const view = await s.rollback(body.reason !== undefined ? { reason: body.reason } : {});
      sessions.forget(id);
      return c.json(view);
    },
  );

  // ---- policy, ledger, catalogue ----
  add(
    {
      method: "post",
      path: "/policy/check",
      scope: "run",
      tag: "policy",
      summary: "explain the policy's decision for a call by the token's principal",
      body: S.PolicyQuery,
      response: S.Anything,
    },
    async (c) => {
      const body = c.req.valid("json") as z.infer<typeof S.PolicyQuery>;
      const tools = await PolicyTools.open({
        cwd: rt.config.baseDir,
        ...(rt.config.file ? { configFile: rt.config.file } : {}),
      });
      return c.json(
        tools.check({
          principal: who(c),
          capability: body.capability,
          inputs: (body.inputs ?? {}) as JsonObject,
          ...(body.risk !== undefined ? { risk: body.risk } : {}),
        }),
      );
    },
  );
  add(
    {
      method: "get",
      path: "/ledger/verify",
      scope: "read",
      tag: "ledger",
      summary: "verify the whole ledger",
      response: S.Anything,
    },
    async (c) => c.json(await rt.verifyLedger()),
  );
  add(
    {
      method: "post",
      path: "/ledger/checkpoints",
      scope: "run",
      tag: "ledger",
      summary: "sign a checkpoint of the verified ledger",
      response: S.Anything,
      status: 201,
    },
    async (c) => c.json(await rt.checkpointLedger(), 201),
  );
  add(
    {
      method: "get",
      path: "/capabilities",
      scope: "read",
      tag: "capabilities",
      summary: "the capability catalogue",
      query: S.PatternQuery,
      response: S.Anything,
    },
    async (c) => {
      const q = c.req.valid("query") as { pattern?: string };
      return c.json({ capabilities: rt.describeCapabilities(q.pattern ?? "**") });
    },
  );
  add(
    {
      method: "get",
      path: "/events",
      scope: "read",
      tag: "events",
      summary:
        "ledger entries as Server-Sent Events (id = ledger sequence), of every run or one; resumable with Last-Event-ID",
      query: S.RunIdQuery,
      response: S.Event,
    },
    async (c) => {
      const q = c.req.valid("query") as { run_id?: string };
      const last = c.req.header("last-event-id") ?? c.req.query("last_event_id");
      return eventStream(c, deps, { runId: q.run_id, lastEventId: last });
    },
  );

  api.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Airun HTTP API",
      version: "1",
      description:
        "Governed, audited, undoable execution of AI-agent actions. Errors are RFC 9457 problem details with a stable `code`.",
    },
  });
  return api;
}

/** A stored workflow: a file under the project folder, never outside it. */
function workflowFile(rt: Runtime, name: string): string {
  const base = rt.config.baseDir;
  const file = resolve(base, name);
  const rel = relative(base, file);
  if (isAbsolute(name) || rel.startsWith("..") || isAbsolute(rel) || !/\.ya?ml$/.test(file)) {
    throw new AirunError(
      "USAGE",
      `workflow: "${name}" must be a .yaml file inside the project folder`,
    );
  }
  return file;
}

function encodeCursor(createdAt: number, id: string): string {
  return Buffer.from(`${createdAt}:${id}`).toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const text = Buffer.from(cursor, "base64url").toString();
  const i = text.indexOf(":");
  const createdAt = Number(text.slice(0, i));
  if (i <= 0 || !Number.isFinite(createdAt))
    throw new AirunError("USAGE", "cursor: not one this API gave");
  return { createdAt, id: text.slice(i + 1) };
}
