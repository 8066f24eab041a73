/**
 * The ledger's tamper matrix (issue 13, finding 5), through the built `airun`: one reference
 * run (four steps, the deletion approved by user:carol, a planned failure, a rollback), then
 * each recorded field of each table edited in a private copy of its database, one at a time,
 * and each part of its evidence pack; `airun ledger verify` or `airun ledger verify-pack --key`
 * must exit 7 and name what was changed. Fields deliberately not covered are listed with the
 * reason, never counted as detected. The table of cases and the totals are printed; the last
 * test asserts that nothing was missed.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entryHash, entryText, GENESIS_HASH } from "../../src/core/ledger.js";
import { tempRoot } from "../e2e/project.js";
import { airun } from "../support/cli.js";
import { tally } from "./tally.js";
import {
  copyOf,
  editDb,
  ledgerKeyFiles,
  query,
  type Reference,
  referenceRun,
  resignedPack,
  sql,
} from "./tamper-kit.js";

const root = tempRoot("attack-matrix");
afterAll(() => root.cleanup());

type Level = "DETAILED" | "BASIC" | "FORENSIC";
type Copy = ReturnType<typeof copyOf>;

/** What the report must name for an edit to count as detected. */
type Names =
  /** A state mismatch of this field (of this step, when given). */
  | { readonly field: string; readonly stepId?: string | null }
  /** A problem line matching this. */
  | RegExp;

/** One edit of the database, checked by `ledger verify`. */
interface DbCase {
  readonly table: string;
  readonly field: string;
  readonly edit: string;
  readonly level?: Level;
  readonly apply: (c: Copy) => void;
  readonly names: Names;
}

/** One edit of the evidence pack, checked by `ledger verify-pack --key`. */
interface PackCase {
  readonly table: string;
  readonly field: string;
  readonly edit: string;
  readonly apply: (pack: string, home: string) => string;
  readonly names: RegExp;
}

interface EventRow {
  seq: number;
  run_id: string | null;
  step_id: string | null;
  type: string;
  at: number;
  data: string;
  hash: string;
}

/** Seq of the first entry of `type` (of `stepId`, when given). */
function seqOf(home: string, type: string, stepId?: string): number {
  const rows = query<EventRow>(home, "SELECT * FROM events ORDER BY seq");
  const row = rows.find((r) => r.type === type && (stepId === undefined || r.step_id === stepId));
  if (!row) throw new Error(`no ${type} entry${stepId ? ` of ${stepId}` : ""}`);
  return row.seq;
}

/** Recomputes every entry hash from `fromSeq` on, as an attacker who knows the format would. */
function rechain(c: Copy, fromSeq = 1): void {
  editDb(c.home, (db) => {
    const rows = db.prepare("SELECT * FROM events ORDER BY seq").all() as EventRow[];
    const put = db.prepare("UPDATE events SET hash = ? WHERE seq = ?");
    let prev = GENESIS_HASH;
    for (const r of rows) {
      if (r.seq >= fromSeq) {
        const row = {
          seq: r.seq,
          at: r.at,
          type: r.type,
          runId: r.run_id,
          stepId: r.step_id,
          data: r.data,
        };
        prev = entryHash(entryText(row, prev));
        put.run(prev, r.seq);
      } else prev = r.hash;
    }
    return rows.length;
  });
}

const runSql =
  (statement: string) =>
  (c: Copy): void =>
    sql(c.home, statement, c.runId);
const stepSql =
  (step: string, set: string) =>
  (c: Copy): void =>
    sql(c.home, `UPDATE steps SET ${set} WHERE run_id = ? AND step_id = ?`, c.runId, step);
const compSql =
  (step: string, set: string) =>
  (c: Copy): void =>
    sql(c.home, `UPDATE compensations SET ${set} WHERE run_id = ? AND step_id = ?`, c.runId, step);

