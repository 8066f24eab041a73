/**
 * @module The ledger's tamper matrix on a real database file: runs executed by a real Runtime
 * (fs writes, a rollback), the runtime closed, the `events` table then edited behind airun's back
 * with better-sqlite3, and a fresh Runtime asked to verify. Every edit, deletion, insertion,
 * reordering, truncation, consistent rewrite and forged checkpoint must be reported, naming the
 * first bad entry where the chain can name it.
 */
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  generateLedgerKeyPair,
  parseCheckpoint,
  signCheckpoint,
} from "../../src/core/checkpoint.js";
import { entryHash, entryText, GENESIS_HASH, runEntryText } from "../../src/core/ledger.js";
import type { LedgerReport } from "../../src/engine/ledger/ledger.js";
import { Runtime } from "../../src/engine/runtime/runtime.js";
import { type Workspace, workspace } from "./helpers.js";

const POLICY = `version: 1
default: DENY
rules:
  - id: fs-ok
    principal: "agent:*"
    capability: "io.fs.*"
    decision: ALLOW
  - id: sys-ok
    principal: "agent:*"
    capability: "sys.*"
    decision: ALLOW
`;

/** Four steps, three of them fs writes, ending COMPLETED. */
const FOUR_STEPS = `name: four_steps
version: 1
principal: agent:ledger
steps:
  - id: mk
    capability: io.fs.make_dir
    inputs: { path: out }
  - id: a
    capability: io.fs.write_file
    depends_on: [mk]
    inputs: { path: out/a.txt, content: "A" }
  - id: b
    capability: io.fs.write_file
    depends_on: [a]
    inputs: { path: out/b.txt, content: "B" }
  - id: r
    capability: io.fs.read_file
    depends_on: [b]
    inputs: { path: out/a.txt }
`;

/** FOUR_STEPS in a folder of its own per input `n`, so many runs can share one sandbox. */
const FOUR_STEPS_PER_INPUT = `name: four_steps_each
version: 1
principal: agent:ledger
inputs:
  n: { type: string }
steps:
  - id: mk
    capability: io.fs.make_dir
    inputs: { path: "d\${{ inputs.n }}" }
  - id: a
    capability: io.fs.write_file
    depends_on: [mk]
    inputs: { path: "d\${{ inputs.n }}/a.txt", content: "A" }
  - id: b
    capability: io.fs.write_file
    depends_on: [a]
    inputs: { path: "d\${{ inputs.n }}/b.txt", content: "B" }
  - id: r
    capability: io.fs.read_file
    depends_on: [b]
    inputs: { path: "d\${{ inputs.n }}/a.txt" }
`;

/** A write, then a failure: rolled back. */
const ROLLS_BACK = `name: rolls_back
version: 1
principal: agent:ledger
steps:
  - id: w
    capability: io.fs.write_file
    inputs: { path: x.txt, content: "X" }
  - id: boom
    capability: sys.fail
    depends_on: [w]
    inputs: { message: planned failure }
`;

/** One row of `events` as stored. */
interface EventRow {
  seq: number;
  run_id: string | null;
  step_id: string | null;
  type: string;
  at: number;
  data: string;
  hash: string;
  run_seq: number;
  run_hash: string;
}

/**
 * The fixture: one home holding a rolled-back run then a completed four-step run (so the
 * ledger ends with the completed run's `run.completed`), runtime closed, no checkpoint yet.
 * Each test works on its own copy of the whole folder (config, home, database, key).
 */
let fixture: Workspace;
let fixtureRows: EventRow[];
let completedRunId: string;
let rolledBackRunId: string;
const copies: string[] = [];

beforeAll(async () => {
  fixture = await workspace({ policy: POLICY });
  const rt = await fixture.open();
  try {
    const rb = await rt.startRun({ specFile: await fixture.spec("rb.yaml", ROLLS_BACK) });
    expect(rb.status).toBe("ROLLED_BACK");
    rolledBackRunId = rb.id;
    const ok = await rt.startRun({ specFile: await fixture.spec("four.yaml", FOUR_STEPS) });
    expect(ok.status).toBe("COMPLETED");
    completedRunId = ok.id;
  } finally {
    await rt.close();
  }
  fixtureRows = readRows(fixture.home);
});

