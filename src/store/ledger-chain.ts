/**
 * @module How a store writes the ledger (`core/ledger.ts`), in every dialect: an appended event
 * becomes the entry that follows the ledger's head (numbered after it, its data as canonical
 * JSON, hashed with the head's hash as `prev`), inside the transaction that appends it; and the
 * events a database held before the ledger existed are chained once, by the migration that
 * brought the ledger.
 */
import { AirunError } from "../core/errors.js";
import { canonicalJson } from "../core/hash.js";
import { entryHash, entryText, GENESIS_HASH } from "../core/ledger.js";
import type { EventRow } from "./rows.js";
import type { EventRecord } from "./store.js";

/** The ledger's last entry: its seq and chain hash. */
export interface LedgerHead {
  readonly seq: number;
  readonly hash: string;
}

/** The head of an empty ledger: seq 0 and the genesis hash. */
export const EMPTY_LEDGER_HEAD: LedgerHead = Object.freeze({ seq: 0, hash: GENESIS_HASH });

/**
 * An event as the ledger entry that follows `head`: the values of its row in column order (seq,
 * run_id, step_id, type, at, data, hash; data as canonical JSON, numbered after `head` and
 * hashed with `head`'s hash as `prev`) and the ledger's new head.
 */
export function chainEntry(
  event: Omit<EventRecord, "seq">,
  head: LedgerHead,
): { row: unknown[]; head: LedgerHead } {
  const entry = {
    seq: head.seq + 1,
    at: event.at,
    type: event.type,
    runId: event.runId,
    stepId: event.stepId,
    data: canonicalData(event.data),
  };
  const hash = entryHash(entryText(entry, head.hash));
  return {
    row: [entry.seq, entry.runId, entry.stepId, entry.type, entry.at, entry.data, hash],
    head: { seq: entry.seq, hash },
  };
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
