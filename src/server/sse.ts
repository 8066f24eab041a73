/**
 * @module `GET /api/v1/events`: ledger entries as Server-Sent Events, of every run or of one.
 * Each event's `id` is its ledger sequence; a client that reconnects with `Last-Event-ID` gets
 * every entry after it, in order, then the live ones — one loop for both (read the ledger after
 * the cursor, send, wait for the event hub to move), so nothing is lost or sent twice. Without
 * `Last-Event-ID` the stream starts at the ledger's head (only what happens from now on).
 * Streams are limited per token and in total (`RATE_LIMITED`, 429); a comment line every 15 s
 * keeps proxies from closing an idle stream.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { AirunError } from "../core/errors.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { EventHub } from "./event-hub.js";
import type { ServerEnv } from "./guard.js";

/** What an event stream reads from. */
export interface StreamDeps {
  readonly rt: { eventsAfter: Runtime["eventsAfter"] };
  readonly hub: EventHub;
  readonly streams: StreamLimits;
}

/** How many event streams may be open. */
export class StreamLimits {
  readonly max: number;
  readonly perToken: number;
  readonly #open = new Map<string, number>();
  readonly #all = new Set<() => void>();
  #total = 0;

  constructor(max: number, perToken: number) {
    this.max = max;
    this.perToken = perToken;
  }

  /** Takes a slot for `tokenId`, or throws `RATE_LIMITED`; returns its release. */
  take(tokenId: string): () => void {
    const mine = this.#open.get(tokenId) ?? 0;
    if (this.#total >= this.max || mine >= this.perToken) {
      throw new AirunError(
        "RATE_LIMITED",
        `too many event streams open (${mine} for this token, at most ${this.perToken}; ${this.#total} in all, at most ${this.max})`,
      );
    }
    this.#open.set(tokenId, mine + 1);
    this.#total += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#total -= 1;
      this.#open.set(tokenId, (this.#open.get(tokenId) ?? 1) - 1);
    };
  }

  /** Registers a stream's closer (called on shutdown). */
  track(close: () => void): () => void {
    this.#all.add(close);
    return () => this.#all.delete(close);
  }

  /** Ends every open stream (graceful shutdown). */
  closeAll(): void {
    for (const close of [...this.#all]) close();
  }
}

const PAGE = 200;
const KEEPALIVE_MS = 15_000;

/** The event stream of one request (see module doc). */
export function eventStream(
  c: Context<ServerEnv>,
  deps: StreamDeps,
  opts: { readonly runId: string | undefined; readonly lastEventId: string | undefined },
): Response | Promise<Response> {
  let cursor: number;
  if (opts.lastEventId !== undefined) {
    cursor = Number(opts.lastEventId);
    if (!Number.isSafeInteger(cursor) || cursor < 0) {
      throw new AirunError("USAGE", `Last-Event-ID "${opts.lastEventId}" is not a ledger sequence`);
    }
  } else cursor = deps.hub.head;
  const release = deps.streams.take(c.get("caller").tokenId);
  const stop = new AbortController();
  const untrack = deps.streams.track(() => stop.abort());
  return streamSSE(c, async (stream) => {
    stream.onAbort(() => stop.abort());
    const keepalive = setInterval(() => {
      void stream.write(": keepalive\n\n").catch(() => stop.abort());
    }, KEEPALIVE_MS);
    try {
      await stream.write(`retry: 1000\n\n`);
      while (!stop.signal.aborted && !deps.hub.stopped) {
        const gen = deps.hub.generation;
        const events = await deps.rt.eventsAfter(cursor, {
          ...(opts.runId !== undefined ? { runId: opts.runId } : {}),
          limit: PAGE,
        });
        for (const e of events) {
          if (stop.signal.aborted) break;
          await stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify(e) });
          cursor = e.seq;
        }
        if (events.length < PAGE) await deps.hub.changedSince(gen, stop.signal);
      }
    } finally {
      clearInterval(keepalive);
      untrack();
      release();
    }
  });
}
