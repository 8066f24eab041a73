/**
 * @module A real loopback HTTP server speaking the two LLM wire formats `llm.chat` uses: OpenAI
 * Chat Completions (`POST …/chat/completions`) and the Anthropic Messages API (`POST
 * …/messages`). It records every request as received and answers from a queue of scripted
 * replies (content, usage, status, delay, raw body), falling back to a default reply.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** How the server answers one request. */
export interface LlmReply {
  /** HTTP status; default 200. A status >= 400 answers with the provider's error body. */
  readonly status?: number;
  readonly content?: string;
  /** Token counts to report; `null` omits `usage` from the answer. Default 11 in, 7 out. */
  readonly usage?: { readonly input: number; readonly output: number } | null;
  readonly stopReason?: string;
  readonly id?: string;
  readonly model?: string;
  /** Message of an error answer. */
  readonly errorMessage?: string;
  /** Wait this long before answering. */
  readonly delayMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Send this body as is instead of a formatted one. */
  readonly rawBody?: string;
}

/** A request as the server received it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly wire: "openai" | "anthropic" | "unknown";
  readonly headers: IncomingHttpHeaders;
  /** The body parsed as JSON (undefined when it is not JSON). */
  readonly body: unknown;
  readonly raw: string;
}

/** A running server. */
export interface LlmServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Every request received, oldest first. */
  readonly requests: RecordedRequest[];
  /** Queues replies, used one per request in order; then the default applies. */
  reply(...replies: LlmReply[]): void;
  /** Clears the queue and the recorded requests. */
  reset(): void;
  close(): Promise<void>;
}

const DEFAULT_REPLY: LlmReply = { content: "hello from the loopback model" };

function errorType(status: number): string {
  if (status === 429) return "rate_limit_error";
  if (status === 401) return "authentication_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

function openaiBody(r: LlmReply, model: string): unknown {
  const status = r.status ?? 200;
  if (status >= 400) {
    return { error: { message: r.errorMessage ?? "error", type: errorType(status), code: null } };
  }
  const u = r.usage === undefined ? { input: 11, output: 7 } : r.usage;
  return {
    id: r.id ?? "chatcmpl-loopback-1",
    object: "chat.completion",
    created: 1_700_000_000,
    model: r.model ?? model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: r.content ?? "" },
        finish_reason: r.stopReason ?? "stop",
      },
    ],
    ...(u === null
      ? {}
      : {
          usage: {
            prompt_tokens: u.input,
            completion_tokens: u.output,
            total_tokens: u.input + u.output,
          },
        }),
  };
}

function anthropicBody(r: LlmReply, model: string): unknown {
  const status = r.status ?? 200;
  if (status >= 400) {
    return {
      type: "error",
      error: { type: errorType(status), message: r.errorMessage ?? "error" },
    };
  }
  const u = r.usage === undefined ? { input: 11, output: 7 } : r.usage;
  // The text is split into two blocks around a non-text block, as a real answer may be.
  const text = r.content ?? "";
  const half = Math.floor(text.length / 2);
  return {
    id: r.id ?? "msg_loopback_1",
    type: "message",
    role: "assistant",
    model: r.model ?? model,
    content: [
      { type: "text", text: text.slice(0, half) },
      { type: "thinking", thinking: "(not part of the answer)", signature: "x" },
      { type: "text", text: text.slice(half) },
    ],
    stop_reason: r.stopReason ?? "end_turn",
    stop_sequence: null,
    ...(u === null ? {} : { usage: { input_tokens: u.input, output_tokens: u.output } }),
  };
}

/** Starts the server on 127.0.0.1 (a free port). */
export async function startLlmServer(): Promise<LlmServer> {
  const requests: RecordedRequest[] = [];
  const queue: LlmReply[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const wire = path.endsWith("/chat/completions")
        ? "openai"
        : path.endsWith("/messages")
          ? "anthropic"
          : "unknown";
      requests.push({ method: req.method ?? "", path, wire, headers: req.headers, body, raw });
      const r = queue.shift() ?? DEFAULT_REPLY;
      if (r.delayMs) await new Promise((done) => setTimeout(done, r.delayMs).unref());
      if (res.destroyed) return;
      const model = String((body as { model?: unknown } | undefined)?.model ?? "unknown");
      res.statusCode = wire === "unknown" ? 404 : (r.status ?? 200);
      for (const [k, v] of Object.entries(r.headers ?? {})) res.setHeader(k, v);
      if (r.rawBody !== undefined) {
        res.end(r.rawBody);
        return;
      }
      res.setHeader("content-type", "application/json");
      const answer =
        wire === "openai"
          ? openaiBody(r, model)
          : wire === "anthropic"
            ? anthropicBody(r, model)
            : { error: { message: `no route ${path}` } };
      res.end(JSON.stringify(answer));
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    reply: (...replies) => {
      queue.push(...replies);
    },
    reset: () => {
      queue.length = 0;
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
