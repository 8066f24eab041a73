/**
 * @module The clock the engine reads "now" from. Everything the engine records (run, step and
 * event times, approval expiry, budgets' elapsed time) asks the clock, so a test or a replay
 * can inject its own; timers that bound real waiting (call timeouts, retry delays, heartbeats)
 * run in real time.
 */

/** A source of the current time, in epoch milliseconds. */
export interface Clock {
  now(): number;
}

/** The system clock (`Date.now()`). */
export const systemClock: Clock = Object.freeze({ now: () => Date.now() });

/**
 * A clock that only moves when told to: for tests of expiry and elapsed-time rules.
 *
 * @example
 * const clock = new ManualClock(Date.parse("2030-01-01T00:00:00Z"));
 * clock.advance(25 * 3_600_000); // a day and an hour later
 */
export class ManualClock implements Clock {
  #now: number;
  constructor(start: number) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.#now += ms;
  }
  /** Sets the clock to `at` (epoch ms). */
  set(at: number): void {
    this.#now = at;
  }
}