afterAll(async () => {
  await fixture?.cleanup();
  await Promise.all(copies.map((d) => rm(d, { recursive: true, force: true })));
});

/** A private copy of the fixture folder: its own airun.yaml, home, database and key. */
async function copyFixture(): Promise<{ dir: string; home: string; open(): Promise<Runtime> }> {
  const dir = `${fixture.dir}-copy-${copies.length + 1}`;
  copies.push(dir);
  await cp(fixture.dir, dir, { recursive: true });
  const home = join(dir, "home");
  return { dir, home, open: () => Runtime.open({ cwd: dir, env: {} }) };
}

/** Opens `<home>/airun.db` directly (as an attacker with file access would) and edits it. */
function tamper(home: string, edit: (db: Database.Database) => void): void {
  const db = new Database(join(home, "airun.db"));
  try {
    db.transaction(() => edit(db))();
  } finally {
    db.close();
  }
}

function readRows(home: string): EventRow[] {
  const db = new Database(join(home, "airun.db"), { readonly: true });
  try {
    return db.prepare("SELECT * FROM events ORDER BY seq").all() as EventRow[];
  } finally {
    db.close();
  }
}

/** Opens a fresh Runtime on `open`'s home, verifies, closes. */
async function verify(
  open: () => Promise<Runtime>,
  extra: readonly { source: string; text: string }[] = [],
): Promise<LedgerReport> {
  const rt = await open();
  try {
    return await rt.verifyLedger(extra);
  } finally {
    await rt.close();
  }
}

/** Signs a checkpoint through the Runtime (saved under the home) and returns it with a copy outside. */
async function checkpoint(
  copy: { dir: string; open(): Promise<Runtime> },
  name = "external-checkpoint.txt",
): Promise<{ treeSize: number; text: string; external: { source: string; text: string } }> {
  const rt = await copy.open();
  try {
    const cp = await rt.checkpointLedger();
    const source = join(copy.dir, name);
    await writeFile(source, cp.text);
    return { treeSize: cp.treeSize, text: cp.text, external: { source, text: cp.text } };
  } finally {
    await rt.close();
  }
}

/** Seq of the first entry of `type` (for `runId`, and `stepId` when given) in the fixture. */
function seqOf(type: string, runId: string, stepId?: string): number {
  const row = fixtureRows.find(
    (r) => r.type === type && r.run_id === runId && (stepId === undefined || r.step_id === stepId),
  );
  if (!row) throw new Error(`fixture has no ${type} entry for ${runId}/${stepId ?? "-"}`);
  return row.seq;
}

/** Recomputes every entry hash from `fromSeq` on, as an attacker who knows the format would. */
function rechainFrom(db: Database.Database, fromSeq: number, runChains = true): void {
  const rows = db.prepare("SELECT * FROM events ORDER BY seq").all() as EventRow[];
  const update = db.prepare("UPDATE events SET hash = ?, run_hash = ? WHERE seq = ?");
  let prev = GENESIS_HASH;
  // A consistent rewrite recomputes the run chains too (they are unkeyed hashes as well).
  const runPrev = new Map<string, string>();
  for (const r of rows) {
    const chain = r.run_id ?? "";
    const runHash = entryHash(
      runEntryText(ledgerRow(r), r.run_seq, runPrev.get(chain) ?? GENESIS_HASH),
    );
    runPrev.set(chain, runHash);
    if (r.seq >= fromSeq) {
      const hash = entryHash(entryText(ledgerRow(r), prev));
      update.run(hash, runChains ? runHash : r.run_hash, r.seq);
      prev = hash;
    } else prev = r.hash;
  }
}

