/**
 * @module `/mcp` of `airun serve`: the MCP Streamable HTTP endpoint (`mcp/http.ts`, the same
 * one `airun mcp --http` serves), behind the app's Host/Origin guard and body limit. Each request
 * needs a bearer token (no console cookie) with the `run` scope whose principal is an agent
 * (`agent:<id>`): the MCP session acts as that principal, and only that principal may drive it.
 * The envelope, session name and idle time come from the config's `mcp:` section. `GET` (the
 * optional standalone event stream) is 405, so only requests in flight hold a graceful stop.
 *
 * The MCP module and the SDK are loaded at the first `/mcp` request, so a server nobody reaches
 * over MCP never runs them: `src/mcp/` is in the serve bundle as lazily initialised modules, and
 * the SDK is external to it (`scripts/bundle.mjs`), `require`d only then.
 */
import type { HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { Hono, type MiddlewareHandler } from "hono";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { McpHttpHandler } from "../mcp/http.js";
import { requireScope, type ServerEnv } from "./guard.js";
import { problemOf, problemResponse } from "./problem.js";

/** How the MCP endpoint of `airun serve` runs. */
export interface McpServeOptions {
  /** The server's version, as announced to MCP clients. */
  readonly version: string;
}

/** The `/mcp` routes and how to stop their sessions' transports. */
export interface McpMount {
  readonly routes: Hono<ServerEnv>;
  /** Closes the transports (uncommitted sessions stay open until their idle time). */
  close(): Promise<void>;
}

/** Builds the mount; `auth` is the app's authentication (bearer tokens only are let through). */
export function mcpMount(
  rt: Runtime,
  opts: McpServeOptions,
  auth: MiddlewareHandler<ServerEnv>,
): McpMount {
  let loading: Promise<McpHttpHandler> | undefined;
  const load = (): Promise<McpHttpHandler> => {
    loading ??= (async () => {
      const [{ createMcpHttpHandler }, { pinOnFirstUse, sessionDefaults }] = await Promise.all([
        import("../mcp/http.js"),
        import("../mcp/stdio.js"),
      ]);
      await pinOnFirstUse(rt);
      // No `allowedHosts`: the app's guard already checked Host and Origin against its names.
      return createMcpHttpHandler(rt, await sessionDefaults(rt, { version: opts.version }));
    })();
    const attempt = loading;
    attempt.catch(() => {
      if (loading === attempt) loading = undefined; // a config error fixed later is retried
    });
    return attempt;
  };

  const routes = new Hono<ServerEnv>();
  routes.all(
    "/",
    async (c, next) => {
      // A console cookie is not a credential here: a page could make the browser send it.
      if (c.req.header("authorization") === undefined) {
        return problemResponse(
          problemOf("UNAUTHENTICATED", "the MCP endpoint needs a bearer token", c.req.path),
          { "www-authenticate": 'Bearer realm="airun"' },
        );
      }
      return auth(c, next);
    },
    requireScope("run"),
    async (c) => {
      const caller = c.get("caller");
      if (!caller.principal.startsWith("agent:")) {
        return problemResponse(
          problemOf(
            "AGENT_ONLY",
            `the MCP endpoint acts for agents: ${caller.principal} is not an agent principal (agent:<id>)`,
            c.req.path,
          ),
        );
      }
      // No standalone event stream (the spec lets a server answer its GET with 405): this
      // server sends nothing outside a request's answer, and an idle stream per connected agent
      // would hold every graceful shutdown for the whole grace time.
      if (c.req.method === "GET") {
        return c.json(
          {
            jsonrpc: "2.0",
            error: { code: -32000, message: "no standalone event stream: POST requests" },
            id: null,
          },
          405,
          { allow: "POST, DELETE" },
        );
      }
      let body: unknown;
      if (c.req.method === "POST") {
        // Read here, under the app's body limit; the transport gets it parsed.
        const text = await c.req.text();
        try {
          body = JSON.parse(text);
        } catch {
          return c.json(
            { jsonrpc: "2.0", error: { code: -32700, message: "Parse error" }, id: null },
            400,
          );
        }
      }
      const handler = await load();
      const { incoming, outgoing } = c.env as unknown as HttpBindings;
      await handler.handle(incoming, outgoing, body, caller.principal);
      return RESPONSE_ALREADY_SENT;
    },
  );
  return {
    routes,
    async close() {
      const handler = await loading?.catch(() => undefined);
      await handler?.close();
    },
  };
}
