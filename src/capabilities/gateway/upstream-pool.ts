/**
 * @module Connections to the upstream MCP servers of the gateway, opened on first use (one per
 * upstream per process) with the official SDK's `Client`: a child process over stdio, or a
 * Streamable HTTP URL. The SDK is imported only then, so a command that calls no upstream tool
 * never loads it (imported through `core/bundle-launch.ts`, as plugins are). Every call checks the tool's definition, as the upstream lists it on this
 * connection, against its pin first (`pins.ts`): a changed tool is refused before it is called.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";
import { importModule } from "../../core/bundle-launch.js";
import type { McpUpstreamConfig } from "../../core/config.js";
import { CapabilityError } from "../../core/errors.js";
import { definitionHash, definitionOf } from "./pins.js";

interface Connection {
  readonly client: Client;
  /** The tools as listed on this connection, by name. */
  readonly tools: ReadonlyMap<string, Tool>;
}

/** The result text of a tool call (its text blocks joined). */
export function resultText(r: CallToolResult): string {
  return (r.content ?? []).map((c) => (c.type === "text" ? c.text : `[${c.type}]`)).join("\n");
}

/** Connections to the configured upstreams. */
export class UpstreamPool {
  readonly #configs: ReadonlyMap<string, McpUpstreamConfig>;
  readonly #cwd: string;
  readonly #connections = new Map<string, Promise<Connection>>();

  constructor(configs: readonly McpUpstreamConfig[], cwd: string) {
    this.#configs = new Map(configs.map((c) => [c.name, c]));
    this.#cwd = cwd;
  }

  /** Upstream names, as configured. */
  names(): string[] {
    return [...this.#configs.keys()];
  }

  #connect(name: string): Promise<Connection> {
    let c = this.#connections.get(name);
    if (!c) {
      c = this.#open(name);
      this.#connections.set(name, c);
      c.catch(() => this.#connections.delete(name)); // try again at the next call
    }
    return c;
  }

  async #open(name: string): Promise<Connection> {
    const cfg = this.#configs.get(name);
    if (!cfg) throw new CapabilityError("MCP_UPSTREAM_UNAVAILABLE", `no upstream ${name}`);
    try {
      const { Client } = (await importModule(
        "@modelcontextprotocol/sdk/client/index.js",
      )) as typeof import("@modelcontextprotocol/sdk/client/index.js");
      const client = new Client({ name: "airun-gateway", version: "0.1.0" });
      if (cfg.command !== null) {
        const { StdioClientTransport, getDefaultEnvironment } = (await importModule(
          "@modelcontextprotocol/sdk/client/stdio.js",
        )) as typeof import("@modelcontextprotocol/sdk/client/stdio.js");
        await client.connect(
          new StdioClientTransport({
            command: cfg.command,
            args: [...cfg.args],
            env: { ...getDefaultEnvironment(), ...cfg.env },
            cwd: this.#cwd,
            stderr: "ignore",
          }),
        );
      } else {
        const { StreamableHTTPClientTransport } = (await importModule(
          "@modelcontextprotocol/sdk/client/streamableHttp.js",
        )) as typeof import("@modelcontextprotocol/sdk/client/streamableHttp.js");
        await client.connect(new StreamableHTTPClientTransport(new URL(cfg.url!)));
      }
      const tools = new Map<string, Tool>();
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor });
        for (const t of page.tools) tools.set(t.name, t);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return { client, tools };
    } catch (err) {
      throw new CapabilityError(
        "MCP_UPSTREAM_UNAVAILABLE",
        `upstream ${name} (${cfg.command ?? cfg.url}): ${(err as Error).message}`,
        { retryable: true, cause: err },
      );
    }
  }

  /** The tools an upstream lists now. */
  async listTools(name: string): Promise<Tool[]> {
    return [...(await this.#connect(name)).tools.values()];
  }

  /**
   * Calls an upstream tool after checking its definition against `pin` (the SHA-256 of the
   * pinned definition). A tool error is returned as the result (`isError`), not thrown.
   */
  async call(
    upstream: string,
    tool: string,
    args: Record<string, unknown>,
    pin: string,
    signal?: AbortSignal,
  ): Promise<CallToolResult> {
    const conn = await this.#connect(upstream);
    const listed = conn.tools.get(tool);
    const now = listed ? definitionHash(definitionOf(listed as Record<string, unknown>)) : null;
    if (now !== pin) {
      throw new CapabilityError(
        "MCP_TOOL_CHANGED",
        `upstream ${upstream} tool ${tool} ${now === null ? "is no longer listed" : `changed since it was pinned (pinned sha256 ${pin.slice(0, 12)}…, now ${now.slice(0, 12)}…)`}: refused until a person re-pins it (airun mcp pin ${upstream})`,
        { retryable: false, context: { upstream, tool, pinned: pin, ...(now ? { now } : {}) } },
      );
    }
    try {
      return (await conn.client.callTool({ name: tool, arguments: args }, undefined, {
        ...(signal ? { signal } : {}),
      })) as CallToolResult;
    } catch (err) {
      throw new CapabilityError(
        "MCP_UPSTREAM_UNAVAILABLE",
        `upstream ${upstream} tool ${tool}: ${(err as Error).message}`,
        { retryable: false, cause: err },
      );
    }
  }

  /** Closes every connection (stops the upstream processes). */
  async close(): Promise<void> {
    const all = [...this.#connections.values()];
    this.#connections.clear();
    await Promise.all(all.map((c) => c.then((x) => x.client.close()).catch(() => undefined)));
  }
}
