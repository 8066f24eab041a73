/**
 * @module Process identity for leases: who holds a run, and whether that holder is still alive.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/** Identity of this process as a lease owner: `host:pid:nonce`. */
export function newOwnerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
}

/**
 * Whether the process named by a lease owner id may still be running. A holder on another host
 * is presumed alive (its lease expiry decides); on this host, a signal-0 probe decides.
 */
export function isOwnerAlive(owner: string): boolean {
  const [host, pidText] = owner.split(":");
  if (host !== hostname()) return true;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A new run id: sortable by creation time, short enough to type. */
export function newRunId(now: number): string {
  return `${now.toString(36)}-${randomBytes(5).toString("hex")}`;
}
