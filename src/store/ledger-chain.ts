/**
 * @module How a store writes the ledger (`core/ledger.ts`), in every dialect. An appended event
 * becomes, inside the transaction that appends it, the next entry of its RUN CHAIN (numbered
 * after its run's last entry, its data as canonical JSON, hashed with that entry's run hash as
 * `run_prev`): only writers of the same run wait for each other. The INTEGRATOR, one at a time
 * per ledger, then gives pending entries their global number and chain hash (the Merkle leaf)
 * after the ledger's head, in batches: on SQLite in the appending transaction itself, on
 * PostgreSQL shortly after commit (`integrateBatch`). The events a database held before the
 * ledger existed are chained once, by the migration that brought the ledger, and the entries
 * written before run chains existed get their run links from the migration that brought those.
 */
import { AirunError } from "../core/errors.js";
import { canonicalJson } from "../core/hash.js";
import {
  entryHash,
  entryText,
  GENESIS_HASH,
  type PendingLedgerRow,
  runEntryText,
} from "../core/ledger.js";
import type { EventRow } from "./rows.js";
import type { EventRecord } from "./store.js";

/** The last entry of a chain (the ledger's, or a run's): its number and hash. */
export interface LedgerHead {
  readonly seq: number;
  readonly hash: string;
}

/** The head of an empty chain: 0 and the genesis hash. */
export const EMPTY_LEDGER_HEAD: LedgerHead = Object.freeze({ seq: 0, hash: GENESIS_HASH });

/** An event as the entry of its run chain that follows `runHead`. */
export interface LinkedEntry {
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly type: string;
  readonly at: number;
  /** Canonical JSON text. */
  readonly data: string;
  readonly runSeq: number;
  readonly runHash: string;
}

/** An event as the next entry of its run's chain (whose head is `runHead`). */
export function linkEntry(event: Omit<EventRecord, "seq">, runHead: LedgerHead): LinkedEntry {
  const entry = {
    at: event.at,
    type: event.type,
    runId: event.runId,
    stepId: event.stepId,
    data: canonicalData(event.data),
  };
  const runSeq = runHead.seq + 1;
  return { ...entry, runSeq, runHash: entryHash(runEntryText(entry, runSeq, runHead.hash)) };
}

/** The ledger's new head once `entry` is integrated after `head`: its global number and hash. */
export function integrateEntry(
  entry: Pick<LinkedEntry, "at" | "type" | "runId" | "stepId" | "data">,
  head: LedgerHead,
): LedgerHead {
  const seq = head.seq + 1;
  return { seq, hash: entryHash(entryText({ ...entry, seq }, head.hash)) };
}

/**
 * An event as the row the SQLite store appends (integrated at once): the values of its row in
 * column order (seq, run_id, step_id, type, at, data, hash, run_seq, run_hash), and the heads
 * of the ledger and of the run's chain after it.
 */
export function chainEntry(
  event: Omit<EventRecord, "seq">,
  head: LedgerHead,
  runHead: LedgerHead = EMPTY_LEDGER_HEAD,
): { row: unknown[]; head: LedgerHead; runHead: LedgerHead } {
  const e = linkEntry(event, runHead);
  const next = integrateEntry(e, head);
  return {
    row: [next.seq, e.runId, e.stepId, e.type, e.at, e.data, next.hash, e.runSeq, e.runHash],
    head: next,
    runHead: { seq: e.runSeq, hash: e.runHash },
  };
}

/** A pending row as the integrator reads it: its row id, and its run link's predecessor hash. */
export interface PendingRow extends PendingLedgerRow {
  readonly id: number;
  /** The run hash of the entry before it in its chain (genesis for the first), as stored. */
  readonly runPrev: string | null;
}

/**
 * Integrates a batch of pending rows (in written order, which keeps each run's order) after the
 * ledger's `head`: each must link to its chain's previous entry (a row whose run link does not
 * verify is not integrated, nor is anything after it: integrating it would launder it). Returns
 * what to write (row id → number and hash), the new head, and the problem that stopped it.
 */
