/**
 * @module Run chains and integration, pure: an event linked into its run's chain, a batch of
 * pending rows integrated after a head (refusing a row whose run link is broken, and what
 * follows it), and the run-chain walk naming the first broken link by run and number.
 */
import { describe, expect, it } from "vitest";
import { ChainVerifier, GENESIS_HASH, RunChainVerifier } from "../../src/core/ledger.js";
import {
  EMPTY_LEDGER_HEAD,
  integrateBatch,
  type LedgerHead,
  linkEntry,
  type PendingRow,
} from "../../src/store/ledger-chain.js";

/** Pending rows for `runs` (one entry each, in this order), linked as a store links them. */
function pending(runs: readonly (string | null)[]): PendingRow[] {
  const heads = new Map<string, LedgerHead>();
  return runs.map((runId, i) => {
    const head = heads.get(runId ?? "") ?? EMPTY_LEDGER_HEAD;
    const e = linkEntry({ runId, stepId: null, type: `t${i}`, at: i, data: { i } }, head);
    heads.set(runId ?? "", { seq: e.runSeq, hash: e.runHash });
    return { ...e, id: i + 1, runPrev: head.seq === 0 ? null : head.hash };
  });
}

describe("integration", () => {
  it("numbers pending rows after the head, in written order, into a chain that verifies, keeping every run chain", () => {
    const rows = pending(["a", "b", "a", null, "b", "a"]);
    expect(rows.map((r) => r.runSeq)).toEqual([1, 1, 2, 1, 2, 3]);
    const { updates, head, refused } = integrateBatch(rows, EMPTY_LEDGER_HEAD);
    expect(refused).toBeUndefined();
    expect(updates.map((u) => [u.id, u.seq])).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
    const chain = new ChainVerifier();
    const runs = new RunChainVerifier();
    rows.forEach((r, i) => {
      const row = { ...r, seq: updates[i]!.seq, hash: updates[i]!.hash };
      expect(chain.push(row)).toBeDefined();
      expect(runs.push(row)).toBe(true);
    });
    expect(chain.head).toBe(head.hash);
    expect(head.seq).toBe(6);
  });

  it("continues from an existing head, as a later batch does", () => {
    const rows = pending(["a", "a", "a", "a"]);
    const first = integrateBatch(rows.slice(0, 2), EMPTY_LEDGER_HEAD);
    const second = integrateBatch(rows.slice(2), first.head);
    const all = integrateBatch(rows, EMPTY_LEDGER_HEAD);
    expect(second.head).toEqual(all.head);
  });

  it("refuses a row whose run link does not verify, and everything after it", () => {
    const rows = pending(["a", "b", "a", "b"]);
    const tampered = rows.map((r) => (r.id === 3 ? { ...r, data: '{"i":99}' } : r));
    const { updates, refused, head } = integrateBatch(tampered, EMPTY_LEDGER_HEAD);
    expect(updates.map((u) => u.id)).toEqual([1, 2]);
    expect(head.seq).toBe(2);
    expect(refused).toContain("run a: entry 2 of the chain (t2) does not link");
    // A row whose predecessor in its chain is gone (runPrev null) is refused too.
    const orphan = rows.map((r) => (r.id === 4 ? { ...r, runPrev: null } : r));
    expect(integrateBatch(orphan, EMPTY_LEDGER_HEAD).updates.map((u) => u.id)).toEqual([1, 2, 3]);
  });
});

describe("RunChainVerifier", () => {
  const rows = pending(["a", "a", null, "a"]);

  it("names a missing entry, an entry out of order and a changed one by run and number", () => {
    const gap = new RunChainVerifier();
    for (const r of [rows[0]!, rows[3]!]) gap.push(r);
    expect(gap.problem).toMatchObject({ runId: "a", runSeq: 2, kind: "missing" });

    const order = new RunChainVerifier();
    for (const r of [rows[0]!, rows[1]!, rows[1]!]) order.push(r);
    expect(order.problem).toMatchObject({ runId: "a", runSeq: 3, kind: "out_of_order" });

    const changed = new RunChainVerifier();
    for (const r of [rows[0]!, { ...rows[1]!, type: "forged" }]) changed.push(r);
    expect(changed.problem).toMatchObject({ runId: "a", runSeq: 2, kind: "content_mismatch" });
    expect(changed.problem?.message).toContain("run a: entry 2 of the chain (forged)");

    const system = new RunChainVerifier();
    system.push({ ...rows[2]!, runHash: GENESIS_HASH });
    expect(system.problem?.message).toContain("the system chain: entry 1");
  });

  it("accepts every chain interleaved in any order that keeps each run's order", () => {
    const v = new RunChainVerifier();
    for (const r of [rows[2]!, rows[0]!, rows[1]!, rows[3]!]) expect(v.push(r)).toBe(true);
    expect(v.checked).toBe(4);
  });
});
