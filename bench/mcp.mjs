// MCP gateway benchmark, in one process and run: the same upstream MCP tool called with the SDK's
// `Client` directly (the upstream as a child process over stdio) and through `airun mcp` (the
// SDK's `Client` against the built CLI over stdio, `mcp.upstreams` configured, one connection =
// one governed session), in alternating blocks; p50 and mean µs per call a side and their ratio.
// Two tools: a read-only mapped tool (`echo` of bench/mcp-upstream.mjs: no before-image, no
// undo capture) and a mapped write tool (`write_file` of the reference
// `@modelcontextprotocol/server-filesystem`, with undo from its own tools: each governed call
// first reads the file through the upstream, then writes). Then `tools/list` with 100 upstream
// tools (bench/mcp-upstream.mjs 100): p50/p99 directly vs through `airun mcp` (which lists
// Airun's own capabilities and meta-tools beside them).
//
// Run from bench/run.mjs (after the build), or alone: `node bench/mcp.mjs`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ListToolsResultSchema } from "@modelcontextprotocol/sdk/types.js";

const CALLS = Number(process.env.BENCH_MCP_CALLS ?? 400);
const LISTS = Number(process.env.BENCH_MCP_LISTS ?? 50);
const BLOCK = 50;
const WIDE = 100;
const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const AIRUN = path("../dist/airun.mjs");
const UPSTREAM = path("./mcp-upstream.mjs");
const FS_SERVER = path("../node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
const fmt = (n, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d });
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** An SDK client connected over stdio to `command args` run in `cwd`. */
async function connect(cwd, args) {
  const client = new Client({ name: "airun-bench", version: "1" });
  await client.connect(
    new StdioClientTransport({ command: process.execPath, args, cwd, stderr: "ignore" }),
  );
  return client;
}

/** Calls a tool; a tool error fails the bench (a figure of refused calls would mean nothing). */
async function call(client, name, args) {
  const r = await client.callTool({ name, arguments: args });
  if (r.isError) throw new Error(`${name}: ${r.content.map((c) => c.text ?? "").join("\n")}`);
  return r;
}

/** A project folder for `airun mcp`: config (with `upstreams`), a policy, a sandbox root. */
function project(dir, upstreams, allow) {
  mkdirSync(join(dir, "ws"), { recursive: true });
  writeFileSync(
    join(dir, "airun.yaml"),
    `home: home\npolicy: policies.yaml\nsandbox:\n  fs: { roots: [ws] }\nmcp:\n  principal: agent:bench\n  upstreams:\n${upstreams}`,
  );
  writeFileSync(
    join(dir, "policies.yaml"),
    `version: 1\ndefault: DENY\nrules:\n  - id: bench\n    principal: "agent:*"\n    capability: [${allow.join(", ")}]\n    decision: ALLOW\n`,
  );
}

/**
 * Latencies (ms) of `once(side)` for each side, after `warm` calls of each, `n` a side in
 * alternating blocks (the machine's load drifts; sides measured one after the other would see
 * different machines).
 */
async function alternate(sides, once, n, warm = 20) {
  const lat = Object.fromEntries(sides.map((s) => [s, []]));
  for (let i = 0; i < warm; i++) for (const s of sides) await once(s);
  for (let done = 0; done < n; done += BLOCK) {
    for (const s of sides) {
      for (let i = 0; i < Math.min(BLOCK, n - done); i++) {
        const t = performance.now();
        await once(s);
        lat[s].push(performance.now() - t);
      }
    }
  }
  return lat;
}

/** Prints one call figure: p50 and mean µs a side and the ratios. */
function printCalls(label, lat) {
  const us = (xs, f) => fmt(f(xs) * 1000);
  console.log(`   ${label}`);
  console.log(
    `     direct:         p50 ${us(lat.direct, (x) => pct(x, 50))} µs, mean ${us(lat.direct, mean)} µs per call`,
  );
  console.log(
    `     through Airun:  p50 ${us(lat.airun, (x) => pct(x, 50))} µs, mean ${us(lat.airun, mean)} µs per call`,
  );
  console.log(
    `     ratio: ${fmt(pct(lat.airun, 50) / pct(lat.direct, 50), 1)}x at p50, ${fmt(mean(lat.airun) / mean(lat.direct), 1)}x mean; governance adds ${fmt((pct(lat.airun, 50) - pct(lat.direct, 50)) * 1000)} µs at p50`,
  );
  // Does a call cost more as the session grows? Its first block against its last.
  const [first, last] = [lat.airun.slice(0, BLOCK), lat.airun.slice(-BLOCK)];
  console.log(
    `     through Airun, p50 of the first ${BLOCK} calls ${fmt(pct(first, 50) * 1000)} µs, of the last ${BLOCK} ${fmt(pct(last, 50) * 1000)} µs`,
  );
}

