/**
 * @module The ledger at the store level, on real SQLite files: entries numbered 1..n without gaps
 * even when a unit of a group commit is rejected, one valid chain from two processes writing the
 * same file, the one-time backfill of a schema-1 database, the move of a schema-2 database's hot
 * tables into their compact form, and canonical data on disk.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ConflictError } from "../../src/core/errors.js";
import { canonicalJson } from "../../src/core/hash.js";
import {
  ChainVerifier,
  entryHash,
  entryText,
  GENESIS_HASH,
  type LedgerRow,
  RunChainVerifier,
} from "../../src/core/ledger.js";
import { MerkleAccumulator, toHex } from "../../src/core/merkle.js";
import { MIGRATIONS, MIGRATIONS_TABLE_SQL } from "../../src/store/migrations.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { EventRecord, WriteOp } from "../../src/store/store.js";
import { makeEvent, makeRun } from "./fixtures.js";
import { useTempFolder } from "./sqlite-files.js";
import { distStoreModule, spawnStoreScript } from "./store-child.js";

const temp = useTempFolder("airun-ledger-chain-");
const tempFile = () => join(temp.home(), "airun.db");

/** Every ledger row of a store, in order (paged as the verifier pages). */
async function allRows(store: SqliteStore): Promise<LedgerRow[]> {
  const out: LedgerRow[] = [];
  for (let after = 0; ; ) {
    const page = await store.ledgerRows(after, 100);
    out.push(...page);
    if (page.length < 100) return out;
    after = page.at(-1)!.seq;
  }
}

/** Walks the rows with the ledger's verifier; returns its problem (undefined when valid). */
function verifyChain(rows: readonly LedgerRow[]) {
  const v = new ChainVerifier();
  for (const r of rows) v.push(r);
  return { problem: v.problem, size: v.size, head: v.head };
}

function appendOp(runId: string | null, type: string, data: EventRecord["data"]): WriteOp {
  return { op: "appendEvent", event: makeEvent(runId, { type, data, at: Date.now() }) };
}

describe("seqs 1..n without gaps", () => {
  it("keeps the numbering gapless and the chain valid when a unit of a group commit is rejected between good ones", async () => {
    const store = await SqliteStore.open({ file: tempFile() });
    try {
      const run = makeRun({ leaseOwner: "owner-a", leaseExpiresAt: Date.now() + 60_000 });
      await store.commit([{ op: "insertRun", run }, appendOp(run.id, "run.created", { n: 0 })]);
      const before = store.stats();

      // All submitted in one event-loop turn: one physical transaction, one SAVEPOINT each.
      const good1 = store.commit([
        appendOp(run.id, "good.1a", { n: 1 }),
        appendOp(run.id, "good.1b", { n: 2 }),
      ]);
      // Appends first, then fails: its entries (and the chain head it advanced) must vanish.
      const badLate = store.commit([
        appendOp(run.id, "bad.late.a", { n: 3 }),
        appendOp(run.id, "bad.late.b", { n: 4 }),
        { op: "expectRun", runId: run.id, expect: { leaseOwner: "intruder" } },
      ]);
      const badEarly = store.commit([
        { op: "expectRun", runId: run.id, expect: { leaseOwner: "intruder" } },
        appendOp(run.id, "bad.early", { n: 5 }),
      ]);
      const good2 = store.commit([appendOp(run.id, "good.2", { n: 6 })]);
      const badLast = store.commit([
        appendOp(null, "bad.last", { n: 7 }),
        { op: "expectRun", runId: `missing-${randomUUID()}`, expect: {} },
      ]);
      const results = await Promise.allSettled([good1, badLate, badEarly, good2, badLast]);

      expect(store.stats().physicalCommits - before.physicalCommits).toBe(1);
      expect(results.map((r) => r.status)).toEqual([
        "fulfilled",
        "rejected",
        "rejected",
        "fulfilled",
        "rejected",
      ]);
      for (const r of results) {
        if (r.status === "rejected") expect(r.reason).toBeInstanceOf(ConflictError);
      }
      expect(await good1).toEqual({ runSeqs: [2, 3] });
      expect(await good2).toEqual({ runSeqs: [4] });

      // The next batch continues the chain right after the last committed entry.
      expect(await store.commit([appendOp(run.id, "after", { n: 8 })])).toEqual({
        runSeqs: [5],
      });
      const rows = await allRows(store);
      expect(rows.map((r) => [r.seq, r.type])).toEqual([
        [1, "run.created"],
        [2, "good.1a"],
        [3, "good.1b"],
        [4, "good.2"],
        [5, "after"],
      ]);
      expect(verifyChain(rows)).toMatchObject({ problem: undefined, size: 5 });
    } finally {
      await store.close();
    }
  });

  it("stays gapless and valid over many turns mixing good and rejected units at random", async () => {
    const store = await SqliteStore.open({ file: tempFile() });
    try {
      const run = makeRun({ leaseOwner: "owner-a", leaseExpiresAt: Date.now() + 60_000 });
      await store.commit([{ op: "insertRun", run }]);
      let seed = 7;
      const rand = () => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      let expected = 0;
      for (let turn = 0; turn < 40; turn++) {
        const batches: { ops: WriteOp[]; good: boolean; events: number }[] = [];
        for (let u = 0; u < 1 + Math.floor(rand() * 6); u++) {
          const events = Math.floor(rand() * 4);
          const good = rand() < 0.6;
          const ops: WriteOp[] = Array.from({ length: events }, (_, i) =>
            appendOp(run.id, "e", { turn, u, i }),
          );
          if (!good) {
            ops.splice(Math.floor(rand() * (ops.length + 1)), 0, {
              op: "expectRun",
              runId: run.id,
              expect: { leaseOwner: "intruder" },
            });
          }
          batches.push({ ops, good, events });
        }
        const settled = await Promise.allSettled(batches.map((b) => store.commit(b.ops)));
        settled.forEach((s, i) => {
          const b = batches[i]!;
          expect(s.status).toBe(b.good ? "fulfilled" : "rejected");
          if (s.status === "fulfilled") {
            expect(s.value.runSeqs).toEqual(
              Array.from({ length: b.events }, (_, j) => expected + j + 1),
            );
            expected += b.events;
          }
        });
      }
      const rows = await allRows(store);
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
      expect(verifyChain(rows)).toMatchObject({ problem: undefined, size: expected });
    } finally {
      await store.close();
    }
  });
});

