/**
 * @module The claim loop of `airun worker`: claims runs that want a worker (`Store.claimRuns`:
 * one statement, `FOR UPDATE SKIP LOCKED` on PostgreSQL, the lease epoch bumped), at most
 * `concurrency` at a time, settles what a previous holder left in flight and drives each one
 * like any run of this process (the heartbeat, cancel polling and recovery sweeps are the
 * runtime's `Worker` duties). It wakes on the store's notifications (`Store.listen`: a run
 * queued, an approval decided, a lease handed back) and polls every `pollMs` as well: a
 * notification only shortens the wait, correctness never depends on it.
 *
 * Lifecycle (an explicit state): RUNNING → DRAINING (stop claiming; runs in flight may finish
 * within `drainTimeoutMs`) → STOPPED (leases of runs still in flight are handed back: released,
 * so any worker claims them at once; their next commit here is refused by the fencing token).
 */
import { ConflictError } from "../../core/errors.js";
import { isTerminal } from "../../core/status.js";
import type { RunRecord } from "../../store/store.js";
import type { EngineContext } from "../context.js";
import { prepareResume } from "../recovery/prepare-resume.js";
import { RunState } from "../state/run-state.js";
import type { ActiveRuns } from "./active-runs.js";

/** The states of a worker loop. */
export const WorkerLoopState = {
  RUNNING: "RUNNING",
  DRAINING: "DRAINING",
  STOPPED: "STOPPED",
} as const;
export type WorkerLoopState = (typeof WorkerLoopState)[keyof typeof WorkerLoopState];

/** How a worker loop runs. */
export interface WorkerLoopOptions {
  /** Runs driven at once (at least 1). */
  readonly concurrency: number;
  /** Claim attempts at least this often without a wakeup (ms). */
  readonly pollMs: number;
  /** On drain, how long runs in flight may take to finish before their leases go back (ms). */
  readonly drainTimeoutMs: number;
  /** Stop (and drain) once nothing is left to claim and nothing is in flight. */
  readonly untilIdle?: boolean;
  /** Told what the loop does (claimed, finished, handed back, failed), for logs. */
  readonly onEvent?: (event: WorkerLoopEvent) => void;
}

/** One thing a worker loop did. */
export interface WorkerLoopEvent {
  readonly type: "claimed" | "finished" | "lost" | "handed_back" | "error";
  readonly runId: string;
  /** The run's status after it (finished), or its epoch (claimed). */
  readonly detail: string;
}

/** What a worker loop did, once stopped. */
export interface WorkerLoopSummary {
  readonly claimed: number;
  readonly finished: number;
  readonly lost: number;
  readonly handedBack: number;
}

/** The claim loop (see module doc). One per `airun worker` process. */
export class WorkerLoop {
  readonly #ctx: EngineContext;
  readonly #runs: ActiveRuns;
  readonly #opts: WorkerLoopOptions;
  readonly #inFlight = new Map<string, Promise<void>>();
  #state: WorkerLoopState = WorkerLoopState.RUNNING;
  #wake: (() => void) | undefined;
  #nudged = false;
  #claimed = 0;
  #finished = 0;
  #lost = 0;
  #handedBack = 0;

  constructor(ctx: EngineContext, runs: ActiveRuns, opts: WorkerLoopOptions) {
    this.#ctx = ctx;
    this.#runs = runs;
    this.#opts = { ...opts, concurrency: Math.max(1, Math.trunc(opts.concurrency)) };
  }

  get state(): WorkerLoopState {
    return this.#state;
  }

  /** Claims now rather than at the next poll (a notification arrived). */
  nudge(): void {
    this.#nudged = true;
    this.#wake?.();
  }

