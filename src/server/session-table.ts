/**
 * @module The sessions this server drives for HTTP clients: an agent opens one (`POST
 * /api/v1/sessions`) and sends calls by id; the `Session` objects live here between requests,
 * with the time of their last request (the idle limit, `duties.ts`). A session opened elsewhere
 * (or before a restart) is taken over on first use with `Runtime.resumeSession`. Only the
 * principal that opened a session may drive it (`NOT_YOUR_SESSION`), whatever its token's scopes.
 */
import { AirunError } from "../core/errors.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { Session } from "../engine/sessions/session.js";

/** A held session and when it was last used. */
export interface HeldSession {
  readonly session: Session;
  lastUsed: number;
  readonly idleMs: number;
}

/** See module doc. */
export class SessionTable {
  readonly #rt: Runtime;
  readonly #defaultIdleMs: number;
  readonly #held = new Map<string, HeldSession>();

  constructor(rt: Runtime, defaultIdleMs: number) {
    this.#rt = rt;
    this.#defaultIdleMs = defaultIdleMs;
  }

  /** Keeps a session this server opened. */
  add(session: Session, idleMs = this.#defaultIdleMs): void {
    this.#held.set(session.id, { session, lastUsed: Date.now(), idleMs });
  }

  /** The session `id` for `principal` (taking it over if this server does not hold it). */
  async get(id: string, principal: string): Promise<Session> {
    let held = this.#held.get(id);
    if (!held) {
      const run = await this.#rt.getRun(id);
      mustOwn(run.principal, principal, id);
      const session = await this.#rt.resumeSession(id);
      held = { session, lastUsed: Date.now(), idleMs: this.#defaultIdleMs };
      this.#held.set(id, held);
    }
    mustOwn(held.session.principal, principal, id);
    held.lastUsed = Date.now();
    return held.session;
  }

  /** Marks a session as used now (at the end of a long call too). */
  touch(id: string): void {
    const held = this.#held.get(id);
    if (held) held.lastUsed = Date.now();
  }

  holds(id: string): boolean {
    return this.#held.has(id);
  }

  forget(id: string): void {
    this.#held.delete(id);
  }

  /** Held sessions idle past their limit (not those waiting for a person's approval). */
  idle(now: number): HeldSession[] {
    return [...this.#held.values()].filter(
      (h) => now - h.lastUsed >= h.idleMs && h.session.status === "RUNNING",
    );
  }
}

function mustOwn(owner: string, principal: string, id: string): void {
  if (owner !== principal) {
    throw new AirunError(
      "NOT_YOUR_SESSION",
      `session ${id} belongs to ${owner}, not ${principal}`,
      {
        runId: id,
      },
    );
  }
}
