/**
 * @module The HTTP client of `airun serve`'s API for sessions and approvals: an agent in another
 * process (or on another machine) drives a session, and a person's tool lists and decides
 * approvals, with a bearer token (`airun token create`). Uses the platform's `fetch`; no
 * dependency. Errors from the server are `AirunHttpError` with the stable `code` of the problem
 * details (a separate family from the in-process errors: they crossed a wire).
 *
 * @example
 * const client = new AirunHttpClient({ baseUrl: "http://127.0.0.1:7420", token: process.env.AIRUN_TOKEN! });
 * const s = await client.openSession({ name: "fix-typo", governance: { budgets: { max_tool_calls: 5 } } });
 * try {
 *   await s.call("io.fs.write_file", { path: "README.md", content: "fixed" });
 *   await s.commit();
 * } catch (err) {
 *   if (err instanceof AirunHttpError && err.code === "CALL_DENIED") await s.rollback();
 *   throw err;
 * }
 */

/** A problem answer of the API (RFC 9457), as thrown by the client. */
export class AirunHttpError extends Error {
  override readonly name = "AirunHttpError";
  /** HTTP status. */
  readonly status: number;
  /** The stable error code (README: error codes), `HTTP_<status>` if the body was not a problem. */
  readonly code: string;
  /** The whole problem document (context ids, validation problems). */
  readonly problem: Readonly<Record<string, unknown>>;

  constructor(status: number, problem: Record<string, unknown>) {
    const code = typeof problem.code === "string" ? problem.code : `HTTP_${status}`;
    super(`${code}: ${typeof problem.detail === "string" ? problem.detail : `HTTP ${status}`}`);
    this.status = status;
    this.code = code;
    this.problem = problem;
  }
}

/** A run or session as the API shows it (the fields a client usually reads; more are there). */
export interface HttpRunView {
  readonly id: string;
  readonly kind: "workflow" | "session";
  readonly name: string;
  readonly status: string;
  readonly outcome: string | null;
  readonly reason: string | null;
  readonly principal: string;
  readonly steps: readonly Record<string, unknown>[];
  readonly [field: string]: unknown;
}

/** A pending (or past) approval as the API lists it. */
export interface HttpApproval {
  readonly id: string;
  readonly status: string;
  readonly run_id: string;
  readonly step_id: string;
  readonly requester: string;
  readonly message: string;
  readonly expires_at: number | null;
  readonly [field: string]: unknown;
}

/** Where the server is and who the client is. */
export interface HttpClientOptions {
  /** `http://host:port` of `airun serve`. */
  readonly baseUrl: string;
  /** A bearer token from `airun token create`. */
  readonly token: string;
  /** A `fetch` to use instead of the global one. */
  readonly fetch?: typeof fetch;
}

/** The client (see module doc). */
export class AirunHttpClient {
  readonly #base: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;

  constructor(opts: HttpClientOptions) {
    this.#base = `${opts.baseUrl.replace(/\/+$/, "")}/api/v1`;
    this.#token = opts.token;
    this.#fetch = opts.fetch ?? fetch;
  }

  /** Who the token is, with its scopes. */
  me(): Promise<{ principal: string; scopes: string[]; token_id: string }> {
    return this.request("GET", "/me");
  }