describe("two processes on one file", () => {
  it("a child process and this one appending at once extend one gapless chain that verifies", async () => {
    const file = tempFile();
    const parent = await SqliteStore.open({ file, synchronous: "NORMAL" });
    try {
      const child = spawnStoreScript(
        temp.root,
        `import { SqliteStore } from ${JSON.stringify(distStoreModule("sqlite/sqlite-store.js"))};
const [file, count] = [process.argv[2], Number(process.argv[3])];
const store = await SqliteStore.open({ file, synchronous: "NORMAL" });
process.stdout.write("ready\\n");
const seqs = [];
for (let i = 0; i < count; i++) {
  // Halfway, wait for an entry of the parent after this one's last: the two surely interleave.
  const afterSeq = seqs.at(-1) ?? 0;
  while (i === count / 2 && (await store.listEvents({ types: ["parent"], afterSeq, limit: 1 })).length === 0) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const event = { runId: null, stepId: null, type: "child", at: Date.now(), data: { i } };
  seqs.push(...(await store.commit([{ op: "appendEvent", event }])).runSeqs);
}
await store.close();
process.stdout.write(JSON.stringify(seqs) + "\\n");
`,
        [file, "150"],
      );
      await child.ready;
      // Appends until the child is done (it waits for one of these halfway), 150 batches at least.
      let childDone = false;
      const exited = child.exited.finally(() => {
        childDone = true;
      });
      const mine: number[] = [];
      for (let i = 0; i < 150 || !childDone; i++) {
        const batch = [appendOp(null, "parent", { i }), appendOp(null, "parent", { i, n: 2 })];
        mine.push(...(await parent.commit(batch)).runSeqs);
      }
      const exit = await exited;
      expect(exit).toMatchObject({ code: 0, stderr: "" });
      const theirs = JSON.parse(exit.stdout.trim().split("\n").at(-1)!) as number[];

      const total = mine.length + theirs.length;
      expect(theirs).toHaveLength(150);
      expect([...mine, ...theirs].sort((x, y) => x - y)).toEqual(
        Array.from({ length: total }, (_, i) => i + 1),
      );
      const rows = await allRows(parent);
      expect(verifyChain(rows)).toMatchObject({ problem: undefined, size: total });
      expect(theirs.every((s) => rows[s - 1]?.type === "child")).toBe(true);
      expect(mine.every((s) => rows[s - 1]?.type === "parent")).toBe(true);
      // The two really interleaved: the child's entries are not one block.
      expect(theirs.at(-1)! - theirs[0]!).toBeGreaterThanOrEqual(theirs.length);
    } finally {
      await parent.close();
    }
  });
});

