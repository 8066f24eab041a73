/**
 * @module The ledger's run chains and integrator on both stores, with the database edited behind
 * airun's back (an attacker with write access): on PostgreSQL, entries stay pending after their
 * commit until the integrator numbers them, and tampering with a pending entry is evident at
 * once from its run chain (the integrator refuses to integrate it, `ledger verify` names it);
 * after integration, on SQLite and PostgreSQL, the global chain and the run chain both name it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { type LedgerReport, verifyLedger } from "../../src/engine/ledger/ledger.js";
import { PostgresStore } from "../../src/store/postgres/postgres-store.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import type { Store, WriteOp } from "../../src/store/store.js";
import { POSTGRES_URL, usePostgres } from "../support/postgres.js";
import { makeEvent, makeRun } from "./fixtures.js";

const homes: string[] = [];
afterAll(() => {
  for (const h of homes) rmSync(h, { recursive: true, force: true });
});
function newHome(): string {
  const home = mkdtempSync(join(tmpdir(), "airun-ledger-int-"));
  homes.push(home);
  return home;
}

/** `ledger verify` of the store, without a key (no checkpoints in a fresh home). */
function verify(store: Store, home: string): Promise<LedgerReport> {
  return verifyLedger(
    {
      store,
      home,
      key: {
        status: "missing",
        file: join(home, "keys"),
        publicKeyPem: null,
        fingerprint: null,
        message: "no key",
      },
    },
    [],
  );
}

/** Three runs of four entries each, and two entries of no run, in one commit per entry. */
async function writeRuns(store: Store): Promise<string[]> {
  const runs = [makeRun(), makeRun(), makeRun()];
  await store.commit(runs.map((run): WriteOp => ({ op: "insertRun", run })));
  for (let i = 0; i < 4; i++) {
    for (const run of runs) {
      await store.commit([
        { op: "appendEvent", event: makeEvent(run.id, { type: `step.${i}`, data: { i } }) },
      ]);
    }
    if (i % 2 === 0) {
      await store.commit([{ op: "appendEvent", event: makeEvent(null, { type: "sys" }) }]);
    }
  }
  return runs.map((r) => r.id);
}

/** The dialect-specific part: raw SQL behind the store's back. */
interface Raw {
  exec(sql: string, params?: unknown[]): Promise<void>;
}

function describeTamper(
  name: string,
  open: () => Promise<{ store: Store; raw: Raw; reopen: () => Promise<Store> }>,
) {
  describe(`${name}: tampering after integration`, () => {
    it("an edited entry breaks the global chain at its number; an edited run link alone breaks its run chain", async () => {
      const { store, raw, reopen } = await open();
      const [r1] = await writeRuns(store);
      await store.integrateLedger();
      const home = newHome();
      const clean = await verify(store, home);
      // (ok aside: these runs have no run.created entry, so their rows disagree with the ledger)
      expect(clean).toMatchObject({ entries: 14, pending: 0, chain: null, runChain: null });

      await raw.exec("UPDATE events SET data = '{\"i\":9}' WHERE run_id = $1 AND run_seq = 3", [
        r1,
      ]);
      const edited = await verify(await reopen(), home);
      expect(edited.ok).toBe(false);
      expect(edited.chain).toMatchObject({ kind: "content_mismatch" });
      expect(edited.chain?.seq).toBeGreaterThan(1);

      // Put the data back, then forge only the run link (the global chain is untouched).
      await raw.exec("UPDATE events SET data = '{\"i\":2}' WHERE run_id = $1 AND run_seq = 3", [
        r1,
      ]);
      await raw.exec("UPDATE events SET run_hash = $1 WHERE run_id = $2 AND run_seq = 2", [
        "a".repeat(64),
        r1,
      ]);
      const linked = await verify(await reopen(), home);
      expect(linked.ok).toBe(false);
      expect(linked.chain).toBeNull();
      expect(linked.runChain).toMatchObject({ runId: r1, runSeq: 2, kind: "content_mismatch" });
      expect(linked.problems.join("\n")).toContain(`run ${r1}: entry 2 of the chain`);
    });
  });
}

// ---- SQLite -------------------------------------------------------------------------------

describeTamper("SQLite", async () => {
  const file = join(newHome(), "airun.db");
  const store = await SqliteStore.open({ file });
  const raw: Raw = {
    async exec(sql, params = []) {
      const db = new Database(file);
      try {
        db.prepare(sql.replace(/\$\d+/g, "?")).run(...params);
      } finally {
        db.close();
      }
    },
  };
  const opened: Store[] = [store];
  afterAll(async () => {
    for (const s of opened) await s.close();
  });
  return {
    store,
    raw,
    reopen: async () => {
      const s = await SqliteStore.open({ file });
      opened.push(s);
      return s;
    },
  };
});

