// Benchmarks of the governed runtime against raw baselines measured in the SAME process and
// run, so ratios are meaningful on any machine. Prints figures; asserts nothing (targets are
// printed beside each ratio). Run with `npm run bench` (builds first).
//
//  1. governed effect-free steps/s that commit (`bench.echo`, bench/committed-echo.mjs: sys.echo
//     without `pure`), sequential, vs a raw SQLite transaction per step holding a
//     step row and a ~1 KB event row (same WAL + synchronous mode). Both sides: one warm-up
//     pass, then five passes in alternation (medians; the ratio is the median of each pass's).
//     Beside them, the layers under the engine, each committing again the rows a governed run
//     committed: the store's own SQL and encoders in a bare synchronous loop (the floor), the
//     SqliteStore alone, and the rows a leaner format would write; they split the gap into the
//     schema's share, the store's and the engine's. Then raw and governed again at
//     synchronous=NORMAL: how much of a step is fsync (the same count for both sides) and how
//     much is the rest.
//  2. governed `io.fs.write_file` steps/s vs the raw two-transaction pattern (write-ahead row,
//     the same file write, completion row), measured the same way, with the same breakdown.
//  3. steps/s with 64 concurrent runs vs the sequential figure, measured in alternation with it
//     (group commit).
//  4. wall time of a cold `airun run` of a 3-step workflow (a fresh process each time).
//  5. policy decisions/s, compiled vs a naive scan of the same 100 rules (bench/policy.mjs).
//  6. ledger verification and what the ledger costs per step (bench/ledger.mjs).
//  7. what a full governance envelope costs per step (bench/governance.mjs).
//  8. recovery: N runs killed mid-step, then the time until each runs its step again
//     (bench/recovery.mjs).
//  9. `airun serve`: a session call over HTTP on loopback vs the in-process SDK (p50/p99), and
//     SSE fan-out to 100 subscribers (bench/serve.mjs).
// 10. on PostgreSQL, 3-step workflows/s at 1 and 32 in flight side by side with DBOS Transact
//     (bench/postgres.mjs; skipped loudly when the server does not answer).
// 11. MCP gateway: an upstream tool called with the SDK Client directly vs through `airun mcp`
//     (µs per call, p50 and mean, and the ratio; a read-only tool and a write with undo), and
//     tools/list with 100 upstream tools (p50/p99), directly vs through Airun (bench/mcp.mjs).
// 12. `airun worker` processes on PostgreSQL: steps/s with 1, 2 and 4 workers and the time commits
//     wait on the ledger's locks at each count (bench/workers.mjs).
// 13. a governed one-row `db.row.update` vs the same UPDATE made directly with the driver, with
//     and without the before-image read, on SQLite and PostgreSQL targets (bench/databases.mjs).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import { GENESIS_HASH } from "../dist/core/ledger.js";
import { Runtime } from "../dist/engine/runtime/runtime.js";
import { pendingStep } from "../dist/engine/state/run-records.js";
import { chainEntry } from "../dist/store/ledger-chain.js";
import { stepRow } from "../dist/store/rows.js";
import {
  APPEND_ENTRY_SQL,
  LEDGER_HEAD_SQL,
  PUT_STEP_SQL,
  RUN_HEAD_SQL,
} from "../dist/store/sqlite/sqlite-sql.js";
import { SqliteStore } from "../dist/store/sqlite/sqlite-store.js";
import { benchRegistry } from "./committed-echo.mjs";
import { durableWrite as writeFile } from "./durable-write.mjs";

const SEQ_STEPS = Number(process.env.BENCH_STEPS ?? 1500);
const CONCURRENT_RUNS = 64;
const STEPS_PER_CONCURRENT_RUN = Number(process.env.BENCH_CONCURRENT_STEPS ?? 40);
const SYNC = process.env.BENCH_SYNC ?? "FULL";

const root = mkdtempSync(join(tmpdir(), "airun-bench-"));
const fmt = (n) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });
/** Microseconds per step of a steps/s figure. */
const us = (stepsPerSecond) => 1e6 / stepsPerSecond;

