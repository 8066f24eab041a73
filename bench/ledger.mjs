// Ledger (TraceVault) benchmarks, each against a baseline measured in the same run:
//  1. verification speed: `ledger verify`'s chain + Merkle pass over a real ledger file (rows
//     read from SQLite, entry text rebuilt, entry hash checked, Merkle tree built) vs a raw
//     SHA-256 chain over the same bytes read from the same file (target >= 0.6x); the chain
//     over the bytes already in memory is printed too.
//  2. what the ledger costs per step: governed bench.echo steps/s (sys.echo committed step by step) with the hash-chained ledger vs
//     the same engine appending the same events unchained (target >= 0.8x).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { sha256Hex } from "../dist/core/hash.js";
import { ChainVerifier, entryText, GENESIS_HASH } from "../dist/core/ledger.js";
import { MerkleAccumulator } from "../dist/core/merkle.js";
import { Runtime } from "../dist/engine/runtime/runtime.js";
import { openStore } from "../dist/store/open-store.js";
import { benchRegistry } from "./committed-echo.mjs";

const STEPS = Number(process.env.BENCH_LEDGER_STEPS ?? 1500);
const SYNC = process.env.BENCH_SYNC ?? "FULL";
const fmt = (n) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });
const ratio = (a, b) => (a / b).toFixed(2);

function project(root, name, level) {
  const dir = join(root, name);
  mkdirSync(join(dir, "ws"), { recursive: true });
  writeFileSync(
    join(dir, "airun.yaml"),
    `home: home\nsqlite: { synchronous: ${SYNC} }\nsandbox:\n  fs: { roots: [ws] }\naudit: { level: ${level} }\n`,
  );
  let spec = `name: ${name}\nversion: 1\nprincipal: agent:bench\nsteps:\n`;
  for (let i = 0; i < STEPS; i++) {
    spec += `  - id: s${i}\n${i ? `    depends_on: [s${i - 1}]\n` : ""}    capability: bench.echo\n    inputs: { i: ${i}, note: "step ${i}", tags: [a, b] }\n`;
  }
  writeFileSync(join(dir, "wf.yaml"), spec);
  return dir;
}

/** Steps/s while executing one sequential run (first to last recorded event). */
async function governedRun(dir, unchained) {
  // The bench-only store option comes in through the composition root.
  const rt = await Runtime.open({
    cwd: dir,
    env: {},
    registry: benchRegistry(),
    ...(unchained ? { storeOptions: { unchainedLedger: true } } : {}),
  });
  try {
    const view = await rt.startRun({ specFile: join(dir, "wf.yaml") });
    if (view.status !== "COMPLETED") throw new Error(`${dir}: ${view.status}`);
    const events = await rt.events(view.id);
    return (STEPS / (events.at(-1).at - events[0].at)) * 1000;
  } finally {
    await rt.close();
  }
}

/** Reads every ledger row of a home's database. */
async function readRows(home) {
  const store = await openStore({ url: "sqlite", home });
  try {
    return await store.ledgerRows(0, Number.MAX_SAFE_INTEGER);
  } finally {
    await store.close();
  }
}

/** The verification pass `ledger verify` makes, timed from the database. */
async function verifyPass(home) {
  const store = await openStore({ url: "sqlite", home });
  try {
    const t0 = performance.now();
    const chain = new ChainVerifier();
    const tree = new MerkleAccumulator();
    let after = 0;
    for (;;) {
      const rows = await store.ledgerRows(after, 5000);
      for (const row of rows) {
        const leaf = chain.push(row);
        if (leaf === undefined) throw new Error(chain.problem.message);
        tree.push(leaf);
      }
      if (rows.length < 5000) break;
      after = rows.at(-1).seq;
    }
    tree.root();
    return { entries: chain.size, ms: performance.now() - t0 };
  } finally {
    await store.close();
  }
}

