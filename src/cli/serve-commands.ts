/**
 * @module `airun serve` (the HTTP API, the web console and the worker duties in one process)
 * and `airun token create|list|revoke` (the API's bearer tokens, stored hashed under the home
 * directory). The server's code is its own bundle (`dist/airun-serve.cjs`), imported here only
 * when `serve` runs, so no other command loads it.
 */
import type { Command } from "commander";
import { parseDuration } from "../core/duration.js";
import { AirunError } from "../core/errors.js";
import { type CliContext, type CommonOptions, common, withRuntime } from "./cli-kit.js";
import { printJson } from "./json-output.js";

const out = (s: string) => process.stdout.write(s);
const iso = (ms: number | null) => (ms === null ? "never" : new Date(ms).toISOString());

function duration(flag: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new AirunError("USAGE", `${flag}: "${value}" is not a duration (30s, 15m, 24h, 30d)`);
  return ms;
}

function count(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new AirunError("USAGE", `${flag}: "${value}" is not a positive integer`);
  return n;
}

interface ServeFlags extends CommonOptions {
  listen: string;
  allowHost?: string[];
  behindTls?: boolean;
  sessionIdle: string;
  sweepEvery: string;
  checkpointEvery?: string;
  maxBody: string;
  rate: string;
  grace: string;
}

/** Registers `serve` and the `token` group on `program`. */
export function registerServeCommands(program: Command, cli: CliContext, version: string): void {
  common(program.command("serve"))
    .description(
      "serve the HTTP API (/api/v1), the web console and the MCP endpoint (/mcp, agent tokens), and run the worker duties",
    )
    .option(
      "--listen <host:port>",
      "where to listen (loopback unless you say otherwise)",
      "127.0.0.1:7420",
    )
    .option(
      "--allow-host <host:port>",
      "another name to answer to, e.g. a reverse proxy's (repeatable)",
      (v: string, p: string[] = []) => [...p, v],
    )
    .option(
      "--behind-tls",
      "a TLS-terminating reverse proxy is in front (Secure cookies, no warning)",
    )
    .option("--session-idle <duration>", "roll back sessions idle this long", "15m")
    .option("--sweep-every <duration>", "run a recovery sweep this often", "30s")
    .option("--checkpoint-every <duration>", "sign a ledger checkpoint this often (when it moved)")
    .option("--max-body <bytes>", "largest request body accepted", "1048576")
    .option("--rate <n>", "requests per second per token (bursts of 4x)", "50")
    .option(
      "--grace <duration>",
      "on SIGTERM, how long requests in flight may take to finish",
      "30s",
    )
    .action(async (opts: ServeFlags) => {
      const sessionIdleMs = duration("--session-idle", opts.sessionIdle);
      const sweepIntervalMs = duration("--sweep-every", opts.sweepEvery);
      const graceMs = duration("--grace", opts.grace);
      const checkpointEveryMs = opts.checkpointEvery
        ? duration("--checkpoint-every", opts.checkpointEvery)
        : 0;
      const maxBodyBytes = count("--max-body", opts.maxBody);
      const rate = count("--rate", opts.rate);
      const server = await import("../server/serve.js");
      const listen = server.parseListen(opts.listen);
      await withRuntime(
        cli,
        { ...opts, json: true },
        async (rt) => {
          const running = await server.serve(rt, {
            listen: `${listen.host.includes(":") ? `[${listen.host}]` : listen.host}:${listen.port}`,
            ...(opts.allowHost ? { allowHosts: opts.allowHost } : {}),
            behindTls: opts.behindTls === true,
            sessionIdleMs,
            checkpointEveryMs,
            maxBodyBytes,
            ratePerSecond: rate,
            rateBurst: rate * 4,
            graceMs,
            mcp: { version },
          });
          out(
            `airun serve: listening on ${running.url} (API ${running.url}/api/v1, console ${running.url}/, MCP ${running.url}/mcp)\n`,
          );
          await new Promise<void>((resolve) => {
            const stop = (signal: string) => {
              process.stderr.write(
                `airun serve: ${signal}: finishing requests in flight, then stopping\n`,
              );
              running.close().then(resolve, resolve);
            };
            process.once("SIGTERM", () => stop("SIGTERM"));
            process.once("SIGINT", () => stop("SIGINT"));
          });
          out("airun serve: stopped\n");
        },
        { worker: { sweepIntervalMs } },
      );
    });

  const token = program.command("token").description("bearer tokens of the HTTP API");
  common(token.command("create"))
    .description("create a token for a principal (shown once; only its hash is stored)")
    .requiredOption("--principal <principal>", "who the token acts as (kind:id)")
    .option("--expires <duration>", "lifetime, e.g. 30d (default: never)")
    .option(
      "--scope <scopes>",
      "comma-separated: read, run, approve (default: people all three, others read,run)",
    )
    .option("--label <text>", "a note shown by token list")
    .action(
      async (
        opts: CommonOptions & {
          principal: string;
          expires?: string;
          scope?: string;
          label?: string;
        },
      ) => {
        const expiresInMs = opts.expires ? duration("--expires", opts.expires) : undefined;
        const scopes = opts.scope
          ? (await import("../engine/keys/tokens.js")).parseScopes(opts.scope)
          : undefined;
        await withRuntime(cli, opts, async (rt) => {
          const { token: secret, info } = await rt.tokens.create({
            principal: opts.principal,
            ...(scopes ? { scopes } : {}),
            ...(expiresInMs !== undefined ? { expiresInMs } : {}),
            ...(opts.label ? { label: opts.label } : {}),
          });
          if (opts.json) printJson({ token: secret, ...info });
          else {
            out(`${secret}\n`);
            process.stderr.write(
              `token ${info.id} for ${info.principal} (${info.scopes.join(",")}), expires ${iso(info.expires_at)}; shown once, store it now\n`,
            );
          }
        });
      },
    );
  common(token.command("list"))
    .description("list tokens (never their secrets)")
    .action(async (opts: CommonOptions) => {
      await withRuntime(cli, opts, async (rt) => {
        const list = await rt.tokens.list();
        if (opts.json) printJson({ tokens: list });
        else if (list.length === 0) out("no tokens\n");
        else
          for (const t of list) {
            const state =
              t.revoked_at !== null
                ? "revoked"
                : t.expires_at !== null && t.expires_at <= Date.now()
                  ? "expired"
                  : "active";
            out(
              `${t.id}  ${t.principal}  ${t.scopes.join(",")}  ${state}  expires ${iso(t.expires_at)}${t.label ? `  ${t.label}` : ""}\n`,
            );
          }
      });
    });
  common(token.command("revoke"))
    .description("revoke a token by id: it stops working at its next request")
    .argument("<id>", "the token's id (token list)")
    .action(async (id: string, opts: CommonOptions) => {
      await withRuntime(cli, opts, async (rt) => {
        const info = await rt.tokens.revoke(id);
        if (opts.json) printJson({ token: info });
        else out(`revoked ${info.id} (${info.principal})\n`);
      });
    });
}