function project(name, steps, sync = SYNC) {
  const dir = join(root, name);
  mkdirSync(join(dir, "ws"), { recursive: true });
  writeFileSync(
    join(dir, "airun.yaml"),
    `home: home\nstore: sqlite\nsqlite: { synchronous: ${sync} }\nsandbox:\n  fs: { roots: [ws] }\naudit: { level: BASIC }\n`,
  );
  writeFileSync(join(dir, "wf.yaml"), steps);
  return dir;
}

/** A chain of `n` steps, each depending on the previous one (strictly sequential). */
function chain(name, n, stepYaml) {
  let out = `name: ${name}\nversion: 1\nprincipal: agent:bench\nsteps:\n`;
  for (let i = 0; i < n; i++) {
    out += `  - id: s${i}\n${i > 0 ? `    depends_on: [s${i - 1}]\n` : ""}${stepYaml(i)}`;
  }
  return out;
}

/** An effect-free step that commits (bench/committed-echo.mjs); `pureStep` is sys.echo itself. */
const echoStep = (i) => `    capability: bench.echo\n    inputs: { i: ${i}, note: "step ${i}" }\n`;
const pureStep = (i) => `    capability: sys.echo\n    inputs: { i: ${i}, note: "step ${i}" }\n`;
const writeStep = (i) =>
  `    capability: io.fs.write_file\n    inputs: { path: "f${i % 50}.txt", content: "content of step ${i}" }\n`;

/**
 * The sequential figures of one capability, each side measured in alternation: a raw pass, then
 * a governed run, then (with `withLayers`) the layers under the engine, `PASSES` times, after one
 * warm-up of each. This machine's fsync latency drifts by up to 2x within minutes; sides
 * measured one block after the other would each see another disk, and their ratio would tell
 * more about the drift than about Airun. Figures are medians; ratios are medians of the ratios
 * of the same pass.
 *
 * The governed side is a chain of `SEQ_STEPS` steps in one runtime: run once cold (end to end,
 * including compiling the spec, whose cost grows with its size but not with execution), then
 * measured while executing (a run's first recorded event to its last: what the engine does per
 * step at steady state). The layers replay the cold run's rows: through the store alone
 * (`storeReplay`), through the store's SQL alone (`sqlFloor`), and as a leaner format would
 * write them (`sqlFloor` with `lean`).
 */
async function sequential(
  name,
  stepYaml,
  txPerStep,
  sideEffect,
  { sync = SYNC, withLayers = false } = {},
) {
  const dir = project(name, chain(name, SEQ_STEPS, stepYaml), sync);
  const rt = await Runtime.open({ cwd: dir, env: {}, registry: benchRegistry() });
  const governedOnce = () => timedRun(rt, join(dir, "wf.yaml"), SEQ_STEPS);
  const raw = rawBaseline(`${name}-${sync}`, txPerStep, sideEffect, sync);
  const layers = {};
  try {
    const cold = await governedOnce();
    raw.once("warm");
    if (withLayers) {
      const recorded = await recordedRun(join(dir, "home", "airun.db"));
      const target = (layer) => join(root, `${name}-${layer}.db`);
      layers.store = await storeReplay(recorded, target("store"), sync);
      layers.floor = await sqlFloor(recorded, target("floor"), sync, false);
      layers.lean = await sqlFloor(recorded, target("lean"), sync, true);
      for (const layer of Object.values(layers)) await layer.once("warm");
    }
    const raws = [];
    const governed = [];
    const rates = Object.fromEntries(Object.keys(layers).map((k) => [k, []]));
    for (let i = 0; i < PASSES; i++) {
      raws.push(raw.once(i));
      governed.push((await governedOnce()).exec);
      for (const [k, layer] of Object.entries(layers)) rates[k].push(await layer.once(i));
    }
    const pairwise = (xs) => median(xs.map((x, i) => x / raws[i]));
    return {
      raw: median(raws),
      governed: median(governed),
      ratio: pairwise(governed),
      cold: cold.total,
      layers: Object.fromEntries(
        Object.entries(rates).map(([k, xs]) => [k, { rate: median(xs), ratio: pairwise(xs) }]),
      ),
    };
  } finally {
    raw.close();
    for (const layer of Object.values(layers)) await layer.close();
    await rt.close();
  }
}

