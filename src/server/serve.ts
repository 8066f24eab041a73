/**
 * @module `airun serve`: one process serving the HTTP API, the web console and (when given) the
 * MCP endpoint, and running the worker duties once for everything (`duties.ts`; the runtime's
 * heartbeat and recovery sweep on a timer). This module is the entry of its own bundle
 * (`dist/airun-serve.cjs`, `scripts/bundle.mjs`): the CLI loads it only when `airun serve` runs,
 * so no other command pays for Hono or the server's code at start.
 *
 * Start: the event hub finds the ledger's head, recovery runs once, the duties read the pending
 * approvals' deadlines, then the server listens. Stop (`close`, on SIGTERM/SIGINT from the
 * CLI): the server stops accepting, event streams end, requests in flight (a run being driven,
 * a session call) get `graceMs` to finish; then the duties stop and the caller closes the
 * runtime, which detaches open sessions and releases their leases. A run still being driven
 * when the grace ends keeps its lease until it expires; recovery (here at the next start, or any
 * `airun recover`) then takes it over.
 */
import type { AddressInfo } from "node:net";
import { createAdaptorServer } from "@hono/node-server";
import type { Runtime } from "../engine/runtime/runtime.js";
import { buildApp } from "./app.js";
import { ServeDuties } from "./duties.js";
import { EventHub } from "./event-hub.js";
import { ConsoleSessions, hostRules, isLoopback, RateLimiter } from "./guard.js";
import { type McpMount, type McpServeOptions, mcpMount } from "./mcp-mount.js";
import { SessionTable } from "./session-table.js";
import { StreamLimits } from "./sse.js";

/** How to serve. */
export interface ServeOptions {
  /** `host:port`; default `127.0.0.1:7420`. Port 0 picks a free port. */
  readonly listen?: string;
  /** More `host:port` names to answer to (a reverse proxy's public name). */
  readonly allowHosts?: readonly string[];
  /** Set behind a TLS-terminating proxy: cookies get `Secure`, no warning for a public listen. */
  readonly behindTls?: boolean;
  readonly sessionIdleMs?: number;
  readonly checkpointEveryMs?: number;
  readonly maxBodyBytes?: number;
  readonly ratePerSecond?: number;
  readonly rateBurst?: number;
  readonly maxStreams?: number;
  readonly maxStreamsPerToken?: number;
  /** How long requests in flight may take to finish on shutdown (ms). */
  readonly graceMs?: number;
  /** How often the event hub looks at the ledger (ms). */
  readonly pollMs?: number;
  /** Serve the MCP Streamable HTTP endpoint at `/mcp` (`mcp-mount.ts`); absent: 404. */
  readonly mcp?: McpServeOptions;
  readonly log?: (line: string) => void;
}

/** A running server. */
export interface RunningServer {
  /** `http://host:port` it listens on. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops serving and the duties (see module doc); the caller then closes the runtime. */
  close(): Promise<void>;
}

/** Parses `host:port` (IPv6 in brackets). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new Error(`--listen "${value}" is not host:port`);
  return { host: (m[1] ?? m[2])!, port };
}

/** Starts serving `rt` (see module doc). */
export async function serve(rt: Runtime, opts: ServeOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`airun serve: ${line}\n`));
  const { host, port } = parseListen(opts.listen ?? "127.0.0.1:7420");
  if (!isLoopback(host) && !opts.behindTls) {
    log(
      `WARNING: listening on ${host}, which is not loopback, without TLS: tokens and session cookies cross the network in clear. Put a TLS-terminating reverse proxy in front and pass --behind-tls.`,
    );
  }
  const hub = new EventHub((after, f) => rt.eventsAfter(after, f), opts.pollMs ?? 100);
  const sessionIdleMs = opts.sessionIdleMs ?? 15 * 60_000;
  const sessions = new SessionTable(rt, sessionIdleMs);
  const streams = new StreamLimits(opts.maxStreams ?? 1000, opts.maxStreamsPerToken ?? 200);
  await hub.start();
  // Recovery at start: each run taken over is driven in the background (a long step must not
  // keep the server from listening); the runtime's timer sweeps again later.
  rt.recover().then(
    (recovered) => {
      const acted = recovered.filter((r) => !r.action.startsWith("skipped"));
      if (acted.length > 0) log(`recovered ${acted.length} run(s) at start`);
    },
    (err) => log(`recovery at start failed: ${String(err)}`),
  );
  const duties = new ServeDuties(rt, hub, sessions, {
    sessionIdleMs,
    checkpointEveryMs: opts.checkpointEveryMs ?? 0,
    log,
  });
  await duties.start();

  // The Host names are known once the port is (port 0 picks one): the guard reads them late.
  const names = { hosts: new Set<string>() };
  let mcp: McpMount | undefined;
  const mcpOpts = opts.mcp;
  const app = buildApp({
    rt,
    hub,
    sessions,
    streams,
    log,
    hostRules: names,
    consoleSessions: new ConsoleSessions(),
    limiter: new RateLimiter(opts.ratePerSecond ?? 50, opts.rateBurst ?? 200),
    maxBodyBytes: opts.maxBodyBytes ?? 1024 * 1024,
    secureCookies: opts.behindTls === true,
    ...(mcpOpts
      ? {
          mcp: (auth: Parameters<typeof mcpMount>[2]) => {
            mcp = mcpMount(rt, mcpOpts, auth);
            return mcp.routes;
          },
        }
      : {}),
  });
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  for (const n of hostRules(host, actual, opts.allowHosts ?? []).hosts) names.hosts.add(n);
  const shown = host.includes(":") ? `[${host}]` : host;
  const url = `http://${shown}:${actual}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    host,
    port: actual,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // Idle keep-alive connections would hold `close` open until they time out.
        if ("closeIdleConnections" in server) server.closeIdleConnections();
        hub.stop();
        streams.closeAll();
        const grace = new Promise<void>((resolve) => {
          const t = setTimeout(resolve, opts.graceMs ?? 30_000);
          t.unref();
        });
        await Promise.race([stopped, grace]);
        if ("closeAllConnections" in server) server.closeAllConnections();
        // MCP sessions left uncommitted stay open (detached) for recovery to roll back.
        await mcp?.close();
        await duties.stop();
      })();
      return closing;
    },
  };
}