export function integrateBatch(
  rows: readonly PendingRow[],
  head: LedgerHead,
): { updates: { id: number; seq: number; hash: string }[]; head: LedgerHead; refused?: string } {
  const updates: { id: number; seq: number; hash: string }[] = [];
  let h = head;
  for (const r of rows) {
    const prev = r.runSeq === 1 ? GENESIS_HASH : r.runPrev;
    const expected = prev === null ? null : entryHash(runEntryText(r, r.runSeq, prev));
    if (expected !== r.runHash) {
      const chain = r.runId === null ? "the system chain" : `run ${r.runId}`;
      return {
        updates,
        head: h,
        refused: `${chain}: entry ${r.runSeq} of the chain (${r.type}) does not link to the entry before it; it stays pending`,
      };
    }
    h = integrateEntry(r, h);
    updates.push({ id: r.id, seq: h.seq, hash: h.hash });
  }
  return { updates, head: h };
}

/** Canonical JSON text of event data (`undefined` is a caller bug). */
function canonicalData(data: unknown): string {
  if (data === undefined) {
    throw new AirunError("STORE_INVALID_RECORD", 'field "data" is not a JSON value', {
      field: "data",
    });
  }
  return canonicalJson(data);
}

/** What chaining the existing events needs from the migration's connection. */
export interface EventRewriter {
  /**
   * Every event with its chain hash, in seq order (migrations after `ledger_hash_chain`).
   */
  readEntries(): Promise<(EventRow & { hash: string })[]>;
  /** Gives the event numbered `seq` its run link. */
  linkEvent(seq: number, runSeq: number, runHash: string): Promise<void>;
  /** Every event, in seq order. */
  readEvents(): Promise<EventRow[]>;
  /** Gives the event numbered `seq` a new number, canonical data and chain hash. */
  rewriteEvent(
    seq: number,
    entry: { readonly seq: number; readonly data: string; readonly hash: string },
  ): Promise<void>;
}

/**
 * Chains the events written before the ledger existed (schema 1), oldest first: their data is
 * rewritten in canonical form (same meaning), they are renumbered from 1 without gaps
 * (AUTOINCREMENT may have left some; seqs only move down and rows are visited in ascending
 * order, so no two collide) and each gets its hash. Runs inside the migration's transaction;
 * later, a blanked hash is tampering for `ledger verify` to report.
 */
export async function chainExistingEvents(db: EventRewriter): Promise<void> {
  let prev = GENESIS_HASH;
  let seq = 0;
  for (const r of await db.readEvents()) {
    seq += 1;
    const row = {
      seq,
      at: r.at,
      type: r.type,
      runId: r.run_id,
      stepId: r.step_id,
      data: canonicalData(JSON.parse(r.data)),
    };
    prev = entryHash(entryText(row, prev));
    await db.rewriteEvent(r.seq, { seq, data: row.data, hash: prev });
  }
}

/**
 * Gives every entry written before run chains existed its run link, walking the ledger in
 * order (which is each run's order): numbers and hashes of the ledger are left as they are, so
 * its root and every checkpoint signed before stay valid. Runs inside the migration's
 * transaction.
 */
export async function linkExistingRunChains(db: EventRewriter): Promise<void> {
  const heads = new Map<string, LedgerHead>();
  for (const r of await db.readEntries()) {
    const key = r.run_id ?? "";
    const head = heads.get(key) ?? EMPTY_LEDGER_HEAD;
    const runSeq = head.seq + 1;
    const row = {
      at: Number(r.at),
      type: r.type,
      runId: r.run_id,
      stepId: r.step_id,
      data: r.data,
    };
    const runHash = entryHash(runEntryText(row, runSeq, head.hash));
    heads.set(key, { seq: runSeq, hash: runHash });
    await db.linkEvent(Number(r.seq), runSeq, runHash);
  }
}