/**
 * One run of the chain `specFile` (`steps` long): steps/s while executing (from the run's first
 * recorded event to its last: what the engine does per step at steady state) and end to end.
 */
async function timedRun(rt, specFile, steps) {
  const t0 = performance.now();
  const view = await rt.startRun({ specFile });
  const ms = performance.now() - t0;
  if (view.status !== "COMPLETED")
    throw new Error(`${view.name}: ${view.status} ${JSON.stringify(view.reason_detail)}`);
  const events = await rt.events(view.id);
  return {
    exec: (steps / (events.at(-1).at - events[0].at)) * 1000,
    total: (steps / ms) * 1000,
  };
}

/**
 * A chain of `SEQ_STEPS` sys.echo steps, which are pure: nothing is written between its start
 * and its end, so it is timed end to end (the median of `PASSES` runs after a warm-up), its
 * final commit of every step's rows included.
 */
async function pureChain() {
  const dir = project("pure", chain("pure", SEQ_STEPS, pureStep));
  const rt = await Runtime.open({ cwd: dir, env: {} });
  try {
    await timedRun(rt, join(dir, "wf.yaml"), SEQ_STEPS);
    const rates = [];
    for (let i = 0; i < PASSES; i++)
      rates.push((await timedRun(rt, join(dir, "wf.yaml"), SEQ_STEPS)).total);
    return median(rates);
  } finally {
    await rt.close();
  }
}

/** Passes per side (after one warm-up pass of each); medians are reported. */
const PASSES = 5;
/** Batches per concurrent figure (after one warm-up batch). */
const MEASURED = 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The durable file write of the raw io.fs.write_file baseline (bench/durable-write.mjs). */
function durableWrite(dir, i) {
  writeFile(join(dir, `f${i % 50}.txt`), `content of step ${i}`);
}

/**
 * Raw baseline: `txPerStep` transactions per step on one WAL database, a pass per call of `once`
 * (each under its own run id). Like the governed side's, the database lives across passes, so
 * both sides' passes write to a WAL already at its working size (a new file's first commits
 * cost more: its WAL grows, and each fsync then also commits the file's new size).
 */