function ledgerRow(r: EventRow) {
  return { seq: r.seq, at: r.at, type: r.type, runId: r.run_id, stepId: r.step_id, data: r.data };
}

/** Asserts the report is a failure whose chain problem names `seq` with `kind`. */
function expectChainBreak(report: LedgerReport, seq: number, kind: string): void {
  expect(report.ok).toBe(false);
  expect(report.chain).toMatchObject({ seq, kind });
  expect(report.chain?.message).toContain(`entry ${seq}`);
  expect(report.entries).toBe(seq - 1);
  expect(report.problems[0]).toBe(report.chain?.message);
}

describe("an honest ledger", () => {
  it("verifies ok with every entry counted, no state mismatch, and every checkpoint (including one of the empty ledger) consistent", async () => {
    const w = await workspace({ policy: POLICY });
    try {
      const rt = await w.open();
      const sizes: number[] = [];
      let external: { source: string; text: string };
      try {
        sizes.push((await rt.checkpointLedger()).treeSize);
        await rt.startRun({ specFile: await w.spec("rb.yaml", ROLLS_BACK) });
        sizes.push((await rt.checkpointLedger()).treeSize);
        await rt.startRun({ specFile: await w.spec("four.yaml", FOUR_STEPS) });
        const last = await rt.checkpointLedger();
        sizes.push(last.treeSize);
        external = { source: join(w.dir, "kept-elsewhere.txt"), text: last.text };
      } finally {
        await rt.close();
      }
      const total = readRows(w.home).length;
      expect(sizes).toEqual([0, expect.any(Number), total]);
      expect(sizes[1]).toBeGreaterThan(0);
      expect(sizes[1]).toBeLessThan(total);
      const report = await verify(() => w.open(), [external]);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.entries).toBe(total);
      expect(report.chain).toBeNull();
      expect(report.state).toEqual([]);
      expect(report.head).toBe(readRows(w.home).at(-1)?.hash);
      expect(report.checkpoints.map((c) => [c.treeSize, c.status])).toEqual([
        [0, "consistent"],
        [sizes[1], "consistent"],
        [total, "consistent"],
        [total, "consistent"],
      ]);
      expect(report.checkpoints.at(-1)?.source).toBe(external.source);
    } finally {
      await w.cleanup();
    }
  });
});