describe("SQLite integrates in the appending transaction", () => {
  it("leaves nothing pending, ever", async () => {
    const store = await SqliteStore.open({ file: join(newHome(), "airun.db") });
    try {
      await writeRuns(store);
      expect(await store.pendingLedgerRows(0, 10)).toEqual([]);
      expect(await store.integrateLedger()).toEqual({ integrated: 0, pending: 0 });
      expect((await store.ledgerRows(0, 100)).map((r) => r.seq)).toHaveLength(14);
    } finally {
      await store.close();
    }
  });
});

// ---- PostgreSQL ---------------------------------------------------------------------------

const server = await usePostgres();

server.describe("PostgreSQL", () => {
  const stores: Store[] = [];
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  let connected = false;
  afterAll(async () => {
    for (const s of stores) await s.close();
    if (connected) await admin.end();
  });
  async function openPg(schema: string): Promise<PostgresStore> {
    const store = await PostgresStore.open({
      url: POSTGRES_URL,
      schema,
      backgroundIntegration: false,
    });
    stores.push(store);
    return store;
  }
  async function rawFor(schema: string): Promise<Raw> {
    if (!connected) {
      await admin.connect();
      connected = true;
    }
    return {
      async exec(sql, params = []) {
        await admin.query(`SET search_path TO ${schema}`);
        await admin.query(sql, params);
      },
    };
  }

  describeTamper("PostgreSQL", async () => {
    const schema = server.newSchema();
    const store = await openPg(schema);
    return { store, raw: await rawFor(schema), reopen: () => openPg(schema) };
  });

  describe("before integration", () => {
    it("keeps committed entries pending (linked into their run chains, no number yet) until the integrator numbers them in written order", async () => {
      const schema = server.newSchema();
      const store = await openPg(schema);
      const runs = await writeRuns(store);
      expect(await store.ledgerRows(0, 100)).toEqual([]);
      expect(await store.listEvents({ runId: runs[0]! })).toHaveLength(4); // integrates first
      expect(await store.pendingLedgerRows(0, 100)).toEqual([]);
      expect((await store.ledgerRows(0, 100)).map((r) => r.seq)).toEqual(
        Array.from({ length: 14 }, (_, i) => i + 1),
      );
      const more = await store.commit([
        { op: "appendEvent", event: makeEvent(runs[1]!, { type: "late" }) },
      ]);
      expect(more).toEqual({ runSeqs: [5] });
      expect(await store.pendingLedgerRows(0, 100)).toMatchObject([
        { runId: runs[1], runSeq: 5, type: "late" },
      ]);
      expect(await store.integrateLedger()).toEqual({ integrated: 1, pending: 0 });
      expect(await verify(store, newHome())).toMatchObject({
        entries: 15,
        pending: 0,
        chain: null,
        runChain: null,
      });
    });

    it("an entry edited while pending is evident at once: the integrator refuses it (and what follows), and ledger verify names it by run and run number", async () => {
      const schema = server.newSchema();
      const store = await openPg(schema);
      const raw = await rawFor(schema);
      const [, r2] = await writeRuns(store);
      await raw.exec("UPDATE events SET data = '{\"i\":7}' WHERE run_id = $1 AND run_seq = 2", [
        r2,
      ]);
      const result = await store.integrateLedger();
      expect(result.refused).toContain(`run ${r2}: entry 2 of the chain`);
      expect(result.pending).toBeGreaterThan(0);
      const report = await verify(store, newHome());
      expect(report.ok).toBe(false);
      expect(report.chain).toBeNull();
      expect(report.pending).toBe(result.pending);
      expect(report.runChain).toMatchObject({ runId: r2, runSeq: 2, kind: "content_mismatch" });
    });

    it("a pending entry deleted from the middle of its run is reported missing", async () => {
      const schema = server.newSchema();
      const store = await openPg(schema);
      const raw = await rawFor(schema);
      const [r1] = await writeRuns(store);
      await raw.exec("DELETE FROM events WHERE run_id = $1 AND run_seq = 3", [r1]);
      const report = await verify(store, newHome());
      expect(report.ok).toBe(false);
      expect(report.runChain).toMatchObject({ runId: r1, runSeq: 3, kind: "missing" });
    });
  });
});
