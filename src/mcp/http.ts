/**
 * @module The same MCP server over Streamable HTTP (the SDK's `StreamableHTTPServerTransport`,
 * stateful): each MCP session (`Mcp-Session-Id`) is one connection and so one Airun session,
 * opened at its first call. `createMcpHttpHandler` returns a function that serves a Node
 * `IncomingMessage`/`ServerResponse` pair, so any Node HTTP server can mount it (`airun mcp
 * --http HOST:PORT` serves it at `/mcp`; `airun serve` can mount the same function). A session
 * whose client ends it (DELETE) or goes away without committing stays open for the idle time,
 * then rolls back; closing the handler leaves uncommitted sessions open (detached, resumable).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import { McpConnection, type McpSessionOptions } from "./server.js";

/** A mountable MCP endpoint. */
export interface McpHttpHandler {
  /**
   * Serves one request (`body`: the parsed JSON body, when the host framework read it).
   * `principal`: who the request is (an authenticated host's caller, e.g. `airun serve`'s
   * bearer token); a session is only served to the principal that opened it. Default: the
   * options' principal.
   */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    body?: unknown,
    principal?: string,
  ): Promise<void>;
  /** Open MCP sessions. */
  sessions(): number;
  /** Stops: transports closed, idle waits ended (uncommitted sessions are left open). */
  close(): Promise<void>;
}

/** Options of the HTTP endpoint. */
export interface McpHttpOptions {
  /** `Host` header values accepted (DNS-rebinding protection); empty: any. */
  readonly allowedHosts?: readonly string[];
}

interface Entry {
  readonly transport: StreamableHTTPServerTransport;
  readonly conn: McpConnection;
  readonly principal: string;
}

function notFound(res: ServerResponse, message: string): void {
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message }, id: null }));
}

/** An MCP endpoint over Streamable HTTP for `rt`, one Airun session per MCP session. */
export function createMcpHttpHandler(
  rt: Runtime,
  session: Omit<McpSessionOptions, "principal"> & { readonly principal?: string },
  opts: McpHttpOptions = {},
): McpHttpHandler {
  const entries = new Map<string, Entry>();
  const stop = new AbortController();
  const ending = new Set<Promise<unknown>>();

  const open = async (principal: string): Promise<Entry> => {
    const conn = new McpConnection(rt, { ...session, principal });
    const hosts = opts.allowedHosts ?? [];
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        entries.set(id, { transport, conn, principal });
      },
      ...(hosts.length > 0 ? { enableDnsRebindingProtection: true, allowedHosts: [...hosts] } : {}),
    });
    transport.onclose = () => {
      const id = transport.sessionId;
      if (id !== undefined) entries.delete(id);
      const done = conn.disconnected(stop.signal).catch(() => undefined);
      ending.add(done);
      void done.finally(() => ending.delete(done));
    };
    await conn.server.connect(transport);
    return { transport, conn, principal };
  };

  return {
    async handle(req, res, body, principal = session.principal) {
      if (principal === undefined) throw new Error("an MCP request needs a principal");
      const header = req.headers["mcp-session-id"];
      const id = Array.isArray(header) ? header[0] : header;
      if (id !== undefined) {
        const entry = entries.get(id);
        // Another principal's session is not found either: its id says nothing to a stranger.
        if (!entry || entry.principal !== principal)
          return notFound(res, `MCP session ${id} not found (ended, or another server)`);
        return entry.transport.handleRequest(req, res, body);
      }
      if (req.method !== "POST")
        return notFound(res, "no MCP session: initialize with a POST first");
      const entry = await open(principal);
      await entry.transport.handleRequest(req, res, body);
      // Not an initialize request: the transport refused it and no session began.
      if (entry.transport.sessionId === undefined) await entry.conn.server.close();
    },
    sessions: () => entries.size,
    async close() {
      stop.abort();
      const all = [...entries.values()];
      entries.clear();
      await Promise.all(all.map((e) => e.transport.close().catch(() => undefined)));
      await Promise.all([...ending]);
    },
  };
}
