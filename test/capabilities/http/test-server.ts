/**
 * @module A real HTTP server on 127.0.0.1 for `net.http.request` tests.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A running test server. */
export interface TestServer {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Number of requests received per path. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Starts the server. Routes are described inline below. */
export async function startTestServer(): Promise<TestServer> {
  const hits = new Map<string, number>();
  let port = 0;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://x");
      const path = url.pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      if (path === "/echo") {
        const body = await readBody(req);
        res.setHeader("content-type", "application/json; charset=utf-8");
        res.end(JSON.stringify({ method: req.method, headers: req.headers, body }));
      } else if (path === "/text") {
        res.setHeader("content-type", "text/plain");
        res.end("plain text");
      } else if (path === "/bad-json") {
        res.setHeader("content-type", "application/json");
        res.end("{not json");
      } else if (path.startsWith("/status/")) {
        res.statusCode = Number(path.slice("/status/".length));
        res.end(`status body ${res.statusCode}`);
      } else if (path === "/redirect") {
        // /redirect?to=<url>&status=302
        res.statusCode = Number(url.searchParams.get("status") ?? 302);
        res.setHeader("location", url.searchParams.get("to") ?? "/text");
        res.end();
      } else if (path.startsWith("/chain/")) {
        const n = Number(path.slice("/chain/".length));
        res.statusCode = 302;
        res.setHeader("location", n > 0 ? `/chain/${n - 1}` : "/text");
        res.end();
      } else if (path === "/big") {
        res.setHeader("content-type", "text/plain");
        res.setHeader("content-length", String(64 * 1024));
        res.end("x".repeat(64 * 1024));
      } else if (path === "/big-chunked") {
        res.setHeader("content-type", "text/plain");
        for (let i = 0; i < 64; i++) res.write("y".repeat(1024));
        res.end();
      } else if (path === "/slow") {
        setTimeout(() => res.end("late"), 5000).unref();
      } else {
        res.statusCode = 404;
        res.end("no such route");
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