describe("a schema-1 database", () => {
  /** Creates the migration-1 schema as airun 0.x left it, with legacy events. */
  function createSchema1(file: string, events: { seq: number; data: string; run?: string }[]) {
    mkdirSync(join(file, ".."), { recursive: true });
    const db = new Database(file);
    try {
      db.pragma("journal_mode = WAL");
      db.exec(MIGRATIONS_TABLE_SQL);
      db.exec(MIGRATIONS[0]!.sql.sqlite);
      db.prepare("INSERT INTO migrations (id, name, applied_at) VALUES (1, ?, ?)").run(
        MIGRATIONS[0]!.name,
        Date.now(),
      );
      const insert = db.prepare(
        "INSERT INTO events (seq, run_id, step_id, type, at, data) VALUES (?, ?, ?, ?, ?, ?)",
      );
      for (const e of events) {
        insert.run(
          e.seq,
          e.run ?? "legacy-run",
          null,
          `legacy.${e.seq}`,
          1_600_000_000_000 + e.seq,
          e.data,
        );
      }
    } finally {
      db.close();
    }
  }

  const LEGACY: { seq: number; data: string }[] = [
    { seq: 1, data: '{"z": 1, "a": {"y": [2.50, 1e2], "b": "caf\\u00e9"}}' },
    { seq: 2, data: "{}" },
    // AUTOINCREMENT gaps: rows 3–4 and 6–9 were never written (or rolled back).
    { seq: 5, data: '{ "k" : null , "j" : [ true , false ] }' },
    { seq: 10, data: '{"b":"\\ud83d\\ude00","a":-1.0,"c":1E-7}' },
    { seq: 11, data: '"just a string"' },
  ];

  it("is backfilled at open into a gapless, valid chain with canonical data of the same meaning", async () => {
    const file = tempFile();
    createSchema1(file, LEGACY);

    const store = await SqliteStore.open({ file });
    try {
      const rows = await allRows(store);
      expect(rows.map((r) => [r.seq, r.type])).toEqual([
        [1, "legacy.1"],
        [2, "legacy.2"],
        [3, "legacy.5"],
        [4, "legacy.10"],
        [5, "legacy.11"],
      ]);
      expect(rows.map((r) => r.at)).toEqual(LEGACY.map((e) => 1_600_000_000_000 + e.seq));
      expect(rows.map((r) => r.data)).toEqual([
        '{"a":{"b":"café","y":[2.5,100]},"z":1}',
        "{}",
        '{"j":[true,false],"k":null}',
        '{"a":-1,"b":"😀","c":1e-7}',
        '"just a string"',
      ]);
      rows.forEach((r, i) => {
        expect(JSON.parse(r.data)).toEqual(JSON.parse(LEGACY[i]!.data));
        expect(r.data).toBe(canonicalJson(JSON.parse(r.data)));
      });
      expect(verifyChain(rows)).toMatchObject({ problem: undefined, size: 5 });

      // New entries continue the backfilled chain (the first of the system chain: the legacy
      // entries belong to runs).
      expect(await store.commit([appendOp(null, "new", { x: 1 })])).toEqual({ runSeqs: [1] });
      expect(verifyChain(await allRows(store))).toMatchObject({ problem: undefined, size: 6 });
    } finally {
      await store.close();
    }

    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare("SELECT id, name FROM migrations ORDER BY id").all()).toEqual(
        MIGRATIONS.map((m) => ({ id: m.id, name: m.name })),
      );
      expect(db.prepare("SELECT count(*) AS n FROM events WHERE hash = ''").get()).toEqual({
        n: 0,
      });
    } finally {
      db.close();
    }

    // Reopening changes nothing: the backfill ran once.
    const hashes = (await allRowsOf(file)).map((r) => r.hash);
    expect((await allRowsOf(file)).map((r) => r.hash)).toEqual(hashes);
  });

  it("an empty schema-1 database opens with an empty ledger that starts at seq 1", async () => {
    const file = tempFile();
    createSchema1(file, []);
    const store = await SqliteStore.open({ file });
    try {
      expect(await allRows(store)).toEqual([]);
      expect(await store.commit([appendOp(null, "first", {})])).toEqual({ runSeqs: [1] });
      expect(verifyChain(await allRows(store))).toMatchObject({ problem: undefined, size: 1 });
    } finally {
      await store.close();
    }
  });
});