describe("edits, deletions, insertions and reorderings break the chain at the first bad entry", () => {
  it("an edited payload (data of entry k) is a content_mismatch at k", async () => {
    const c = await copyFixture();
    const k = seqOf("step.intent", completedRunId, "a");
    tamper(c.home, (db) => {
      const r = db
        .prepare(
          "UPDATE events SET data = replace(data, 'io.fs.write_file', 'io.fs.read_file') WHERE seq = ?",
        )
        .run(k);
      expect(r.changes).toBe(1);
    });
    expect(readRows(c.home)[k - 1]?.data).toContain("io.fs.read_file");
    expectChainBreak(await verify(c.open), k, "content_mismatch");
  });

  it("a one-character payload edit deep in the ledger (ALLOW decision rewritten) is caught at that entry", async () => {
    const c = await copyFixture();
    const k = seqOf("step.decision", completedRunId, "b");
    tamper(c.home, (db) => {
      db.prepare(`UPDATE events SET data = replace(data, '"MEDIUM"', '"LOW"') WHERE seq = ?`).run(
        k,
      );
    });
    expect(readRows(c.home)[k - 1]?.data).toContain('"LOW"');
    expectChainBreak(await verify(c.open), k, "content_mismatch");
  });

  it.each([
    ["at", "UPDATE events SET at = at + 1 WHERE seq = ?"],
    ["type", "UPDATE events SET type = 'step.skipped' WHERE seq = ?"],
    ["run_id", "UPDATE events SET run_id = 'another-run' WHERE seq = ?"],
    ["step_id", "UPDATE events SET step_id = 'r' WHERE seq = ?"],
  ])("an edited %s column of entry k is a content_mismatch at k", async (_col, sql) => {
    const c = await copyFixture();
    const k = seqOf("step.succeeded", completedRunId, "b");
    tamper(c.home, (db) => expect(db.prepare(sql).run(k).changes).toBe(1));
    expectChainBreak(await verify(c.open), k, "content_mismatch");
  });

  it("an edited chain hash of entry k is caught at k, also for the last entry (nothing after it to cross-check)", async () => {
    for (const k of [seqOf("step.attempt", rolledBackRunId, "w"), fixtureRows.length]) {
      const c = await copyFixture();
      tamper(c.home, (db) => {
        const { hash } = db.prepare("SELECT hash FROM events WHERE seq = ?").get(k) as {
          hash: string;
        };
        const flipped = `${hash.slice(0, 10)}${hash[10] === "0" ? "1" : "0"}${hash.slice(11)}`;
        db.prepare("UPDATE events SET hash = ? WHERE seq = ?").run(flipped, k);
      });
      expectChainBreak(await verify(c.open), k, "content_mismatch");
    }
  });

  it("a deleted entry k is reported missing at k (also the very first entry)", async () => {
    for (const k of [seqOf("step.decision", completedRunId, "mk"), 1]) {
      const c = await copyFixture();
      tamper(c.home, (db) =>
        expect(db.prepare("DELETE FROM events WHERE seq = ?").run(k).changes).toBe(1),
      );
      const report = await verify(c.open);
      expectChainBreak(report, k, "missing");
      expect(report.chain?.message).toBe(`entry ${k} is missing (the next entry is ${k + 1})`);
    }
  });

  /** Renumbers every entry from `k` up by one (seq is the primary key: via negative seqs). */
  function makeRoomAt(db: Database.Database, k: number): void {
    db.prepare("UPDATE events SET seq = -(seq + 1) WHERE seq >= ?").run(k);
    db.prepare("UPDATE events SET seq = -seq WHERE seq < 0").run();
  }

  it("an inserted entry at k (later entries renumbered) is detected at k", async () => {
    const c = await copyFixture();
    const k = seqOf("step.succeeded", completedRunId, "a");
    const before = fixtureRows[k - 1]!;
    tamper(c.home, (db) => {
      makeRoomAt(db, k);
      // A plausible entry: an approval nobody gave, with the hash of the entry it displaces.
      db.prepare(
        "INSERT INTO events (seq, run_id, step_id, type, at, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ).run(
        k,
        before.run_id,
        before.step_id,
        "approval.decided",
        before.at,
        '{"by":"user:boss","decision":"approve"}',
        before.hash,
      );
    });
    const rows = readRows(c.home);
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows).toHaveLength(fixtureRows.length + 1);
    expectChainBreak(await verify(c.open), k, "content_mismatch");
  });

  it("an inserted entry whose own chain hash the attacker computed correctly is caught at the next entry, k + 1", async () => {
    const c = await copyFixture();
    const k = seqOf("step.succeeded", completedRunId, "a");
    const before = fixtureRows[k - 1]!;
    const prev = fixtureRows[k - 2]!;
    tamper(c.home, (db) => {
      makeRoomAt(db, k);
      const row = {
        seq: k,
        at: before.at,
        type: "approval.decided",
        runId: before.run_id,
        stepId: before.step_id,
        data: '{"by":"user:boss","decision":"approve"}',
      };
      db.prepare(
        "INSERT INTO events (seq, run_id, step_id, type, at, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ).run(
        k,
        row.runId,
        row.stepId,
        row.type,
        row.at,
        row.data,
        entryHash(entryText(row, prev.hash)),
      );
    });
    // Entry k now links correctly to k - 1; the displaced entry (now k + 1) cannot.
    expectChainBreak(await verify(c.open), k + 1, "content_mismatch");
  });

  it("two swapped entries (every column but seq exchanged between k and k + 1) are caught at k", async () => {
    const c = await copyFixture();
    const k = seqOf("step.intent", completedRunId, "b");
    tamper(c.home, (db) => {
      const get = db.prepare("SELECT * FROM events WHERE seq = ?");
      const a = get.get(k) as EventRow;
      const b = get.get(k + 1) as EventRow;
      const put = db.prepare(
        "UPDATE events SET run_id = ?, step_id = ?, type = ?, at = ?, data = ?, hash = ? WHERE seq = ?",
      );
      put.run(b.run_id, b.step_id, b.type, b.at, b.data, b.hash, k);
      put.run(a.run_id, a.step_id, a.type, a.at, a.data, a.hash, k + 1);
    });
    const rows = readRows(c.home);
    expect(rows[k - 1]?.type).toBe(fixtureRows[k]?.type);
    expectChainBreak(await verify(c.open), k, "content_mismatch");
  });
});

