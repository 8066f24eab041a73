/**
 * @module The web console, served by `airun serve` itself: server-rendered pages (no build step,
 * no CDN, works offline), one stylesheet and one small script (`console-assets.ts`). Sign in
 * with a token: the session cookie is `HttpOnly`, `SameSite=Strict` (and `Secure` behind TLS);
 * every form carries the session's CSRF token, checked by the guard. Actions go through the same
 * API routes as any client (the principal is the signed-in token's).
 *
 * Pages: the approvals inbox first (exactly what will happen: capability, masked inputs, a diff
 * for file writes against the file's current content, risk, the rule and reason, requester,
 * context hash, expiry countdown; approve / reject with a comment), runs (filters), a run
 * (timeline, compensations newest first, evidence), the ledger (verification, checkpoint,
 * evidence packs). Pages refresh themselves when the ledger moves (SSE).
 */
import { readFile } from "node:fs/promises";
import { Hono, type MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { AirunError } from "../core/errors.js";
import type { JsonObject } from "../core/json.js";
import type { ApprovalView } from "../engine/approvals/approval-view.js";
import type { ProgressEvent } from "../engine/context.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { RunView } from "../engine/state/run-view.js";
import { CONSOLE_CSS, CONSOLE_JS } from "./console-assets.js";
import { lineDiff } from "./diff.js";
import {
  type ConsoleSession,
  type ConsoleSessions,
  requireScope,
  SESSION_COOKIE,
  type ServerEnv,
} from "./guard.js";

/** What the console is built from. */
export interface ConsoleDeps {
  readonly rt: Runtime;
  readonly consoleSessions: ConsoleSessions;
  /** Cookies get `Secure` (served over TLS, or behind a TLS proxy). */
  readonly secureCookies: boolean;
}

const esc = (v: unknown) =>
  String(v ?? "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");

const iso = (ms: number | null) => (ms === null ? "never" : new Date(ms).toISOString());

function page(title: string, body: string, session?: ConsoleSession): string {
  const nav = session
    ? `<nav aria-label="main"><a href="/">Approvals</a> <a href="/runs">Runs</a> <a href="/ledger">Ledger</a>
       <span class="who">${esc(session.token.principal)}</span>
       <form method="post" action="/signout" class="inline"><input type="hidden" name="_csrf" value="${esc(session.csrf)}"><button type="submit">Sign out</button></form></nav>`
    : "";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · Airun</title><link rel="stylesheet" href="/assets/console.css"></head>
<body><header><strong>Airun</strong>${nav}</header><main id="main">${body}</main>
<script src="/assets/console.js" defer></script></body></html>`;
}

/** The console's routes; `auth` is the API's authentication (cookie or bearer). */
export function consoleRoutes(
  deps: ConsoleDeps,
  auth: MiddlewareHandler<ServerEnv>,
): Hono<ServerEnv> {
  const { rt } = deps;
  const ui = new Hono<ServerEnv>();
  const html = (body: string) =>
    new Response(body, { headers: { "content-type": "text/html; charset=utf-8" } });

  ui.get("/assets/console.css", (c) => c.body(CONSOLE_CSS, 200, { "content-type": "text/css" }));
  ui.get("/assets/console.js", (c) =>
    c.body(CONSOLE_JS, 200, { "content-type": "text/javascript" }),
  );

  ui.get("/signin", () =>
    html(
      page(
        "Sign in",
        `<h1>Sign in</h1>
<form method="post" action="/signin" class="card">
<label for="token">Token <small>(from <code>airun token create</code>)</small></label>
<input id="token" name="token" type="password" autocomplete="off" required>
<button type="submit">Sign in</button></form>`,
      ),
    ),
  );
  ui.post("/signin", async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form.token === "string" ? form.token.trim() : "";
    const auth = await rt.tokens.authenticate(token);
    if (!auth.ok) {
      return c.html(
        page(
          "Sign in",
          `<h1>Sign in</h1><p class="error" role="alert">That token is ${esc(auth.why)}.</p><p><a href="/signin">Try again</a></p>`,
        ),
        401,
      );
    }
    const session = deps.consoleSessions.open(auth.token);
    setCookie(c, SESSION_COOKIE, session.id, {
      httpOnly: true,
      sameSite: "Strict",
      secure: deps.secureCookies,
      path: "/",
    });
    return c.redirect("/", 303);
  });

  // Every other page needs a signed-in session; without one, the sign-in page. (The API and
  // the MCP endpoint answer for themselves: an unknown path there is a 404 problem.)
  ui.use("*", async (c, next) => {
    if (c.req.path.startsWith("/api/") || c.req.path.startsWith("/mcp")) return next();
    if (!deps.consoleSessions.get(getCookie(c, SESSION_COOKIE))) return c.redirect("/signin", 303);
    return auth(c, next);
  });
  const session = (c: { get(k: "caller"): { consoleSession?: ConsoleSession } }) => {
    const s = c.get("caller").consoleSession;
    if (!s) throw new AirunError("UNAUTHENTICATED", "the console needs a signed-in session");
    return s;
  };

  ui.post("/signout", (c) => {
    deps.consoleSessions.close(session(c).id);
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.redirect("/signin", 303);
  });

  ui.get("/", async (c) => {
    const s = session(c);
    const pending = await rt.listApprovals();
    const cards = await Promise.all(pending.map((a) => approvalCard(deps, a, s)));
    const body = `<h1>Approvals <small>${pending.length} pending</small></h1>
${cards.length === 0 ? `<p class="empty">Nothing waits for a decision.</p>` : cards.join("\n")}`;
    return html(page("Approvals", `<div data-live="all">${body}</div>`, s));
  });

  ui.post("/approvals/decide", requireScope("approve"), async (c) => {
    const form = await c.req.parseBody();
    const id = String(form.approval ?? "");
    const decision = form.decision === "approve" ? "approve" : "reject";
    const comment =
      typeof form.comment === "string" && form.comment.length > 0 ? form.comment : undefined;
    const view = await rt.decideApproval(id, {
      decision,
      principal: session(c).token.principal,
      ...(comment ? { comment } : {}),
    });
    return c.redirect(`/runs/${encodeURIComponent(view.id)}`, 303);
  });

  ui.get("/runs", async (c) => {
    const s = session(c);
    const status = c.req.query("status");
    const outcome = c.req.query("outcome");
    const name = c.req.query("name");
    const principal = c.req.query("principal");
    const runs = await rt.listRuns({
      ...(status ? { status: [status as never] } : {}),
      ...(outcome ? { outcome } : {}),
      ...(name ? { name } : {}),
      ...(principal ? { principal } : {}),
      limit: 100,
    });
    const rows = runs
      .map(
        (r) =>
          `<tr><td><a href="/runs/${esc(encodeURIComponent(r.id))}">${esc(r.name)}</a></td><td><span class="status ${esc(r.status)}">${esc(r.status)}</span></td><td>${esc(r.outcome ?? "")}</td><td>${esc(r.principal)}</td><td><time>${esc(r.created_at)}</time></td></tr>`,
      )
      .join("");
    const body = `<h1>Runs</h1>
<form method="get" action="/runs" class="filters">
<label>Status <select name="status"><option value="">any</option>${["RUNNING", "WAITING_APPROVAL", "COMPENSATING", "COMPLETED", "ROLLED_BACK", "FAILED"].map((x) => `<option${x === status ? " selected" : ""}>${x}</option>`).join("")}</select></label>
<label>Outcome <input name="outcome" value="${esc(outcome)}"></label>
<label>Spec <input name="name" value="${esc(name)}"></label>
<label>Principal <input name="principal" value="${esc(principal)}"></label>
<button type="submit">Filter</button></form>
<div class="scroll"><table><thead><tr><th>Spec</th><th>Status</th><th>Outcome</th><th>Principal</th><th>Created</th></tr></thead><tbody>${rows}</tbody></table></div>`;
    return html(page("Runs", `<div data-live="all">${body}</div>`, s));
  });

  ui.get("/runs/:id", async (c) => {
    const s = session(c);
    const id = c.req.param("id");
    const [run, events] = await Promise.all([rt.getRun(id), rt.events(id)]);
    return html(
      page(`Run ${run.name}`, `<div data-live="${esc(id)}">${runPage(run, events, s)}</div>`, s),
    );
  });

  ui.post("/runs/:id/cancel", requireScope("run"), async (c) => {
    const id = c.req.param("id");
    await rt.cancel(id, session(c).token.principal);
    return c.redirect(`/runs/${encodeURIComponent(id)}`, 303);
  });
  ui.post("/runs/:id/rollback", requireScope("run"), async (c) => {
    const id = c.req.param("id");
    await rt.rollback(id, { principal: session(c).token.principal });
    return c.redirect(`/runs/${encodeURIComponent(id)}`, 303);
  });

  ui.get("/ledger", async (c) => {
    const s = session(c);
    const report = (await rt.verifyLedger()) as unknown as JsonObject;
    const ok = report.ok === true;
    const body = `<h1>Ledger</h1>
<p class="verdict ${ok ? "ok" : "bad"}" role="status">${ok ? "✓ the ledger verifies" : "✗ the ledger does NOT verify"}</p>
<details><summary>Full report</summary><pre>${esc(JSON.stringify(report, null, 2))}</pre></details>
<form method="post" action="/ledger/checkpoint"><input type="hidden" name="_csrf" value="${esc(s.csrf)}"><button type="submit">Sign a checkpoint now</button></form>
<p>An evidence pack of a run is on its run page.</p>`;
    return html(page("Ledger", body, s));
  });
  ui.post("/ledger/checkpoint", requireScope("run"), async (c) => {
    const s = session(c);
    const cp = await rt.checkpointLedger();
    return html(
      page(
        "Checkpoint",
        `<h1>Checkpoint signed</h1><p>${cp.treeSize} entries, root <code>${esc(cp.root)}</code>, saved as <code>${esc(cp.file)}</code>.</p><pre>${esc(cp.text)}</pre><p><a href="/ledger">Back to the ledger</a></p>`,
        s,
      ),
    );
  });
  ui.get("/runs/:id/evidence-pack", async (c) => {
    const id = c.req.param("id");
    const text = await rt.exportEvidencePack(id);
    return c.body(text, 200, {
      "content-type": "application/json",
      "content-disposition": `attachment; filename="${id.replace(/[^\w.-]/g, "_")}.airun-pack.json"`,
    });
  });
  return ui;
}

/** One pending approval, with exactly what it lets happen. */
async function approvalCard(
  deps: ConsoleDeps,
  a: ApprovalView,
  s: ConsoleSession,
): Promise<string> {
  const action = await deps.rt.approvalAction(a);
  const decision = (action.decision ?? {}) as JsonObject;
  const inputs = (action.inputs ?? {}) as JsonObject;
  const diff = await fileDiff(action.capability, decision, inputs);
  const rules = Array.isArray(decision.rule_ids) ? decision.rule_ids.join(", ") : "";
  return `<article class="card approval" aria-labelledby="h-${esc(a.id)}">
<h2 id="h-${esc(a.id)}"><code>${esc(action.capability)}</code> in <a href="/runs/${esc(encodeURIComponent(a.run_id))}">${esc(a.run_name)}</a> · step <code>${esc(a.step_id)}</code></h2>
<p class="message">${esc(a.message)}</p>
<dl>
<dt>Requested by</dt><dd>${esc(a.requester)}</dd>
<dt>Risk</dt><dd><span class="risk ${esc(decision.risk)}">${esc(decision.risk ?? "?")}</span></dd>
<dt>Rule</dt><dd>${esc(rules || "—")}</dd>
<dt>Reason</dt><dd>${esc(decision.reason ?? "—")}</dd>
<dt>Approvers</dt><dd>${esc(a.approvers.join(", ") || "any user")}</dd>
<dt>Context hash</dt><dd><code class="hash">${esc(action.context_hash)}</code></dd>
<dt>Expires</dt><dd>${a.expires_at === null ? "never" : `<time class="countdown" datetime="${esc(iso(a.expires_at))}">${esc(iso(a.expires_at))}</time> (then ${esc(a.on_timeout)})`}</dd>
</dl>
<h3>Inputs <small>(secrets masked)</small></h3><pre class="inputs">${esc(JSON.stringify(inputs, null, 2))}</pre>
${diff}
<form method="post" action="/approvals/decide" class="decide">
<input type="hidden" name="_csrf" value="${esc(s.csrf)}"><input type="hidden" name="approval" value="${esc(a.id)}">
<label for="c-${esc(a.id)}">Comment</label><input id="c-${esc(a.id)}" name="comment" maxlength="4000">
<div class="buttons"><button type="submit" name="decision" value="approve" class="approve">Approve</button>
<button type="submit" name="decision" value="reject" class="reject">Reject</button></div></form>
</article>`;
}

/** For a file write: the change against the file's current content, line by line. */
async function fileDiff(
  capability: string | null,
  decision: JsonObject,
  inputs: JsonObject,
): Promise<string> {
  if (capability !== "io.fs.write_file" || typeof inputs.content !== "string") return "";
  const paths = Array.isArray(decision.paths) ? decision.paths : [];
  const path = typeof paths[0] === "string" ? paths[0] : (paths[0] as JsonObject | undefined)?.path;
  if (typeof path !== "string") return "";
  let current = "";
  let exists = true;
  try {
    current = await readFile(path, "utf8");
  } catch {
    exists = false;
  }
  const lines = lineDiff(current, inputs.content)
    .map(
      (l) =>
        `<span class="d${l.op === "+" ? "add" : l.op === "-" ? "del" : "same"}">${esc(`${l.op} ${l.text}`)}</span>`,
    )
    .join("");
  return `<h3>Change to <code>${esc(path)}</code>${exists ? "" : " <small>(new file)</small>"}</h3><pre class="diff" aria-label="diff">${lines}</pre>`;
}

function runPage(run: RunView, events: ProgressEvent[], s: ConsoleSession): string {
  const steps = run.steps
    .map(
      (st) =>
        `<tr><td><code>${esc(st.id)}</code></td><td>${esc(st.capability)}</td><td><span class="status ${esc(st.status)}">${esc(st.status)}</span></td><td>${st.attempts}</td><td>${esc(st.compensation ? `${st.compensation.kind}: ${st.compensation.status}` : "")}</td></tr>`,
    )
    .join("");
  const timeline = events
    .map(
      (e) =>
        `<li><time>${esc(new Date(e.at).toISOString())}</time> <code>${esc(e.type)}</code>${e.stepId ? ` <code>${esc(e.stepId)}</code>` : ""}</li>`,
    )
    .join("");
  const undo = events
    .filter((e) => e.type.startsWith("compensation."))
    .map((e) => `<li><code>${esc(e.type)}</code> <code>${esc(e.stepId)}</code></li>`)
    .join("");
  const armed = run.steps.filter((st) => st.compensation?.status === "ARMED").map((st) => st.id);
  const finished = ["COMPLETED", "FAILED"].includes(run.status);
  const active = ["RUNNING", "WAITING_APPROVAL"].includes(run.status);
  const confirmText = `This undoes, newest first: ${armed.slice().reverse().join(", ") || "nothing armed"}.`;
  const actions = `${active ? `<form method="post" action="/runs/${esc(encodeURIComponent(run.id))}/cancel" data-confirm="${esc(`Cancel run ${run.name}? ${confirmText}`)}"><input type="hidden" name="_csrf" value="${esc(s.csrf)}"><button type="submit" class="reject">Cancel run</button></form>` : ""}
${finished ? `<form method="post" action="/runs/${esc(encodeURIComponent(run.id))}/rollback" data-confirm="${esc(`Roll back run ${run.name}? ${confirmText}`)}"><input type="hidden" name="_csrf" value="${esc(s.csrf)}"><button type="submit" class="reject">Roll back</button></form>` : ""}
<a href="/runs/${esc(encodeURIComponent(run.id))}/evidence-pack">Download evidence pack</a>`;
  return `<h1>${esc(run.name)} <small>v${esc(run.version)}</small></h1>
<p><span class="status ${esc(run.status)}" id="run-status">${esc(run.status)}</span> ${esc(run.outcome ?? "")} ${esc(run.reason ?? "")} · ${esc(run.principal)} · <code>${esc(run.id)}</code></p>
<div class="actions">${actions}</div>
<h2>Steps</h2><div class="scroll"><table><thead><tr><th>Step</th><th>Capability</th><th>Status</th><th>Attempts</th><th>Undo</th></tr></thead><tbody>${steps}</tbody></table></div>
<h2>Undo <small>(newest first)</small></h2>${undo ? `<ol class="undo">${undo}</ol>` : "<p>Nothing was undone.</p>"}
<h2>Timeline</h2><ol class="timeline">${timeline}</ol>`;
}
