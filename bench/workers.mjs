// `airun worker` processes on one PostgreSQL store (issue 17): steps/s with 1, 2 and 4 workers,
// and how long commits wait on the ledger lock at each count.
//
// Workload: RUNS runs (BENCH_WORKERS_RUNS, default 200) of a 3-step `sys.echo` chain, enqueued
// in a fresh schema as `airun run --detach` does (one process, `startRun({ detach: true })`),
// then drained by K built `airun worker --drain` processes (each `--concurrency 8`), started at
// once. The clock runs from the first run a worker claims to the last one ending (read from the
// database every 20 ms), so process start-up is not counted. Meanwhile a sampler counts, every
// 2 ms, the connections waiting for any of the ledger's advisory locks (`pg_locks`, this
// database: the integrator's, and each run chain's, which only writers of one run share);
// summed over the window that gives the time spent waiting, reported per step (each step makes
// about two appending commits). Run it alone: other work on the database would be counted.
// Prints figures; asserts nothing. Skipped, loudly, without a server. Run alone: `npm run build && node bench/workers.mjs`.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { Runtime } from "../dist/engine/runtime/runtime.js";
import { reachable } from "./postgres-server.mjs";

const URL_ = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const RUNS = Number(process.env.BENCH_WORKERS_RUNS ?? 200);
const COUNTS = [1, 2, 4];
const STEPS = 3;
const BIN = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "airun.mjs");

const SPEC = `name: echo3
version: 1
steps:
  - id: a
    capability: sys.echo
    inputs: { n: 1 }
  - id: b
    capability: sys.echo
    depends_on: [a]
    inputs: { n: 2 }
  - id: c
    capability: sys.echo
    depends_on: [b]
    inputs: { n: 3 }
`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One measurement: K workers draining RUNS queued runs in a schema of their own. */
async function measure(workers, root) {
  const schema = `airun_wbench_${randomBytes(5).toString("hex")}`;
  const url = `${URL_}${URL_.includes("?") ? "&" : "?"}schema=${schema}`;
  const dir = mkdtempSync(join(root, "p-"));
  mkdirSync(join(dir, "ws"));
  writeFileSync(join(dir, "wf.yaml"), SPEC);
  writeFileSync(
    join(dir, "airun.yaml"),
    `home: home\nsandbox:\n  fs: { roots: [ws] }\nstore: "${url}"\n`,
  );
  const rt = await Runtime.open({ cwd: dir, onWarning: () => undefined });
  try {
    for (let i = 0; i < RUNS; i++) {
      await rt.startRun({ specFile: join(dir, "wf.yaml"), detach: true });
    }
  } finally {
    await rt.close();
  }
  const db = new pg.Client({ connectionString: URL_ });
  await db.connect();
  const sampler = new pg.Client({ connectionString: URL_ });
  await sampler.connect();
  try {
    const procs = Array.from({ length: workers }, () =>
      spawn(
        process.execPath,
        [BIN, "worker", "--drain", "--quiet", "--concurrency", "8", "--poll", "100ms"],
        {
          cwd: dir,
          stdio: "ignore",
        },
      ),
    );
    const exited = procs.map((p) => new Promise((r) => p.once("exit", r)));
    const counts = async () =>
      (
        await db.query(
          `SELECT count(*) FILTER (WHERE lease_owner IS NOT NULL OR status <> 'RUNNING')::int AS started,
                  count(*) FILTER (WHERE status IN ('COMPLETED','ROLLED_BACK','FAILED'))::int AS ended
           FROM ${schema}.runs`,
        )
      ).rows[0];
    let t0 = 0;
    for (;;) {
      if ((await counts()).started > 0) break;
      await sleep(20);
    }
    t0 = performance.now();
    // This schema's ledger lock only (other schemas of the database have keys of their own):
    // an advisory lock on a bigint shows its high and low 32 bits as classid and objid.
    let waitingSum = 0;
    let samples = 0;
    let sampling = true;
    const samplerDone = (async () => {
      while (sampling) {
        const { rows } = await sampler.query(
          `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        );
        waitingSum += rows[0].n;
        samples++;
        await sleep(2);
      }
    })();
    for (;;) {
      if ((await counts()).ended >= RUNS) break;
      await sleep(20);
    }
    const seconds = (performance.now() - t0) / 1000;
    sampling = false;
    await samplerDone;
    await Promise.all(exited);
    const steps = RUNS * STEPS;
    const meanWaiting = waitingSum / Math.max(1, samples);
    // Connections waiting × time = time spent waiting, spread over the steps committed.
    const waitMsPerStep = (meanWaiting * seconds * 1000) / steps;
    return { workers, seconds, stepsPerSecond: steps / seconds, meanWaiting, waitMsPerStep };
  } finally {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await db.end();
    await sampler.end();
  }
}

export async function runWorkersBench() {
  console.log(`\n== airun worker on PostgreSQL (${URL_.replace(/:[^:@/]*@/, ":***@")}) ==`);
  if (!(await reachable(URL_))) {
    console.log("!!! SKIPPED: no PostgreSQL server answers (set BENCH_POSTGRES_URL)");
    return;
  }
  const root = mkdtempSync(join(tmpdir(), "airun-wbench-"));
  try {
    const results = [];
    for (const k of COUNTS) results.push(await measure(k, root));
    const base = results[0];
    console.log(`${RUNS} queued runs of ${STEPS} sys.echo steps, workers at --concurrency 8`);
    for (const r of results) {
      console.log(
        `  ${r.workers} worker${r.workers > 1 ? "s" : " "}: ${r.stepsPerSecond.toFixed(0).padStart(6)} steps/s ` +
          `(${(r.stepsPerSecond / base.stepsPerSecond).toFixed(2)}x of 1 worker, ${r.seconds.toFixed(1)} s); ` +
          `ledger locks: ${r.meanWaiting.toFixed(2)} connections waiting on average, ` +
          `${r.waitMsPerStep.toFixed(2)} ms of waiting per step`,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runWorkersBench();