describe("truncation", () => {
  it("without a checkpoint: the state cross-check catches a deleted tail that recorded state (run.completed)", async () => {
    const c = await copyFixture();
    const n = fixtureRows.length;
    expect(fixtureRows.at(-1)?.type).toBe("run.completed");
    tamper(c.home, (db) =>
      expect(db.prepare("DELETE FROM events WHERE seq > ?").run(n - 3).changes).toBe(3),
    );
    const report = await verify(c.open);
    expect(report.chain).toBeNull();
    expect(report.entries).toBe(n - 3);
    expect(report.ok).toBe(false);
    expect(report.state).toContainEqual({
      runId: completedRunId,
      stepId: null,
      field: "status",
      seq: seqOf("run.started", completedRunId),
      message: `run ${completedRunId} is COMPLETED, but its last status entry is run.started`,
    });
    expect(report.state).toContainEqual({
      runId: completedRunId,
      stepId: "r",
      field: "status",
      seq: null,
      message: `step ${completedRunId}/r is SUCCEEDED, but its last entry is missing`,
    });
    expect(report.problems).toEqual(report.state.map((s) => s.message));
  });

  it("with an earlier checkpoint (saved under the home, and as an external file): status truncated", async () => {
    const c = await copyFixture();
    const cp = await checkpoint(c);
    const n = fixtureRows.length;
    expect(cp.treeSize).toBe(n);
    tamper(c.home, (db) => db.prepare("DELETE FROM events WHERE seq > ?").run(n - 3));
    const report = await verify(c.open, [cp.external]);
    expect(report.ok).toBe(false);
    expect(report.chain).toBeNull();
    expect(report.checkpoints).toHaveLength(2);
    for (const check of report.checkpoints) {
      expect(check).toMatchObject({ treeSize: n, status: "truncated" });
      expect(check.message).toContain(`covers ${n} entries, the ledger has ${n - 3}`);
    }
    expect(report.checkpoints.map((x) => x.source)).toContain(cp.external.source);

    // The external copy alone is enough: the attacker also deleted the saved checkpoints.
    await rm(join(c.home, "checkpoints"), { recursive: true });
    const alone = await verify(c.open, [cp.external]);
    expect(alone.checkpoints).toEqual([
      expect.objectContaining({ source: cp.external.source, status: "truncated" }),
    ]);
    expect(alone.ok).toBe(false);
  });

  it("a truncated tail that recorded no state (last entries of a run still waiting) is caught by the checkpoint", async () => {
    const c = await copyFixture();
    // Append a run that stops at an approval: its last entries do not end the run.
    await writeFile(
      join(c.dir, "wait.yaml"),
      "name: waits\nversion: 1\nprincipal: agent:ledger\nsteps:\n  - id: rm\n    capability: io.fs.delete\n    inputs: { path: gone.txt }\n",
    );
    await writeFile(join(c.dir, "ws", "gone.txt"), "bye");
    const rt = await c.open();
    try {
      const view = await rt.startRun({ specFile: join(c.dir, "wait.yaml") });
      expect(view.status).toBe("WAITING_APPROVAL");
    } finally {
      await rt.close();
    }
    const cp = await checkpoint(c);
    const last = readRows(c.home).at(-1)!;
    expect(last.type).toBe("run.waiting_approval");
    tamper(c.home, (db) => db.prepare("DELETE FROM events WHERE seq = ?").run(last.seq));
    const report = await verify(c.open, [cp.external]);
    expect(report.chain).toBeNull();
    expect(report.ok).toBe(false);
    expect(report.checkpoints.map((x) => x.status)).toEqual(["truncated", "truncated"]);
  });

  it("a truncation followed by new appends past the checkpoint's size shows as rewritten", async () => {
    const c = await copyFixture();
    const cp = await checkpoint(c);
    tamper(c.home, (db) => db.prepare("DELETE FROM events WHERE seq > ?").run(cp.treeSize - 3));
    const rt = await c.open();
    try {
      await rt.startRun({ specFile: join(c.dir, "rb.yaml") });
    } finally {
      await rt.close();
    }
    expect(readRows(c.home).length).toBeGreaterThan(cp.treeSize);
    const report = await verify(c.open, [cp.external]);
    expect(report.ok).toBe(false);
    expect(report.chain).toBeNull();
    expect(report.checkpoints.map((x) => [x.treeSize, x.status])).toEqual([
      [cp.treeSize, "rewritten"],
      [cp.treeSize, "rewritten"],
    ]);
  });
});