function rawBaseline(name, txPerStep, sideEffect, sync) {
  const dir = join(root, `raw-${name}`);
  mkdirSync(dir, { recursive: true });
  const db = new Database(join(dir, "raw.db"));
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${sync}`);
  db.exec(
    "CREATE TABLE steps (run_id TEXT, step_id TEXT, status TEXT, outputs TEXT, PRIMARY KEY (run_id, step_id));" +
      "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT, type TEXT, data TEXT);",
  );
  const putStep = db.prepare("INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?)");
  const putEvent = db.prepare("INSERT INTO events (run_id, type, data) VALUES (?, ?, ?)");
  const payload = JSON.stringify({ pad: "x".repeat(1000) });
  const tx = db.transaction((runId, i, status) => {
    putStep.run(runId, `s${i}`, status, payload);
    putEvent.run(runId, status, payload);
  });
  const once = (k) => {
    const runId = `run-${k}`;
    const t0 = performance.now();
    for (let i = 0; i < SEQ_STEPS; i++) {
      tx(runId, i, "RUNNING");
      if (sideEffect) sideEffect(dir, i);
      if (txPerStep === 2) tx(runId, i, "SUCCEEDED");
    }
    return (SEQ_STEPS / (performance.now() - t0)) * 1000;
  };
  return { once, close: () => db.close() };
}

/**
 * The store alone, with no engine around it: a governed run as read back by `recordedRun`,
 * committed again by a SqliteStore on `target` as the engine batched it: a fresh run with every
 * step PENDING, then one batch per step (its row, then its entries). `once` returns steps/s.
 */
async function storeReplay({ run, steps, entriesOf }, target, sync) {
  const store = await SqliteStore.open({ file: target, synchronous: sync });
  const once = async (k) => {
    const runId = await freshRun(store, run, steps, k);
    const t0 = performance.now();
    for (const s of steps) {
      await store.commit([
        { op: "putStep", step: { ...s, runId } },
        ...entriesOf(s.stepId).map((e) => ({
          op: "appendEvent",
          event: { ...e, runId, at: Date.now() },
        })),
      ]);
    }
    return (steps.length / (performance.now() - t0)) * 1000;
  };
  return { once, close: () => store.close() };
}

/**
 * The floor under the store: the same rows as `storeReplay`, each step in one transaction
 * written with the store's own statements and encoders (`PUT_STEP_SQL` and `stepRow`, the
 * ledger head, `chainEntry`'s canonical JSON and hash chain) in a bare synchronous loop on a
 * connection of its own: no queue, no promises, no engine. No engine over this schema can go
 * faster. With `lean`, the rows a leaner format would write instead: one ledger entry per step
 * (the decision folded into the step's last entry) and no copy of the decision in the step row.
 */
async function sqlFloor({ run, steps, entriesOf }, target, sync, lean) {
  const store = await SqliteStore.open({ file: target, synchronous: sync });
  const db = new Database(target);
  db.pragma(`synchronous = ${sync}`);
  db.pragma("foreign_keys = ON");
  const [begin, commit, head, runHead, putStep, append] = [
    "BEGIN IMMEDIATE",
    "COMMIT",
    LEDGER_HEAD_SQL,
    RUN_HEAD_SQL,
    PUT_STEP_SQL,
    APPEND_ENTRY_SQL,
  ].map((sql) => db.prepare(sql));
  const rows = steps.map((s) => {
    const entries = entriesOf(s.stepId);
    if (!lean || entries.length < 2) return { step: s, entries };
    const [first, last] = [entries[0], entries.at(-1)];
    return {
      step: { ...s, decision: null },
      entries: [{ ...last, data: { ...last.data, [first.type]: first.data } }],
    };
  });
  const once = async (k) => {
    const runId = await freshRun(store, run, steps, k);
    const t0 = performance.now();
    for (const { step, entries } of rows) {
      begin.run();
      let last = head.get() ?? { seq: 0, hash: GENESIS_HASH };
      let lastOfRun = runHead.get(runId) ?? { seq: 0, hash: GENESIS_HASH };
      putStep.run(...stepRow({ ...step, runId }));
      for (const e of entries) {
        const entry = chainEntry({ ...e, runId, at: Date.now() }, last, lastOfRun);
        append.run(...entry.row);
        last = entry.head;
        lastOfRun = entry.runHead;
      }
      commit.run();
    }
    return (steps.length / (performance.now() - t0)) * 1000;
  };
  return {
    once,
    close: async () => {
      db.close();
      await store.close();
    },
  };
}

/** Commits a copy of `run` (pass `k`) with every step PENDING, as a run starts; its id. */
async function freshRun(store, run, steps, k) {
  const runId = `${run.id}-${k}`;
  await store.commit([
    { op: "insertRun", run: { ...run, id: runId } },
    ...steps.map((s) => ({ op: "putStep", step: pendingStep(runId, s.stepId) })),
  ]);
  return runId;
}

/**
 * The newest run of the governed database `file`: its run row, each step's final row and
 * `entriesOf(stepId)`, the ledger entries each step committed (without their seqs).
 */
async function recordedRun(file) {
  const source = await SqliteStore.open({ file });
  try {
    const [run] = await source.listRuns({ limit: 1 });
    const byStep = new Map();
    for (const { seq, ...e } of await source.listEvents({ runId: run.id })) {
      if (e.stepId === null) continue;
      if (!byStep.has(e.stepId)) byStep.set(e.stepId, []);
      byStep.get(e.stepId).push(e);
    }
    const steps = await source.getSteps(run.id);
    return { run, steps, entriesOf: (stepId) => byStep.get(stepId) ?? [] };
  } finally {
    await source.close();
  }
}

/**
 * Steps/s of `CONCURRENT_RUNS` runs started at once (end to end), and its ratio to the
 * sequential figure measured in alternation with it, in the same runtime and database: a
 * sequential chain of `SEQ_STEPS` bench.echo steps (executing, as in section 1), then a batch,
 * `MEASURED` times after one warm-up of each. Returns the median batch and the median ratio.
 */
async function concurrent() {
  const dir = project("concurrent", chain("concurrent", STEPS_PER_CONCURRENT_RUN, echoStep));
  writeFileSync(join(dir, "chain.yaml"), chain("chain", SEQ_STEPS, echoStep));
  const rt = await Runtime.open({ cwd: dir, env: {}, registry: benchRegistry() });
  const batch = async () => {
    const t0 = performance.now();
    const views = await Promise.all(
      Array.from({ length: CONCURRENT_RUNS }, () =>
        rt.startRun({ specFile: join(dir, "wf.yaml") }),
      ),
    );
    const ms = performance.now() - t0;
    const bad = views.filter((v) => v.status !== "COMPLETED");
    if (bad.length) throw new Error(`concurrent: ${bad.length} runs did not complete`);
    return ((CONCURRENT_RUNS * STEPS_PER_CONCURRENT_RUN) / ms) * 1000;
  };
  const sequentialOnce = async () => (await timedRun(rt, join(dir, "chain.yaml"), SEQ_STEPS)).exec;
  try {
    await sequentialOnce();
    await batch();
    const batches = [];
    const ratios = [];
    for (let i = 0; i < MEASURED; i++) {
      const seq = await sequentialOnce();
      batches.push(await batch());
      ratios.push(batches[i] / seq);
    }
    return { rate: median(batches), ratio: median(ratios) };
  } finally {
    await rt.close();
  }
}

/**
 * Where a sequential step's time goes: both sides again at synchronous=NORMAL (no fsync: CPU
 * and page-cache writes only); the difference to FULL is what the fsyncs cost each side (the
 * same number per step on both). Prints what the target leaves the governed step at NORMAL if
 * its fsyncs cost what the raw side's do.
 */
async function breakdown(name, stepYaml, txPerStep, sideEffect, full, target) {
  const atNormal = await sequential(`${name}-normal`, stepYaml, txPerStep, sideEffect, {
    sync: "NORMAL",
  });
  const [rawFull, govFull] = [us(full.raw), us(full.governed)];
  const [rawNormal, govNormal] = [us(atNormal.raw), us(atNormal.governed)];
  const part = (total, normal) =>
    `${fmt(total)} µs = ${fmt(normal)} at NORMAL + ~${fmt(total - normal)} of fsyncs`;
  console.log(`   per step: raw ${part(rawFull, rawNormal)}; governed ${part(govFull, govNormal)}`);
  console.log(
    `   ${target.toFixed(2)}x needs <= ${fmt(rawFull / target)} µs at FULL: ~${fmt(rawFull / target - (rawFull - rawNormal))} µs at NORMAL with the raw side's fsync cost\n`,
  );
}