/** Applies migrations 1..`n` to `db` (WAL) as airun did when that was its newest schema. */
function schemaUpTo(db: Database.Database, n: number): void {
  db.pragma("journal_mode = WAL");
  db.exec(MIGRATIONS_TABLE_SQL);
  for (const m of MIGRATIONS.slice(0, n)) {
    db.exec(m.sql.sqlite);
    db.prepare("INSERT INTO migrations (id, name, applied_at) VALUES (?, ?, ?)").run(
      m.id,
      m.name,
      Date.now(),
    );
  }
}

describe("a schema-2 database", () => {
  /** Dumps a table through a second connection, as another process would read it. */
  function dump(file: string, sql: string): unknown[] {
    const db = new Database(file, { readonly: true });
    try {
      return db.prepare(sql).all();
    } finally {
      db.close();
    }
  }

  /** Creates schemas 1 and 2 as airun left them, with a run, its rows and a valid chain. */
  function createSchema2(file: string): void {
    mkdirSync(join(file, ".."), { recursive: true });
    const db = new Database(file);
    try {
      schemaUpTo(db, 2);
      db.prepare(
        `INSERT INTO runs (id, status, kind, name, spec_version, spec_hash, principal, created_at,
           updated_at, meta, inputs, spec_text, plan)
         VALUES ('r1', 'COMPLETED', 'workflow', 'wf', '1', 'h', 'agent:a', 1, 2, '{}', '{}', 's', '{}')`,
      ).run();
      const step = db.prepare(
        "INSERT INTO steps VALUES ('r1', ?, 'SUCCEEDED', 1, '{\"i\":1}', '{\"o\":2}', NULL, '{}', 'c', ?, 10, 20)",
      );
      step.run("b", 2);
      step.run("a", 1);
      db.prepare(
        `INSERT INTO compensations VALUES ('r1', 1, 'a', 'builtin', 'io.fs.write_file', NULL,
           '{"v":1}', '{"before":"x"}', 'ARMED', 0, NULL, 30)`,
      ).run();
      const event = db.prepare(
        "INSERT INTO events (seq, run_id, step_id, type, at, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
      );
      let prev = GENESIS_HASH;
      for (let seq = 1; seq <= 3; seq++) {
        const row = {
          seq,
          at: 100 + seq,
          type: `t.${seq}`,
          runId: "r1",
          stepId: "a",
          data: `{"n":${seq}}`,
        };
        prev = entryHash(entryText(row, prev));
        event.run(seq, row.runId, row.stepId, row.type, row.at, row.data, prev);
      }
    } finally {
      db.close();
    }
  }

  it("moves steps and compensations into their primary keys and drops events' AUTOINCREMENT, keeping every row and the chain", async () => {
    const file = tempFile();
    createSchema2(file);
    const tables = {
      steps: "SELECT * FROM steps ORDER BY run_id, step_id",
      compensations: "SELECT * FROM compensations ORDER BY run_id, seq",
      events: "SELECT seq, run_id, step_id, type, at, data, hash FROM events ORDER BY seq",
    };
    const before = Object.fromEntries(Object.entries(tables).map(([t, q]) => [t, dump(file, q)]));

    const store = await SqliteStore.open({ file });
    try {
      expect(verifyChain(await allRows(store))).toMatchObject({ problem: undefined, size: 3 });
      // The store numbers entries itself: the next one follows the last, chained to it.
      expect(await store.commit([appendOp("r1", "after", { n: 4 })])).toEqual({ runSeqs: [4] });
      expect(verifyChain(await allRows(store))).toMatchObject({ problem: undefined, size: 4 });
      expect((await store.getSteps("r1")).map((x) => x.stepId)).toEqual(["a", "b"]);
      expect(await store.getCompensations("r1")).toHaveLength(1);
    } finally {
      await store.close();
    }

    const after = Object.fromEntries(Object.entries(tables).map(([t, q]) => [t, dump(file, q)]));
    expect(after.steps).toEqual(before.steps);
    expect(after.compensations).toEqual(before.compensations);
    expect(after.events!.slice(0, 3)).toEqual(before.events);
    const ddl = Object.fromEntries(
      (dump(file, "SELECT name, sql FROM sqlite_master") as { name: string; sql: string }[]).map(
        (r) => [r.name, r.sql],
      ),
    );
    expect(ddl.steps).toMatch(/WITHOUT ROWID$/);
    expect(ddl.compensations).toMatch(/WITHOUT ROWID$/);
    expect(ddl.events).not.toMatch(/AUTOINCREMENT/);
    expect(ddl.events_run).toBeDefined();
    expect(ddl.compensations_step).toBeUndefined();
    expect(Object.keys(ddl).filter((n) => n.endsWith("_v3"))).toEqual([]);
    expect(dump(file, "SELECT name FROM sqlite_sequence")).toEqual([]);
  });
});

