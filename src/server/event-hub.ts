/**
 * @module The server's one watch on the ledger: a poll of the entries after the last sequence it
 * saw (every `intervalMs`, one indexed read), which wakes every event stream and tells the
 * worker duties what happened (an approval asked for, decided, expired). It sees what every
 * process writes to the store, not only this one.
 *
 * Streams never take entries from the hub: each reads the ledger after its own cursor and waits
 * for the hub's generation to move (`changedSince`), so a stream resumed with `Last-Event-ID`
 * and a live one are the same loop, in ledger order, without a lost or repeated entry.
 */
import type { LedgerEvent } from "../engine/runtime/runtime.js";

/** How the hub reads the ledger. */
export type ReadAfter = (
  afterSeq: number,
  filter: { readonly runId?: string; readonly limit?: number },
) => Promise<LedgerEvent[]>;

const PAGE = 500;

/** See module doc. */
export class EventHub {
  readonly #read: ReadAfter;
  readonly #intervalMs: number;
  readonly #listeners = new Set<(e: LedgerEvent) => void>();
  #waiters: (() => void)[] = [];
  #head = 0;
  #generation = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #stopped = false;

  constructor(read: ReadAfter, intervalMs = 100) {
    this.#read = read;
    this.#intervalMs = intervalMs;
  }

  /** The last ledger sequence the hub has seen. */
  get head(): number {
    return this.#head;
  }

  /** Increases each time the hub sees new entries. */
  get generation(): number {
    return this.#generation;
  }

  /** Finds the ledger's head (O(log n) reads) and starts polling. */
  async start(): Promise<void> {
    this.#head = await findHead(this.#read);
    this.#schedule();
  }

  /** Stops polling and wakes every waiter (streams then see `stopped` and end). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#wake();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Calls `fn` with every new entry, in order; returns the unsubscribe function. */
  listen(fn: (e: LedgerEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Resolves once the generation passed `gen` (at once if it already has), or the hub stops. */
  changedSince(gen: number, signal?: AbortSignal): Promise<void> {
    if (this.#generation !== gen || this.#stopped || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      // The abort listener goes when the wait ends: a long-lived stream waits thousands of times.
      const done = () => {
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.push(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** Polls now (tests and the duties may ask for a fresh look), sharing a poll in progress. */
  poll(): Promise<void> {
    this.#polling ??= this.#poll().finally(() => {
      this.#polling = undefined;
    });
    return this.#polling;
  }

  async #poll(): Promise<void> {
    for (;;) {
      const events = await this.#read(this.#head, { limit: PAGE });
      if (events.length === 0) return;
      this.#head = events[events.length - 1]!.seq;
      this.#generation += 1;
      for (const e of events) {
        for (const fn of this.#listeners) {
          try {
            fn(e);
          } catch {
            // a listener's failure is its own
          }
        }
      }
      this.#wake();
      if (events.length < PAGE) return;
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.poll()
        .catch(() => undefined)
        .finally(() => this.#schedule());
    }, this.#intervalMs);
    this.#timer.unref();
  }
}

/** The largest sequence in the ledger (0 when empty), by doubling then bisecting. */
async function findHead(read: ReadAfter): Promise<number> {
  const any = async (after: number) => (await read(after, { limit: 1 })).length > 0;
  if (!(await any(0))) return 0;
  let lo = 0; // entries exist after lo
  let hi = 1;
  while (await any(hi)) {
    lo = hi;
    hi *= 2;
  }
  // entries after lo, none after hi: the head is in (lo, hi]
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await any(mid)) lo = mid;
    else hi = mid;
  }
  return hi;
}
