/**
 * @module The runs this process holds right now: runs being driven, open sessions, and runs
 * claimed by a command in progress (resume, decide). The worker renews their leases and hands
 * them the cancel requests other processes record; the façade asks it who holds what.
 */
import { type DriveResult, drive } from "../run/driver.js";
import type { Session } from "../sessions/session.js";
import type { RunState } from "../state/run-state.js";

/** The runs of one runtime (see module doc). */
export class ActiveRuns {
  readonly #driving = new Map<string, RunState>();
  readonly #sessions = new Map<string, { state: RunState; session: Session }>();
  readonly #claimed = new Set<string>();

  /** Drives a run, tracked as active while it runs. */
  async drive(state: RunState): Promise<DriveResult> {
    const id = state.run.id;
    this.#driving.set(id, state);
    try {
      return await drive(state);
    } finally {
      if (this.#driving.get(id) === state) this.#driving.delete(id);
    }
  }

  /** Every run state held (driven, or an open session's). */
  *held(): IterableIterator<RunState> {
    yield* this.#driving.values();
    for (const s of this.#sessions.values()) {
      if (!this.#driving.has(s.state.run.id)) yield s.state;
    }
  }

  /** The state of a held run, if this process holds it. */
  get(runId: string): RunState | undefined {
    return this.#driving.get(runId) ?? this.#sessions.get(runId)?.state;
  }

  /** An open session of this runtime now holds its run's lease. */
  trackSession(state: RunState, session: Session): void {
    this.#sessions.set(state.run.id, { state, session });
  }

  untrackSession(runId: string): void {
    this.#sessions.delete(runId);
  }

  /** The open session of this runtime holding `runId`, if any. */
  session(runId: string): Session | undefined {
    return this.#sessions.get(runId)?.session;
  }

  /** Open sessions (detached when the runtime closes). */
  sessions(): Session[] {
    return [...this.#sessions.values()].map((s) => s.session);
  }

  /** A command of this runtime claimed the run (resume, decide); sessions wait for it. */
  claim(runId: string): void {
    this.#claimed.add(runId);
  }

  unclaim(runId: string): void {
    this.#claimed.delete(runId);
  }

  isClaimed(runId: string): boolean {
    return this.#claimed.has(runId);
  }
}
