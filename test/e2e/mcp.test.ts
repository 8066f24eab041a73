/**
 * `airun mcp` through the MCP SDK's own `Client` over stdio, spawning the built CLI: the tool
 * list (schemas, annotations, envelope filter), a session that writes three files and rolls
 * back (byte-exact), one that commits with evidence (ACCEPT), a denied call that is a tool
 * error while the session goes on, and a call needing approval that returns at once, as an MCP
 * task or as a pending result, completed by `airun workflow resume` from another process (also
 * after `airun mcp` restarted), failed by a reject with the call never made.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  type CallToolResult,
  CallToolResultSchema,
  CreateTaskResultSchema,
  type Tool,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, describe, expect, it } from "vitest";
import { AIRUN_BIN } from "../support/cli.js";
import { type Project, project, type RunJson, snapshot, tempRoot, waitFor } from "./project.js";

const root = tempRoot("mcp");
afterAll(() => root.cleanup());

const POLICY = `version: 1
default: DENY
rules:
  - id: reads
    principal: "agent:*"
    capability: ["io.fs.read_file", "io.fs.list_dir", "io.fs.exists", "io.fs.hash_file", "sys.echo"]
    decision: ALLOW
  - id: no-secrets
    principal: "agent:*"
    capability: io.fs.write_file
    when: { path: "**/secret*" }
    decision: DENY
    reason: secrets are not the agent's to write
  - id: writes
    principal: "agent:*"
    capability: io.fs.write_file
    decision: ALLOW
  - id: deletes-need-sre
    principal: "*"
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
`;

const CONFIG = `principals:
  user:alice: { roles: [sre] }
mcp:
  principal: agent:claude
`;

const GOVERNANCE = `governance:
  objective: tidy the notes
  tools:
    allowed: ["io.fs.*", "sys.echo"]
    forbidden: ["io.fs.move"]
  evidence:
    required: ["evidence.reviewed == true"]
  budgets:
    max_tool_calls: 20
