/**
 * @module A real local HTTP receiver for webhook tests: records every request (headers and raw
 * body bytes) and answers with a scripted sequence of statuses (the last one repeats), or never
 * answers at all (`hang`).
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as received. */
export interface Received {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: Buffer;
  readonly at: number;
}

/** A listening receiver. */
export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Requests whose body parses as JSON, with the parsed body. */
  bodies(): { type: string; id: string; [k: string]: unknown }[];
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1 answering `statuses` in order (default 204), or hanging. */
export async function receiver(
  opts: { statuses?: readonly number[]; hang?: boolean } = {},
): Promise<Receiver> {
  const received: Received[] = [];
  const statuses = opts.statuses ?? [204];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({
        path: req.url ?? "",
        headers: req.headers,
        raw: Buffer.concat(chunks),
        at: Date.now(),
      });
      if (opts.hang) return;
      const status = statuses[Math.min(received.length - 1, statuses.length - 1)] ?? 204;
      res.writeHead(status).end(status >= 400 ? "nope" : "");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    bodies: () => received.map((r) => JSON.parse(r.raw.toString("utf8"))),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Polls until `check` returns a value (or fails after `timeoutMs`). */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 8_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
