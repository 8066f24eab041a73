/**
 * @module The worker duties of a runtime, run once per process however many runs, sessions or
 * requests it serves: the heartbeat (renews this process's leases in one statement and extends
 * the lease deadline of every run it holds), cancel requests recorded by other processes
 * (the heartbeat's statement returns them, and a cheap read every `engine.cancel_poll` while
 * this process holds runs, so a cancel reaches a run within a fraction of a second), and — for
 * long-lived processes (`airun serve`, `airun worker`) — a recovery sweep on a timer.
 * One-shot commands run the heartbeat and the cancel poll only.
 */
import type { EngineContext } from "../context.js";
import type { ActiveRuns } from "./active-runs.js";

/** What the worker runs besides the heartbeat. */
export interface WorkerOptions {
  /** Run a recovery sweep this often (ms); absent: never (one-shot commands). */
  readonly sweepIntervalMs?: number;
}

/** The worker of one runtime (see module doc). */
export class Worker {
  readonly #ctx: EngineContext;
  readonly #runs: ActiveRuns;
  readonly #sweep: () => Promise<unknown>;
  readonly #timers: NodeJS.Timeout[] = [];
  #beating: Promise<void> | undefined;
  #sweeping: Promise<unknown> | undefined;
  #stopped = false;

  constructor(
    ctx: EngineContext,
    runs: ActiveRuns,
    sweep: () => Promise<unknown>,
    options: WorkerOptions = {},
  ) {
    this.#ctx = ctx;
    this.#runs = runs;
    this.#sweep = sweep;
    // At most half the lease's time to live: one late beat never lets a lease lapse.
    this.#every(Math.min(ctx.settings.heartbeatMs, ctx.settings.leaseTtlMs / 2), () => this.beat());
    this.#every(ctx.settings.cancelPollMs, () => this.pollCancels());
    if (options.sweepIntervalMs !== undefined && options.sweepIntervalMs > 0) {
      this.#every(options.sweepIntervalMs, () => this.sweep());
    }
  }

  /**
   * One heartbeat: renews every lease this process holds and honours cancel requests made by
   * other processes. Overlapping beats share one.
   */
  beat(): Promise<void> {
    this.#beating ??= this.#beat().finally(() => {
      this.#beating = undefined;
    });
    return this.#beating;
  }

  async #beat(): Promise<void> {
    const ctx = this.#ctx;
    const now = ctx.clock.now();
    for (const renewal of await ctx.store.renewLeases(ctx.owner, ctx.settings.leaseTtlMs, now)) {
      const state = this.#runs.get(renewal.runId);
      if (state && renewal.cancelRequestedBy !== null) state.cancel(renewal.cancelRequestedBy);
    }
  }

  /**
   * Hands the runs this process holds the cancel requests recorded on them (one read); also
   * called at once when the store says a cancel was asked (`Store.listen`).
   */
  async pollCancels(): Promise<void> {
    if (this.#runs.held().next().done) return;
    for (const r of await this.#ctx.store.cancelRequests(this.#ctx.owner)) {
      if (r.cancelRequestedBy !== null) this.#runs.get(r.runId)?.cancel(r.cancelRequestedBy);
    }
  }

  /** A recovery sweep, unless one is running already (then that one). */
  sweep(): Promise<unknown> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  /** Stops every duty and waits for the ones in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    await Promise.allSettled([this.#beating, this.#sweeping]);
  }

  #every(ms: number, duty: () => Promise<unknown>): void {
    const timer = setInterval(() => {
      if (!this.#stopped) duty().catch(() => undefined);
    }, ms);
    timer.unref();
    this.#timers.push(timer);
  }
}
