/**
 * @module MCP tasks (spec 2025-11-25, the SDK's experimental tasks API) kept in Airun's own
 * store. A task-augmented tool call is one call of the session: a step of its run. The task has
 * no state of its own to lose: its status and result are read from that step each time
 * (`working` while it waits for a person or runs; `completed` with the call's outputs once it
 * was made; `failed` with the reason when it was refused, rejected, expired, or the session
 * ended first). So a task survives a restart of `airun mcp`, and is completed by whichever
 * process carried the call out (`airun workflow resume … --decision approve`, which makes the
 * approved call).
 *
 * Task ids are `<run>.<step>.<mac>`, the MAC an HMAC-SHA256 under a key kept in
 * `<home>/keys/mcp/`: unguessable, and checked without a table. Each lookup is also checked
 * against the principal of the server asking: a task is visible only to the agent whose call
 * it is. The agent cannot cancel a call waiting for approval (an agent never decides its own
 * approval; it may roll the session back), so `tasks/cancel` is refused.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type {
  CreateTaskOptions,
  TaskStore,
} from "@modelcontextprotocol/sdk/experimental/tasks/interfaces.js";
import {
  type CallToolResult,
  ErrorCode,
  McpError,
  type Result,
  type Task,
} from "@modelcontextprotocol/sdk/types.js";
import { NotFoundError } from "../core/errors.js";
import { isPlainObject } from "../core/json.js";
import { keySet } from "../engine/keys/key-files.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import { approvalOf } from "../engine/state/approval-record.js";
import type { RunView, StepView } from "../engine/state/run-view.js";
import { decideCommand, deciders, outputResult, toolError } from "./results.js";

const KEY_FILE = "tasks.hmac";
/** How often a client should poll a working task (ms). */
export const TASK_POLL_MS = 500;

/** Loads (or creates) the key that makes task ids unguessable. */
export async function loadTaskKey(home: string): Promise<Buffer> {
  const files = await keySet(home, "mcp", [KEY_FILE], () => ({
    [KEY_FILE]: { content: randomBytes(32), mode: 0o600 },
  }));
  return files[KEY_FILE]!;
}

const iso = (s: string | null, fallback: string) => s ?? fallback;

/** A task and, once it is terminal, the call's result. */
interface TaskState {
  readonly task: Task;
  readonly result: CallToolResult | null;
}

/** The task of one call, derived from its step in the session's run view. */
export function taskState(taskId: string, view: RunView, step: StepView): TaskState {
  const base = {
    taskId,
    ttl: null,
    pollInterval: TASK_POLL_MS,
    createdAt: iso(step.started_at, view.created_at),
    lastUpdatedAt: iso(step.finished_at, view.updated_at),
  };
  const what = `call ${step.id} (${step.capability ?? "?"})`;
  if (step.status === "SUCCEEDED" || step.status === "COMPENSATED") {
    return {
      task: {
        ...base,
        status: "completed",
        statusMessage:
          step.status === "COMPENSATED"
            ? `${what} was made, then undone when the session rolled back`
            : `${what} was made`,
      },
      result: outputResult(step.outputs ?? {}),
    };
  }
  const ended =
    view.status === "COMPLETED" || view.status === "ROLLED_BACK" || view.status === "FAILED";
  if (step.status === "FAILED" || step.status === "NOT_RUN" || step.status === "SKIPPED" || ended) {
    const error = isPlainObject(step.error) ? step.error : {};
    const a = approvalOf(step.decision);
    const why =
      typeof error.code === "string"
        ? `${error.code}: ${String(error.message ?? "")}`
        : `the session ended ${view.status} (${view.reason ?? "-"}) before it was made`;
    const text = `${what} was not made: ${why}${a && a.status !== "USED" ? ` (approval ${a.id} ${a.status}${a.decided_by ? ` by ${a.decided_by}` : ""})` : ""}`;
    return {
      task: { ...base, status: "failed", statusMessage: text },
      result: toolError(text, {
        code: typeof error.code === "string" ? error.code : "SESSION_CLOSED",
        call_id: step.id,
        session_id: view.id,
        session_status: view.status,
        ...(a ? { approval_id: a.id, approval_status: a.status } : {}),
      }),
    };
  }
  const a = approvalOf(step.decision);
  const statusMessage =
    step.status === "WAITING_APPROVAL" && a
      ? `${what} waits for approval ${a.id}${a.message ? ` (${a.message})` : ""}; who may decide: ${deciders(a.approvers)}, never this agent; a person decides with: ${decideCommand(view.id)}`
      : `${what} is ${step.status.toLowerCase()}`;
  return { task: { ...base, status: "working", statusMessage }, result: null };
}

