// Airun on PostgreSQL side by side with DBOS Transact for TypeScript (`@dbos-inc/dbos-sdk`), in
// one process and one run, against the same server (BENCH_POSTGRES_URL, default the machine's
// PostgreSQL 15 at postgres://postgres@127.0.0.1:5432/test) with the same durability
// (`synchronous_commit = on` on both sides' connections, checked before measuring).
//
// Workload: a workflow of three effect-free steps. Airun: a 3-step chain of `sys.echo` through
// the SDK (`Runtime.open` on a fresh database, `startRun`, which returns when the run is
// terminal). sys.echo is pure, so Airun writes the run in two commits (its start and its end),
// where DBOS writes each step (a DBOS user would write such code outside any step); variant:
// the same chain of `bench.echo` (bench/committed-echo.mjs: sys.echo without `pure`), one commit
// a step like DBOS.
// DBOS: a registered workflow of three `DBOS.runStep` calls echoing their input (its system
// database dropped and recreated for the run). Variant: the middle step writes a file durably
// (Airun's governed `io.fs.write_file`; in DBOS a step doing the same temp file + fsync + rename
// + directory fsync).
//
// Figures: workflows/s with 1 in flight (one after the other) and 32 in flight (32 loops, each
// starting its next workflow when the last one ends), both pools at 10 connections (each side's
// default). The sides are measured in alternation, PASSES times after one warm-up of each
// (this machine's fsync latency drifts within minutes); medians, and the ratio Airun/DBOS is the
// median of each pass's ratio. Beside Airun's figures, how many of its connections wait on
// average for a ledger lock (any advisory lock: a run chain's, which only that run's writers
// take, or the integrator's, which only integrators wait for; before run chains, one lock every
// appending transaction held until it committed). Prints figures; asserts nothing.
//
// The peers live in a bench-only package (bench/peers/package.json), installed on first use with
// `npm install --prefix bench/peers`; Airun itself never depends on them. Skipped, loudly, when
// the server does not answer. `npm run bench` runs it last; `npm run bench:pg` alone. Both sides
// get a database of their own, dropped after: Airun `airun_bench_<random>`, DBOS
// `dbos_bench_sys`.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { Runtime } from "../dist/engine/runtime/runtime.js";
import { benchRegistry } from "./committed-echo.mjs";
import { durableWrite } from "./durable-write.mjs";
import { reachable } from "./postgres-server.mjs";

const URL_ = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SEQ_WORKFLOWS = Number(process.env.BENCH_PG_SEQ ?? 100);
const IN_FLIGHT = 32;
const CONC_WORKFLOWS = Number(process.env.BENCH_PG_CONC ?? 320);
const PASSES = Number(process.env.BENCH_PG_PASSES ?? 3);
const DBOS_SYS_DB = "dbos_bench_sys";
const PEERS = join(dirname(fileURLToPath(import.meta.url)), "peers");

const fmt = (n) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const redacted = (u) => u.replace(/:[^:@/]*@/, ":***@");

/** One SQL statement on its own connection to `url`. */
async function admin(url, sql) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