describe("a consistently rewritten chain", () => {
  it("verifies as a chain, but an earlier checkpoint reports rewritten and ok is false", async () => {
    const c = await copyFixture();
    const cp = await checkpoint(c);
    const k = seqOf("step.decision", completedRunId, "a");
    tamper(c.home, (db) => {
      db.prepare(
        `UPDATE events SET data = replace(data, '"rule_ids":["fs-ok"]', '"rule_ids":["sys-ok"]') WHERE seq = ?`,
      ).run(k);
      rechainFrom(db, k);
      // The row too, so that state and ledger agree again: only the checkpoints can tell.
      db.prepare(
        `UPDATE steps SET decision = json_set(decision, '$.rule_ids', json('["sys-ok"]')) WHERE run_id = ? AND step_id = 'a'`,
      ).run(completedRunId);
    });
    expect(readRows(c.home)[k - 1]?.data).toContain("sys-ok");
    const report = await verify(c.open, [cp.external]);
    expect(report.chain).toBeNull();
    expect(report.entries).toBe(fixtureRows.length);
    expect(report.state).toEqual([]);
    expect(report.ok).toBe(false);
    expect(report.checkpoints).toHaveLength(2);
    for (const check of report.checkpoints) {
      expect(check).toMatchObject({ treeSize: cp.treeSize, status: "rewritten" });
      expect(check.message).toContain("history rewritten");
    }
    // The chain alone cannot see a consistent rewrite: the checkpoints are what caught it.
    await rm(join(c.home, "checkpoints"), { recursive: true });
    expect((await verify(c.open)).ok).toBe(true);
  });

  it("a rewrite of the global chain that leaves the run chains as they were is caught by the run chain, naming the run and its entry", async () => {
    const c = await copyFixture();
    const k = seqOf("step.decision", completedRunId, "a");
    const runSeq = readRows(c.home).filter((r) => r.seq <= k && r.run_id === completedRunId).length;
    tamper(c.home, (db) => {
      db.prepare(
        `UPDATE events SET data = replace(data, '"rule_ids":["fs-ok"]', '"rule_ids":["sys-ok"]') WHERE seq = ?`,
      ).run(k);
      rechainFrom(db, k, false);
    });
    const report = await verify(c.open);
    expect(report.chain).toBeNull();
    expect(report.ok).toBe(false);
    expect(report.runChain).toMatchObject({
      runId: completedRunId,
      runSeq,
      kind: "content_mismatch",
    });
    expect(report.problems).toContain(report.runChain?.message);
    // Nor is evidence exported from it.
    const rt = await c.open();
    try {
      await expect(rt.exportEvidencePack(completedRunId)).rejects.toMatchObject({
        code: "LEDGER_INVALID",
        message: expect.stringContaining(`run ${completedRunId}: entry ${runSeq} of the chain`),
      });
    } finally {
      await rt.close();
    }
  });

  it("a rewrite of the entries alone (the rows untouched) is caught by the state check, even with no checkpoint left", async () => {
    const c = await copyFixture();
    const k = seqOf("step.decision", completedRunId, "a");
    tamper(c.home, (db) => {
      db.prepare(
        `UPDATE events SET data = replace(data, '"rule_ids":["fs-ok"]', '"rule_ids":["sys-ok"]') WHERE seq = ?`,
      ).run(k);
      rechainFrom(db, k);
    });
    const report = await verify(c.open);
    expect(report.chain).toBeNull();
    expect(report.checkpoints).toEqual([]);
    expect(report.ok).toBe(false);
    expect(report.state).toEqual([
      {
        runId: completedRunId,
        stepId: "a",
        field: "decision",
        seq: k,
        message: `step ${completedRunId}/a: decision.rule_ids[0] is "fs-ok" in the steps table, but entry ${k} (step.decision) records "sys-ok"`,
      },
    ]);
  });

  it("replacing the home's key pair to re-sign does not launder it: the external checkpoint fails its signature", async () => {
    const c = await copyFixture();
    const cp = await checkpoint(c);
    const k = seqOf("run.created", rolledBackRunId);
    tamper(c.home, (db) => {
      db.prepare(
        "UPDATE events SET data = replace(data, 'agent:ledger', 'agent:other') WHERE seq = ?",
      ).run(k);
      rechainFrom(db, 1);
      // The row too: state agrees with the rewritten ledger, which the new key then signs.
      db.prepare("UPDATE runs SET principal = 'agent:other' WHERE id = ?").run(rolledBackRunId);
    });
    await rm(join(c.home, "checkpoints"), { recursive: true });
    await rm(join(c.home, "keys"), { recursive: true });
    await checkpoint(c, "attacker-checkpoint.txt"); // a new key is created, a new checkpoint signed
    const report = await verify(c.open, [cp.external]);
    expect(report.chain).toBeNull();
    expect(report.ok).toBe(false);
    expect(report.checkpoints).toContainEqual(
      expect.objectContaining({ source: cp.external.source, status: "bad_signature" }),
    );
  });

  it("blanking hashes does not make the store re-chain the database at open: the first edited entry is named", async () => {
    const c = await copyFixture();
    const k = seqOf("step.succeeded", completedRunId, "b");
    tamper(c.home, (db) => {
      db.prepare(
        "UPDATE events SET data = replace(data, '\"attempts\":1', '\"attempts\":2') WHERE seq = ?",
      ).run(k);
      db.prepare("UPDATE events SET hash = '' WHERE seq >= ?").run(k);
    });
    const report = await verify(c.open, []);
    expect(report.ok).toBe(false);
    expect(report.chain).toMatchObject({ seq: k, kind: "content_mismatch" });
  });
});

