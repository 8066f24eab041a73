/**
 * @module Copying one store into another (`airun store copy --to postgres://…`): runs with their
 * steps and compensations, blobs, then the ledger entry by entry, through the `Store` interface
 * alone, so any dialect copies into any other. The ledger is appended again in order: the
 * target links each entry into its run's chain and integrates it itself, and every entry must
 * come out with the hashes the source stored (same seq, same canonical data, same previous
 * hash, same run link), or the copy stops — the two ledgers then have one root.
 *
 * The target must be empty. Nothing may be running on the source: a run whose lease is still
 * live is refused (stop the processes first); leases of interrupted runs are not copied, so the
 * target's workers recover them. A copy that stops halfway leaves a partial target: drop it (or
 * its schema) and copy again.
 */
import { AirunError } from "../core/errors.js";
import { isTerminal } from "../core/status.js";
import type { Store, WriteOp } from "./store.js";

/** What was copied. */
export interface CopyReport {
  readonly runs: number;
  readonly steps: number;
  readonly compensations: number;
  readonly blobs: number;
  readonly entries: number;
}

/** Rows written per batch of blobs or ledger entries. */
const PAGE = 500;

/**
 * Copies `source` into the empty `target` (see the module doc). `now` decides which leases are
 * live. Throws `STORE_COPY_REFUSED` when the target is not empty or a run is live on the
 * source, and `LEDGER_COPY_MISMATCH` when an entry would not copy with its own hash.
 */
export async function copyStore(source: Store, target: Store, now: number): Promise<CopyReport> {
  if ((await target.listRuns({ limit: 1 })).length > 0 || (await target.ledgerRows(0, 1)).length) {
    throw refused("the target store is not empty: copy into a new database (or schema)");
  }
  const runs = (await source.listRuns()).reverse(); // oldest first
  const live = runs.filter(
    (r) => !isTerminal(r.status) && r.leaseOwner !== null && (r.leaseExpiresAt ?? 0) > now,
  );
  if (live.length > 0) {
    throw refused(
      `${live.length} run(s) are held by a live process (${live
        .slice(0, 3)
        .map((r) => `${r.id} by ${r.leaseOwner}`)
        .join(", ")}): stop the processes using the source first`,
    );
  }
  let steps = 0;
  let compensations = 0;
  for (const run of runs) {
    const [runSteps, runComps] = await Promise.all([
      source.getSteps(run.id),
      source.getCompensations(run.id),
    ]);
    steps += runSteps.length;
    compensations += runComps.length;
    await target.commit([
      { op: "insertRun", run: { ...run, leaseOwner: null, leaseExpiresAt: null } },
      ...runSteps.map((step): WriteOp => ({ op: "putStep", step })),
      ...runComps.map((compensation): WriteOp => ({ op: "putCompensation", compensation })),
    ]);
  }
  let blobs = 0;
  for (let after = ""; ; ) {
    const ids = await source.blobIds(after, PAGE);
    if (ids.length === 0) break;
    const batch: WriteOp[] = [];
    for (const id of ids) {
      const bytes = await source.getBlob(id);
      if (bytes !== undefined) batch.push({ op: "putBlob", id, bytes });
    }
    await target.commit(batch);
    blobs += batch.length;
    after = ids.at(-1)!;
  }
  let entries = 0;
  for (let after = 0; ; ) {
    const rows = await source.ledgerRows(after, PAGE);
    if (rows.length === 0) break;
    await target.commit(
      rows.map(
        (r): WriteOp => ({
          op: "appendEvent",
          event: {
            runId: r.runId,
            stepId: r.stepId,
            type: r.type,
            at: r.at,
            data: JSON.parse(r.data),
          },
        }),
      ),
    );
    // The target's integrator numbers them (at once on SQLite, now on PostgreSQL).
    await target.integrateLedger();
    const copied = await target.ledgerRows(after, PAGE);
    rows.forEach((r, i) => {
      const c = copied[i];
      if (
        c?.seq !== r.seq ||
        c.hash !== r.hash ||
        c.runSeq !== r.runSeq ||
        c.runHash !== r.runHash
      ) {
        throw new AirunError(
          "LEDGER_COPY_MISMATCH",
          `ledger entry ${r.seq} copied as entry ${c?.seq ?? "?"} with hash ${c?.hash ?? "?"}, not ${r.hash}: the source ledger does not verify (run airun ledger verify)`,
          { seq: r.seq },
        );
      }
    });
    entries += rows.length;
    after = rows.at(-1)!.seq;
  }
  return { runs: runs.length, steps, compensations, blobs, entries };
}

function refused(message: string): AirunError {
  return new AirunError("STORE_COPY_REFUSED", message);
}