/** The server URL with another database name. */
function withDatabase(url, db) {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Imports DBOS from the bench-only package, installing it on first use. */
async function loadDbos() {
  const entry = join(PEERS, "node_modules", "@dbos-inc", "dbos-sdk", "package.json");
  if (!existsSync(entry)) {
    console.log("   installing the bench peers (npm install --prefix bench/peers)...");
    execFileSync("npm", ["install", "--prefix", PEERS, "--no-audit", "--no-fund"], {
      stdio: "inherit",
    });
  }
  const { createRequire } = await import("node:module");
  const require = createRequire(join(PEERS, "package.json"));
  return {
    DBOS: require("@dbos-inc/dbos-sdk").DBOS,
    version: JSON.parse(readFileSync(entry, "utf8")).version,
  };
}

const echoYaml = (i, cap = "sys.echo") =>
  `    capability: ${cap}\n    inputs: { i: ${i}, note: "step ${i}" }\n`;
const writeYaml = (i) =>
  `    capability: io.fs.write_file\n    inputs: { path: "f\${{ inputs.k }}.txt", content: "content of step ${i}" }\n`;

/**
 * A 3-step chain of `echo` steps (`sys.echo`, or `bench.echo`, which commits each step); with
 * `write`, its middle step writes a file.
 */
function spec(name, write, echo = "sys.echo") {
  let out = `name: ${name}\nversion: 1\nprincipal: agent:bench\ninputs:\n  k: { type: number }\nsteps:\n`;
  for (let i = 0; i < 3; i++) {
    const body = write && i === 1 ? writeYaml(i) : echoYaml(i, echo);
    out += `  - id: s${i}\n${i > 0 ? `    depends_on: [s${i - 1}]\n` : ""}${body}`;
  }
  return out;
}

/**
 * The Airun side: a runtime on a fresh database `db` (a database of its own, so that other work
 * on the server's `test` database, such as PostgreSQL tests, does not share its disk queue and
 * locks); `run(k)` runs one workflow to its end.
 */
async function airunSide(root, db) {
  const dir = join(root, "airun");
  mkdirSync(join(dir, "ws"), { recursive: true });
  await admin(URL_, `CREATE DATABASE ${db}`);
  const store = withDatabase(URL_, db);
  writeFileSync(
    join(dir, "airun.yaml"),
    `home: home\nstore: ${store}\nsandbox:\n  fs: { roots: [ws] }\naudit: { level: BASIC }\n`,
  );
  writeFileSync(join(dir, "echo.yaml"), spec("echo3", false));
  writeFileSync(join(dir, "write.yaml"), spec("write3", true));
  writeFileSync(join(dir, "committed.yaml"), spec("committed3", false, "bench.echo"));
  const rt = await Runtime.open({ cwd: dir, env: {}, registry: benchRegistry() });
  const run = (file) => async (k) => {
    const view = await rt.startRun({ specFile: join(dir, file), inputs: { k: k % 50 } });
    if (view.status !== "COMPLETED")
      throw new Error(`airun ${file}: ${view.status} ${JSON.stringify(view.reason_detail)}`);
  };
  return {
    echo: run("echo.yaml"),
    committed: run("committed.yaml"),
    write: run("write.yaml"),
    lockWaits: () => ledgerLockWaits(store),
    close: () => rt.close(),
  };
}

/**
 * Samples, every 20 ms until `stop()`, how many of the Airun store's connections wait for the
 * ledger's advisory lock (`pg_locks`, this database only); `stop()` returns the mean.
 */
function ledgerLockWaits(url) {
  const c = new pg.Client({ connectionString: url });
  const samples = [];
  let stopped = false;
  const loop = (async () => {
    await c.connect();
    while (!stopped) {
      const { rows } = await c.query(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      );
      samples.push(rows[0].n);
      await new Promise((r) => setTimeout(r, 20));
    }
    await c.end();
  })();
  return async () => {
    stopped = true;
    await loop;
    return samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length);
  };
}

/** The DBOS side: DBOS launched on a fresh system database; the same two workflows. */
async function dbosSide(root, DBOS) {
  const ws = join(root, "dbos-ws");
  mkdirSync(ws, { recursive: true });
  const sysUrl = withDatabase(URL_, DBOS_SYS_DB);
  await admin(URL_, `DROP DATABASE IF EXISTS ${DBOS_SYS_DB} WITH (FORCE)`);
  DBOS.setConfig({ name: "airun-bench", systemDatabaseUrl: sysUrl, logLevel: "error" });
  const echoStep = (i) => DBOS.runStep(async () => ({ i, note: `step ${i}` }), { name: `s${i}` });
  const echo3 = DBOS.registerWorkflow(
    async (_k) => {
      for (let i = 0; i < 3; i++) await echoStep(i);
    },
    { name: "echo3" },
  );
  const write3 = DBOS.registerWorkflow(
    async (k) => {
      await echoStep(0);
      await DBOS.runStep(
        async () => {
          durableWrite(
            join(ws, `f${k % 50}.txt`),
            "content of step 1",
            join(ws, `f${k}.${randomBytes(4).toString("hex")}.tmp`),
          );
          return { path: `f${k % 50}.txt` };
        },
        { name: "s1" },
      );
      await echoStep(2);
    },
    { name: "write3" },
  );
  await DBOS.launch();
  const [setting] = await admin(sysUrl, "SHOW synchronous_commit");
  return {
    echo: (k) => echo3(k),
    committed: (k) => echo3(k),
    write: (k) => write3(k),
    synchronousCommit: setting.synchronous_commit,
    close: async () => {
      await DBOS.shutdown();
      await admin(URL_, `DROP DATABASE IF EXISTS ${DBOS_SYS_DB} WITH (FORCE)`);
    },
  };
}