  /**
   * Opens a session as the token's principal. With `idempotencyKey`, opening again with the same
   * key and definition is the same session.
   */
  async openSession(
    opts: {
      readonly name?: string;
      readonly objective?: string;
      readonly governance?: Record<string, unknown>;
      readonly idleTimeoutMs?: number;
      readonly idempotencyKey?: string;
    } = {},
  ): Promise<HttpSession> {
    const body = {
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.objective !== undefined ? { objective: opts.objective } : {}),
      ...(opts.governance !== undefined ? { governance: opts.governance } : {}),
      ...(opts.idleTimeoutMs !== undefined ? { idle_timeout_ms: opts.idleTimeoutMs } : {}),
    };
    const headers = opts.idempotencyKey ? { "idempotency-key": opts.idempotencyKey } : undefined;
    const r = await this.request<{ session: HttpRunView }>("POST", "/sessions", body, headers);
    return new HttpSession(this, r.session.id);
  }

  /** A session already open (by id), to drive it from this client. */
  session(id: string): HttpSession {
    return new HttpSession(this, id);
  }

  /** Pending approvals (or, with `runId`, every approval of that run). */
  async listApprovals(runId?: string): Promise<HttpApproval[]> {
    const q = runId ? `?run_id=${encodeURIComponent(runId)}` : "";
    return (await this.request<{ approvals: HttpApproval[] }>("GET", `/approvals${q}`)).approvals;
  }

  /** One approval with exactly what it lets happen (`action`). */
  getApproval(id: string): Promise<{ approval: HttpApproval; action: Record<string, unknown> }> {
    return this.request("GET", `/approvals/${approvalPath(id)}`);
  }

  /** Approves or rejects as the token's principal; answers with the run once driven on. */
  decide(id: string, decision: "approve" | "reject", comment?: string): Promise<HttpRunView> {
    return this.request("POST", `/approvals/${approvalPath(id)}/decision`, {
      decision,
      ...(comment !== undefined ? { comment } : {}),
    });
  }

  /** One run or session. */
  getRun(id: string): Promise<HttpRunView> {
    return this.request("GET", `/runs/${encodeURIComponent(id)}`);
  }

  /** @internal One API request; a problem answer throws `AirunHttpError`. */
  async request<T>(
    method: "GET" | "POST",
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const res = await this.#fetch(`${this.#base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : null;
    } catch {
      parsed = { detail: text.slice(0, 200) };
    }
    if (!res.ok) throw new AirunHttpError(res.status, (parsed ?? {}) as Record<string, unknown>);
    return parsed as T;
  }
}

/** A session driven over HTTP (see `AirunHttpClient.openSession`). */
export class HttpSession {
  readonly id: string;
  readonly #client: AirunHttpClient;

  constructor(client: AirunHttpClient, id: string) {
    this.#client = client;
    this.id = id;
  }

  /**
   * Calls a capability in the session and returns its outputs (as recorded, secrets masked).
   * Throws `AirunHttpError`: `CALL_DENIED` / `CALL_FAILED` (session still open),
   * `APPROVAL_PENDING` (`problem.context.approvalId` names the approval), `BUDGET_EXCEEDED` (the
   * session abstained and was rolled back), …
   */
  async call<T = Record<string, unknown>>(
    capability: string,
    inputs: unknown = {},
    opts: {
      readonly id?: string;
      readonly risk_level?: "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";
      readonly compensation?: { readonly capability: string; readonly inputs?: unknown };
      readonly evidence?: Readonly<Record<string, unknown>>;
    } = {},
  ): Promise<T> {
    const r = await this.#client.request<{ outputs: T }>("POST", `/sessions/${this.#id()}/calls`, {
      capability,
      inputs,
      ...opts,
    });
    return r.outputs;
  }

  /** The session's run and the id of the approval it waits for, if any. */
  status(): Promise<{ session: HttpRunView; pending_approval: string | null }> {
    return this.#client.request("GET", `/sessions/${this.#id()}`);
  }

  /** Commits: evidence, budgets and drift checked; COMPLETED, or rolled back with a problem. */
  commit(evidence?: Readonly<Record<string, unknown>>): Promise<HttpRunView> {
    return this.#client.request(
      "POST",
      `/sessions/${this.#id()}/commit`,
      evidence ? { evidence } : {},
    );
  }

  /** Abandons the session: everything it did is undone, newest first. */
  rollback(reason?: string): Promise<HttpRunView> {
    return this.#client.request(
      "POST",
      `/sessions/${this.#id()}/rollback`,
      reason !== undefined ? { reason } : {},
    );
  }

  #id(): string {
    return encodeURIComponent(this.id);
  }
}

/** `<run>/<step>/<n>` with each part escaped. */
function approvalPath(id: string): string {
  return id.split("/").map(encodeURIComponent).join("/");
}
