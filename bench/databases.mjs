// Databases benchmark (issue 18), against baselines measured in the same run: a governed
// `db.row.update` of one row (policy, preview, before-image captured in the target transaction
// and sealed, write-ahead intent, commit, completion, ledger) vs the same one-row UPDATE made
// directly with the driver, without and with the before-image read (SELECT … FOR UPDATE, then
// UPDATE … RETURNING, in one transaction). On a SQLite target file and, when the server
// answers, a PostgreSQL schema. Prints µs per update and the ratios; asserts nothing.
// Run alone with `npm run bench:db`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Database from "better-sqlite3";
import pg from "pg";
import { Runtime } from "../dist/engine/runtime/runtime.js";
import { reachable } from "./postgres-server.mjs";

const STEPS = Number(process.env.BENCH_DB_STEPS ?? 300);
const ROWS = 100;
const PG_URL = process.env.AIRUN_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const fmt = (n) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function spec() {
  let s = "name: dbbench\nversion: 1\nprincipal: agent:bench\nsteps:\n";
  for (let i = 0; i < STEPS; i++) {
    s += `  - id: u${i}\n${i ? `    depends_on: [u${i - 1}]\n` : ""}    capability: db.row.update\n    inputs: { db: app, table: people, where: { id: ${(i % ROWS) + 1} }, set: { age: ${i} } }\n`;
  }
  return s;
}

function project(root, name, databases) {
  const dir = join(root, name);
  mkdirSync(join(dir, "ws"), { recursive: true });
  writeFileSync(
    join(dir, "airun.yaml"),
    `home: home\nsandbox:\n  fs: { roots: [ws] }\naudit: { level: BASIC }\ndatabases:\n${databases}`,
  );
  writeFileSync(join(dir, "wf.yaml"), spec());
  return dir;
}

/** µs per governed step (first to last event of the run). */
async function governed(dir) {
  const rt = await Runtime.open({ cwd: dir, env: {} });
  try {
    const view = await rt.startRun({ specFile: join(dir, "wf.yaml") });
    if (view.status !== "COMPLETED") throw new Error(`${dir}: ${view.status}`);
    const events = await rt.events(view.id);
    return ((events.at(-1).at - events[0].at) * 1000) / STEPS;
  } finally {
    await rt.close();
  }
}

function sqliteFile(dir) {
  const file = join(dir, "ws", "app.db");
  const db = new Database(file);
  db.exec("CREATE TABLE IF NOT EXISTS people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)");
  const ins = db.prepare("INSERT OR REPLACE INTO people VALUES (?, ?, 0)");
  for (let i = 1; i <= ROWS; i++) ins.run(i, `p${i}`);
  return db;
}

/** µs per direct update on SQLite: one transaction each, with or without the before-image. */
function sqliteDirect(db, withImage) {
  const select = db.prepare("SELECT id, name, age FROM people WHERE id = ?");
  const update = db.prepare("UPDATE people SET age = ? WHERE id = ? RETURNING id, name, age");
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    db.exec("BEGIN IMMEDIATE");
    if (withImage) select.all((i % ROWS) + 1);
    update.all(i, (i % ROWS) + 1);
    db.exec("COMMIT");
  }
  return ((performance.now() - t0) * 1000) / STEPS;
}

async function pgDirect(client, withImage) {
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    await client.query("BEGIN");
    if (withImage) {
      await client.query("SELECT to_jsonb(x) FROM people x WHERE id = $1 FOR UPDATE", [
        (i % ROWS) + 1,
      ]);
    }
    await client.query("UPDATE people AS x SET age = $1 WHERE id = $2 RETURNING to_jsonb(x)", [
      i,
      (i % ROWS) + 1,
    ]);
    await client.query("COMMIT");
  }
  return ((performance.now() - t0) * 1000) / STEPS;
}

function report(label, gov, raw, image) {
  console.log(`   ${label}`);
  console.log(`     direct UPDATE (own transaction):                 ${fmt(raw)} µs`);
  console.log(`     direct before-image SELECT + UPDATE RETURNING:   ${fmt(image)} µs`);
  console.log(`     governed db.row.update (undo, ledger, policy):   ${fmt(gov)} µs`);
  console.log(
    `     ratios: governed / direct ${(gov / raw).toFixed(1)}x, governed / direct-with-image ${(gov / image).toFixed(1)}x, image read costs ${(image / raw).toFixed(2)}x`,
  );
}

export async function runDatabaseBench() {
  const root = mkdtempSync(join(tmpdir(), "airun-bench-db-"));
  try {
    console.log(`\nDatabases benchmark: one-row updates, ${STEPS} sequential (µs per update)\n`);
    // SQLite target: the three variants alternate, three rounds, medians.
    const g = [];
    const r = [];
    const im = [];
    for (let round = 0; round < 3; round++) {
      const dir = project(root, `sqlite${round}`, "  app: { sqlite: ws/app.db }\n");
      const db = sqliteFile(dir);
      r.push(sqliteDirect(db, false));
      im.push(sqliteDirect(db, true));
      db.close();
      g.push(await governed(dir));
    }
    report("SQLite target (store: SQLite, synchronous FULL)", median(g), median(r), median(im));

    if (!(await reachable(PG_URL))) {
      console.log(`\n   PostgreSQL target SKIPPED: no server at ${PG_URL}`);
      return;
    }
    const schema = `airun_bench_${process.pid}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
      await admin.query(`SET search_path = ${schema}`);
      await admin.query("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)");
      await admin.query(
        `INSERT INTO people SELECT i, 'p' || i, 0 FROM generate_series(1, ${ROWS}) AS i`,
      );
      const pg1 = [];
      const pr = [];
      const pim = [];
      for (let round = 0; round < 3; round++) {
        pr.push(await pgDirect(admin, false));
        pim.push(await pgDirect(admin, true));
        const dir = project(
          root,
          `pg${round}`,
          `  app: { url: "${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}" }\n`,
        );
        pg1.push(await governed(dir));
      }
      console.log();
      report("PostgreSQL target (store: SQLite)", median(pg1), median(pr), median(pim));
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await admin.end();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runDatabaseBench();