/** Workflows/s of `total` workflows through `run`, `inFlight` at a time. */
async function rate(run, total, inFlight) {
  let next = 0;
  const loop = async () => {
    while (next < total) await run(next++);
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, loop));
  return (total / (performance.now() - t0)) * 1000;
}

/** Both sides at 1 and at 32 in flight, alternated; medians and per-pass ratios. */
async function compare(airun, dbos, kind) {
  const shapes = [
    ["1 in flight", SEQ_WORKFLOWS, 1],
    [`${IN_FLIGHT} in flight`, CONC_WORKFLOWS, IN_FLIGHT],
  ];
  const out = [];
  for (const [label, total, inFlight] of shapes) {
    await rate(airun[kind], Math.min(total, 64), inFlight); // warm-up
    await rate(dbos[kind], Math.min(total, 64), inFlight);
    const a = [];
    const d = [];
    const waits = [];
    for (let p = 0; p < PASSES; p++) {
      const stop = airun.lockWaits();
      a.push(await rate(airun[kind], total, inFlight));
      waits.push(await stop());
      d.push(await rate(dbos[kind], total, inFlight));
    }
    out.push({
      label,
      total,
      airun: median(a),
      dbos: median(d),
      ratio: median(a.map((x, i) => x / d[i])),
      waiting: median(waits),
    });
  }
  return out;
}

export async function runPostgresBench() {
  console.log(`\nPostgreSQL: Airun vs DBOS Transact, 3-step workflows (${redacted(URL_)})`);
  if (!(await reachable(URL_))) {
    console.log(
      `\n!!! PostgreSQL bench SKIPPED: no server at ${redacted(URL_)}. Start it ` +
        "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set " +
        "BENCH_POSTGRES_URL.\n",
    );
    return;
  }
  const { DBOS, version } = await loadDbos();
  const root = mkdtempSync(join(tmpdir(), "airun-bench-pg-"));
  const airunDb = `airun_bench_${randomBytes(4).toString("hex")}`;
  let airun;
  let dbos;
  try {
    airun = await airunSide(root, airunDb);
    dbos = await dbosSide(root, DBOS);
    if (dbos.synchronousCommit !== "on")
      throw new Error(
        `synchronous_commit is ${dbos.synchronousCommit} on the server: DBOS would not wait for its commits`,
      );
    console.log(
      `   synchronous_commit on for both: Airun sets it on its connections, DBOS (which sets none) gets the server's; pools of 10 on both sides; DBOS ${version}`,
    );
    console.log(
      `   ${PASSES} alternated passes a side after one warm-up each (medians): ${SEQ_WORKFLOWS} workflows at 1 in flight, ${CONC_WORKFLOWS} at ${IN_FLIGHT}`,
    );
    const targets = { 1: "target >= 1.00", [IN_FLIGHT]: "target >= 2.00" };
    for (const [kind, title] of [
      [
        "echo",
        "three effect-free steps (Airun sys.echo, pure: the run is written in 2 commits; DBOS runStep echoing its input, 5)",
      ],
      [
        "committed",
        "the same, each step committed (Airun bench.echo, sys.echo without pure: 5 commits, as DBOS)",
      ],
      [
        "write",
        "the middle step writes a file durably (Airun io.fs.write_file; DBOS the same write in a runStep)",
      ],
    ]) {
      console.log(`   ${title}:`);
      for (const r of await compare(airun, dbos, kind)) {
        const target = targets[r.label.split(" ")[0]];
        console.log(
          `     ${r.label.padEnd(13)} Airun ${fmt(r.airun).padStart(5)} workflows/s, DBOS ${fmt(r.dbos).padStart(5)} workflows/s, Airun/DBOS ${r.ratio.toFixed(2)}x   (${target})`,
        );
        console.log(
          `${" ".repeat(19)}Airun's connections waiting for a ledger lock: ${r.waiting.toFixed(1)} of 10 on average`,
        );
      }
    }
  } finally {
    await airun?.close();
    await dbos?.close();
    await admin(URL_, `DROP DATABASE IF EXISTS ${airunDb} WITH (FORCE)`).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await runPostgresBench();