function coldRun() {
  const dir = project(
    "cold",
    `name: cold\nversion: 1\nsteps:\n  - id: a\n    capability: io.fs.write_file\n    inputs: { path: a.txt, content: a }\n  - id: b\n    capability: io.fs.read_file\n    depends_on: [a]\n    inputs: { path: a.txt }\n  - id: c\n    capability: sys.echo\n    depends_on: [b]\n    inputs: { ok: true }\n`,
  );
  const bin = resolve("dist/airun.mjs");
  const times = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, [bin, "run", "wf.yaml"], { cwd: dir, stdio: "ignore" });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { median: times[3], min: times[0] };
}

try {
  console.log(`Airun benchmarks (synchronous=${SYNC}, ${SEQ_STEPS} sequential steps)\n`);

  const echo = await sequential("echo", echoStep, 1, undefined, { withLayers: true });
  console.log(
    `1. sequential effect-free steps that commit (bench.echo: sys.echo, not pure; ${PASSES} alternated passes a side, medians)`,
  );
  console.log(`   raw SQLite (1 tx: step row + ~1 KB event): ${fmt(echo.raw)} steps/s`);
  console.log(`   governed bench.echo, executing:             ${fmt(echo.governed)} steps/s`);
  console.log(
    `   (first run end to end, cold, including compiling the ${SEQ_STEPS}-step spec: ${fmt(echo.cold)} steps/s)`,
  );
  console.log(`   ratio: ${echo.ratio.toFixed(2)}x   (target >= 0.80)`);
  const { floor, store, lean } = echo.layers;
  const layer = (label, l) =>
    console.log(`     ${label.padEnd(58)} ${fmt(l.rate)} steps/s, ${l.ratio.toFixed(2)}x raw`);
  console.log(
    "   the layers under the engine, committing the same rows again (a transaction a step):",
  );
  layer("the store's SQL and encoding alone, bare synchronous loop:", floor);
  layer("the store alone (queue, group commit, promises):", store);
  layer("a leaner format's SQL (1 ledger entry, no decision copy):", lean);
  const [rawUs, floorUs, storeUs, govUs] = [echo.raw, floor.rate, store.rate, echo.governed].map(
    us,
  );
  const allowed = rawUs / 0.8;
  const left = (x) =>
    allowed > x ? `leaves ${fmt(allowed - x)} µs` : `is ${fmt(x - allowed)} µs over`;
  console.log(
    `   per step: raw ${fmt(rawUs)} µs; the store's SQL ${fmt(floorUs)} (+${fmt(floorUs - rawUs)}); the store ${fmt(storeUs)} (+${fmt(storeUs - floorUs)}); the engine ${fmt(govUs)} (+${fmt(govUs - storeUs)})`,
  );
  console.log(
    `   0.80x allows ${fmt(allowed)} µs: the store's SQL alone ${left(floorUs)}; the leaner format's ${left(us(lean.rate))}`,
  );
  const pure = await pureChain();
  console.log(
    `   the same chain of sys.echo, pure (written with the run's end), end to end: ${fmt(pure)} steps/s, ${(pure / echo.raw).toFixed(2)}x raw`,
  );
  if (SYNC === "FULL") await breakdown("echo", echoStep, 1, undefined, echo, 0.8);
  else console.log();

  const write = await sequential("write", writeStep, 2, durableWrite);
  console.log(`2. sequential io.fs.write_file steps (${PASSES} alternated passes a side, medians)`);
  console.log(
    `   raw SQLite (2 tx: write-ahead + completion) + the same durable file write: ${fmt(write.raw)} steps/s`,
  );
  console.log(
    `   governed io.fs.write_file (sandbox, before-image, undo record), executing: ${fmt(write.governed)} steps/s`,
  );
  console.log(`   (first run end to end, cold: ${fmt(write.cold)} steps/s)`);
  console.log(`   ratio: ${write.ratio.toFixed(2)}x   (target >= 0.80)`);
  if (SYNC === "FULL") await breakdown("write", writeStep, 2, durableWrite, write, 0.8);
  else console.log();

  const conc = await concurrent();
  console.log(
    `3. ${CONCURRENT_RUNS} concurrent runs x ${STEPS_PER_CONCURRENT_RUN} bench.echo steps`,
  );
  console.log(
    `   ${fmt(conc.rate)} steps/s; ratio to sequential governed (measured in alternation): ${conc.ratio.toFixed(2)}x   (target >= 3.00)\n`,
  );

  const cold = coldRun();
  console.log("4. cold `airun run` of a 3-step workflow (fresh process)");
  console.log(`   median ${fmt(cold.median)} ms, best ${fmt(cold.min)} ms   (target < 300 ms)`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
await (await import("./policy.mjs")).runPolicyBench();
await (await import("./ledger.mjs")).runLedgerBench();
await (await import("./governance.mjs")).runGovernanceBench();
await (await import("./recovery.mjs")).runRecoveryBench();
await (await import("./serve.mjs")).runServeBench();
await (await import("./postgres.mjs")).runPostgresBench();
await (await import("./mcp.mjs")).runMcpBench();
await (await import("./workers.mjs")).runWorkersBench();
await (await import("./databases.mjs")).runDatabaseBench();
