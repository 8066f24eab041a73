/**
 * @module `airun mcp` over stdio: one process, one connection, one session. Loaded by the CLI
 * only when this command runs (`cli/mcp-command.ts` imports it dynamically), so the MCP SDK
 * costs nothing to every other command's start.
 *
 * When the client closes stdin without committing, the session stays open for the idle time
 * and is then rolled back, and the process exits. SIGTERM or SIGINT (a client that kills its
 * server, as the SDK's stdio client does two seconds after closing stdin) stop the wait: the
 * session is let go with its deadline recorded, and `airun recover` rolls it back once the idle
 * time is over (`airun workflow cancel <session>` at once).
 */
import { createServer } from "node:http";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { AirunError } from "../core/errors.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { GovernanceInput } from "../engine/sessions/session-plan.js";
import { readGovernanceFile } from "./governance-file.js";
import { createMcpHttpHandler } from "./http.js";
import { McpConnection, type McpSessionOptions } from "./server.js";
import { loadTaskKey } from "./task-store.js";

/** What the command line says (flags win over the `mcp:` config section). */
export interface McpCommandOptions {
  readonly principal?: string;
  readonly governanceFile?: string;
  readonly idleTimeoutMs?: number;
  readonly version: string;
}

/** The options of a connection's session, from the config and the flags. */
export async function sessionOptions(
  rt: Runtime,
  flags: McpCommandOptions,
): Promise<McpSessionOptions> {
  const principal = flags.principal ?? rt.config.mcp.principal;
  if (principal === null || principal === undefined) {
    throw new AirunError(
      "USAGE",
      "airun mcp needs an agent principal: --as agent:<id>, or mcp.principal in the config",
    );
  }
  if (!principal.startsWith("agent:")) {
    throw new AirunError(
      "USAGE",
      `airun mcp acts for an agent: ${principal} is not an agent principal (agent:<id>); an agent never approves`,
    );
  }
  return { principal, ...(await sessionDefaults(rt, flags)) };
}

/**
 * What every connection's session shares, but its principal (`airun serve` takes that from each
 * request's bearer token): the governance envelope, the name, the idle time, the task key.
 */
export async function sessionDefaults(
  rt: Runtime,
  flags: Omit<McpCommandOptions, "principal">,
): Promise<Omit<McpSessionOptions, "principal">> {
  const cfg = rt.config.mcp;
  let governance: GovernanceInput | null = null;
  const source = flags.governanceFile ?? cfg.governance;
  if (typeof source === "string") governance = await readGovernanceFile(source, rt.config.limits);
  else if (source !== null) governance = source as GovernanceInput;
  return {
    governance,
    sessionName: cfg.sessionName,
    idleTimeoutMs: flags.idleTimeoutMs ?? cfg.idleTimeoutMs,
    taskKey: await loadTaskKey(rt.config.home),
    version: flags.version,
  };
}

/**
 * Pins the upstream tools used for the first time; a tool whose definition changed since it was
 * pinned stays listed as pinned and is refused when called (said on stderr, recorded in the
 * ledger).
 */
export async function pinOnFirstUse(rt: Runtime): Promise<void> {
  for (const c of await rt.pinUpstreamTools("new")) {
    if (c.status === "changed") {
      process.stderr.write(
        `airun mcp: upstream ${c.upstream} tool ${c.tool} changed since it was pinned: refused until a person re-pins it (airun mcp pin ${c.upstream})\n`,
      );
    }
  }
}

/** Serves one MCP connection on stdin/stdout until the client goes away. */
export async function serveStdio(rt: Runtime, flags: McpCommandOptions): Promise<void> {
  await pinOnFirstUse(rt);
  const conn = new McpConnection(rt, await sessionOptions(rt, flags));
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  const gone = new Promise<void>((resolve) => {
    process.stdin.once("end", resolve);
    process.stdin.once("close", resolve);
    stop.signal.addEventListener("abort", () => resolve());
  });
  await conn.server.connect(new StdioServerTransport());
  await gone;
  const outcome = await conn.disconnected(stop.signal);
  const id = await conn.sessionId();
  if (outcome === "left_open" && id) {
    process.stderr.write(
      `airun mcp: session ${id} left open; airun recover rolls it back once its idle time is over (now: airun workflow cancel ${id})\n`,
    );
  }
  await conn.server.close().catch(() => undefined);
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
}

/** Serves MCP over Streamable HTTP at `http://HOST:PORT/mcp` until SIGTERM or SIGINT. */
export async function serveHttp(
  rt: Runtime,
  flags: McpCommandOptions,
  listen: { readonly host: string; readonly port: number },
): Promise<void> {
  await pinOnFirstUse(rt);
  const options = await sessionOptions(rt, flags);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : listen.port;
  const loopback = ["127.0.0.1", "localhost", "::1"].includes(listen.host);
  const handler = createMcpHttpHandler(rt, options, {
    ...(loopback
      ? { allowedHosts: [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`] }
      : {}),
  });
  server.on("request", (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/mcp") {
      res
        .writeHead(404, { "content-type": "text/plain" })
        .end("not found: the MCP endpoint is /mcp\n");
      return;
    }
    handler.handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`internal error: ${(err as Error).message}\n`);
    });
  });
  process.stderr.write(`airun mcp: listening on http://${listen.host}:${port}/mcp\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await handler.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