`;

function mcpProject(): Project {
  const p = project(root.path, {
    policy: POLICY,
    config: CONFIG,
    files: {
      "ws/a.txt": "alpha\n",
      "ws/b.bin": Buffer.from([0, 255, 1, 254, 10, 13]),
      "ws/victim.txt": "keep me",
    },
  });
  p.write("governance.yaml", GOVERNANCE);
  return p;
}

async function connect(
  p: Project,
  args: readonly string[] = [],
  tasks = false,
): Promise<{ client: Client; transport: StdioClientTransport }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [AIRUN_BIN, "mcp", "--governance", "governance.yaml", ...args],
    cwd: p.dir,
    stderr: "pipe",
  });
  const client = new Client(
    { name: "airun-e2e", version: "1" },
    tasks ? { capabilities: { tasks: { requests: { tools: { call: {} } } } } } : {},
  );
  await client.connect(transport);
  return { client, transport };
}

const text = (r: unknown) =>
  ((r as CallToolResult).content ?? []).map((c) => (c.type === "text" ? c.text : "")).join("\n");

async function call(client: Client, name: string, args: Record<string, unknown> = {}) {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

/** A person (or the agent) deciding a session's pending approval from another process. */
const decide = (p: Project, id: string, decision: "approve" | "reject", as: string) =>
  p.run(["workflow", "resume", id, "--decision", decision, "--as", as]);

async function sessionView(p: Project, id: string): Promise<RunJson> {
  const r = await p.json(["workflow", "show", id]);
  return r.body;
}

async function sessionId(client: Client): Promise<string> {
  const s = await call(client, "airun_session_status");
  return (s.structuredContent as { session_id: string }).session_id;
}

describe("airun mcp (stdio, the SDK's Client)", () => {
  it("lists the tools the envelope allows, with schemas and annotations from the capabilities", async () => {
    const p = mcpProject();
    const { client } = await connect(p);
    try {
      const { tools } = await client.listTools();
      const byName = new Map<string, Tool>(tools.map((t) => [t.name, t]));
      // The envelope: io.fs.* and sys.echo, minus io.fs.move; plus the meta-tools.
      expect(byName.has("io_fs_move")).toBe(false);
      expect(byName.has("net_http_request")).toBe(false);
      expect(byName.has("sys_exec_run")).toBe(false);
      for (const n of [
        "io_fs_write_file",
        "io_fs_read_file",
        "io_fs_delete",
        "sys_echo",
        "airun_session_status",
        "airun_session_commit",
        "airun_session_rollback",
        "airun_call_status",
      ]) {
        expect(byName.has(n), n).toBe(true);
      }
      const write = byName.get("io_fs_write_file")!;
      expect(write.inputSchema).toMatchObject({
        type: "object",
        properties: { path: { type: "string" }, content: { type: "string" } },
        required: expect.arrayContaining(["path", "content"]),
      });
      expect(write.outputSchema).toMatchObject({
        type: "object",
        properties: { path: {}, bytes: {}, sha256: {} },
      });
      expect(write.annotations).toMatchObject({ readOnlyHint: false, openWorldHint: false });
      expect(write.execution).toEqual({ taskSupport: "optional" });
      expect(byName.get("io_fs_read_file")!.annotations).toMatchObject({
        readOnlyHint: true,
        idempotentHint: true,
        openWorldHint: false,
      });
      expect(byName.get("io_fs_delete")!.annotations).toMatchObject({
        readOnlyHint: false,
        destructiveHint: true,
      });
    } finally {
      await client.close();
    }
  });

  it("writes three files in a session; rollback restores them byte for byte; a denied call is a tool error and the session goes on", async () => {
    const p = mcpProject();
    const before = snapshot(p.ws);
    const { client } = await connect(p);
    let id: string;
    try {
      const w1 = await call(client, "io_fs_write_file", { path: "a.txt", content: "changed" });
      expect(w1.isError).toBeFalsy();
      expect(w1.structuredContent).toMatchObject({ bytes: 7 });
      const denied = await call(client, "io_fs_write_file", {
        path: "secret.env",
        content: "x",
      });
      expect(denied.isError).toBe(true);
      expect(text(denied)).toContain("CALL_DENIED");
      expect(text(denied)).toContain("no-secrets");
      expect(text(denied)).toMatch(/still open/);
      await call(client, "io_fs_write_file", {
        path: "b.bin",
        content: Buffer.from("new").toString("base64"),
        encoding: "base64",
      });
      const w3 = await call(client, "io_fs_write_file", { path: "new.txt", content: "n" });
      expect(w3.isError).toBeFalsy();
      expect(readFileSync(join(p.ws, "a.txt"), "utf8")).toBe("changed");
      id = await sessionId(client);
      const status = await call(client, "airun_session_status");
      expect(status.structuredContent).toMatchObject({
        status: "RUNNING",
        budgets: { tool_calls: { used: 3, limit: 20 } },
        evidence: { required: [{ expression: "evidence.reviewed == true", met: false }] },
      });
      const rb = await call(client, "airun_session_rollback", { reason: "changed my mind" });
      expect(rb.structuredContent).toMatchObject({ status: "ROLLED_BACK", outcome: "REMEDIATE" });
    } finally {
      await client.close();
    }
    expect(snapshot(p.ws)).toEqual(before);
    const view = await sessionView(p, id);
    expect(view.status).toBe("ROLLED_BACK");
    expect(view.principal).toBe("agent:claude");
    expect(view.steps.find((s) => s.id === "mcp_2")).toMatchObject({
      status: "FAILED",
      error: { code: "POLICY_DENIED" },
    });
    expect((await p.run(["ledger", "verify"])).code).toBe(0);
  });

  it("commits with evidence → ACCEPT; without the evidence the commit abstains and undoes", async () => {
    const p = mcpProject();
    const { client } = await connect(p);
    try {
      await call(client, "io_fs_write_file", { path: "kept.txt", content: "kept" });
      const ok = await call(client, "airun_session_commit", { evidence: { reviewed: true } });
      expect(ok.isError).toBeFalsy();
      expect(ok.structuredContent).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
      // One connection is one session: it has ended.
      const after = await call(client, "io_fs_write_file", { path: "late.txt", content: "x" });
      expect(after.isError).toBe(true);
      expect(text(after)).toContain("SESSION_CLOSED");
    } finally {
      await client.close();
    }
    expect(readFileSync(join(p.ws, "kept.txt"), "utf8")).toBe("kept");
    // The MCP session is a run like any other: its evidence pack verifies, replay agrees.
    const id = (await p.json<{ runs: { id: string }[] }>(["workflow", "list"])).body.runs[0]!.id;
    const view = await sessionView(p, id);
    expect(view.steps[0]).toMatchObject({ id: "mcp_1", status: "SUCCEEDED" });
    expect(view.steps[0]?.context_hash).toMatch(/^[0-9a-f]{64}$/);
    const pack = join(p.dir, "session.pack.json");
    expect((await p.run(["ledger", "export", id, "--out", pack])).code).toBe(0);
    expect((await p.run(["ledger", "verify-pack", pack])).code).toBe(0);
    const replay = await p.run(["replay", id]);
    expect(replay.code, replay.stdout + replay.stderr).toBe(0);

    const { client: c2 } = await connect(p);
    try {
      await call(c2, "io_fs_write_file", { path: "unproven.txt", content: "u" });
      const no = await call(c2, "airun_session_commit", {});
      expect(no.isError).toBe(true);
      expect(text(no)).toContain("EVIDENCE_UNMET");
      expect(text(no)).toContain("evidence.reviewed == true");
    } finally {
      await c2.close();
    }
    expect(() => readFileSync(join(p.ws, "unproven.txt"))).toThrow();
  });

  it("a client that goes away without committing: the session rolls back after the idle time", async () => {
    const p = mcpProject();
    const { client } = await connect(p, ["--idle-timeout", "0"]);
    await call(client, "io_fs_write_file", { path: "a.txt", content: "gone" });
    const id = await sessionId(client);
    await client.close();
    expect(readFileSync(join(p.ws, "a.txt"), "utf8")).toBe("alpha\n");
    expect((await sessionView(p, id)).status).toBe("ROLLED_BACK");
  });

  it("a server killed while its session idles records the deadline; airun recover rolls the session back once it is over", async () => {
    const p = mcpProject();
    const { client } = await connect(p, ["--idle-timeout", "8s"]);
    await call(client, "io_fs_write_file", { path: "a.txt", content: "gone" });
    const id = await sessionId(client);
    // The SDK's stdio client closes stdin, then SIGTERMs its server two seconds later.
    await client.close();
    const open = await sessionView(p, id);
    expect(open.status).toBe("RUNNING");
    expect(readFileSync(join(p.ws, "a.txt"), "utf8")).toBe("gone");
    const events = await p.json<{ events: { type: string; data: unknown }[] }>([
      "workflow",
      "show",
      id,
      "--events",
    ]);
    expect(JSON.stringify(events.body)).toContain("session.idle");
    const ended = await waitFor(
      "airun recover to roll the idle session back",
      async () => {
        await p.run(["recover"]);
        const v = await sessionView(p, id);
        return v.status === "RUNNING" ? undefined : v;
      },
      30_000,
      500,
    );
    expect(ended).toMatchObject({ status: "ROLLED_BACK", outcome: "ABSTAIN" });
    expect(readFileSync(join(p.ws, "a.txt"), "utf8")).toBe("alpha\n");
  });

  it("refuses a principal that is not an agent", async () => {
    const p = mcpProject();
    const r = await p.run(["mcp", "--as", "user:alice"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not an agent principal");
  });
});

describe("approvals over MCP", () => {
  it("without tasks: a pending-approval result at once; after an approve from another process the status tool returns the call's result", async () => {
    const p = mcpProject();
    const { client } = await connect(p);
    try {
      const r = await call(client, "io_fs_delete", { path: "victim.txt" });
      expect(r.isError).toBe(true);
      expect(r._meta?.["io.airun/pending_approval"]).toMatchObject({
        status: "pending_approval",
        call_id: "mcp_1",
        approvers: ["role:sre"],
      });
      expect(text(r)).toContain("role:sre");
      expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("keep me");
      const id = await sessionId(client);
      const waiting = await call(client, "airun_call_status", { call_id: "mcp_1" });
      expect(waiting.structuredContent).toMatchObject({ status: "pending_approval" });
      // The agent itself cannot approve; a person does, from another process.
      const self = await decide(p, id, "approve", "agent:claude");
      expect(self.code, self.stderr).toBe(2); // refused: an agent never approves its own call
      const ok = await decide(p, id, "approve", "user:alice");
      expect(ok.code, ok.stderr).toBe(0); // approved and made; the session is open again
      const done = await call(client, "airun_call_status", { call_id: "mcp_1" });
      expect(done.isError).toBeFalsy();
      expect(done.structuredContent).toMatchObject({ type: "file", bytes: 7 });
      // The session goes on in this connection, and commits.
      const more = await call(client, "io_fs_write_file", { path: "after.txt", content: "a" });
      expect(more.isError).toBeFalsy();
      const c = await call(client, "airun_session_commit", { evidence: { reviewed: true } });
      expect(c.structuredContent).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
    } finally {
      await client.close();
    }
    expect(() => readFileSync(join(p.ws, "victim.txt"))).toThrow();
  });

  it("with tasks: the call returns a working task naming the approval; approve completes it with the result, also after airun mcp restarted", async () => {
    const p = mcpProject();
    const first = await connect(p, [], true);
    const created = await first.client.request(
      {
        method: "tools/call",
        params: { name: "io_fs_delete", arguments: { path: "victim.txt" }, task: { ttl: 60_000 } },
      },
      CreateTaskResultSchema,
    );
    const task = created.task;
    expect(task.status).toBe("working");
    expect(task.statusMessage).toMatch(/waits for approval \S+\/mcp_1\/1/);
    expect(task.statusMessage).toContain("role:sre");
    const got = await first.client.experimental.tasks.getTask(task.taskId);
    expect(got.status).toBe("working");
    const id = await sessionId(first.client);
    // airun mcp goes away (the client kills it) before anyone decides.
    first.transport.close();
    await first.client.close();
    expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("keep me");

    const ok = await decide(p, id, "approve", "user:alice");
    expect(ok.code, ok.stderr).toBe(0); // approved and made; the session is open again
    expect(() => readFileSync(join(p.ws, "victim.txt"))).toThrow();

    const second = await connect(p, [], true);
    try {
      const t = await second.client.experimental.tasks.getTask(task.taskId);
      expect(t.status).toBe("completed");
      const result = (await second.client.experimental.tasks.getTaskResult(
        task.taskId,
        CallToolResultSchema,
      )) as CallToolResult;
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ type: "file", bytes: 7 });
      // A forged task id is not found.
      await expect(
        second.client.experimental.tasks.getTask(`${task.taskId.slice(0, -2)}xx`),
      ).rejects.toThrow();
    } finally {
      await second.client.close();
    }
  });

  it("with tasks: reject → the task fails and the call never ran", async () => {
    const p = mcpProject();
    const { client } = await connect(p, [], true);
    try {
      const created = await client.request(
        {
          method: "tools/call",
          params: { name: "io_fs_delete", arguments: { path: "victim.txt" }, task: {} },
        },
        CreateTaskResultSchema,
      );
      const id = await sessionId(client);
      const no = await decide(p, id, "reject", "user:alice");
      expect(no.code, no.stderr).toBe(3); // rejected: the session rolled back (REMEDIATE)
      const t = await client.experimental.tasks.getTask(created.task.taskId);
      expect(t.status).toBe("failed");
      expect(t.statusMessage).toContain("REJECTED");
    } finally {
      await client.close();
    }
    expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("keep me");
  });
});

describe("airun mcp --http (Streamable HTTP, the SDK's Client)", () => {
  it("one MCP session is one Airun session: three writes rolled back byte for byte, a denied call as a tool error, another session commits", async () => {
    const p = mcpProject();
    const before = snapshot(p.ws);
    const child = spawn(
      process.execPath,
      [AIRUN_BIN, "mcp", "--http", "127.0.0.1:0", "--governance", "governance.yaml"],
      { cwd: p.dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let err = "";
        child.stderr.on("data", (d: Buffer) => {
          err += d.toString();
          const m = /listening on (http:\S+)/.exec(err);
          if (m) resolve(m[1]!);
        });
        child.on("close", () => reject(new Error(`airun mcp --http exited: ${err}`)));
      });
      const session = async () => {
        const client = new Client({ name: "http-e2e", version: "1" });
        await client.connect(new StreamableHTTPClientTransport(new URL(url)));
        return client;
      };
      const a = await session();
      const { tools } = await a.listTools();
      expect(tools.find((t) => t.name === "io_fs_write_file")?.annotations).toMatchObject({
        readOnlyHint: false,
      });
      for (const [path, content] of [
        ["a.txt", "1"],
        ["b.bin", "2"],
        ["c.txt", "3"],
      ]) {
        const w = await call(a, "io_fs_write_file", { path, content });
        expect(w.isError, text(w)).toBeFalsy();
      }
      const denied = await call(a, "io_fs_write_file", { path: "secret.txt", content: "x" });
      expect(denied.isError).toBe(true);
      expect(text(denied)).toContain("no-secrets");
      // A second MCP session is another Airun session.
      const b = await session();
      await call(b, "io_fs_write_file", { path: "kept.txt", content: "k" });
      const committed = await call(b, "airun_session_commit", { evidence: { reviewed: true } });
      expect(committed.structuredContent).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
      expect((await sessionId(a)) === (await sessionId(b))).toBe(false);
      const rb = await call(a, "airun_session_rollback", {});
      expect(rb.structuredContent).toMatchObject({ status: "ROLLED_BACK" });
      await a.close();
      await b.close();
      const after = snapshot(p.ws);
      expect(after["kept.txt"]).toBe(Buffer.from("k").toString("base64"));
      delete after["kept.txt"];
      expect(after).toEqual(before);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