describe("forged checkpoints", () => {
  it("a checkpoint file whose root line was edited is bad_signature, and ok is false on an otherwise honest ledger", async () => {
    const c = await copyFixture();
    const cp = await checkpoint(c);
    const lines = cp.text.split("\n");
    const root = lines[2]!;
    lines[2] = `${root[0] === "A" ? "B" : "A"}${root.slice(1)}`;
    const forged = { source: join(c.dir, "forged.txt"), text: lines.join("\n") };
    expect(parseCheckpoint(forged.text).checkpoint.treeSize).toBe(cp.treeSize); // still well formed
    const report = await verify(c.open, [forged]);
    expect(report.chain).toBeNull();
    expect(report.state).toEqual([]);
    expect(report.ok).toBe(false);
    expect(report.checkpoints).toContainEqual(
      expect.objectContaining({
        source: forged.source,
        status: "bad_signature",
        treeSize: cp.treeSize,
      }),
    );
    expect(report.checkpoints).toContainEqual(expect.objectContaining({ status: "consistent" }));
    expect(report.problems.some((p) => p.startsWith(forged.source))).toBe(true);
  });

  it("a checkpoint of the true tree signed with another key is bad_signature", async () => {
    const c = await copyFixture();
    const honest = await checkpoint(c);
    const parsed = parseCheckpoint(honest.text).checkpoint;
    const other = generateLedgerKeyPair();
    const text = signCheckpoint(parsed, "airun-ledger", other.privateKeyPem);
    const forged = { source: join(c.dir, "impostor.txt"), text };
    await rm(join(c.home, "checkpoints"), { recursive: true });
    const report = await verify(c.open, [forged]);
    expect(report.chain).toBeNull();
    expect(report.ok).toBe(false);
    expect(report.checkpoints).toEqual([
      expect.objectContaining({ source: forged.source, status: "bad_signature" }),
    ]);
  });

  it("a checkpoint file that is not a checkpoint at all is bad_signature with no tree size", async () => {
    const c = await copyFixture();
    // The home's key exists (a verification does not create it; the first signature does).
    const rt = await c.open();
    try {
      await rt.ledgerPublicKey();
    } finally {
      await rt.close();
    }
    const junk = { source: join(c.dir, "junk.txt"), text: "hello\n" };
    const report = await verify(c.open, [junk]);
    expect(report.ok).toBe(false);
    expect(report.checkpoints).toEqual([
      expect.objectContaining({ source: junk.source, status: "bad_signature", treeSize: null }),
    ]);
  });

  it("a forged checkpoint dropped into <home>/checkpoints is checked too", async () => {
    const c = await copyFixture();
    const honest = await checkpoint(c);
    const other = generateLedgerKeyPair();
    await mkdir(join(c.home, "checkpoints"), { recursive: true });
    await writeFile(
      join(c.home, "checkpoints", "checkpoint-zzz.txt"),
      signCheckpoint(parseCheckpoint(honest.text).checkpoint, "airun-ledger", other.privateKeyPem),
    );
    const report = await verify(c.open);
    expect(report.ok).toBe(false);
    expect(report.checkpoints.map((x) => x.status).sort()).toEqual(["bad_signature", "consistent"]);
  });
});

