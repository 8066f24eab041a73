/**
 * @module Airun as an MCP server: one MCP connection is one agent session (`engine/sessions`),
 * reached only through the runtime façade. The session is opened at the first call that needs
 * it, under the configured agent principal and governance envelope; each capability the
 * envelope allows is a tool (`tools.ts`), and every call of one goes through the session, so
 * policy, approvals, budgets, the write-ahead intent, undo and the ledger are a workflow step's.
 * Meta-tools show the session's status, commit it (evidence checked: ACCEPT, else ABSTAIN and
 * everything undone) or roll it back.
 *
 * A call that needs a person's approval returns at once: as an MCP task (`task-store.ts`) when
 * the client asked for one, else as a "pending approval" tool result the agent can poll with
 * `airun_call_status`. Refusals (policy, envelope, budget) and failed calls are tool results
 * with `isError` (`results.ts`); the session goes on after a refusal or a failure, and ends on
 * a budget breach (everything undone), as the session engine decides.
 *
 * When the client goes away without committing, the session stays open for the idle time
 * (`mcp.idle_timeout`) and is then rolled back (`disconnected()`); 0 rolls back at once. A
 * process stopped before that (a stdio client kills its server) records the deadline on the
 * session and lets it go: `airun recover` rolls it back once the time is over.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  type CreateTaskResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { ApprovalPendingError } from "../core/errors.js";
import { compileGovernance, type Governance } from "../core/governance.js";
import { isPlainObject, type JsonObject } from "../core/json.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { Session } from "../engine/sessions/session.js";
import type { GovernanceInput } from "../engine/sessions/session-plan.js";
import type { RunView } from "../engine/state/run-view.js";
import { errorAnswer, outputResult, pendingResult, toolError } from "./results.js";
import { AirunTaskStore } from "./task-store.js";
import { META_TOOLS, toolTable } from "./tool-names.js";
import { listTools } from "./tools.js";

/** How a connection's session is opened. */
export interface McpSessionOptions {
  /** The agent principal (`agent:<id>`); it never approves. */
  readonly principal: string;
  /** The governance envelope (a `governance:` block), or null for none. */
  readonly governance: GovernanceInput | null;
  readonly sessionName: string;
  /** How long a session stays open after its client went away without committing. */
  readonly idleTimeoutMs: number;
  /** Key of task ids (`task-store.ts` `loadTaskKey`). */
  readonly taskKey: Buffer;
  /** The server's version, as announced to clients. */
  readonly version: string;
}

const INSTRUCTIONS = `Airun governs every tool call: each one is checked by policy and the session's governance envelope, recorded in a tamper-evident ledger, and undoable. This connection is one transaction: call tools, then ${META_TOOLS.commit} (with evidence when the envelope requires it) to keep the effects, or ${META_TOOLS.rollback} to undo them all. A refused call is a tool error saying which rule or budget refused it; the session goes on. A call that needs a person's approval is not made until a person decides: poll ${META_TOOLS.callStatus}, or call tools as tasks.`;

/** One MCP connection: its server and its session. */
export class McpConnection {
  readonly server: Server;
  readonly #rt: Runtime;
  readonly #opts: McpSessionOptions;
  readonly #envelope: Governance | null;
  readonly #tools: Tool[];
  readonly #table: ReadonlyMap<string, string>;
  readonly #tasks: AirunTaskStore;
  #session: Promise<Session> | null = null;
  #calls = 0;
  #ended = false;

  constructor(rt: Runtime, opts: McpSessionOptions) {
    this.#rt = rt;
    this.#opts = opts;
    this.#envelope =
      opts.governance === null ? null : compileGovernance(opts.governance as JsonObject);
    const described = rt.describeCapabilities();
    this.#table = toolTable(described.map((d) => d.name));
    this.#tools = listTools(described, this.#envelope);
    this.#tasks = new AirunTaskStore(rt, opts.principal, opts.taskKey);
    this.server = new Server(
      { name: "airun", version: opts.version },
      {
        capabilities: {
          tools: { listChanged: false },
          tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
        },
        taskStore: this.#tasks,
        instructions: INSTRUCTIONS,
      },
    );
    this.server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: this.#tools }));
    this.server.setRequestHandler(CallToolRequestSchema, (req) => this.#call(req));
  }

  /** The tools this connection lists. */
  get tools(): readonly Tool[] {
    return this.#tools;
  }

  /** The session's id once it was opened, else null. */
  async sessionId(): Promise<string | null> {
    return this.#session ? (await this.#session).id : null;
  }

  #open(): Promise<Session> {
    this.#session ??= this.#rt.openSession({
      principal: this.#opts.principal,
      name: this.#opts.sessionName,
      ...(this.#opts.governance ? { governance: this.#opts.governance } : {}),
    });
    const opening = this.#session;
    opening.catch(() => {
      if (this.#session === opening) this.#session = null; // nothing was opened: try again
    });
    return opening;
  }