describe("a schema-4 database (before run chains)", () => {
  it("migrates with its history verifying as before: the same entries, hashes and Merkle root, every entry linked into its run's chain, and new entries continue both", async () => {
    const file = tempFile();
    mkdirSync(join(file, ".."), { recursive: true });
    const db = new Database(file);
    let oldRoot: string;
    let oldRows: unknown[];
    try {
      schemaUpTo(db, 4);
      // Entries written the way airun wrote them at schema 4: one global chain.
      const insert = db.prepare(
        "INSERT INTO events (seq, run_id, step_id, type, at, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
      );
      let prev = GENESIS_HASH;
      const tree = new MerkleAccumulator();
      const runsOf = ["r1", "r2", null, "r1", "r2", "r2", null, "r1"];
      runsOf.forEach((runId, i) => {
        const row = {
          seq: i + 1,
          at: 1_000 + i,
          type: `t.${i}`,
          runId,
          stepId: null,
          data: `{"i":${i}}`,
        };
        prev = entryHash(entryText(row, prev));
        tree.push(Buffer.from(prev, "hex"));
        insert.run(row.seq, row.runId, row.stepId, row.type, row.at, row.data, prev);
      });
      oldRoot = toHex(tree.root());
      oldRows = db.prepare("SELECT seq, run_id, step_id, type, at, data, hash FROM events").all();
    } finally {
      db.close();
    }

    const store = await SqliteStore.open({ file });
    try {
      const rows = await allRows(store);
      const chain = new ChainVerifier();
      const runs = new RunChainVerifier();
      const tree = new MerkleAccumulator();
      for (const r of rows) {
        const leaf = chain.push(r);
        expect(leaf).toBeDefined();
        tree.push(leaf!);
        expect(runs.push(r)).toBe(true);
      }
      expect(toHex(tree.root())).toBe(oldRoot);
      expect(rows.map((r) => [r.runId, r.runSeq])).toEqual([
        ["r1", 1],
        ["r2", 1],
        [null, 1],
        ["r1", 2],
        ["r2", 2],
        ["r2", 3],
        [null, 2],
        ["r1", 3],
      ]);
      expect(await store.commit([appendOp("r2", "after", {})])).toEqual({ runSeqs: [4] });
      const all = await allRows(store);
      expect(verifyChain(all)).toMatchObject({ problem: undefined, size: 9 });
      for (const r of all.slice(8)) runs.push(r);
      expect(runs.problem).toBeUndefined();
    } finally {
      await store.close();
    }
    const check = new Database(file, { readonly: true });
    try {
      expect(
        check
          .prepare("SELECT seq, run_id, step_id, type, at, data, hash FROM events WHERE seq <= 8")
          .all(),
      ).toEqual(oldRows);
    } finally {
      check.close();
    }
  });
});

async function allRowsOf(file: string): Promise<LedgerRow[]> {
  const store = await SqliteStore.open({ file });
  try {
    return await allRows(store);
  } finally {
    await store.close();
  }
}

describe("data on disk", () => {
  it("is canonical JSON (keys sorted, RFC 8785 numbers and strings), exactly the text the chain hashes", async () => {
    const file = tempFile();
    const store = await SqliteStore.open({ file });
    try {
      await store.commit([
        appendOp(null, "canon", {
          zeta: 1,
          alpha: { y: [3, { c: 1, b: 2 }], x: "é\u2028" },
          mid: 1.5,
          big: 1e21,
          neg: -0,
        }),
      ]);
    } finally {
      await store.close();
    }
    const db = new Database(file, { readonly: true });
    try {
      const { data } = db.prepare("SELECT data FROM events WHERE seq = 1").get() as {
        data: string;
      };
      expect(data).toBe(
        '{"alpha":{"x":"é\u2028","y":[3,{"b":2,"c":1}]},"big":1e+21,"mid":1.5,"neg":0,"zeta":1}',
      );
    } finally {
      db.close();
    }
    const rows = await allRowsOf(file);
    expect(verifyChain(rows)).toMatchObject({ problem: undefined, size: 1 });
  });
});
