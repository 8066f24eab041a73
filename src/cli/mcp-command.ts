/**
 * @module `airun mcp`: Airun as an MCP server on stdio (`src/mcp/`). The MCP module and the SDK
 * are imported only when this command runs, so every other command starts as fast as before.
 */
import type { Command } from "commander";
import { parseDuration } from "../core/duration.js";
import { AirunError } from "../core/errors.js";
import {
  asPrincipal,
  type CliContext,
  type CommonOptions,
  common,
  withRuntime,
} from "./cli-kit.js";
import { printJson } from "./json-output.js";

/** `--http HOST:PORT` (port 0: any free port). */
function hostPort(value: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) {
    throw new AirunError("USAGE", `--http ${value}: expected HOST:PORT, like 127.0.0.1:8765`);
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/** Registers `airun mcp`. */
export function registerMcpCommand(program: Command, cli: CliContext, version: string): void {
  const mcp = common(program.command("mcp"));
  common(mcp.command("pin"))
    .description(
      "pin the tools of the MCP upstreams (mcp.upstreams) as they are now, in airun.mcp.lock.json next to the config; a changed tool is refused until re-pinned",
    )
    .argument("[upstreams...]", "only these upstreams (default: all)")
    .action(async (only: string[], opts: CommonOptions) => {
      await withRuntime(cli, opts, async (rt) => {
        if (rt.config.mcp.upstreams.length === 0) {
          throw new AirunError("USAGE", "the config names no MCP upstreams (mcp.upstreams)");
        }
        const changes = await rt.pinUpstreamTools("all", only);
        if (opts.json) printJson({ tools: changes });
        else
          for (const c of changes) {
            process.stdout.write(
              `${c.status.padEnd(9)} ${c.capability}  sha256:${c.sha256.slice(0, 16)}\n`,
            );
          }
      });
    });
  mcp
    .description(
      "serve MCP on stdio: capabilities as tools, one connection = one governed session (commit or roll back)",
    )
    .option(
      "--as <principal>",
      "the agent principal the session acts as (agent:<id>); default mcp.principal",
    )
    .option(
      "--governance <file>",
      "governance envelope (YAML: a governance: block); default mcp.governance",
    )
    .option("--http <host:port>", "serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    .option(
      "--idle-timeout <duration>",
      "how long an uncommitted session stays open after the client went away, then rolls back (default mcp.idle_timeout, 5m)",
    )
    .action(
      async (
        opts: CommonOptions & { governance?: string; idleTimeout?: string; http?: string },
      ) => {
        const principal = asPrincipal(opts);
        let idleTimeoutMs: number | undefined;
        if (opts.idleTimeout !== undefined) {
          idleTimeoutMs = parseDuration(opts.idleTimeout);
          if (idleTimeoutMs === undefined) {
            throw new AirunError(
              "USAGE",
              `--idle-timeout ${opts.idleTimeout}: expected a duration like "30s", "5m" or milliseconds`,
            );
          }
        }
        const listen = opts.http === undefined ? null : hostPort(opts.http);
        // stdout carries the protocol: nothing else may be printed there.
        await withRuntime(cli, { ...opts, json: true }, async (rt) => {
          const { serveHttp, serveStdio } = await import("../mcp/stdio.js");
          const flags = {
            ...(principal !== undefined ? { principal } : {}),
            ...(opts.governance !== undefined ? { governanceFile: opts.governance } : {}),
            ...(idleTimeoutMs !== undefined ? { idleTimeoutMs } : {}),
            version,
          };
          if (listen) await serveHttp(rt, flags, listen);
          else await serveStdio(rt, flags);
        });
      },
    );
}