  async #call(req: CallToolRequest): Promise<CallToolResult | CreateTaskResult> {
    const { name } = req.params;
    const args = req.params.arguments ?? {};
    const asTask = req.params.task !== undefined;
    const meta = Object.values(META_TOOLS) as string[];
    if (meta.includes(name)) {
      if (asTask) {
        throw new McpError(ErrorCode.InvalidParams, `${name} cannot be called as a task`);
      }
      try {
        return await this.#meta(name, args);
      } catch (err) {
        return this.#pendingOr(err, "the commit");
      }
    }
    const capability = this.#table.get(name);
    if (capability === undefined) {
      throw new McpError(ErrorCode.InvalidParams, `unknown tool ${name}`);
    }
    let session: Session;
    try {
      session = await this.#open();
    } catch (err) {
      return this.#taskless(errorAnswer(err), asTask);
    }
    this.#calls += 1;
    const callId = `mcp_${this.#calls}`;
    try {
      const outputs = await session.call(capability, args, { id: callId });
      return asTask ? await this.#task(session.id, callId) : outputResult(outputs);
    } catch (err) {
      if (err instanceof ApprovalPendingError && err.approval.stepId !== callId) {
        // The session waits for an earlier call: this one was not even recorded.
        const a = err.approval;
        return this.#taskless(
          toolError(
            `APPROVAL_PENDING: this call was not made: the session waits for approval ${a.approvalId} of call ${a.stepId}; no other call can be made until a person decides it (poll ${META_TOOLS.callStatus} with {"call_id":"${a.stepId}"}), or roll the session back.`,
            { code: "APPROVAL_PENDING", approval_id: a.approvalId, call_id: a.stepId },
          ),
          asTask,
        );
      }
      if (asTask) {
        const state = await this.#tasks.state(this.#tasks.idOf(session.id, callId));
        if (state) return { task: state.task };
        return this.#taskless(errorAnswer(err), true);
      }
      if (err instanceof ApprovalPendingError) {
        return pendingResult(err.approval, capability, META_TOOLS.callStatus);
      }
      return errorAnswer(err);
    }
  }

  /** The task of a call just made (or waiting). */
  async #task(runId: string, callId: string): Promise<CreateTaskResult> {
    const state = await this.#tasks.state(this.#tasks.idOf(runId, callId));
    if (!state) throw new McpError(ErrorCode.InternalError, `call ${callId} has no record`);
    return { task: state.task };
  }

  /** A tool error where no task could be created: a JSON-RPC error for a task request. */
  #taskless(result: CallToolResult, asTask: boolean): CallToolResult {
    if (!asTask) return result;
    const text = result.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
    throw new McpError(ErrorCode.InvalidRequest, text);
  }

  #pendingOr(err: unknown, what: string): CallToolResult {
    if (err instanceof ApprovalPendingError) {
      return pendingResult(err.approval, what, META_TOOLS.callStatus);
    }
    return errorAnswer(err);
  }

  async #meta(name: string, args: Record<string, unknown>): Promise<CallToolResult> {
    if (name === META_TOOLS.status) {
      if (!this.#session) {
        return outputResult({
          session_id: null,
          status: "NOT_STARTED",
          principal: this.#opts.principal,
          note: "the session opens at the first tool call",
        });
      }
      return outputResult((await (await this.#open()).statusReport()) as unknown as JsonObject);
    }
    if (name === META_TOOLS.callStatus) return this.#callStatus(args.call_id);
    const session = await this.#open();
    let view: RunView;
    if (name === META_TOOLS.commit) {
      const evidence = args.evidence;
      if (evidence !== undefined && !isPlainObject(evidence)) {
        throw new McpError(ErrorCode.InvalidParams, "evidence must be an object of key: value");
      }
      view = await session.commit(evidence === undefined ? {} : { evidence });
    } else {
      const reason = args.reason;
      view = await session.rollback(typeof reason === "string" ? { reason } : {});
    }
    this.#ended = true;
    return outputResult(endOf(view));
  }

  async #callStatus(callId: unknown): Promise<CallToolResult> {
    if (typeof callId !== "string")
      throw new McpError(ErrorCode.InvalidParams, "call_id must be a string");
    const id = await this.sessionId();
    const state = id ? await this.#tasks.state(this.#tasks.idOf(id, callId)) : null;
    if (!state) throw new McpError(ErrorCode.InvalidParams, `this session has no call ${callId}`);
    if (state.result) return state.result;
    return outputResult({
      call_id: callId,
      status: "pending_approval",
      message: state.task.statusMessage ?? "",
    });
  }

  /**
   * The client went away. A session that was not committed or rolled back stays open for the
   * idle time, then is rolled back (0: now). Resolves once that is done.
   */
  async disconnected(
    signal?: AbortSignal,
  ): Promise<"none" | "ended" | "rolled_back" | "left_open"> {
    if (!this.#session || this.#ended) return this.#ended ? "ended" : "none";
    let session: Session;
    try {
      session = await this.#session;
    } catch {
      return "none";
    }
    const idle = this.#opts.idleTimeoutMs;
    const since = Date.now();
    if (idle > 0) {
      const waited = await new Promise<boolean>((resolve) => {
        // Already stopping (the HTTP handler aborts before it closes its transports): an
        // aborted signal fires no more "abort" events, so the wait would last the idle time.
        if (signal?.aborted) return resolve(false);
        const t = setTimeout(() => resolve(true), idle);
        signal?.addEventListener(
          "abort",
          () => {
            clearTimeout(t);
            resolve(false);
          },
          { once: true },
        );
      });
      if (!waited) {
        // This process is stopping first: the deadline is recorded, `airun recover` keeps it.
        const remaining = Math.max(0, idle - (Date.now() - since));
        await session.detach({ idleRollbackMs: remaining }).catch(() => undefined);
        return "left_open";
      }
    }
    try {
      await session.rollback({ reason: "the MCP client disconnected without committing" });
    } catch {
      return "ended"; // it had ended meanwhile (e.g. rejected approval), or ends elsewhere
    }
    return "rolled_back";
  }
}

/** What commit and rollback answer: how the session ended. */
function endOf(view: RunView): JsonObject {
  return {
    session_id: view.id,
    status: view.status,
    outcome: view.outcome,
    reason: view.reason,
    calls: view.steps.length,
  };
}
