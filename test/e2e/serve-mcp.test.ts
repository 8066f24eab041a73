/**
 * `airun serve`'s MCP endpoint (`/mcp`) through the MCP SDK's own `Client` over Streamable HTTP,
 * against the built CLI on a free loopback port: an agent's bearer token opens a session acting
 * as that agent (tools listed, a write made, the session rolled back and the file restored byte
 * for byte); no token is 401, a person's token 403 (`AGENT_ONLY`), another agent cannot drive the
 * session (404), and a wrong Host or Origin is refused before MCP sees the request. SIGTERM with
 * an agent connected stops the server and leaves the uncommitted session open for recovery.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Project, project, type RunJson, tempRoot } from "./project.js";
import { call, makeToken, type Server, startServer } from "./serve-support.js";

const root = tempRoot("serve-mcp");

const POLICY = `version: 1
default: DENY
rules:
  - id: agent-files
    principal: "agent:*"
    capability: ["io.fs.read_file", "io.fs.write_file"]
    decision: ALLOW
`;

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "raw", version: "1" },
  },
};
const MCP_ACCEPT = { accept: "application/json, text/event-stream" };

let p: Project;
let server: Server;
let claude: string;
let other: string;
let alice: string;

beforeAll(async () => {
  p = project(root.path, {
    policy: POLICY,
    config: "principals:\n  user:alice: { roles: [sre] }\n",
    files: { "ws/notes.txt": "original\n" },
  });
  claude = (await makeToken(p, "agent:claude")).token;
  other = (await makeToken(p, "agent:other")).token;
  alice = (await makeToken(p, "user:alice")).token;
  server = await startServer(p);
});

afterAll(async () => {
  const stopped = await server?.stop();
  expect(stopped?.code, stopped?.stderr).toBe(0);
  root.cleanup();
});

async function connect(
  token: string,
  to: Server = server,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${to.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: "serve-mcp-e2e", version: "1" });
  await client.connect(transport);
  return { client, transport };
}

const text = (r: CallToolResult) =>
  (r.content ?? []).map((c) => (c.type === "text" ? c.text : "")).join("\n");

async function tool(client: Client, name: string, args: Record<string, unknown> = {}) {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

describe("airun serve: /mcp (Streamable HTTP, the SDK's Client)", () => {
  it("an agent token's session: tools listed, a write as that agent, rolled back and restored", async () => {
    const { client, transport } = await connect(claude);
    try {
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      expect(names).toContain("io_fs_write_file");
      expect(names).toContain("airun_session_rollback");

      const w = await tool(client, "io_fs_write_file", { path: "notes.txt", content: "changed" });
      expect(w.isError, text(w)).toBeFalsy();
      expect(readFileSync(join(p.ws, "notes.txt"), "utf8")).toBe("changed");

      const status = await tool(client, "airun_session_status");
      const id = (status.structuredContent as { session_id: string }).session_id;
      const shown = await p.json<RunJson>(["workflow", "show", id]);
      expect(shown.body.principal).toBe("agent:claude"); // the token's principal, not a config's

      // Another agent cannot reach this MCP session, even knowing its id.
      const stolen = await call(server, "POST", "/mcp", {
        token: other,
        body: { jsonrpc: "2.0", id: 9, method: "tools/list" },
        headers: { ...MCP_ACCEPT, "mcp-session-id": transport.sessionId ?? "" },
      });
      expect(stolen.status).toBe(404);

      const rb = await tool(client, "airun_session_rollback");
      expect(rb.structuredContent).toMatchObject({ status: "ROLLED_BACK" });
      expect(readFileSync(join(p.ws, "notes.txt"), "utf8")).toBe("original\n");
    } finally {
      await client.close();
    }
  });

  it("refuses no token (401), a person's token (403 AGENT_ONLY), a wrong Host or Origin (403) and a body over the limit (413)", async () => {
    /** An MCP `initialize` POST, as a raw client would send it. */
    const initialize = (token: string | undefined, headers: Record<string, string> = {}) =>
      call(server, "POST", "/mcp", {
        ...(token ? { token } : {}),
        body: INITIALIZE,
        headers: { ...MCP_ACCEPT, ...headers },
      });
    const none = await initialize(undefined);
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: "UNAUTHENTICATED" });

    const person = await initialize(alice);
    expect(person.status).toBe(403);
    expect(person.body).toMatchObject({ code: "AGENT_ONLY" });

    const rebound = await initialize(claude, { host: `evil.example:${server.port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toMatchObject({ code: "HOST_NOT_ALLOWED" });

    const crossSite = await initialize(claude, { origin: "https://evil.example" });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body).toMatchObject({ code: "HOST_NOT_ALLOWED" });

    const huge = await call(server, "POST", "/mcp", {
      token: claude,
      raw: JSON.stringify({ ...INITIALIZE, pad: "x".repeat(2 * 1024 * 1024) }),
      announceOnly: true,
      headers: { ...MCP_ACCEPT, "content-type": "application/json" },
    });
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({ code: "BODY_TOO_LARGE" });

    // The same request with the right Host is served: the refusals above were the guard's.
    const ok = await initialize(claude);
    expect(ok.status, ok.text).toBe(200);
    const sid = ok.headers["mcp-session-id"];
    expect(sid).toBeTruthy();
    // No standalone event stream to hold a graceful stop open.
    const stream = await call(server, "GET", "/mcp", {
      token: claude,
      headers: { accept: "text/event-stream", "mcp-session-id": String(sid) },
    });
    expect(stream.status).toBe(405);
  });

  it("stops on SIGTERM with an agent still connected: its uncommitted session is left open for recovery, not lost", async () => {
    const own = await startServer(p, ["--grace", "5s"]);
    const { client } = await connect(claude, own);
    const w = await tool(client, "io_fs_write_file", { path: "left.txt", content: "pending" });
    expect(w.isError, text(w)).toBeFalsy();
    const status = await tool(client, "airun_session_status");
    const id = (status.structuredContent as { session_id: string }).session_id;
    const stopped = await own.stop();
    expect(stopped.code, stopped.stderr).toBe(0);
    await client.close().catch(() => undefined);
    // Still there, uncommitted: cancelling it now undoes the write.
    expect(readFileSync(join(p.ws, "left.txt"), "utf8")).toBe("pending");
    const cancel = await p.json(["workflow", "cancel", id]);
    expect(cancel.code).toBe(3); // rolled back
    expect(cancel.body).toMatchObject({ status: "ROLLED_BACK", reason: "CANCELLED" });
    expect(() => readFileSync(join(p.ws, "left.txt"))).toThrow();
  });
});
