/**
 * @module The ledger's entry format and hash chain (TraceVault), pure. An entry is one appended
 * event, written as RFC 8785 canonical JSON, and names the hash of the entry before it:
 *
 *     {"at":<ms>,"data":<canonical data>,"prev":"<hex>","run":<id|null>,"seq":<n>,"step":<id|null>,"type":"<t>"}
 *
 * An entry's hash is its RFC 6962 Merkle leaf hash, `SHA-256(0x00 ‖ entry)`; because each entry
 * contains the previous entry's hash (`prev`, 32 zero bytes before the first), these hashes form
 * the chain: changing, removing, inserting or reordering any entry breaks the link of the next.
 * One hash per entry thus serves both the chain and the Merkle tree. Entries are numbered 1, 2,
 * 3, … without gaps; entry `n` is Merkle leaf `n - 1`.
 *
 * Every entry also belongs to one RUN CHAIN, the entries of its run (or, for entries of no run,
 * the "system" chain), numbered 1, 2, 3, … in that chain and linked the same way:
 *
 *     {"at":<ms>,"data":<canonical data>,"run":<id|null>,"run_prev":"<hex>","run_seq":<n>,"step":<id|null>,"type":"<t>"}
 *
 * hashed as above into `run_hash`. A store writes the run link in the transaction that appends
 * the entry (only that run's writers wait for each other); the global number, `prev` and `hash`
 * are given later by the ledger's single integrator, in batches (on SQLite in the same
 * transaction). An entry without them yet is "pending". Global order keeps each run's order.
 */
import { leafHash, toHex } from "./merkle.js";

/** One ledger row as stored: the event's columns, its data as canonical JSON text, its chain hash. */
export interface LedgerRow {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  /** The event's data, RFC 8785 canonical JSON text. */
  readonly data: string;
  /** Hex hash of this entry (its Merkle leaf hash), named by the next entry's `prev`. */
  readonly hash: string;
  /** The entry's number in its run's chain (the system chain for entries of no run). */
  readonly runSeq: number;
  /** Hex hash of the entry's run-chain text (`runEntryText`), named by the next `run_prev`. */
  readonly runHash: string;
}

/** A ledger row the integrator has not yet numbered: no `seq`, `prev` or global `hash` yet. */
export type PendingLedgerRow = Omit<LedgerRow, "seq" | "hash">;

/** The `prev` of the first entry: 32 zero bytes, hex. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * The canonical entry text of a row, linked to the previous entry's hash. Keys are written in
 * canonical order; `JSON.stringify` of a well-formed string and of a safe integer is exactly its
 * RFC 8785 form, and `data` is canonical already.
 */
export function entryText(
  row: Pick<LedgerRow, "seq" | "at" | "type" | "runId" | "stepId" | "data">,
  prev: string,
): string {
  return `{"at":${row.at},"data":${row.data},"prev":"${prev}","run":${quoted(row.runId)},"seq":${row.seq},"step":${quoted(row.stepId)},"type":${quoted(row.type)}}`;
}

/** The run-chain text of an entry, linked to the previous entry of its chain (same canon). */
export function runEntryText(
  row: Pick<LedgerRow, "at" | "type" | "runId" | "stepId" | "data">,
  runSeq: number,
  runPrev: string,
): string {
  return `{"at":${row.at},"data":${row.data},"run":${quoted(row.runId)},"run_prev":"${runPrev}","run_seq":${runSeq},"step":${quoted(row.stepId)},"type":${quoted(row.type)}}`;
}

/** JSON strings of ids and types, which repeat across entries (bounded memo). */
const quotes = new Map<string, string>();

function quoted(s: string | null): string {
  if (s === null) return "null";
  let q = quotes.get(s);
  if (q === undefined) {
    if (quotes.size >= 4096) quotes.clear();
    q = JSON.stringify(s);
    quotes.set(s, q);
  }
  return q;
}

/** An entry's hash: its RFC 6962 leaf hash, hex (what the next entry's `prev` names). */
export function entryHash(text: string): string {
  return toHex(leafHash(text));
}

/** Why an entry fails verification. */
export type LedgerProblemKind = "missing" | "out_of_order" | "content_mismatch";

