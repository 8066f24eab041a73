/**
 * `airun serve` over real HTTP on loopback (the built CLI): every route of `/api/v1` with a
 * real token, each way authentication fails (none, wrong, expired, revoked, missing scope), the
 * principal taken from the token (an agent cannot approve, nobody approves their own request),
 * the body limit, the Host/Origin guard, problem details carrying the stable codes, SSE resumed
 * with Last-Event-ID without a lost or repeated event, and the OpenAPI document.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupSpec, SRE_APPROVAL_POLICY, SRE_PRINCIPALS } from "../support/approval-fixtures.js";
import { type Project, project, type RunJson, tempRoot } from "./project.js";
import { call, makeToken, openStream, type Server, startServer } from "./serve-support.js";

const root = tempRoot("serve-api");

const WRITE = (content: string) => `name: note
version: 1
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: note.txt, content: "${content}" }
`;

const CLEANUP = cleanupSpec();

let p: Project;
let server: Server;
let alice: string;
let sam: string;
let agent: string;
let agentApprover: string;
let reader: string;
let bobRunner: string;
const bob = () => bobRunner;

beforeAll(async () => {
  p = project(root.path, {
    policy: SRE_APPROVAL_POLICY,
    config: SRE_PRINCIPALS,
    files: { "ws/victim.txt": "v", "workflows/cleanup.yaml": CLEANUP },
  });
  alice = (await makeToken(p, "user:alice")).token;
  sam = (await makeToken(p, "user:sam")).token;
  agent = (await makeToken(p, "agent:bot")).token;
  agentApprover = (await makeToken(p, "agent:bot", ["--scope", "read,run,approve"])).token;
  reader = (await makeToken(p, "user:bob", ["--scope", "read"])).token;
  bobRunner = (await makeToken(p, "user:bob")).token;
  server = await startServer(p);
});

afterAll(async () => {
  await server?.stop();
  root.cleanup();
});

describe("airun serve: the HTTP API", () => {
  it("answers who the token is, with its scopes, and serves an OpenAPI document generated from the schemas", async () => {
    const me = await call(server, "GET", "/api/v1/me", { token: alice });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ principal: "user:alice", scopes: ["read", "run", "approve"] });
    const doc = await call<{ openapi: string; paths: Record<string, unknown> }>(
      server,
      "GET",
      "/api/v1/openapi.json",
    );
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe("3.1.0");
    for (const path of [
      "/runs",
      "/runs/{id}",
      "/runs/{id}/events",
      "/runs/{id}/cancel",
      "/runs/{id}/rollback",
      "/runs/{id}/evidence-pack",
      "/approvals",
      "/approvals/{run_id}/{step_id}/{n}",
      "/approvals/{run_id}/{step_id}/{n}/decision",
      "/sessions",
      "/sessions/{id}",
      "/sessions/{id}/calls",
      "/sessions/{id}/commit",
      "/sessions/{id}/rollback",
      "/policy/check",
      "/ledger/verify",
      "/ledger/checkpoints",
      "/capabilities",
      "/events",
    ]) {
      expect(doc.body.paths, path).toHaveProperty([path]);
    }
  });

  it("starts a run from a spec as the token's principal, the same run again under the same Idempotency-Key, and rolls it back", async () => {
    const first = await call<RunJson>(server, "POST", "/api/v1/runs", {
      token: alice,
      body: { spec: WRITE("one") },
      headers: { "idempotency-key": "k-1" },
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ status: "COMPLETED", principal: "user:alice" });
    expect(readFileSync(join(p.ws, "note.txt"), "utf8")).toBe("one");
    const again = await call<RunJson>(server, "POST", "/api/v1/runs", {
      token: alice,
      body: { spec: WRITE("one") },
      headers: { "idempotency-key": "k-1" },
    });
    expect(again.body.id).toBe(first.body.id);
    const reused = await call(server, "POST", "/api/v1/runs", {
      token: alice,
      body: { spec: WRITE("two") },
      headers: { "idempotency-key": "k-1" },
    });
    expect(reused.status).toBe(422);
    expect(reused.body).toMatchObject({ code: "IDEMPOTENCY_KEY_REUSED" });
    expect(reused.headers["content-type"]).toContain("application/problem+json");

    const shown = await call<RunJson>(server, "GET", `/api/v1/runs/${first.body.id}`, {
      token: reader,
    });
    expect(shown.body.steps[0]).toMatchObject({ id: "write", status: "SUCCEEDED" });
    const events = await call<{ events: { type: string }[] }>(
      server,
      "GET",
      `/api/v1/runs/${first.body.id}/events`,
      { token: reader },
    );
    expect(events.body.events.map((e) => e.type)).toContain("run.completed");

    const undone = await call<RunJson>(server, "POST", `/api/v1/runs/${first.body.id}/rollback`, {
      token: alice,
      body: {},
    });
    expect(undone.status).toBe(200);
    expect(undone.body.status).toBe("ROLLED_BACK");
    expect(existsSync(join(p.ws, "note.txt"))).toBe(false);

    const pack = await call<{ summary?: unknown }>(
      server,
      "GET",
      `/api/v1/runs/${first.body.id}/evidence-pack`,
      { token: reader },
    );
    expect(pack.status).toBe(200);
    expect(pack.text).toContain(first.body.id);
  });

  it("enqueues a run with detach (answered at once, RUNNING, no holder) that an `airun worker --drain` on the same store then runs", async () => {
    const queued = await call<RunJson>(server, "POST", "/api/v1/runs", {
      token: alice,
      body: { spec: WRITE("queued"), detach: true },
    });
    expect(queued.status).toBe(201);
    expect(queued.body).toMatchObject({ status: "RUNNING", principal: "user:alice" });
    expect(queued.body.steps[0]).toMatchObject({ id: "write", status: "PENDING" });
    expect(existsSync(join(p.ws, "note.txt"))).toBe(false);
    // SQLite: the worker polls (no LISTEN/NOTIFY), on this machine, beside the server.
    const worker = await p.run(["worker", "--drain", "--poll", "200ms"]);
    expect(worker.code, worker.stderr).toBe(0);
    const done = await call<RunJson>(server, "GET", `/api/v1/runs/${queued.body.id}`, {
      token: reader,
    });
    expect(done.body.status).toBe("COMPLETED");
    expect(readFileSync(join(p.ws, "note.txt"), "utf8")).toBe("queued");
    await call(server, "POST", `/api/v1/runs/${queued.body.id}/rollback`, {
      token: alice,
      body: {},
    });
  });

  it("starts a stored workflow by its path in the project, and refuses a path outside it", async () => {
    const run = await call<RunJson>(server, "POST", "/api/v1/runs", {
      token: alice,
      body: { workflow: "workflows/cleanup.yaml" },
    });
    expect(run.status).toBe(201);
    expect(run.body.status).toBe("WAITING_APPROVAL");
    const cancelled = await call<RunJson>(server, "POST", `/api/v1/runs/${run.body.id}/cancel`, {
      token: alice,
    });
    expect(cancelled.body.status).toBe("ROLLED_BACK");
    expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("v");
    const outside = await call(server, "POST", "/api/v1/runs", {
      token: alice,
      body: { workflow: "../../etc/passwd.yaml" },
    });
    expect(outside.status).toBe(400);
    expect(outside.body).toMatchObject({ code: "USAGE" });
  });

  it("lists runs with filters, a page at a time, each run once", async () => {
    for (const c of ["a", "b", "c"]) {
      await call(server, "POST", "/api/v1/runs", { token: sam, body: { spec: WRITE(c) } });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = `/api/v1/runs?principal=user:sam&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await call<{ runs: RunJson[]; next_cursor: string | null }>(server, "GET", q, {
        token: reader,
      });
      expect(page.status).toBe(200);
      seen.push(...page.body.runs.map((r) => r.id));
      for (const r of page.body.runs) expect(r.principal).toBe("user:sam");
      cursor = page.body.next_cursor;
      pages += 1;
    } while (cursor !== null);
    expect(pages).toBe(2);
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(3);
    const completed = await call<{ runs: RunJson[] }>(
      server,
      "GET",
      "/api/v1/runs?status=COMPLETED&outcome=ACCEPT&name=note",
      { token: reader },
    );
    expect(completed.body.runs.length).toBeGreaterThanOrEqual(3);
    for (const r of completed.body.runs)
      expect(r).toMatchObject({ status: "COMPLETED", name: "note" });
  });

  it("shows a pending approval with its exact action, refuses self-approval and agents (403), and an eligible person's approve runs the step", async () => {
    const run = await call<RunJson>(server, "POST", "/api/v1/runs", {
      token: alice,
      body: { spec: CLEANUP },
    });
    expect(run.body.status).toBe("WAITING_APPROVAL");
    const list = await call<{ approvals: { id: string; run_id: string }[] }>(
      server,
      "GET",
      "/api/v1/approvals",
      { token: reader },
    );
    const approval = list.body.approvals.find((a) => a.run_id === run.body.id);
    expect(approval).toBeDefined();
    const path = `/api/v1/approvals/${approval!.id}`;
    const shown = await call<{ approval: { requester: string }; action: Record<string, unknown> }>(
      server,
      "GET",
      path,
      { token: reader },
    );
    expect(shown.body.approval.requester).toBe("user:alice");
    expect(shown.body.action).toMatchObject({
      capability: "io.fs.delete",
      inputs: { path: "victim.txt" },
      decision: { decision: "REQUIRE_APPROVAL", risk: "HIGH" },
    });
    expect(shown.body.action.context_hash).toMatch(/^[0-9a-f]{64}$/);

    const self = await call(server, "POST", `${path}/decision`, {
      token: alice,
      body: { decision: "approve" },
    });
    expect(self.status).toBe(403);
    expect(self.body).toMatchObject({ code: "SELF_APPROVAL" });
    const byAgent = await call(server, "POST", `${path}/decision`, {
      token: agent,
      body: { decision: "approve" },
    });
    expect(byAgent.status).toBe(403);
    expect(byAgent.body).toMatchObject({ code: "SCOPE_MISSING" });
    const byAgentWithScope = await call(server, "POST", `${path}/decision`, {
      token: agentApprover,
      body: { decision: "approve" },
    });
    expect(byAgentWithScope.status).toBe(403);
    expect(byAgentWithScope.body).toMatchObject({ code: "NOT_ELIGIBLE" });
    // A principal in the body is not who decides: the token is.
    const smuggled = await call(server, "POST", `${path}/decision`, {
      token: alice,
      body: { decision: "approve", principal: "user:sam" },
    });
    expect(smuggled.status).toBe(403);
    expect(existsSync(join(p.ws, "victim.txt"))).toBe(true);

    const approved = await call<RunJson>(server, "POST", `${path}/decision`, {
      token: sam,
      body: { decision: "approve", comment: "ok" },
    });
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe("COMPLETED");
    expect(existsSync(join(p.ws, "victim.txt"))).toBe(false);
  });

  it("executes an approved step once when two people decide at the same moment in one server", async () => {
    p.write("ws/victim.txt", "v");
    const run = await call<RunJson>(server, "POST", "/api/v1/runs", {
      token: bob(),
      body: { spec: CLEANUP },
    });
    expect(run.body.status).toBe("WAITING_APPROVAL");
    const approvals = await call<{ approvals: { id: string; run_id: string }[] }>(
      server,
      "GET",
      `/api/v1/approvals?run_id=${run.body.id}`,
      { token: reader },
    );
    const path = `/api/v1/approvals/${approvals.body.approvals[0]!.id}/decision`;
    const [a, b] = await Promise.all([
      call<RunJson>(server, "POST", path, { token: alice, body: { decision: "approve" } }),
      call<RunJson>(server, "POST", path, { token: sam, body: { decision: "approve" } }),
    ]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    const view = (await p.json<RunJson>(["workflow", "show", run.body.id])).body;
    expect(view.status).toBe("COMPLETED");
    expect(p.step(view, "remove").attempts).toBe(1);
    const events = await call<{ events: { type: string; stepId: string | null }[] }>(
      server,
      "GET",
      `/api/v1/runs/${run.body.id}/events`,
      { token: reader },
    );
    const decided = events.body.events.filter((e) => e.type === "approval.decided");
    expect(decided).toHaveLength(1);
  });

  it("drives a session: open with an envelope, call, status, commit; another rolls back; only its principal may drive it", async () => {
    const opened = await call<{ session: RunJson }>(server, "POST", "/api/v1/sessions", {
      token: agent,
      body: { name: "http-agent", governance: { budgets: { max_tool_calls: 5 } } },
    });
    expect(opened.status).toBe(201);
    const id = opened.body.session.id;
    expect(opened.body.session).toMatchObject({
      kind: "session",
      principal: "agent:bot",
      status: "RUNNING",
    });
    const out = await call<{ outputs: unknown }>(server, "POST", `/api/v1/sessions/${id}/calls`, {
      token: agent,
      body: { capability: "io.fs.write_file", inputs: { path: "s1.txt", content: "from http" } },
    });
    expect(out.status).toBe(200);
    expect(readFileSync(join(p.ws, "s1.txt"), "utf8")).toBe("from http");
    const notMine = await call(server, "POST", `/api/v1/sessions/${id}/calls`, {
      token: alice,
      body: { capability: "io.fs.write_file", inputs: { path: "x.txt", content: "x" } },
    });
    expect(notMine.status).toBe(403);
    expect(notMine.body).toMatchObject({ code: "NOT_YOUR_SESSION" });
    const status = await call<{ session: RunJson }>(server, "GET", `/api/v1/sessions/${id}`, {
      token: reader,
    });
    expect(status.body.session.steps).toHaveLength(1);
    const committed = await call<RunJson>(server, "POST", `/api/v1/sessions/${id}/commit`, {
      token: agent,
      body: {},
    });
    expect(committed.body).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });

    const second = await call<{ session: RunJson }>(server, "POST", "/api/v1/sessions", {
      token: agent,
      body: {},
    });
    const sid = second.body.session.id;
    await call(server, "POST", `/api/v1/sessions/${sid}/calls`, {
      token: agent,
      body: { capability: "io.fs.write_file", inputs: { path: "s2.txt", content: "undo me" } },
    });
    expect(existsSync(join(p.ws, "s2.txt"))).toBe(true);
    const rolled = await call<RunJson>(server, "POST", `/api/v1/sessions/${sid}/rollback`, {
      token: agent,
      body: { reason: "changed my mind" },
    });
    expect(rolled.body.status).toBe("ROLLED_BACK");
    expect(existsSync(join(p.ws, "s2.txt"))).toBe(false);
  });

  it("explains a policy decision, verifies the ledger, signs a checkpoint and lists capabilities", async () => {
    const check = await call<{ decision: { decision: string }; principal: string }>(
      server,
      "POST",
      "/api/v1/policy/check",
      { token: agent, body: { capability: "io.fs.delete", inputs: { path: "x" } } },
    );
    expect(check.status).toBe(200);
    expect(check.body.principal).toBe("agent:bot");
    expect(check.body.decision.decision).toBe("REQUIRE_APPROVAL");
    const verify = await call<{ ok: boolean }>(server, "GET", "/api/v1/ledger/verify", {
      token: reader,
    });
    expect(verify.status).toBe(200);
    const cp = await call<{ treeSize: number }>(server, "POST", "/api/v1/ledger/checkpoints", {
      token: alice,
    });
    expect(cp.status).toBe(201);
    expect(cp.body.treeSize).toBeGreaterThan(0);
    const caps = await call<{ capabilities: { name: string }[] }>(
      server,
      "GET",
      "/api/v1/capabilities?pattern=io.fs.*",
      { token: reader },
    );
    expect(caps.body.capabilities.map((c) => c.name)).toContain("io.fs.write_file");
  });
});

describe("airun serve: who may ask", () => {
  it("answers 401 without a token, with a wrong, an expired or a revoked one, each with its code", async () => {
    const none = await call(server, "GET", "/api/v1/runs");
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({
      code: "UNAUTHENTICATED",
      type: "urn:airun:error:UNAUTHENTICATED",
    });
    expect(none.headers["www-authenticate"]).toContain("Bearer");
    const wrong = await call(server, "GET", "/api/v1/runs", {
      token: `${alice.slice(0, -4)}AAAA`,
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toMatchObject({ code: "UNAUTHENTICATED" });
    const expired = (await makeToken(p, "user:alice", ["--expires", "1ms"])).token;
    const exp = await call(server, "GET", "/api/v1/runs", { token: expired });
    expect(exp.status).toBe(401);
    expect(exp.body).toMatchObject({ code: "TOKEN_EXPIRED" });
    const doomed = await makeToken(p, "user:alice");
    expect((await call(server, "GET", "/api/v1/me", { token: doomed.token })).status).toBe(200);
    expect((await p.run(["token", "revoke", doomed.id])).code).toBe(0);
    const revoked = await call(server, "GET", "/api/v1/me", { token: doomed.token });
    expect(revoked.status).toBe(401);
    expect(revoked.body).toMatchObject({ code: "TOKEN_REVOKED" });
  });

  it("answers 403 SCOPE_MISSING for a read-only token starting a run, and never stores a token in clear", async () => {
    const r = await call(server, "POST", "/api/v1/runs", {
      token: reader,
      body: { spec: WRITE("no") },
    });
    expect(r.status).toBe(403);
    expect(r.body).toMatchObject({ code: "SCOPE_MISSING" });
    const file = readFileSync(join(p.dir, "home", "keys", "tokens.json"), "utf8");
    for (const t of [alice, sam, agent, reader]) expect(file).not.toContain(t);
    const listed = await p.run(["token", "list", "--json"]);
    for (const t of [alice, sam, agent, reader]) expect(listed.stdout).not.toContain(t);
  });

  it("refuses a body over the limit with 413, and a foreign Host or Origin with 403", async () => {
    const big = await call(server, "POST", "/api/v1/runs", {
      token: alice,
      raw: JSON.stringify({ spec: "x".repeat(2 * 1024 * 1024) }),
      announceOnly: true,
    });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ code: "BODY_TOO_LARGE" });
    const rebound = await call(server, "GET", "/api/v1/me", {
      token: alice,
      headers: { host: `evil.example:${server.port}` },
    });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toMatchObject({ code: "HOST_NOT_ALLOWED" });
    const crossSite = await call(server, "POST", "/api/v1/runs", {
      token: alice,
      body: { spec: WRITE("x") },
      headers: { origin: "https://evil.example" },
    });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body).toMatchObject({ code: "HOST_NOT_ALLOWED" });
    const sameSite = await call(server, "GET", "/api/v1/me", {
      token: alice,
      headers: { origin: `http://localhost:${server.port}`, host: `localhost:${server.port}` },
    });
    expect(sameSite.status).toBe(200);
  });

  it("answers unknown routes and malformed bodies with problem details", async () => {
    const missing = await call(server, "GET", "/api/v1/runs/nope", { token: reader });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: "NOT_FOUND" });
    const bad = await call(server, "POST", "/api/v1/approvals/a/b/1/decision", {
      token: sam,
      body: { decision: "maybe" },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: "USAGE" });
    expect(String(bad.body.detail)).toContain("decision");
    const noRoute = await call(server, "GET", "/api/v1/nothing-here", { token: reader });
    expect(noRoute.status).toBe(404);
    expect(noRoute.body).toMatchObject({ code: "NOT_FOUND" });
  });

  it("holds a console session to its token's scopes: a read-only sign-in cannot decide (403), and a form without the CSRF token is refused", async () => {
    const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
    const signin = await call(server, "POST", "/signin", {
      raw: form({ token: reader }),
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(signin.status).toBe(303);
    const cookie = String(signin.headers["set-cookie"]).split(";")[0]!;
    expect(String(signin.headers["set-cookie"])).toMatch(/HttpOnly/i);
    expect(String(signin.headers["set-cookie"])).toMatch(/SameSite=Strict/i);
    const inbox = await call(server, "GET", "/runs", { headers: { cookie } });
    expect(inbox.status).toBe(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(inbox.text)?.[1];
    expect(csrf).toBeDefined();
    const decide = await call(server, "POST", "/approvals/decide", {
      raw: form({ _csrf: csrf!, approval: "x/y/1", decision: "approve" }),
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    });
    expect(decide.status).toBe(403);
    expect(decide.body).toMatchObject({ code: "SCOPE_MISSING" });
    const forged = await call(server, "POST", "/ledger/checkpoint", {
      raw: form({}),
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    });
    expect(forged.status).toBe(403);
    expect(forged.body).toMatchObject({ code: "CSRF_FAILED" });
  });
});

describe("airun serve: live events", () => {
  it("resumes an event stream with Last-Event-ID without losing or repeating an entry", async () => {
    const first = openStream(server, "/api/v1/events", reader);
    expect(await first.status).toBe(200);
    await call(server, "POST", "/api/v1/runs", { token: alice, body: { spec: WRITE("live-1") } });
    const got = await first.waitFor(3);
    first.close();
    const lastId = got.at(-1)!.id!;
    // While nobody listens, more happens.
    const missed = await call<RunJson>(server, "POST", "/api/v1/runs", {
      token: alice,
      body: { spec: WRITE("live-2") },
    });
    const resumed = openStream(server, "/api/v1/events", reader, { "last-event-id": lastId });
    const after = await call<{ events: { seq: number }[] }>(
      server,
      "GET",
      `/api/v1/runs/${missed.body.id}/events`,
      { token: reader },
    );
    const lastOfMissed = after.body.events.at(-1)!.seq;
    const want = lastOfMissed - Number(lastId);
    const again = await resumed.waitFor(want);
    resumed.close();
    const ids = [...got, ...again].map((e) => Number(e.id));
    // Consecutive ledger sequences from the first event on: nothing lost, nothing twice.
    const firstId = ids[0]!;
    expect(ids.slice(0, got.length + want)).toEqual(
      Array.from({ length: got.length + want }, (_, i) => firstId + i),
    );
    const types = again.map((e) => e.event);
    expect(types).toContain("run.completed");
  });

  it("streams one run's entries only, when asked", async () => {
    const run = await call<RunJson>(server, "POST", "/api/v1/runs", {
      token: alice,
      body: { spec: WRITE("one-run") },
    });
    const s = openStream(server, `/api/v1/events?run_id=${run.body.id}`, reader, {
      "last-event-id": "0",
    });
    const events = await s.waitFor(4);
    s.close();
    for (const e of events) expect(JSON.parse(e.data).runId).toBe(run.body.id);
  });
});
