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
}

/** The `prev` of the first entry: 32 zero bytes, hex. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * The canonical entry text of a row, linked to the previous entry's hash. Keys are written in
 * canonical order; `JSON.stringify` of a well-formed string and of a safe integer is exactly its
 * RFC 8785 form, and `data` is canonical already.
 */
export function entryText(row: Omit<LedgerRow, "hash">, prev: string): string {
  return `{"at":${row.at},"data":${row.data},"prev":"${prev}","run":${quoted(row.runId)},"seq":${row.seq},"step":${quoted(row.stepId)},"type":${quoted(row.type)}}`;
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
