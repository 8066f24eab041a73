/**
 * @module Taking a run over: a run may be claimed by this process only if its holder is gone
 * (no lease, an expired lease, or a dead owner on this host) — never from a live process.
 */
import type { RunRecord } from "../../store/store.js";
import type { EngineContext } from "../context.js";
import { isOwnerAlive } from "../owner.js";

/**
 * Claims a run for this process if its holder is gone: free, expired, or a dead owner on this
 * host. Returns the claimed run, or undefined if a live process holds it.
 */
export async function claimRun(ctx: EngineContext, run: RunRecord): Promise<RunRecord | undefined> {
  const now = ctx.clock.now();
  const holder = run.leaseOwner;
  if (holder && holder !== ctx.owner) {
    const expired = run.leaseExpiresAt !== null && run.leaseExpiresAt < now;
    if (!expired && isOwnerAlive(holder)) return undefined;
  }
  return ctx.store.acquireLease(
    run.id,
    ctx.owner,
    ctx.settings.leaseTtlMs,
    now,
    holder ?? undefined,
  );
}
