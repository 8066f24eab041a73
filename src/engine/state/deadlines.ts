/**
 * @module One timer for the deadlines of every capability call of a run. A timer per call
 * (`setTimeout` + `clearTimeout`) made Node create and destroy a timer list on every
 * sequential step; here a call only adds and removes an entry, and the single timer is re-armed
 * when it fires or when a new deadline comes before the one it is armed for.
 */
import { performance } from "node:perf_hooks";

/** A deadline being watched; pass it back to `remove`. */
export interface Deadline {
  readonly at: number;
  readonly fire: () => void;
}

/** Calls `fire` of each deadline once it has passed, unless it was removed before. */
export class Deadlines {
  readonly #entries = new Set<Deadline>();
  #timer: NodeJS.Timeout | undefined;
  /** When the timer is armed to fire (monotonic ms). */
  #armedAt = Number.POSITIVE_INFINITY;

  /** Watches a deadline `ms` from now; `fire` runs once it has passed. */
  add(ms: number, fire: () => void): Deadline {
    const entry: Deadline = { at: performance.now() + ms, fire };
    this.#entries.add(entry);
    if (this.#timer === undefined || entry.at < this.#armedAt) this.#arm(entry.at);
    // An idle timer is unref'd (it must not keep the process alive); a watched call does.
    else if (this.#entries.size === 1) this.#timer.ref();
    return entry;
  }

  /** Stops watching a deadline (its call ended). */
  remove(entry: Deadline): void {
    if (this.#entries.delete(entry) && this.#entries.size === 0) this.#timer?.unref();
  }

  /** Clears the timer once nothing is watched (the run left this process's hands). */
  idle(): void {
    if (this.#entries.size > 0 || this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedAt = at;
    this.#timer = setTimeout(() => this.#expire(), Math.max(1, Math.ceil(at - performance.now())));
  }

  #expire(): void {
    this.#timer = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    for (const entry of [...this.#entries]) {
      if (entry.at > now) continue;
      this.#entries.delete(entry);
      entry.fire();
    }
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.#entries) if (entry.at < next) next = entry.at;
    if (next !== Number.POSITIVE_INFINITY && (this.#timer === undefined || next < this.#armedAt)) {
      this.#arm(next);
    }
  }
}