describe("a large ledger", () => {
  it("verifies thousands of entries from hundreds of runs (past the 5000-row page), and still names a tampered entry on either side of the page boundary", async () => {
    const w = await workspace({ policy: POLICY });
    try {
      const specFile = await w.spec("many.yaml", FOUR_STEPS_PER_INPUT);
      const rt = await w.open();
      const started = Date.now();
      try {
        for (let batch = 0; batch < 20; batch++) {
          const views = await Promise.all(
            Array.from({ length: 16 }, (_, i) =>
              rt.startRun({ specFile, inputs: { n: String(batch * 16 + i) } }),
            ),
          );
          for (const v of views) expect(v.status).toBe("COMPLETED");
        }
      } finally {
        await rt.close();
      }
      const runMs = Date.now() - started;
      const total = readRows(w.home).length;
      expect(total).toBeGreaterThan(5000);

      const t0 = Date.now();
      const report = await verify(() => w.open());
      const verifyMs = Date.now() - t0;
      console.log(
        `large ledger: ${total} entries from 320 runs in ${runMs} ms; verified in ${verifyMs} ms`,
      );
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.entries).toBe(total);
      expect(verifyMs).toBeLessThan(15_000);

      tamper(w.home, (db) => db.prepare("UPDATE events SET at = at + 1 WHERE seq = 5001").run());
      expectChainBreak(await verify(() => w.open()), 5001, "content_mismatch");
      tamper(w.home, (db) => db.prepare("DELETE FROM events WHERE seq = 5000").run());
      expectChainBreak(await verify(() => w.open()), 5000, "missing");
    } finally {
      await w.cleanup();
    }
  });
});
