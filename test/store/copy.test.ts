/**
 * `copyStore` between two real SQLite files (the PostgreSQL direction runs through the CLI in
 * test/e2e/postgres.test.ts): everything arrives with the same ledger; a non-empty target, a run
 * held by a live process and a tampered source entry are refused.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ChainVerifier } from "../../src/core/ledger.js";
import { copyStore } from "../../src/store/copy.js";
import { openStore } from "../../src/store/open-store.js";
import type { Store } from "../../src/store/store.js";
import { blobOf, makeCompensation, makeEvent, makeRun, makeStep, sameBytes } from "./fixtures.js";
import { useTempFolder, withSecondConnection } from "./sqlite-files.js";

const temp = useTempFolder("airun-copy-");
const T0 = 1_900_000_000_000;

async function twoStores(): Promise<[Store, Store, string]> {
  const file = join(temp.home(), "a.db");
  const a = await openStore({ url: `sqlite:${file}`, home: temp.home() });
  const b = await openStore({ url: `sqlite:${join(temp.home(), "b.db")}`, home: temp.home() });
  return [a, b, file];
}

async function fill(store: Store): Promise<{ runId: string; blob: ReturnType<typeof blobOf> }> {
  const run = makeRun({ status: "COMPLETED" });
  const blob = blobOf("before-image");
  await store.commit([
    { op: "insertRun", run },
    { op: "putStep", step: makeStep(run.id) },
    { op: "putCompensation", compensation: makeCompensation(run.id) },
    { op: "putBlob", ...blob },
    ...Array.from({ length: 7 }, (_, i) => ({
      op: "appendEvent" as const,
      event: makeEvent(run.id, { data: { i } }),
    })),
  ]);
  return { runId: run.id, blob };
}

describe("copyStore", () => {
  it("copies runs, steps, compensations, blobs and the ledger with every entry's own hash", async () => {
    const [a, b] = await twoStores();
    try {
      const { runId, blob } = await fill(a);
      const report = await copyStore(a, b, T0);
      expect(report).toEqual({ runs: 1, steps: 1, compensations: 1, blobs: 1, entries: 7 });
      expect(await b.getRun(runId)).toEqual(await a.getRun(runId));
      expect(await b.getSteps(runId)).toEqual(await a.getSteps(runId));
      expect(await b.getCompensations(runId)).toEqual(await a.getCompensations(runId));
      expect(sameBytes(await b.getBlob(blob.id), blob.bytes)).toBe(true);
      const rows = await b.ledgerRows(0, 100);
      expect(rows).toEqual(await a.ledgerRows(0, 100));
      const verifier = new ChainVerifier();
      for (const r of rows) verifier.push(r);
      expect(verifier.problem).toBeUndefined();
      await expect(copyStore(a, b, T0)).rejects.toMatchObject({ code: "STORE_COPY_REFUSED" });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("refuses while a live process holds a run, and stops at a tampered entry", async () => {
    const [a, b, file] = await twoStores();
    try {
      const held = makeRun({ status: "RUNNING" });
      await a.commit([{ op: "insertRun", run: held }]);
      await a.acquireLease(held.id, "host:1:x", 60_000, T0);
      await expect(copyStore(a, b, T0)).rejects.toMatchObject({
        code: "STORE_COPY_REFUSED",
        message: expect.stringContaining("held by a live process"),
      });
      await a.releaseLease(held.id, "host:1:x");
      await fill(a);
      withSecondConnection(file, (db) =>
        db.prepare("UPDATE events SET data = ? WHERE seq = 3").run('{"i":99}'),
      );
      await expect(copyStore(a, b, T0)).rejects.toMatchObject({ code: "LEDGER_COPY_MISMATCH" });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