/** Raw baseline, in memory: h = SHA-256(h ‖ entry) over the same entry bytes. */
function rawChain(texts) {
  const t0 = performance.now();
  let h = "0".repeat(64);
  for (const t of texts) h = sha256Hex(h + t);
  return performance.now() - t0;
}

/**
 * Raw baseline, from the database: the least any verifier of this file must do. It reads the
 * same rows with the same paged query and chains SHA-256 over the same entry bytes (rebuilt
 * from the row, as they are not stored whole), with no Merkle tree and no checks.
 */
async function rawChainFromDb(home) {
  const store = await openStore({ url: "sqlite", home });
  try {
    const t0 = performance.now();
    let h = GENESIS_HASH;
    let after = 0;
    for (;;) {
      const rows = await store.ledgerRows(after, 5000);
      for (const row of rows) h = sha256Hex(h + entryText(row, row.hash));
      if (rows.length < 5000) break;
      after = rows.at(-1).seq;
    }
    return performance.now() - t0;
  } finally {
    await store.close();
  }
}

export async function runLedgerBench() {
  const root = mkdtempSync(join(tmpdir(), "airun-bench-ledger-"));
  try {
    console.log(`\nLedger benchmarks (synchronous=${SYNC}, ${STEPS}-step runs)\n`);
    // A ledger to verify: a few runs at the default audit level (inputs and outputs recorded).
    const big = project(root, "ledger", "DETAILED");
    for (let i = 0; i < 3; i++) await governedRun(big, false);
    const home = join(big, "home");
    const rows = await readRows(home);
    const texts = rows.map((r, i) => entryText(r, i === 0 ? GENESIS_HASH : rows[i - 1].hash));
    const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
    rawChain(texts); // warm up
    await rawChainFromDb(home);
    await verifyPass(home);
    const best = (xs) => Math.min(...xs);
    const rawMs = best([rawChain(texts), rawChain(texts), rawChain(texts)]);
    const rawDb = [];
    const passes = [];
    for (let i = 0; i < 7; i++) {
      rawDb.push(await rawChainFromDb(home));
      passes.push((await verifyPass(home)).ms);
    }
    const rt = await Runtime.open({ cwd: big, env: {} });
    let fullMs;
    try {
      const t0 = performance.now();
      const report = await rt.verifyLedger();
      fullMs = performance.now() - t0;
      if (!report.ok) throw new Error(report.problems.join("; "));
    } finally {
      await rt.close();
    }
    const n = texts.length;
    const rate = (ms) => fmt((n / ms) * 1000);
    console.log(
      `1. ledger verification, ${fmt(n)} entries (${fmt(bytes / n)} bytes each on average)`,
    );
    console.log(
      `   raw SHA-256 chain, same bytes read from the same file: ${rate(best(rawDb))} entries/s`,
    );
    console.log(
      `   ledger verify pass (entry hash + link checked, Merkle tree built): ${rate(best(passes))} entries/s`,
    );
    console.log(`   ratio: ${ratio(best(rawDb), best(passes))}x   (target >= 0.60)`);
    console.log(
      `   (raw SHA-256 chain over the bytes already in memory: ${rate(rawMs)} entries/s;`,
    );
    console.log(
      `    whole \`ledger verify\`, with checkpoints and the state <-> ledger check: ${rate(fullMs)} entries/s)\n`,
    );

    // Alternate the two variants so that neither profits from a warmer machine.
    const withLedger = [];
    const without = [];
    for (let i = 0; i < 7; i++) {
      without.push(await governedRun(project(root, `off${i}`, "DETAILED"), true));
      withLedger.push(await governedRun(project(root, `on${i}`, "DETAILED"), false));
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[3];
    console.log("2. what the ledger costs per step (sequential bench.echo, audit DETAILED)");
    console.log(`   same engine, events appended unchained: ${fmt(median(without))} steps/s`);
    console.log(`   with the hash-chained ledger:            ${fmt(median(withLedger))} steps/s`);
    console.log(`   ratio: ${ratio(median(withLedger), median(without))}x   (target >= 0.80)`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