const DB_CASES: readonly DbCase[] = [
  // ---- runs ----
  {
    table: "runs",
    field: "status",
    edit: "ROLLED_BACK → COMPLETED",
    apply: runSql("UPDATE runs SET status = 'COMPLETED' WHERE id = ?"),
    names: { field: "status", stepId: null },
  },
  {
    table: "runs",
    field: "outcome",
    edit: "REMEDIATE → ACCEPT",
    apply: runSql("UPDATE runs SET outcome = 'ACCEPT' WHERE id = ?"),
    names: { field: "outcome", stepId: null },
  },
  {
    table: "runs",
    field: "reason",
    edit: "STEP_FAILED → COMPLETED",
    apply: runSql("UPDATE runs SET reason = 'COMPLETED' WHERE id = ?"),
    names: { field: "reason", stepId: null },
  },
  {
    table: "runs",
    field: "reason_detail",
    edit: "failing step boom → mk",
    apply: runSql(
      `UPDATE runs SET reason_detail = json_set(reason_detail, '$.step', 'mk') WHERE id = ?`,
    ),
    names: { field: "reason_detail", stepId: null },
  },
  {
    table: "runs",
    field: "principal",
    edit: "agent:bot → user:alice",
    apply: runSql("UPDATE runs SET principal = 'user:alice' WHERE id = ?"),
    names: { field: "principal", stepId: null },
  },
  {
    table: "runs",
    field: "inputs",
    edit: "greeting hello → goodbye",
    apply: runSql(`UPDATE runs SET inputs = '{"greeting":"goodbye"}' WHERE id = ?`),
    names: { field: "inputs", stepId: null },
  },
  {
    table: "runs",
    field: "inputs",
    edit: "greeting hello → goodbye (audit BASIC)",
    level: "BASIC",
    apply: runSql(`UPDATE runs SET inputs = '{"greeting":"goodbye"}' WHERE id = ?`),
    names: { field: "inputs", stepId: null },
  },
  {
    table: "runs",
    field: "name",
    edit: "reference → harmless",
    apply: runSql("UPDATE runs SET name = 'harmless' WHERE id = ?"),
    names: { field: "name", stepId: null },
  },
  {
    table: "runs",
    field: "spec_version",
    edit: "1 → 2",
    apply: runSql("UPDATE runs SET spec_version = '2' WHERE id = ?"),
    names: { field: "version", stepId: null },
  },
  {
    table: "runs",
    field: "kind",
    edit: "workflow → session",
    apply: runSql("UPDATE runs SET kind = 'session' WHERE id = ?"),
    names: { field: "kind", stepId: null },
  },
  {
    table: "runs",
    field: "spec_hash",
    edit: "first 4 hex digits zeroed",
    apply: runSql("UPDATE runs SET spec_hash = '0000' || substr(spec_hash, 5) WHERE id = ?"),
    names: { field: "spec_hash", stepId: null },
  },
  {
    table: "runs",
    field: "spec_text",
    edit: "old.txt → new.txt",
    apply: runSql(
      "UPDATE runs SET spec_text = replace(spec_text, 'old.txt', 'new.txt') WHERE id = ?",
    ),
    names: { field: "spec_text", stepId: null },
  },
  {
    table: "runs",
    field: "plan",
    edit: "old.txt → new.txt",
    apply: runSql("UPDATE runs SET plan = replace(plan, 'old.txt', 'new.txt') WHERE id = ?"),
    names: { field: "plan", stepId: null },
  },
  {
    table: "runs",
    field: "created_at",
    edit: "one day earlier",
    apply: runSql("UPDATE runs SET created_at = created_at - 86400000 WHERE id = ?"),
    names: { field: "created_at", stepId: null },
  },
  {
    table: "runs",
    field: "(row)",
    edit: "the run deleted with its steps and compensations",
    apply: (c) =>
      editDb(c.home, (db) => {
        db.prepare("DELETE FROM compensations WHERE run_id = ?").run(c.runId);
        db.prepare("DELETE FROM steps WHERE run_id = ?").run(c.runId);
        return db.prepare("DELETE FROM runs WHERE id = ?").run(c.runId).changes;
      }),
    names: /names run .* which does not exist/,
  },
  // ---- steps ----
  {
    table: "steps",
    field: "status",
    edit: "remove COMPENSATED → SUCCEEDED",
    apply: stepSql("remove", "status = 'SUCCEEDED'"),
    names: { field: "status", stepId: "remove" },
  },
  {
    table: "steps",
    field: "status",
    edit: "boom FAILED → SKIPPED",
    apply: stepSql("boom", "status = 'SKIPPED'"),
    names: { field: "status", stepId: "boom" },
  },
  {
    table: "steps",
    field: "status",
    edit: "boom FAILED → PENDING",
    apply: stepSql("boom", "status = 'PENDING'"),
    names: { field: "status", stepId: "boom" },
  },
  {
    table: "steps",
    field: "outputs",
    edit: "write: bytes 5 → 4096",
    apply: stepSql("write", `outputs = json_set(outputs, '$.bytes', 4096)`),
    names: { field: "outputs", stepId: "write" },
  },
  {
    table: "steps",
    field: "outputs",
    edit: "write: bytes 5 → 4096 (audit BASIC: hash only)",
    level: "BASIC",
    apply: stepSql("write", `outputs = json_set(outputs, '$.bytes', 4096)`),
    names: { field: "outputs", stepId: "write" },
  },
  {
    table: "steps",
    field: "inputs",
    edit: "write: content hello → HELLO",
    apply: stepSql("write", `inputs = json_set(inputs, '$.content', 'HELLO')`),
    names: { field: "inputs", stepId: "write" },
  },
  {
    table: "steps",
    field: "inputs",
    edit: "write: content hello → HELLO (audit BASIC)",
    level: "BASIC",
    apply: stepSql("write", `inputs = json_set(inputs, '$.content', 'HELLO')`),
    names: { field: "inputs", stepId: "write" },
  },
  {
    table: "steps",
    field: "decision",
    edit: "remove: REQUIRE_APPROVAL → ALLOW",
    apply: stepSql("remove", `decision = json_set(decision, '$.decision', 'ALLOW')`),
    names: { field: "decision", stepId: "remove" },
  },
  {
    table: "steps",
    field: "decision",
    edit: "remove: rule ids → [sys-ok]",
    apply: stepSql("remove", `decision = json_set(decision, '$.rule_ids', json('["sys-ok"]'))`),
    names: { field: "decision", stepId: "remove" },
  },
  {
    table: "steps",
    field: "decision",
    edit: "remove: approved by user:carol → user:mallory",
    apply: stepSql(
      "remove",
      `decision = json_set(decision, '$.approval.decided_by', 'user:mallory')`,
    ),
    names: { field: "decision", stepId: "remove" },
  },
  {
    table: "steps",
    field: "decision",
    edit: "remove: approval USED → REJECTED",
    apply: stepSql("remove", `decision = json_set(decision, '$.approval.status', 'REJECTED')`),
    names: { field: "decision", stepId: "remove" },
  },
  {
    table: "steps",
    field: "decision",
    edit: "boom: decision removed",
    apply: stepSql("boom", "decision = NULL"),
    names: { field: "decision", stepId: "boom" },
  },
  {
    table: "steps",
    field: "error",
    edit: "boom: message changed",
    apply: stepSql("boom", `error = json_set(error, '$.message', 'all fine')`),
    names: { field: "error", stepId: "boom" },
  },
  {
    table: "steps",
    field: "error",
    edit: "boom: error removed",
    apply: stepSql("boom", "error = NULL"),
    names: { field: "error", stepId: "boom" },
  },
  {
    table: "steps",
    field: "attempts",
    edit: "write: 1 → 3",
    apply: stepSql("write", "attempts = 3"),
    names: { field: "attempts", stepId: "write" },
  },
  {
    table: "steps",
    field: "context_hash",
    edit: "write: first 4 hex digits zeroed",
    apply: stepSql("write", "context_hash = '0000' || substr(context_hash, 5)"),
    names: { field: "context_hash", stepId: "write" },
  },
  {
    table: "steps",
    field: "(row)",
    edit: "write's row deleted (with its compensation)",
    apply: (c) =>
      editDb(c.home, (db) => {
        db.prepare("DELETE FROM compensations WHERE run_id = ? AND step_id = 'write'").run(c.runId);
        return db.prepare("DELETE FROM steps WHERE run_id = ? AND step_id = 'write'").run(c.runId)
          .changes;
      }),
    names: { field: "(row)", stepId: "write" },
  },
  // ---- compensations ----
  {
    table: "compensations",
    field: "status",
    edit: "write: DONE → ARMED",
    apply: compSql("write", "status = 'ARMED'"),
    names: { field: "compensation.status", stepId: "write" },
  },
  {
    table: "compensations",
    field: "status",
    edit: "remove: DONE → FAILED",
    apply: compSql("remove", "status = 'FAILED'"),
    names: { field: "compensation.status", stepId: "remove" },
  },
  {
    table: "compensations",
    field: "attempts",
    edit: "mk: 1 → 0",
    apply: compSql("mk", "attempts = 0"),
    names: { field: "compensation.attempts", stepId: "mk" },
  },
  {
    table: "compensations",
    field: "capability",
    edit: "write: io.fs.write_file → io.fs.delete",
    apply: compSql("write", "capability = 'io.fs.delete'"),
    names: { field: "compensation.capability", stepId: "write" },
  },
  {
    table: "compensations",
    field: "kind",
    edit: "write: builtin → declared",
    apply: compSql("write", "kind = 'declared'"),
    names: { field: "compensation.kind", stepId: "write" },
  },
  {
    table: "compensations",
    field: "undo",
    edit: "write: undo data changed (audit FORENSIC records it)",
    level: "FORENSIC",
    apply: compSql("write", `undo = json_set(undo, '$.path', '/etc/passwd')`),
    names: { field: "compensation.undo", stepId: "write" },
  },
  {
    table: "compensations",
    field: "blobs",
    edit: "remove: the deleted file's before-image id swapped (audit FORENSIC)",
    level: "FORENSIC",
    apply: compSql(
      "remove",
      `blobs = (SELECT json_group_object(key, '${"0".repeat(64)}') FROM json_each(compensations.blobs))`,
    ),
    names: { field: "compensation.blobs", stepId: "remove" },
  },
  {
    table: "compensations",
    field: "(row)",
    edit: "remove's compensation deleted",
    apply: (c) =>
      sql(c.home, "DELETE FROM compensations WHERE run_id = ? AND step_id = 'remove'", c.runId),
    names: { field: "compensation.(row)", stepId: "remove" },
  },
  // ---- events (the ledger itself) ----
  {
    table: "events",
    field: "data",
    edit: "approval.decided by user:carol → user:mallory",
    apply: (c) =>
      sql(
        c.home,
        `UPDATE events SET data = replace(data, '"user:carol"', '"user:mallory"') WHERE type = 'approval.decided'`,
      ),
    names: /^entry \d+ \(approval\.decided\): its content/,
  },
  {
    table: "events",
    field: "data",
    edit: "same, every later hash recomputed (the checkpoint catches it)",
    apply: (c) => {
      sql(
        c.home,
        `UPDATE events SET data = replace(data, '"user:carol"', '"user:mallory"') WHERE type = 'approval.decided'`,
      );
      rechain(c);
    },
    names: /history rewritten/,
  },
  {
    table: "events",
    field: "data",
    edit: "same, rechained, checkpoints deleted (the steps table contradicts it)",
    apply: (c) => {
      sql(
        c.home,
        `UPDATE events SET data = replace(data, '"user:carol"', '"user:mallory"') WHERE type = 'approval.decided'`,
      );
      rechain(c);
      removeCheckpoints(c);
    },
    names: { field: "decision", stepId: "remove" },
  },
  {
    table: "events",
    field: "type",
    edit: "boom's step.failed → step.skipped",
    apply: (c) =>
      sql(
        c.home,
        "UPDATE events SET type = 'step.skipped' WHERE seq = ?",
        seqOf(c.home, "step.failed", "boom"),
      ),
    names: /^entry \d+ \(step\.skipped\): its content/,
  },
  {
    table: "events",
    field: "at",
    edit: "one entry a second later",
    apply: (c) =>
      sql(
        c.home,
        "UPDATE events SET at = at + 1000 WHERE seq = ?",
        seqOf(c.home, "approval.decided"),
      ),
    names: /^entry \d+ \(approval\.decided\): its content/,
  },
  {
    table: "events",
    field: "run_id / step_id",
    edit: "boom's step.failed moved to step write",
    apply: (c) =>
      sql(
        c.home,
        "UPDATE events SET step_id = 'write' WHERE seq = ?",
        seqOf(c.home, "step.failed", "boom"),
      ),
    names: /^entry \d+ \(step\.failed\): its content/,
  },
  {
    table: "events",
    field: "hash",
    edit: "last entry's hash changed",
    apply: (c) =>
      sql(
        c.home,
        "UPDATE events SET hash = '0000' || substr(hash, 5) WHERE seq = (SELECT max(seq) FROM events)",
      ),
    names: /^entry \d+ \(run\.rolled_back\): its content/,
  },
  {
    table: "events",
    field: "order",
    edit: "approval.requested and run.waiting_approval swapped",
    apply: (c) =>
      editDb(c.home, (db) => {
        const k = seqOf(c.home, "approval.requested");
        const get = db.prepare("SELECT * FROM events WHERE seq = ?");
        const a = get.get(k) as EventRow;
        const b = get.get(k + 1) as EventRow;
        const put = db.prepare(
          "UPDATE events SET run_id = ?, step_id = ?, type = ?, at = ?, data = ?, hash = ? WHERE seq = ?",
        );
        put.run(b.run_id, b.step_id, b.type, b.at, b.data, b.hash, k);
        return put.run(a.run_id, a.step_id, a.type, a.at, a.data, a.hash, k + 1).changes;
      }),
    names: /^entry \d+ \(run\.waiting_approval\): its content/,
  },
  {
    table: "events",
    field: "(deletion)",
    edit: "approval.decided deleted",
    apply: (c) => sql(c.home, "DELETE FROM events WHERE type = 'approval.decided'"),
    names: /^entry \d+ is missing/,
  },
  {
    table: "events",
    field: "(deletion)",
    edit: "the last three entries deleted (truncated)",
    apply: (c) => sql(c.home, "DELETE FROM events WHERE seq > (SELECT max(seq) - 3 FROM events)"),
    names: /was truncated/,
  },
  {
    table: "events",
    field: "(insertion)",
    edit: "an approval.decided by user:mallory inserted, later entries renumbered",
    apply: (c) =>
      editDb(c.home, (db) => {
        const k = seqOf(c.home, "run.recovered");
        db.prepare("UPDATE events SET seq = -(seq + 1) WHERE seq >= ?").run(k);
        db.prepare("UPDATE events SET seq = -seq WHERE seq < 0").run();
        return db
          .prepare(
            "INSERT INTO events (seq, run_id, step_id, type, at, data, hash) SELECT ?, run_id, step_id, type, at, replace(data, 'user:carol', 'user:mallory'), hash FROM events WHERE type = 'approval.decided'",
          )
          .run(k).changes;
      }),
    names: /^entry \d+ \(approval\.decided\): its content/,
  },
];

