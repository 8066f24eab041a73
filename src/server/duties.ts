/**
 * @module The worker duties `airun serve` adds to the runtime's own (heartbeat, cancel polling,
 * the recovery sweep on a timer: `engine/runtime/worker.ts`), run once for the whole process:
 *
 * - **Approval expiry on time.** Every pending approval's deadline is known (read at start, then
 *   from `approval.requested` entries the event hub sees, written by any process); a timer set for
 *   the earliest fires a recovery sweep just after it, which applies the approval's `on_timeout`
 *   (`recovery/sweep.ts` claims a waiting run only when an approval was decided or expired).
 *   Nobody has to touch the run.
 * - **Abandoned sessions.** A session nobody called for its idle limit is rolled back, whether
 *   this server holds it (opened over HTTP) or no live process does (an agent that detached or
 *   died); one held by another live process is left to it.
 * - **Scheduled checkpoints**: a signed ledger checkpoint every `checkpointEveryMs` when the
 *   ledger moved since the last one.
 *
 * Webhook retries need nothing here: deliveries retry in the background of the process that made
 * the change, and a server keeps running long enough to finish them.
 */
import { ConflictError } from "../core/errors.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { EventHub } from "./event-hub.js";
import type { SessionTable } from "./session-table.js";

/** How soon the store is read again after an expiry sweep started (ms). */
const RECHECK_MS = 250;

/** What the duties do and how often. */
export interface DutyOptions {
  /** A session idle this long is rolled back (ms). */
  readonly sessionIdleMs: number;
  /** A signed checkpoint this often when the ledger moved (ms); 0: never. */
  readonly checkpointEveryMs: number;
  readonly log: (line: string) => void;
}

/** See module doc. */
export class ServeDuties {
  readonly #rt: Runtime;
  readonly #hub: EventHub;
  readonly #sessions: SessionTable;
  readonly #opts: DutyOptions;
  /** Pending approvals' deadlines by approval id (epoch ms). */
  readonly #deadlines = new Map<string, number>();
  readonly #timers: NodeJS.Timeout[] = [];
  #expiryTimer: NodeJS.Timeout | undefined;
  #unlisten: (() => void) | undefined;
  #firedAt = 0;
  #checkpointedAt = -1;
  #stopped = false;

  constructor(rt: Runtime, hub: EventHub, sessions: SessionTable, opts: DutyOptions) {
    this.#rt = rt;
    this.#hub = hub;
    this.#sessions = sessions;
    this.#opts = opts;
  }

  /** Starts every duty: reads the pending approvals' deadlines first. */
  async start(): Promise<void> {
    this.#unlisten = this.#hub.listen((e) => {
      const d = (e.data ?? {}) as Record<string, unknown>;
      if (e.type === "approval.requested" && typeof d.id === "string") {
        if (typeof d.expires_at === "number") this.#deadlines.set(d.id, d.expires_at);
        this.#plan();
      } else if (typeof d.approval === "string" && e.type.startsWith("approval.")) {
        this.#deadlines.delete(d.approval);
        this.#plan();
      }
    });
    await this.#syncDeadlines();
    const idleCheck = Math.max(250, Math.min(this.#opts.sessionIdleMs / 4, 30_000));
    this.#every(idleCheck, () => this.#rollBackIdleSessions());
    if (this.#opts.checkpointEveryMs > 0) {
      this.#every(this.#opts.checkpointEveryMs, () => this.#checkpoint());
    }
  }

  /** Stops every duty (the runtime's own stop with `Runtime.close`). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unlisten?.();
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    for (const t of this.#timers) clearInterval(t);
  }

  /** Reads every pending approval's deadline (at start, and after each expiry sweep). */
  async #syncDeadlines(): Promise<void> {
    this.#deadlines.clear();
    for (const a of await this.#rt.listApprovals()) {
      if (a.status === "PENDING" && a.expires_at !== null) this.#deadlines.set(a.id, a.expires_at);
    }
    this.#plan();
  }

  /** Sets the one expiry timer for the earliest deadline. */
  #plan(): void {
    if (this.#stopped) return;
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    if (this.#deadlines.size === 0) return;
    const next = Math.min(...this.#deadlines.values());
    // An approval expires once now > expires_at: fire just after (not again within RECHECK_MS).
    const now = Date.now();
    const wait = Math.max(0, next + 1 - now, this.#firedAt + RECHECK_MS - now);
    this.#expiryTimer = setTimeout(() => this.#expire(), Math.min(wait, 2 ** 31 - 1));
  }

  /**
   * A recovery sweep for the approvals past their deadline (sweeps may overlap: the runtime never
   * takes over a run this process already has), then a fresh look at the store shortly after:
   * an approval still pending past its deadline (its run was busy) is tried again.
   */
  #expire(): void {
    this.#firedAt = Date.now();
    this.#rt
      .recover()
      .then((done) => {
        for (const r of done) {
          if (!r.action.startsWith("skipped")) {
            this.#opts.log(`expiry: ${r.runId} ${r.action} → ${r.status}`);
          }
        }
      })
      .catch((err) => this.#opts.log(`expiry sweep failed: ${String(err)}`));
    if (this.#expiryTimer) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = setTimeout(() => {
      this.#syncDeadlines().catch((err) => this.#opts.log(`expiry: ${String(err)}`));
    }, RECHECK_MS);
  }

  async #rollBackIdleSessions(): Promise<void> {
    const now = Date.now();
    const limit = this.#opts.sessionIdleMs;
    // Sessions this server holds: idle since their last request.
    for (const entry of this.#sessions.idle(now)) {
      try {
        const view = await entry.session.rollback({ reason: "idle limit reached" });
        this.#opts.log(
          `session ${view.id} idle for ${Math.round((now - entry.lastUsed) / 1000)} s: rolled back`,
        );
      } catch (err) {
        this.#opts.log(`session ${entry.session.id}: idle rollback failed: ${String(err)}`);
      } finally {
        this.#sessions.forget(entry.session.id);
      }
    }
    // Sessions no live process holds, untouched for the idle limit.
    for (const run of await this.#rt.listRuns({ status: ["RUNNING"] })) {
      if (run.kind !== "session" || this.#sessions.holds(run.id)) continue;
      if (now - Date.parse(run.updated_at) < limit) continue;
      try {
        const s = await this.#rt.resumeSession(run.id);
        await s.rollback({ reason: "idle limit reached" });
        this.#opts.log(`session ${run.id} abandoned: rolled back`);
      } catch (err) {
        if (!(err instanceof ConflictError)) {
          this.#opts.log(`session ${run.id}: idle rollback failed: ${String(err)}`);
        }
      }
    }
  }

  async #checkpoint(): Promise<void> {
    if (this.#hub.head === this.#checkpointedAt) return;
    const head = this.#hub.head;
    const cp = await this.#rt.checkpointLedger();
    this.#checkpointedAt = head;
    this.#opts.log(`checkpoint: ${cp.treeSize} entries, saved ${cp.file}`);
  }

  #every(ms: number, duty: () => Promise<void>): void {
    let running = false;
    const t = setInterval(() => {
      if (this.#stopped || running) return;
      running = true;
      duty()
        .catch((err) => this.#opts.log(`duty failed: ${String(err)}`))
        .finally(() => {
          running = false;
        });
    }, ms);
    t.unref();
    this.#timers.push(t);
  }
}