/** The first thing wrong with a ledger, naming the entry. */
export interface LedgerProblem {
  readonly seq: number;
  readonly kind: LedgerProblemKind;
  readonly message: string;
}

/**
 * Walks a ledger in order, recomputing every entry's hash from its content and the previous
 * entry's hash. Feed it rows with `push` (it keeps only the chain head; the caller decides what
 * to do with each leaf hash);
 * the first problem is kept and stops the walk, because everything after a broken link is
 * unproven.
 */
export class ChainVerifier {
  #prev = GENESIS_HASH;
  #expected = 1;
  #problem: LedgerProblem | undefined;

  /** Checks the next row: its leaf hash, or undefined once a problem was found. */
  push(row: LedgerRow): Uint8Array | undefined {
    if (this.#problem) return undefined;
    if (row.seq !== this.#expected) {
      const kind = row.seq > this.#expected ? "missing" : "out_of_order";
      const message =
        kind === "missing"
          ? `entry ${this.#expected} is missing (the next entry is ${row.seq})`
          : `entry ${row.seq} appears after entry ${this.#expected - 1}`;
      this.#problem = { seq: this.#expected, kind, message };
      return undefined;
    }
    const leaf = leafHash(entryText(row, this.#prev));
    const hash = toHex(leaf);
    if (hash !== row.hash) {
      this.#problem = {
        seq: row.seq,
        kind: "content_mismatch",
        message: `entry ${row.seq} (${row.type}): its content, its hash or its link to entry ${row.seq - 1} was changed (recomputed ${hash.slice(0, 16)}…, stored ${row.hash.slice(0, 16)}…)`,
      };
      return undefined;
    }
    this.#prev = hash;
    this.#expected++;
    return leaf;
  }

  /** Entries verified so far. */
  get size(): number {
    return this.#expected - 1;
  }

  /** Hash of the last verified entry (the chain head). */
  get head(): string {
    return this.#prev;
  }

  get problem(): LedgerProblem | undefined {
    return this.#problem;
  }
}

/** The first thing wrong with a run chain, naming the entry by run and run number. */
export interface RunChainProblem {
  readonly runId: string | null;
  readonly runSeq: number;
  readonly kind: LedgerProblemKind;
  readonly message: string;
}

/**
 * Walks every run chain at once: feed it rows in an order that keeps each run's order (global
 * order, then pending rows in the order they were written). It keeps each chain's head; the
 * first problem is kept and stops the walk. A chain must start at 1 and have no gap.
 */
export class RunChainVerifier {
  readonly #heads = new Map<string, { seq: number; hash: string }>();
  #problem: RunChainProblem | undefined;
  #checked = 0;

  /** Checks the next row of its chain; false once a problem was found. */
  push(row: PendingLedgerRow): boolean {
    if (this.#problem) return false;
    const key = row.runId ?? "";
    const head = this.#heads.get(key) ?? { seq: 0, hash: GENESIS_HASH };
    const chain = row.runId === null ? "the system chain" : `run ${row.runId}`;
    if (row.runSeq !== head.seq + 1) {
      const kind = row.runSeq > head.seq + 1 ? "missing" : "out_of_order";
      this.#problem = {
        runId: row.runId,
        runSeq: head.seq + 1,
        kind,
        message:
          kind === "missing"
            ? `${chain}: entry ${head.seq + 1} of the chain is missing (the next is ${row.runSeq})`
            : `${chain}: entry ${row.runSeq} of the chain appears after entry ${head.seq}`,
      };
      return false;
    }
    const hash = entryHash(runEntryText(row, row.runSeq, head.hash));
    if (hash !== row.runHash) {
      this.#problem = {
        runId: row.runId,
        runSeq: row.runSeq,
        kind: "content_mismatch",
        message: `${chain}: entry ${row.runSeq} of the chain (${row.type}): its content, its run hash or its link to the entry before it was changed (recomputed ${hash.slice(0, 16)}…, stored ${row.runHash.slice(0, 16)}…)`,
      };
      return false;
    }
    this.#heads.set(key, { seq: row.runSeq, hash });
    this.#checked++;
    return true;
  }

  /** Entries checked so far. */
  get checked(): number {
    return this.#checked;
  }

  get problem(): RunChainProblem | undefined {
    return this.#problem;
  }
}