/** The SDK's `TaskStore`, over the session runs of one agent principal. */
export class AirunTaskStore implements TaskStore {
  readonly #rt: Runtime;
  readonly #principal: string;
  readonly #key: Buffer;
  /** Tasks this server created, for `tasks/list` (ids only; their state is read each time). */
  readonly #listed: string[] = [];

  constructor(rt: Runtime, principal: string, key: Buffer) {
    this.#rt = rt;
    this.#principal = principal;
    this.#key = key;
  }

  #mac(runId: string, stepId: string): string {
    return createHmac("sha256", this.#key)
      .update(`${runId}\n${stepId}`)
      .digest("base64url")
      .slice(0, 32);
  }

  /** The task id of a call (remembered for `tasks/list`). */
  idOf(runId: string, stepId: string): string {
    const id = `${runId}.${stepId}.${this.#mac(runId, stepId)}`;
    if (!this.#listed.includes(id)) this.#listed.push(id);
    return id;
  }

  /** The run and step a task id names, when its MAC checks. */
  #parse(taskId: string): { runId: string; stepId: string } | null {
    const parts = taskId.split(".");
    if (parts.length !== 3) return null;
    const [runId, stepId, mac] = parts as [string, string, string];
    const want = Buffer.from(this.#mac(runId, stepId));
    const got = Buffer.from(mac);
    return got.length === want.length && timingSafeEqual(got, want) ? { runId, stepId } : null;
  }

  /** The task's state, or null when it does not exist for this principal. */
  async state(taskId: string): Promise<TaskState | null> {
    const ref = this.#parse(taskId);
    if (!ref) return null;
    let view: RunView;
    try {
      view = await this.#rt.getRun(ref.runId);
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
    if (view.kind !== "session" || view.principal !== this.#principal) return null;
    const step = view.steps.find((s) => s.id === ref.stepId);
    return step ? taskState(taskId, view, step) : null;
  }

  async createTask(_params: CreateTaskOptions): Promise<Task> {
    // Tasks are created by tools/call (server.ts), from the call's step.
    throw new McpError(
      ErrorCode.InvalidRequest,
      "tasks are created by task-augmented tools/call only",
    );
  }

  async getTask(taskId: string): Promise<Task | null> {
    return (await this.state(taskId))?.task ?? null;
  }

  async storeTaskResult(taskId: string): Promise<void> {
    throw new McpError(ErrorCode.InvalidRequest, `task ${taskId}: its result is the call's step`);
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const s = await this.state(taskId);
    if (!s) throw new McpError(ErrorCode.InvalidParams, `task ${taskId} not found`);
    if (!s.result)
      throw new McpError(ErrorCode.InvalidRequest, `task ${taskId} is still ${s.task.status}`);
    return s.result;
  }

  async updateTaskStatus(taskId: string, status: Task["status"]): Promise<void> {
    throw new McpError(
      ErrorCode.InvalidRequest,
      `task ${taskId} cannot be set ${status} by the agent: a call waiting for approval is decided by a person (approve or reject); the agent may roll the session back (airun_session_rollback)`,
    );
  }

  async listTasks(): Promise<{ tasks: Task[] }> {
    const tasks: Task[] = [];
    for (const id of this.#listed) {
      const t = await this.getTask(id);
      if (t) tasks.push(t);
    }
    return { tasks };
  }
}
