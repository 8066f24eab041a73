// `airun serve` benchmark, in one process and run: the latency (p50/p99) of a session call
// (`sys.echo`) over HTTP on loopback (the SDK's AirunHttpClient against `serve`) vs the same call
// through the in-process SDK (`Session.call`), measured in alternating blocks; then the fan-out
// of the live event stream: 100 SSE subscribers, the time from each ledger entry's commit
// timestamp to its arrival at every subscriber (p50/p99), and whether every subscriber received
// every entry.
//
// Run from bench/run.mjs (after the build), or alone: `node bench/serve.mjs`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { Runtime } from "../dist/engine/runtime/runtime.js";
import { AirunHttpClient } from "../dist/sdk/http-client.js";
import { serve } from "../dist/server/serve.js";

const CALLS = Number(process.env.BENCH_SERVE_CALLS ?? 600);
const BLOCK = 50;
const SUBSCRIBERS = 100;
const FANOUT_CALLS = 30;
const fmt = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d });
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** One SSE subscriber: the arrival time of every entry it receives, by sequence. */
function subscribe(url, token, arrivals) {
  return new Promise((resolve) => {
    const req = request(
      `${url}/api/v1/events`,
      { headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" } },
      (res) => {
        let buf = "";
        res.on("data", (c) => {
          const now = Date.now();
          buf += c.toString();
          for (let end = buf.indexOf("\n\n"); end >= 0; end = buf.indexOf("\n\n")) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const data = block.split("\n").find((l) => l.startsWith("data:"));
            if (data) {
              const e = JSON.parse(data.slice(5));
              arrivals.push({ seq: e.seq, at: e.at, got: now });
            }
          }
        });
        resolve(req);
      },
    );
    req.end();
  });
}

export async function runServeBench() {
  const dir = mkdtempSync(join(tmpdir(), "airun-bench-serve-"));
  mkdirSync(join(dir, "ws"));
  writeFileSync(join(dir, "airun.yaml"), "home: home\nsandbox:\n  fs: { roots: [ws] }\n");
  const rt = await Runtime.open({ cwd: dir, worker: { sweepIntervalMs: 30_000 } });
  const server = await serve(rt, {
    listen: "127.0.0.1:0",
    log: () => undefined,
    ratePerSecond: 1e6,
    rateBurst: 1e6,
  });
  try {
    const { token } = await rt.tokens.create({ principal: "agent:bench" });
    const client = new AirunHttpClient({ baseUrl: server.url, token });
    const local = await rt.openSession({ principal: "agent:bench" });
    const remote = await client.openSession();
    const lat = { local: [], http: [] };
    const once = async (side) => {
      const t = performance.now();
      if (side === "local") await local.call("sys.echo", { n: 1 });
      else await remote.call("sys.echo", { n: 1 });
      lat[side].push(performance.now() - t);
    };
    for (let i = 0; i < 20; i++) {
      await once("local");
      await once("http");
    }
    lat.local.length = 0;
    lat.http.length = 0;
    for (let done = 0; done < CALLS; done += BLOCK) {
      for (const side of ["local", "http"]) for (let i = 0; i < BLOCK; i++) await once(side);
    }
    await local.rollback();
    await remote.rollback();
    console.log(
      `9. airun serve: a session call (sys.echo), ${fmt(lat.local.length)} calls a side, alternating blocks of ${BLOCK}`,
    );
    console.log(
      `   in-process SDK:     p50 ${fmt(pct(lat.local, 50), 2)} ms, p99 ${fmt(pct(lat.local, 99), 2)} ms`,
    );
    console.log(
      `   HTTP on loopback:   p50 ${fmt(pct(lat.http, 50), 2)} ms, p99 ${fmt(pct(lat.http, 99), 2)} ms`,
    );
    console.log(`   HTTP overhead at p50: ${fmt(pct(lat.http, 50) - pct(lat.local, 50), 2)} ms`);

    const arrivals = Array.from({ length: SUBSCRIBERS }, () => []);
    const reqs = await Promise.all(arrivals.map((a) => subscribe(server.url, token, a)));
    const s = await rt.openSession({ principal: "agent:bench" });
    for (let i = 0; i < FANOUT_CALLS; i++) await s.call("sys.echo", { i });
    await s.commit();
    const view = await rt.events(s.id);
    const want = new Set(view.map((e) => e.seq));
    const deadline = Date.now() + 10_000;
    while (
      Date.now() < deadline &&
      arrivals.some((a) => [...want].some((q) => !a.find((x) => x.seq === q)))
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const r of reqs) r.destroy();
    const delays = arrivals.flatMap((a) =>
      a.filter((x) => want.has(x.seq)).map((x) => x.got - x.at),
    );
    const complete = arrivals.filter((a) =>
      [...want].every((q) => a.some((x) => x.seq === q)),
    ).length;
    console.log(
      `   SSE fan-out: ${SUBSCRIBERS} subscribers, ${want.size} ledger entries of one session (${FANOUT_CALLS} calls + commit)`,
    );
    console.log(
      `   every entry at every subscriber: ${complete}/${SUBSCRIBERS}; commit → arrival p50 ${fmt(pct(delays, 50))} ms, p99 ${fmt(pct(delays, 99))} ms (hub polls every 100 ms)\n`,
    );
  } finally {
    await server.close();
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await runServeBench();
