/**
 * @module Runs the Store conformance suite against real SQLite files (several instances on one
 * file in this process; better-sqlite3 connections are independent), plus what only SQLite has:
 * pragmas, group commit counters, schema versioning and `openStore`.
 */
import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AirunError } from "../../src/core/errors.js";
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from "../../src/store/migrations.js";
import { openStore } from "../../src/store/open-store.js";
import { openSqliteFile, type SqliteOpener } from "../../src/store/sqlite/sqlite-driver.js";
import { LEDGER_HEAD_SQL, RUN_HEAD_SQL } from "../../src/store/sqlite/sqlite-sql.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { describeStoreConformance } from "./conformance.js";
import { makeEvent, makeRun, makeStep } from "./fixtures.js";
import { countRuns, useTempFolder, withSecondConnection } from "./sqlite-files.js";

const temp = useTempFolder("airun-sqlite-store-");
const tempHome = temp.home;

describeStoreConformance("sqlite (file)", async () => {
  const home = tempHome();
  return {
    open: () => openStore({ url: "sqlite", home }),
    drop: async () => rmSync(home, { recursive: true, force: true }),
  };
});

describe("SqliteStore", () => {
  it("reads a run chain's head and the ledger's head through an index, never by sorting a run's entries", async () => {
    // Each appending transaction reads both: a plan that sorts the run's entries made every
    // step cost as much as the run was long (573 µs at 3,000 entries: quadratic runs).
    const home = tempHome();
    const store = (await openStore({ url: "sqlite", home })) as SqliteStore;
    await store.close();
    const plans = withSecondConnection(join(home, "airun.db"), (db) =>
      [RUN_HEAD_SQL, LEDGER_HEAD_SQL].map((sql) =>
        (
          db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(sql.includes("?") ? ["r"] : [])) as {
            detail: string;
          }[]
        )
          .map((r) => r.detail)
          .join(" | "),
      ),
    );
    for (const plan of plans) {
      expect(plan).not.toMatch(/TEMP B-TREE/);
    }
  });

  it("creates <home>/airun.db with a 0700 home and applies WAL, FULL, foreign keys, busy timeout", async () => {
    const home = tempHome();
    const store = (await openStore({ url: "sqlite", home })) as SqliteStore;
    try {
      expect(store.file).toBe(join(home, "airun.db"));
      expect(statSync(store.file).isFile()).toBe(true);
      expect(statSync(home).mode & 0o777).toBe(0o700);
      expect(store.pragmas()).toEqual({
        journalMode: "wal",
        synchronous: 2,
        foreignKeys: 1,
        busyTimeout: 5000,
      });
    } finally {
      await store.close();
    }
    expect(
      withSecondConnection(join(home, "airun.db"), (db) =>
        db.pragma("journal_mode", { simple: true }),
      ),
    ).toBe("wal");
  });

  it("applies synchronous=NORMAL when asked", async () => {
    const store = (await openStore({
      url: "sqlite",
      home: tempHome(),
      synchronous: "NORMAL",
    })) as SqliteStore;
    try {
      expect(store.pragmas().synchronous).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("shares physical commits among concurrent batches, but not among sequential ones", async () => {
    const store = await SqliteStore.open({ file: join(tempHome(), "airun.db") });
    try {
      const before = store.stats().physicalCommits;
      await Promise.all(
        Array.from({ length: 50 }, () => {
          const run = makeRun();
          return store.commit([
            { op: "insertRun", run },
            { op: "appendEvent", event: makeEvent(run.id) },
          ]);
        }),
      );
      const grouped = store.stats().physicalCommits - before;
      expect(grouped).toBeGreaterThanOrEqual(1);
      expect(grouped).toBeLessThan(5);

      const mid = store.stats().physicalCommits;
      for (let i = 0; i < 5; i++) await store.commit([{ op: "insertRun", run: makeRun() }]);
      expect(store.stats().physicalCommits - mid).toBe(5);
      expect(store.stats()).toMatchObject({ committedUnits: 55, rejectedUnits: 0 });
    } finally {
      await store.close();
    }
  });

  it("records applied migrations and does not re-apply them on reopen", async () => {
    const file = join(tempHome(), "airun.db");
    for (let i = 0; i < 2; i++) {
      const store = await SqliteStore.open({ file });
      await store.close();
    }
    const rows = withSecondConnection(file, (db) =>
      db.prepare("SELECT id, name FROM migrations ORDER BY id").all(),
    );
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ id: m.id, name: m.name })));
  });

  it("refuses to open a database with a newer schema version, leaving it untouched", async () => {
    const file = join(tempHome(), "airun.db");
    await (await SqliteStore.open({ file })).close();
    const future = LATEST_SCHEMA_VERSION + 1;
    withSecondConnection(file, (db) =>
      db
        .prepare("INSERT INTO migrations (id, name, applied_at) VALUES (?, 'from_the_future', 0)")
        .run(future),
    );
    const error = await SqliteStore.open({ file }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(AirunError);
    expect(error).toMatchObject({
      code: "STORE_SCHEMA_TOO_NEW",
      context: { schemaVersion: future, supportedVersion: LATEST_SCHEMA_VERSION },
    });
    expect((error as Error).message).toContain(`schema version ${future}`);
    await expect(openStore({ url: `sqlite:${file}`, home: tempHome() })).rejects.toMatchObject({
      code: "STORE_SCHEMA_TOO_NEW",
    });
  });

  it("refuses a database whose recorded migration has another name", async () => {
    const file = join(tempHome(), "airun.db");
    await (await SqliteStore.open({ file })).close();
    withSecondConnection(file, (db) =>
      db.prepare("UPDATE migrations SET name = 'imposter' WHERE id = 1").run(),
    );
    await expect(SqliteStore.open({ file })).rejects.toMatchObject({
      code: "STORE_SCHEMA_MISMATCH",
    });
  });

  it("stores event data as its RFC 8785 canonical JSON text (keys sorted), ready to hash", async () => {
    const store = await SqliteStore.open({ file: join(tempHome(), "airun.db") });
    const data = { z: 1, a: [1, { y: null, b: "é" }] };
    try {
      await store.commit([{ op: "appendEvent", event: makeEvent(null, { data }) }]);
      const text = withSecondConnection(store.file, (db) =>
        db.prepare("SELECT data FROM events WHERE seq = ?").get(1),
      );
      expect(text).toEqual({ data: '{"a":[1,{"b":"é","y":null}],"z":1}' });
    } finally {
      await store.close();
    }
  });

  it("returns blobs as plain Uint8Array copies, not views of the driver's Buffer", async () => {
    const store = (await openStore({ url: "sqlite", home: tempHome() })) as SqliteStore;
    try {
      const bytes = new TextEncoder().encode("hello");
      const id = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
      await store.commit([{ op: "putBlob", id, bytes }]);
      const got = await store.getBlob(id);
      expect(Buffer.isBuffer(got)).toBe(false);
      got![0] = 0;
      expect((await store.getBlob(id))![0]).toBe("h".charCodeAt(0));
    } finally {
      await store.close();
    }
  });

  it("rejects a step of an unknown run (foreign key) as STORE_CONSTRAINT, alone in its group", async () => {
    const store = await SqliteStore.open({ file: join(tempHome(), "airun.db") });
    try {
      const run = makeRun();
      const [ok, bad] = await Promise.allSettled([
        store.commit([{ op: "insertRun", run }]),
        store.commit([{ op: "putStep", step: makeStep("no-such-run") }]),
      ]);
      expect(ok.status).toBe("fulfilled");
      expect(bad).toMatchObject({ status: "rejected", reason: { code: "STORE_CONSTRAINT" } });
      expect(await store.getRun(run.id)).toEqual(run);
      expect(store.stats()).toMatchObject({
        physicalCommits: 1,
        committedUnits: 1,
        rejectedUnits: 1,
      });
    } finally {
      await store.close();
    }
  });

  it("fails every batch of a group whose physical COMMIT fails, and keeps none of them", async () => {
    const file = join(tempHome(), "airun.db");
    let failCommit = false;
    const opener: SqliteOpener = (f) => {
      const db = openSqliteFile(f);
      return {
        prepare(sql) {
          const stmt = db.prepare(sql);
          if (sql !== "COMMIT") return stmt;
          return new Proxy(stmt, {
            get(target, key) {
              if (key === "run" && failCommit) {
                return () => {
                  throw new Error("simulated I/O error");
                };
              }
              const v = Reflect.get(target, key);
              return typeof v === "function" ? v.bind(target) : v;
            },
          });
        },
        pragma: (source, options) => db.pragma(source, options),
        close: () => db.close(),
        get inTransaction() {
          return db.inTransaction;
        },
        get open() {
          return db.open;
        },
        exec: (sql) => db.exec(sql),
      };
    };
    const store = await SqliteStore.open({ file, opener });
    try {
      failCommit = true;
      const runs = [makeRun(), makeRun()];
      const settled = await Promise.allSettled(
        runs.map((run) => store.commit([{ op: "insertRun", run }])),
      );
      for (const s of settled) {
        expect(s).toMatchObject({ status: "rejected", reason: { code: "STORE_COMMIT_FAILED" } });
      }
      failCommit = false;
      for (const run of runs) expect(await store.getRun(run.id)).toBeUndefined();
      const later = makeRun();
      await store.commit([{ op: "insertRun", run: later }]);
      expect(countRuns(file)).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("flushes queued batches on close, then rejects further writes", async () => {
    const file = join(tempHome(), "airun.db");
    const store = await SqliteStore.open({ file });
    const run = makeRun();
    const pending = store.commit([{ op: "insertRun", run }]);
    await store.close();
    await expect(pending).resolves.toEqual({ runSeqs: [] });
    await expect(store.commit([{ op: "insertRun", run: makeRun() }])).rejects.toMatchObject({
      code: "STORE_CLOSED",
    });
    await expect(store.getRun(run.id)).rejects.toMatchObject({ code: "STORE_CLOSED" });
    expect(countRuns(file)).toBe(1);
  });

  describe("openStore", () => {
    it("opens PostgreSQL URLs; an unreachable server is STORE_OPEN_FAILED, without leaking the password", async () => {
      const err = await openStore({
        url: "postgres://u:s3cret@127.0.0.1:1/airun",
        home: tempHome(),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AirunError);
      expect(err).toMatchObject({ code: "STORE_OPEN_FAILED" });
      expect((err as Error).message).toMatch(/postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/airun/);
      expect((err as Error).message).not.toContain("s3cret");
      expect(JSON.stringify((err as AirunError).context)).not.toContain("s3cret");
    });

    it("rejects unknown URLs with INVALID_STORE_URL", async () => {
      await expect(openStore({ url: "mysql://x", home: tempHome() })).rejects.toMatchObject({
        code: "INVALID_STORE_URL",
      });
    });

    it("opens sqlite:<path> at that path", async () => {
      const file = join(temp.root, `explicit-${Date.now()}`, "state.db");
      const store = await openStore({ url: `sqlite:${file}`, home: tempHome() });
      try {
        await store.commit([{ op: "insertRun", run: makeRun() }]);
      } finally {
        await store.close();
      }
      expect(countRuns(file)).toBe(1);
    });
  });
});
