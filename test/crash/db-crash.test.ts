/**
 * Issue 18's crash sweep: the built `airun` is killed with SIGKILL right before and right after
 * its commits while a workflow inserts and updates rows of a real SQLite target file, and of a
 * real PostgreSQL schema (a killed process's connection is gone, so the server rolls back
 * whatever it held open) (the
 * target's own commit lies between Airun's intent commit and its completion commit, so "after
 * the intent" is "before the target's commit" and "before the completion" is "after it"). Then
 * `airun recover` must leave every row change applied exactly once (a completing run) or undone
 * (a run that rolls back), compared row by row, never guessed; the ledger still verifies.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { airun } from "../support/cli.js";
import {
  expectLedgerVerifies,
  projectTemplate,
  sweepCrashPoints,
  withProjectStore,
} from "../support/crash.js";
import { POSTGRES_URL, usePostgres } from "../support/postgres.js";

const root = mkdtempSync(join(tmpdir(), "airun-dbcrash-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const postgres = await usePostgres();

const REFERENCE = `
name: rows
version: 1
principal: agent:crash
steps:
  - id: add
    capability: db.row.insert
    inputs: { db: app, table: people, rows: [{ id: 10, name: eve, age: 20 }] }
  - id: raise
    capability: db.row.update
    depends_on: [add]
    inputs: { db: app, table: people, where: { age: { gte: 40 } }, set: { age: 99 } }
  - id: rename
    capability: db.row.update
    depends_on: [raise]
    inputs: { db: app, table: people, where: { id: 10 }, set: { name: evelyn } }
`;

const ROLLING_BACK = `${REFERENCE}
  - id: boom
    capability: sys.fail
    depends_on: [rename]
    inputs: { message: "fail after every change" }
`;

const INITIAL = [
  { id: 1, name: "ada", age: 36 },
  { id: 2, name: "bob", age: 41 },
  { id: 3, name: "cy", age: 52 },
];
const DONE = [
  { id: 1, name: "ada", age: 36 },
  { id: 2, name: "bob", age: 99 },
  { id: 3, name: "cy", age: 99 },
  { id: 10, name: "evelyn", age: 20 },
];

const CONFIG = `home: home
sandbox:
  fs: { roots: [ws] }
databases:
  app: { sqlite: ws/app.db }
`;

/** Where the target table lives: a SQLite file in the project, or a PostgreSQL schema. */
type Kind = "sqlite" | "postgres";
/** The PostgreSQL schema of each project folder. */
const schemas = new Map<string, string>();

function template(spec: string, kind: Kind): () => string {
  const config = kind === "sqlite" ? CONFIG : CONFIG.replace("{ sqlite: ws/app.db }", '"URL"');
  const copy = projectTemplate(root, { "airun.yaml": config, "wf.yaml": spec, "ws/.keep": "" });
  return () => {
    const dir = copy();
    if (kind === "postgres") {
      const schema = postgres.newSchema();
      schemas.set(dir, schema);
      // The sweep makes projects synchronously: the table is created with psql.
      const values = INITIAL.map((r) => `(${r.id}, '${r.name}', ${r.age})`).join(", ");
      execFileSync("psql", [
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        POSTGRES_URL,
        "-c",
        `CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER); INSERT INTO ${schema}.people VALUES ${values}`,
      ]);
      const yaml = config.replace('"URL"', `{ url: "${postgres.urlFor(schema)}" }`);
      writeFileSync(join(dir, "airun.yaml"), yaml);
      return dir;
    }
    const db = new Database(join(dir, "ws", "app.db"));
    db.exec("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER)");
    const ins = db.prepare("INSERT INTO people VALUES (?, ?, ?)");
    for (const r of INITIAL) ins.run(r.id, r.name, r.age);
    db.close();
    return dir;
  };
}

async function rows(dir: string): Promise<unknown[]> {
  const schema = schemas.get(dir);
  if (schema !== undefined) {
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    try {
      return (await c.query(`SELECT * FROM ${schema}.people ORDER BY id`)).rows;
    } finally {
      await c.end();
    }
  }
  const db = new Database(join(dir, "ws", "app.db"), { readonly: true });
  try {
    return db.prepare("SELECT * FROM people ORDER BY id").all();
  } finally {
    db.close();
  }
}

async function expectRecovered(dir: string, where: string, status: string, expected: unknown[]) {
  const rec = await airun(["recover", "--json"], { cwd: dir });
  expect(rec.code, `${where}: ${rec.stderr}`).toBe(0);
  await expectLedgerVerifies(dir, where);
  const statuses = await withProjectStore(dir, async (s) =>
    (await s.listRuns()).map((r) => r.status),
  );
  if (statuses.length === 0) {
    expect(await rows(dir), where).toEqual(INITIAL);
    return;
  }
  // A change reconciled not applied is prepared and made again: the run still completes.
  expect(statuses, where).toEqual([status]);
  expect(await rows(dir), where).toEqual(expected);
}

function sweep(name: string, spec: string, status: string, expected: unknown[], kind: Kind) {
  const fresh = template(spec, kind);
  return sweepCrashPoints({
    name: kind === "sqlite" ? name : `${name} on PostgreSQL`,
    args: ["run", "wf.yaml", "--json"],
    project: fresh,
    afterCrash: (dir, where) => expectRecovered(dir, where, status, expected),
    async afterFinish(dir, run, where) {
      expect(JSON.parse(run.stdout).status, where).toBe(status);
      expect(await rows(dir), where).toEqual(expected);
    },
  });
}

describe("crash sweep of row changes on a SQLite target", () => {
  it("recovers a kill -9 at every commit of a completing run: each row change exactly once", async () => {
    const r = await sweep("(db rows, completing)", REFERENCE, "COMPLETED", DONE, "sqlite");
    expect(r.commits).toBeGreaterThan(6);
  }, 600_000);

  it("recovers a kill -9 at every commit of a run that rolls back: the table identical row by row", async () => {
    const r = await sweep(
      "(db rows, rolling back)",
      ROLLING_BACK,
      "ROLLED_BACK",
      INITIAL,
      "sqlite",
    );
    expect(r.commits).toBeGreaterThan(8);
  }, 600_000);
});

postgres.describe("crash sweep of row changes on a PostgreSQL target", () => {
  it("recovers a kill -9 at every commit of a completing run: each row change exactly once", async () => {
    const r = await sweep("(db rows, completing)", REFERENCE, "COMPLETED", DONE, "postgres");
    expect(r.commits).toBeGreaterThan(6);
  }, 900_000);

  it("recovers a kill -9 at every commit of a run that rolls back: the table identical row by row", async () => {
    const r = await sweep(
      "(db rows, rolling back)",
      ROLLING_BACK,
      "ROLLED_BACK",
      INITIAL,
      "postgres",
    );
    expect(r.commits).toBeGreaterThan(8);
  }, 900_000);
});