export async function runMcpBench() {
  const root = mkdtempSync(join(tmpdir(), "airun-bench-mcp-"));
  const clients = [];
  const open = async (cwd, args) => {
    const c = await connect(cwd, args);
    clients.push(c);
    return c;
  };
  try {
    // 1. Tool calls: one airun mcp connection (one session) a tool, in front of both upstreams. A
    // session's calls cost more as it grows (see the first-vs-last line), so each tool's figure
    // gets a fresh session of the same length.
    const calls = join(root, "calls");
    project(
      calls,
      `    bench:\n      command: ${process.execPath}\n      args: [${UPSTREAM}]\n      tools:\n        echo: { risk: LOW, effect: read, idempotent: true }\n` +
        `    fs:\n      command: ${process.execPath}\n      args: [${FS_SERVER}, ws]\n      tools:\n        read_text_file: { risk: LOW, effect: read, idempotent: true }\n        write_file:\n          risk: MEDIUM\n          effect: write\n          idempotent: true\n          undo: { capture: read_text_file, restore: write_file }\n`,
      ["mcp.bench.echo", "mcp.fs.read_text_file", "mcp.fs.write_file"],
    );
    const ws = join(calls, "ws");
    // Each side writes its own files: a direct write over a file the session wrote would be
    // drift, and its rollback would rightly refuse to restore it.
    for (const side of ["direct", "airun"])
      for (let i = 0; i < 10; i++) writeFileSync(join(ws, `${side}${i}.txt`), `initial ${i}\n`);
    const directEcho = await open(calls, [UPSTREAM]);
    const directFs = await open(calls, [FS_SERVER, "ws"]);
    /** Rolls a session back (its writes restored through the upstream); ms. */
    const rollback = async (client) => {
      const t0 = performance.now();
      const rb = await call(client, "airun_session_rollback", { reason: "bench" });
      if (rb.structuredContent?.status !== "ROLLED_BACK")
        throw new Error(`rollback: ${JSON.stringify(rb.structuredContent)}`);
      return performance.now() - t0;
    };
    let airun = await open(calls, [AIRUN, "mcp"]);
    let k = 0;
    const echo = await alternate(
      ["direct", "airun"],
      (side) =>
        side === "direct"
          ? call(directEcho, "echo", { text: `hello ${k++}` })
          : call(airun, "mcp_bench_echo", { text: `hello ${k++}` }),
      CALLS,
    );
    await rollback(airun);
    airun = await open(calls, [AIRUN, "mcp"]);
    const write = await alternate(
      ["direct", "airun"],
      (side) => {
        const args = {
          path: join(ws, `${side}${k % 10}.txt`),
          content: `content of call ${k++}\n`,
        };
        return side === "direct"
          ? call(directFs, "write_file", args)
          : call(airun, "mcp_fs_write_file", args);
      },
      CALLS,
    );
    const rollbackMs = await rollback(airun);

    console.log(
      `11. MCP gateway: the same upstream tool called with the SDK Client directly vs through \`airun mcp\` (stdio, one session a tool), ${fmt(echo.direct.length)} calls a side, alternating blocks of ${BLOCK}`,
    );
    printCalls(
      "read-only mapped tool (mcp.bench.echo: policy, ledger steps; no before-image)",
      echo,
    );
    printCalls(
      "write tool of server-filesystem with undo (mcp.fs.write_file: capture through read_text_file, then write)",
      write,
    );
    console.log(
      `     rolling the write session back (${fmt(write.airun.length + 20)} writes restored through the upstream, newest first): ${fmt(rollbackMs)} ms`,
    );

    // 2. tools/list with 100 upstream tools.
    const wide = join(root, "wide");
    project(
      wide,
      `    wide:\n      command: ${process.execPath}\n      args: [${UPSTREAM}, "${WIDE}"]\n`,
      ['"mcp.wide.*"'],
    );
    const directWide = await open(wide, [UPSTREAM, String(WIDE)]);
    const airunWide = await open(wide, [AIRUN, "mcp"]);
    const counts = {
      direct: (await directWide.listTools()).tools.length,
      airun: (await airunWide.listTools()).tools.length,
    };
    // The SDK's `Client.listTools()` also compiles a JSON Schema validator for every tool with an
    // output schema, on every call (client-side work); the bare request is the server, the
    // transport and the result's parsing only.
    const sides = { direct: directWide, airun: airunWide };
    const lists = await alternate(
      ["direct", "airun", "directBare", "airunBare"],
      (side) =>
        side.endsWith("Bare")
          ? sides[side.slice(0, -4)].request({ method: "tools/list" }, ListToolsResultSchema)
          : sides[side].listTools(),
      LISTS,
      5,
    );
    const withOutput = (await airunWide.listTools()).tools.filter((t) => t.outputSchema).length;
    console.log(
      `   tools/list with ${WIDE} upstream tools, ${fmt(lists.direct.length)} calls a way and side (alternating blocks):`,
    );
    const ms = (xs) => `p50 ${fmt(pct(xs, 50), 2)} ms, p99 ${fmt(pct(xs, 99), 2)} ms`;
    console.log(
      `     bare tools/list request:  upstream directly (${counts.direct} tools) ${ms(lists.directBare)}; through airun mcp (${counts.airun} tools) ${ms(lists.airunBare)}`,
    );
    console.log(
      `     SDK Client.listTools():   upstream directly ${ms(lists.direct)}; through airun mcp ${ms(lists.airun)}`,
    );
    console.log(
      `     (through Airun: the ${WIDE} governed tools, Airun's own capabilities and meta-tools; listTools() compiles a validator for each of the ${withOutput} output schemas on every call)`,
    );
    console.log(
      "   (the machine may be loaded by other work: compare the sides of one run, not runs)\n",
    );
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await runMcpBench();