/** A copy's saved checkpoints removed (the attacker cleans up after rechaining). */
function removeCheckpoints(c: Copy): void {
  rmSync(join(c.home, "checkpoints"), { recursive: true, force: true });
}

/** The pack's text with `from` replaced by `to` once (the edit must apply). */
function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0) throw new Error(`the pack has no ${JSON.stringify(from)}`);
  return `${text.slice(0, at)}${to}${text.slice(at + from.length)}`;
}

/** The pack's text with its checkpoint's tree size line (the second) one higher. */
function checkpointSizePlusOne(text: string): string {
  const start = text.indexOf('"checkpoint":"');
  const a = text.indexOf("\\n", start) + 2;
  const b = text.indexOf("\\n", a);
  const size = Number(text.slice(a, b));
  expect(Number.isSafeInteger(size) && size > 0).toBe(true);
  return `${text.slice(0, a)}${size + 1}${text.slice(b)}`;
}

const PACK_CASES: readonly PackCase[] = [
  {
    table: "pack",
    field: "run.status",
    edit: "ROLLED_BACK → COMPLETED in the file",
    apply: (t) => replaceOnce(t, '"status":"ROLLED_BACK"', '"status":"COMPLETED"'),
    names: /the pack's signature does not match its content/,
  },
  {
    table: "pack",
    field: "run.principal",
    edit: "agent:bot → user:alice in the file",
    apply: (t) =>
      replaceOnce(t, '"principal":"agent:bot","reason"', '"principal":"user:alice","reason"'),
    names: /the pack's signature does not match its content/,
  },
  {
    table: "pack",
    field: "entries[].entry",
    edit: "user:carol → user:mallory in an entry",
    apply: (t) => replaceOnce(t, '\\"by\\":\\"user:carol\\"', '\\"by\\":\\"user:mallor\\"'),
    names: /inclusion proof does not lead/,
  },
  {
    table: "pack",
    field: "entries[].proof",
    edit: "one hex digit of a proof",
    apply: (t) =>
      t.replace(/"proof":\["([0-9a-f])/, (_m, d: string) => `"proof":["${d === "0" ? "1" : "0"}`),
    names: /inclusion proof does not lead/,
  },
  {
    table: "pack",
    field: "checkpoint",
    edit: "tree size line changed",
    apply: (t) => checkpointSizePlusOne(t),
    names: /^checkpoint: /,
  },
  {
    table: "pack",
    field: "signature",
    edit: "one character",
    apply: (t) =>
      t.replace(/"signature":"(.)/, (_m, ch: string) => `"signature":"${ch === "A" ? "B" : "A"}`),
    names: /signature/,
  },
  {
    table: "pack",
    field: "public_key",
    edit: "another key embedded (and signed with it)",
    apply: (t) => t,
    names: /not by the trusted key/,
  },
  {
    table: "pack (re-signed)",
    field: "run.status",
    edit: "ROLLED_BACK → COMPLETED",
    apply: (t, h) =>
      resignedPack(t, h, (b) => {
        b.run.status = "COMPLETED";
      }),
    names: /^run\.status: the pack says "COMPLETED"/,
  },
  {
    table: "pack (re-signed)",
    field: "run.outcome",
    edit: "REMEDIATE → ACCEPT",
    apply: (t, h) =>
      resignedPack(t, h, (b) => {
        b.run.outcome = "ACCEPT";
      }),
    names: /^run\.outcome: the pack says "ACCEPT"/,
  },
  {
    table: "pack (re-signed)",
    field: "run.reason",
    edit: "STEP_FAILED → COMPLETED",
    apply: (t, h) =>
      resignedPack(t, h, (b) => {
        b.run.reason = "COMPLETED";
      }),
    names: /^run\.reason: the pack says "COMPLETED"/,
  },
  {
    table: "pack (re-signed)",
    field: "run.principal",
    edit: "agent:bot → user:alice",
    apply: (t, h) =>
      resignedPack(t, h, (b) => {
        b.run.principal = "user:alice";
      }),
    names: /^run\.principal: the pack says "user:alice"/,
  },
  {
    table: "pack (re-signed)",
    field: "run.name",
    edit: "reference → harmless",
    apply: (t, h) =>
      resignedPack(t, h, (b) => {
        b.run.name = "harmless";
      }),
    names: /^run\.name: the pack says "harmless"/,
  },
  {
    table: "pack (re-signed)",
    field: "run.spec_hash",
    edit: "another plan's hash",
    apply: (t, h) =>
      resignedPack(t, h, (b) => {
        b.run.spec_hash = "0".repeat(64);
      }),
    names: /^spec: the compiled plan hashes to/,
  },
  {
    table: "pack (re-signed)",
    field: "entries",
    edit: "the final run.rolled_back entry left out",
    apply: (t, h) =>
      resignedPack(t, h, (b) => {
        b.entries.pop();
      }),
    names: /^run\.status: the pack says "ROLLED_BACK", its entries say "COMPENSATING"/,
  },
  {
    table: "pack (re-signed)",
    field: "entries[].entry",
    edit: "user:carol → user:mallory in an entry",
    apply: (t, h) =>
      resignedPack(t, h, (b) => {
        for (const e of b.entries)
          e.entry = e.entry.replace('"by":"user:carol"', '"by":"user:mallor"');
      }),
    names: /inclusion proof does not lead/,
  },
];

/** Fields no check covers, on purpose, and why. */
const NOT_COVERED: readonly { table: string; field: string; why: string }[] = [
  {
    table: "runs",
    field: "idempotency_key",
    why: "a client's retry handle, not part of what happened; never recorded",
  },
  {
    table: "runs",
    field: "lease_owner, lease_expires_at",
    why: "which process holds the run right now: operational, changes without an entry",
  },
  {
    table: "runs",
    field: "updated_at",
    why: "stamped separately from the entries of the same change (differs by a few ms)",
  },
  {
    table: "runs",
    field: "meta",
    why: "governance bookkeeping (counters); its figures are recorded as budget.* entries, not compared",
  },
  {
    table: "runs",
    field: "outcome, reason_detail while COMPENSATING",
    why: "run.compensating records the reason only; the terminal entry records all three",
  },
  {
    table: "steps",
    field: "seq, started_at, finished_at",
    why: "undo order and timings: not recorded (entries carry their own times)",
  },
  {
    table: "steps",
    field: "inputs of an approval step or of a step refused before its intent",
    why: "their entries record the decision, not the inputs",
  },
  {
    table: "steps",
    field: "decision.approval.decided_at of an approval not used yet",
    why: "approval.decided is stamped with its own time, not the approval's; once used, the step.decision entry records it whole",
  },
  {
    table: "compensations",
    field: "inputs (declared compensation)",
    why: "resolved when armed; no entry records them",
  },
  {
    table: "compensations",
    field: "undo, blobs below audit level FORENSIC",
    why: "only FORENSIC intent entries record undo data (audit levels decide what is kept)",
  },
  {
    table: "compensations",
    field: "seq, updated_at; error of an in-doubt or unauthorized compensation",
    why: "not recorded (an in-doubt or unauthorized FAILED is allowed where the entries leave it open)",
  },
  {
    table: "blobs",
    field: "bytes",
    why: "not part of the ledger: sealed before-images fail to open when changed (BLOB_TAMPERED); policy texts are checked against their hash by verify-pack",
  },
];

type Result = {
  table: string;
  field: string;
  edit: string;
  checker: string;
  outcome: "detected" | "MISSED";
  detail: string;
};
const results: Result[] = [];
const t = tally("tamper", "tamper-matrix");

const refs = new Map<Level, Reference>();
let honestPack: string;
let publicKey: string;

beforeAll(async () => {
  const levels: Level[] = ["DETAILED", "BASIC", "FORENSIC"];
  const made = await Promise.all(levels.map((l) => referenceRun(root.path, l)));
  for (const [i, l] of levels.entries()) refs.set(l, made[i]!);
  const ref = refs.get("DETAILED")!;
  // Exporting saves a signed checkpoint under the home: every copy carries it.
  const exported = await ref.p.run(["ledger", "export", ref.runId, "--out", "pack.json"]);
  expect(exported.code, exported.stderr).toBe(0);
  honestPack = readFileSync(join(ref.p.dir, "pack.json"), "utf8");
  publicKey = ledgerKeyFiles(ref.home).publicKey;
}, 60_000);

/**
 * Whether a `verify --json` report (snake_case, as every JSON output) names what `names` asks
 * for; returns the matching line.
 */
function named(
  report: {
    problems: string[];
    state?: { field: string; step_id: string | null; message: string }[];
  },
  names: Names,
): string | undefined {
  if (names instanceof RegExp) return report.problems.find((p) => names.test(p));
  return report.state?.find(
    (s) => s.field === names.field && (names.stepId === undefined || s.step_id === names.stepId),
  )?.message;
}

describe("tamper matrix: each recorded field edited in the database, one at a time", () => {
  it.each(DB_CASES.map((c) => [`${c.table}.${c.field}: ${c.edit}`, c] as const))(
    "%s → ledger verify exits 7 and names it",
    async (_name, tc) => {
      const c = copyOf(refs.get(tc.level ?? "DETAILED")!);
      tc.apply(c);
      const r = await c.run(["ledger", "verify", "--json"]);
      let line: string | undefined;
      try {
        line = r.code === 7 ? named(JSON.parse(r.stdout), tc.names) : undefined;
      } catch {
        line = undefined;
      }
      results.push({
        table: tc.table,
        field: tc.field,
        edit: tc.edit,
        checker: "ledger verify",
        outcome: line ? "detected" : "MISSED",
        detail: line ?? `exit ${r.code}: ${(r.stdout + r.stderr).slice(0, 300)}`,
      });
    },
  );
});

describe("tamper matrix: the evidence pack", () => {
  it.each(PACK_CASES.map((c) => [`${c.table} ${c.field}: ${c.edit}`, c] as const))(
    "%s → verify-pack --key exits 7 and names it",
    async (_name, tc) => {
      const ref = refs.get("DETAILED")!;
      let text: string;
      if (tc.field === "public_key") {
        // A pack signed by another key: its own key embedded, checkpoint and pack signed with it.
        const other = copyOf(ref);
        rmKeys(other.home);
        const exported = await other.run(["ledger", "export", other.runId, "--out", "pack.json"]);
        expect(exported.code, exported.stderr).toBe(0);
        text = readFileSync(join(other.p.dir, "pack.json"), "utf8");
      } else text = tc.apply(honestPack, ref.home);
      expect(text).not.toBe(honestPack);
      const file = join(ref.p.dir, `case-${results.length}.json`);
      writeFileSync(file, text);
      const r = await airun(["ledger", "verify-pack", file, "--key", publicKey, "--json"], {
        cwd: ref.p.dir,
      });
      let line: string | undefined;
      try {
        line =
          r.code === 7
            ? (JSON.parse(r.stdout) as { problems: string[] }).problems.find((p) =>
                tc.names.test(p),
              )
            : undefined;
      } catch {
        line = undefined;
      }
      results.push({
        table: tc.table,
        field: tc.field,
        edit: tc.edit,
        checker: "verify-pack --key",
        outcome: line ? "detected" : "MISSED",
        detail: line ?? `exit ${r.code}: ${(r.stdout + r.stderr).slice(0, 300)}`,
      });
    },
  );
});

function rmKeys(home: string): void {
  rmSync(join(home, "keys", "ledger"), { recursive: true, force: true });
}

describe("tamper matrix: totals", () => {
  it("detects every edit: missed = 0 (the table of cases is printed)", () => {
    const width = (xs: string[]) => Math.max(...xs.map((x) => x.length));
    const wt = width(results.map((r) => r.table));
    const wf = width(results.map((r) => r.field));
    const lines = results.map(
      (r) =>
        `${r.outcome.padEnd(8)} ${r.table.padEnd(wt)}  ${r.field.padEnd(wf)}  ${r.edit}  [${r.checker}]  ${r.detail.split("\n")[0]?.slice(0, 140)}`,
    );
    for (const r of results) {
      t.attempt(`${r.table}.${r.field} ${r.edit} [${r.checker}]`, r.outcome !== "detected");
    }
    const detected = results.filter((r) => r.outcome === "detected").length;
    const missed = results.length - detected;
    const uncovered = NOT_COVERED.map((n) => `not covered  ${n.table}.${n.field}: ${n.why}`);
    console.log(
      [
        "tamper matrix",
        ...lines,
        ...uncovered,
        `tried ${results.length}, detected ${detected}, missed ${missed}; not covered on purpose: ${NOT_COVERED.length}`,
      ].join("\n"),
    );
    expect(results).toHaveLength(DB_CASES.length + PACK_CASES.length);
    expect(results.filter((r) => r.outcome === "MISSED")).toEqual([]);
  });
});