  /** Stops claiming; `run()` then lets runs in flight finish or hands their leases back. */
  drain(): void {
    if (this.#state === WorkerLoopState.RUNNING) this.#state = WorkerLoopState.DRAINING;
    this.#wake?.();
  }

  /** Runs until drained (or idle, with `untilIdle`); resolves with what it did. */
  async run(): Promise<WorkerLoopSummary> {
    const { concurrency, pollMs } = this.#opts;
    while (this.#state === WorkerLoopState.RUNNING) {
      this.#nudged = false;
      let got = 0;
      const free = concurrency - this.#inFlight.size;
      if (free > 0) {
        try {
          got = await this.#claim(free);
        } catch (err) {
          this.#emit("error", "", (err as Error).message);
        }
      }
      if (this.#opts.untilIdle && got === 0 && this.#inFlight.size === 0) break;
      // A full batch may mean more are waiting: claim again at once if a slot is free.
      if (got === free && this.#inFlight.size < concurrency) continue;
      if (!this.#nudged) await this.#sleep(pollMs);
    }
    if (this.#state === WorkerLoopState.RUNNING) this.#state = WorkerLoopState.DRAINING;
    await this.#drain();
    this.#state = WorkerLoopState.STOPPED;
    return {
      claimed: this.#claimed,
      finished: this.#finished,
      lost: this.#lost,
      handedBack: this.#handedBack,
    };
  }

  async #claim(limit: number): Promise<number> {
    const ctx = this.#ctx;
    const runs = await ctx.store.claimRuns(
      ctx.owner,
      ctx.settings.leaseTtlMs,
      limit,
      ctx.clock.now(),
    );
    for (const run of runs) {
      // A recovery sweep of this process reserved the run (it saw the run's last holder gone)
      // before this claim committed: that sweep takes the lease as this process's own and
      // drives the run. Driving it here as well would be a second driver with the same owner
      // and epoch, which no fencing token can tell apart.
      if (this.#runs.get(run.id) || this.#runs.isClaimed(run.id)) continue;
      this.#claimed++;
      this.#emit("claimed", run.id, `epoch ${run.leaseEpoch}`);
      this.#runs.claim(run.id);
      const done = this.#drive(run).finally(() => {
        this.#runs.unclaim(run.id);
        this.#inFlight.delete(run.id);
        this.#wake?.(); // a slot is free
      });
      this.#inFlight.set(run.id, done);
    }
    return runs.length;
  }

  /** Settles what a previous holder left in flight, then drives the run as far as it goes. */
  async #drive(run: RunRecord): Promise<void> {
    const ctx = this.#ctx;
    try {
      const state = await RunState.load(ctx, run);
      await prepareResume(state);
      await this.#runs.drive(state);
      this.#finished++;
      this.#emit("finished", run.id, state.run.status);
      // An unfinished run this process still holds (a cancel it could not finish, a drive
      // that stopped early) goes back to the queue.
      if (!isTerminal(state.run.status)) await ctx.store.releaseLease(run.id, ctx.owner);
    } catch (err) {
      if (err instanceof ConflictError) {
        // Another worker holds the run now (this one was paused past its lease): it stops
        // without writing, and the holder carries on.
        this.#lost++;
        this.#emit("lost", run.id, err.message);
        return;
      }
      this.#emit("error", run.id, (err as Error).message);
      await ctx.store.releaseLease(run.id, ctx.owner).catch(() => undefined);
    }
  }

  /** Lets runs in flight finish within the drain timeout, then hands the rest back. */
  async #drain(): Promise<void> {
    if (this.#inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#opts.drainTimeoutMs);
    });
    await Promise.race([Promise.allSettled([...this.#inFlight.values()]), timeout]);
    clearTimeout(timer);
    const ctx = this.#ctx;
    for (const runId of [...this.#inFlight.keys()]) {
      // Released: any worker claims it now; this process's next commit for it is refused.
      await ctx.store.releaseLease(runId, ctx.owner).catch(() => undefined);
      this.#handedBack++;
      this.#emit("handed_back", runId, "");
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        done();
      };
    });
  }

  #emit(type: WorkerLoopEvent["type"], runId: string, detail: string): void {
    this.#opts.onEvent?.({ type, runId, detail });
  }
}
