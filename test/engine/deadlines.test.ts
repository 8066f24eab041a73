import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { Deadlines } from "../../src/engine/state/deadlines.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Deadlines (one timer for every call of a run)", () => {
  it("fires each deadline once, never before it has passed", async () => {
    const d = new Deadlines();
    const fired: { name: string; late: number }[] = [];
    const start = performance.now();
    for (const [name, ms] of [
      ["c", 90],
      ["a", 30],
      ["b", 60],
    ] as const) {
      d.add(ms, () => fired.push({ name, late: performance.now() - start - ms }));
    }
    await sleep(200);
    expect(fired.map((f) => f.name)).toEqual(["a", "b", "c"]);
    for (const f of fired) expect(f.late).toBeGreaterThanOrEqual(0);
    d.idle();
  });

  it("never fires a removed deadline, and re-arms for an earlier one added later", async () => {
    const d = new Deadlines();
    const fired: string[] = [];
    const long = d.add(10_000, () => fired.push("long"));
    const removed = d.add(20, () => fired.push("removed"));
    d.remove(removed);
    const started = performance.now();
    d.add(40, () => fired.push("short"));
    await sleep(120);
    expect(fired).toEqual(["short"]);
    expect(performance.now() - started).toBeLessThan(5_000);
    d.remove(long);
    d.idle();
  });

  it("keeps timing out calls after sequential calls came and went on the same timer", async () => {
    const d = new Deadlines();
    for (let i = 0; i < 1000; i++) d.remove(d.add(50, () => expect.unreachable()));
    let fired = false;
    d.add(30, () => {
      fired = true;
    });
    await sleep(120);
    expect(fired).toBe(true);
    d.idle();
  });
});
