/**
 * The composition root: a runtime built over parts a caller supplies (its own store instance,
 * an in-memory clock) behaves as one built from config, leaves what it did not build to the
 * caller, and two runtimes over one SQLite file keep leases and the ledger chain between them.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/core/clock.js";
import { ConflictError } from "../../src/core/errors.js";
import { Runtime } from "../../src/engine/runtime/runtime.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { type Workspace, workspace } from "./helpers.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

const APPROVE_THEN_WRITE = `
name: approve_then_write
version: 1
principal: agent:planner
steps:
  - id: gate
    type: approval
    message: "Write the report?"
    timeout: 1h
    on_timeout: reject
  - id: write
    capability: io.fs.write_file
    depends_on: [gate]
    inputs: { path: report.txt, content: "report" }
`;

const SLOW = `
name: slow
version: 1
principal: agent:planner
steps:
  - id: nap
    capability: sys.sleep
    inputs: { ms: 1500 }
  - id: note
    capability: io.fs.append_file
    depends_on: [nap]
    inputs: { path: notes.log, content: "x\\n" }
`;

describe("a runtime composed from supplied parts", () => {
  it("stamps everything with an injected clock, expires approvals on its time, and leaves an injected store open", async () => {
    w = await workspace();
    const start = Date.parse("2030-01-01T00:00:00.000Z");
    const clock = new ManualClock(start);
    const store = await SqliteStore.open({ file: join(w.dir, "own", "airun.db") });
    try {
      const rt = await Runtime.open({ cwd: w.dir, env: {}, store, clock });
      let runId: string;
      try {
        const view = await rt.startRun({ specFile: await w.spec("wf.yaml", APPROVE_THEN_WRITE) });
        runId = view.id;
        expect(view.status).toBe("WAITING_APPROVAL");
        expect(view.created_at).toBe("2030-01-01T00:00:00.000Z");
        const [approval] = await rt.listApprovals({ runId });
        expect(approval?.expires_at).toBe(start + 3_600_000);
        // Two hours later on the injected clock, with no real time passing: expired.
        clock.advance(2 * 3_600_000);
        const after = await rt.resume(runId);
        expect(after.status).toBe("ROLLED_BACK");
        expect(after.reason).toBe("APPROVAL_EXPIRED");
        const events = await rt.events(runId);
        expect(events.every((e) => e.at === start || e.at === start + 2 * 3_600_000)).toBe(true);
        expect(events.find((e) => e.type === "approval.expired")?.at).toBe(start + 7_200_000);
      } finally {
        await rt.close();
      }
      // The runtime did not build the store, so it did not close it: it still answers.
      expect((await store.getRun(runId))?.status).toBe("ROLLED_BACK");
      expect((await store.ledgerRows(0, 1_000)).length).toBeGreaterThan(5);
    } finally {
      await store.close();
    }
    // Nothing was written to the home the config names: the injected store was used.
    expect(() => readFileSync(join(w.home, "airun.db"))).toThrow();
  });
});

describe("two runtimes over one SQLite file", () => {
  it("never let one take over a run the other holds, and extend one ledger chain together", async () => {
    w = await workspace();
    const a = await w.open();
    const b = await w.open();
    try {
      const spec = await w.spec("slow.yaml", SLOW);
      // A runs a slow run; while it holds the lease, B can neither resume nor recover it.
      const held = a.startRun({ specFile: spec });
      let runId = "";
      for (let i = 0; i < 100 && runId === ""; i++) {
        await new Promise((r) => setTimeout(r, 20));
        runId = (await b.listRuns({ status: ["RUNNING"] }))[0]?.id ?? "";
      }
      expect(runId).not.toBe("");
      await expect(b.resume(runId)).rejects.toBeInstanceOf(ConflictError);
      const recovered = await b.recover();
      expect(recovered).toEqual([{ runId, action: "skipped_live_owner", status: "RUNNING" }]);
      // Both write at once: twenty runs each, interleaved commits into one ledger.
      const echo = await w.spec(
        "echo.yaml",
        "name: echo\nversion: 1\nprincipal: agent:x\nsteps:\n  - id: e\n    capability: sys.echo\n    inputs: { n: 1 }\n",
      );
      const many = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).startRun({ specFile: echo })),
      );
      expect(many.every((v) => v.status === "COMPLETED")).toBe(true);
      expect((await held).status).toBe("COMPLETED");
      expect(readFileSync(join(w.ws, "notes.log"), "utf8")).toBe("x\n");
      const [ra, rb] = [await a.verifyLedger(), await b.verifyLedger()];
      expect(ra.ok).toBe(true);
      expect(rb.ok).toBe(true);
      expect(ra.root).toBe(rb.root);
      expect(ra.entries).toBe(rb.entries);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
