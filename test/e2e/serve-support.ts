/**
 * @module Helpers for the `airun serve` tests: a real server (the built CLI) on a free loopback
 * port, tokens made with `airun token create`, JSON requests over real HTTP (node:http, so the
 * Host and Origin headers can be set as an attacker would), and a Server-Sent Events reader.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { AIRUN_BIN } from "../support/cli.js";
import type { Project } from "./project.js";

/** A running `airun serve`. */
export interface Server {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  log(): string;
  /** SIGTERM, then the exit code and output. */
  stop(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Starts `airun serve --listen 127.0.0.1:0 ...extra` in the project and waits for its URL. */
export async function startServer(p: Project, extra: readonly string[] = []): Promise<Server> {
  const child = spawn(process.execPath, [AIRUN_BIN, "serve", "--listen", "127.0.0.1:0", ...extra], {
    cwd: p.dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (code) => resolve(code)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
      const m = /listening on (http:\/\/\S+) /.exec(stdout);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    child,
    log: () => stderr,
    async stop() {
      child.kill("SIGTERM");
      const code = await exited;
      return { code, stdout, stderr };
    },
  };
}

/** Creates a token with `airun token create`; returns the secret and its id. */
export async function makeToken(
  p: Project,
  principal: string,
  extra: readonly string[] = [],
): Promise<{ token: string; id: string }> {
  const r = await p.json<{ token: string; id: string }>([
    "token",
    "create",
    "--principal",
    principal,
    ...extra,
  ]);
  if (r.code !== 0) throw new Error(`token create failed: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** An HTTP answer. */
export interface Answer<T = Record<string, unknown>> {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: T;
  readonly text: string;
}

/** One request over real HTTP; JSON bodies in and out. */
export function call<T = Record<string, unknown>>(
  server: Server,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    raw?: string | Buffer;
    /**
     * Declare the body's length but send none of it: for a body the server refuses on its
     * declared length (413), which it answers without reading; sending a body it will not read
     * races its closing the connection (EPIPE before the answer).
     */
    announceOnly?: boolean;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer<T>> {
  const payload =
    opts.raw ?? (opts.body !== undefined ? Buffer.from(JSON.stringify(opts.body)) : undefined);
  const headers: Record<string, string> = {
    ...(payload !== undefined
      ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) }
      : {}),
    ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    ...opts.headers,
  };
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: server.port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (opts.announceOnly) req.destroy();
          const text = Buffer.concat(chunks).toString();
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON (HTML, SSE)
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body as T, text });
        });
      },
    );
    req.on("error", reject);
    if (opts.announceOnly) req.flushHeaders();
    else if (payload !== undefined) req.end(payload);
    else req.end();
  });
}

/** One Server-Sent Event as received. */
export interface SseEvent {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: string;
}

/** An open event stream: events as they arrive, and a way to hang up. */
export interface SseStream {
  readonly status: Promise<number>;
  /** Waits until at least `n` events arrived (or fails after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<SseEvent[]>;
  readonly events: SseEvent[];
  close(): void;
}

/** Opens `GET path` as an event stream. */
export function openStream(
  server: Server,
  path: string,
  token: string,
  headers: Record<string, string> = {},
): SseStream {
  const events: SseEvent[] = [];
  let notify: (() => void) | undefined;
  let buffer = "";
  let statusResolve: (n: number) => void = () => undefined;
  const status = new Promise<number>((r) => {
    statusResolve = r;
  });
  const req = request(
    {
      host: "127.0.0.1",
      port: server.port,
      method: "GET",
      path,
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream", ...headers },
    },
    (res) => {
      statusResolve(res.statusCode ?? 0);
      res.on("data", (c: Buffer) => {
        buffer += c.toString();
        for (;;) {
          const end = buffer.indexOf("\n\n");
          if (end < 0) break;
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id: string | undefined;
          let event: string | undefined;
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("id:")) id = line.slice(3).trim();
            else if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
          }
          if (data.length > 0) events.push({ id, event, data: data.join("\n") });
        }
        notify?.();
      });
    },
  );
  req.on("error", () => undefined);
  req.end();
  return {
    status,
    events,
    async waitFor(n, timeoutMs = 8000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (Date.now() > deadline) throw new Error(`only ${events.length} of ${n} events arrived`);
        await new Promise<void>((r) => {
          notify = r;
          setTimeout(r, 100);
        });
      }
      return events;
    },
    close: () => req.destroy(),
  };
}
