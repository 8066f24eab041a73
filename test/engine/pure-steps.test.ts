/**
 * Pure steps (a capability that computes in memory, `pure`) write their completion with the
 * run's next commit instead of one of their own (`RunState.defer`). What must hold: fewer
 * commits, yet nothing is reported, and nothing leaves the process, on state not yet written —
 * every progress event is durable when it is reported, a call that is not pure starts only after
 * the completions before it are written, a session's pure call is written before its caller
 * hears of it — and a crash before the commit only means computing the same outputs again.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import type { ProgressEvent } from "../../src/engine/context.js";
import { Runtime } from "../../src/engine/runtime/runtime.js";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { type Workspace, workspace } from "./helpers.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

const echo = (id: string, after: string | null) =>
  `  - id: ${id}\n${after ? `    depends_on: [${after}]\n` : ""}    capability: sys.echo\n    inputs: { text: "${id} \${{ inputs.k }}" }\n`;

const PURE3 = `name: pure3\nversion: 1\nprincipal: agent:x\ninputs:\n  k: { type: number }\nsteps:\n${echo("a", null)}${echo("b", "a")}${echo("c", "b")}`;

/** Two pure steps, then a call that is not pure (a ten-minute sleep), then a pure one. */
const MIXED = `name: mixed\nversion: 1\nprincipal: agent:x\ninputs:\n  k: { type: number }\nsteps:\n${echo("a", null)}${echo("b", "a")}  - id: nap\n    depends_on: [b]\n    capability: sys.sleep\n    timeout: 15m\n    inputs: { ms: 600000 }\n${echo("c", "nap")}`;

/** A runtime over a store of its own that counts its physical commits. */
async function counting(file: string, onProgress?: (e: ProgressEvent) => void) {
  let commits = 0;
  const store = await SqliteStore.open({
    file,
    hooks: {
      afterCommit: () => {
        commits += 1;
      },
    },
  });
  const rt = await Runtime.open({
    cwd: w.dir,
    env: {},
    store,
    ...(onProgress ? { onProgress } : {}),
  });
  return {
    rt,
    commits: () => commits,
    close: async () => {
      await rt.close();
      await store.close();
    },
  };
}

describe("pure steps", () => {
  it("cost no commit of their own: a run of three is written in two (its start and its end)", async () => {
    w = await workspace();
    const c = await counting(join(w.dir, "own.db"));
    try {
      const spec = await w.spec("pure3.yaml", PURE3);
      await c.rt.startRun({ specFile: spec, inputs: { k: 0 } });
      const before = c.commits();
      const view = await c.rt.startRun({ specFile: spec, inputs: { k: 1 } });
      expect(view.status).toBe("COMPLETED");
      expect(c.commits() - before).toBe(2);
      expect(view.steps.map((s) => [s.id, s.status, s.outputs])).toEqual([
        ["a", "SUCCEEDED", { text: "a 1" }],
        ["b", "SUCCEEDED", { text: "b 1" }],
        ["c", "SUCCEEDED", { text: "c 1" }],
      ]);
      const events = (await c.rt.events(view.id)).map((e) => `${e.type} ${e.stepId ?? ""}`.trim());
      // Every entry is there, in the order things happened.
      expect(events.filter((e) => e.startsWith("step.succeeded"))).toEqual([
        "step.succeeded a",
        "step.succeeded b",
        "step.succeeded c",
      ]);
      expect(events.at(-1)).toBe("run.completed");
      expect((await c.rt.verifyLedger()).ok).toBe(true);
    } finally {
      await c.close();
    }
  });

  it("report each event only once it is durable, and are written before a call that is not pure starts", async () => {
    w = await workspace();
    const file = join(w.dir, "own.db");
    // Read from another connection, synchronously, at the moment each event is reported.
    let reader: Database.Database | undefined;
    const notDurable: string[] = [];
    const c = await counting(file, (e) => {
      const found = reader!
        .prepare("SELECT count(*) AS n FROM events WHERE run_id = ? AND type = ? AND step_id IS ?")
        .get(e.runId, e.type, e.stepId ?? null) as { n: number };
      if (found.n === 0) notDurable.push(`${e.type} ${e.stepId ?? ""}`);
    });
    reader = new Database(file, { readonly: true });
    try {
      const started = c.rt.startRun({
        specFile: await w.spec("mixed.yaml", MIXED),
        inputs: { k: 2 },
      });
      // While the sleep runs, the two pure steps before it are written.
      let durable: Record<string, string> = {};
      for (let i = 0; i < 500 && durable.b !== "SUCCEEDED"; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const rows = reader.prepare("SELECT step_id, status FROM steps").all() as {
          step_id: string;
          status: string;
        }[];
        durable = Object.fromEntries(rows.map((r) => [r.step_id, r.status]));
      }
      expect(durable).toMatchObject({ a: "SUCCEEDED", b: "SUCCEEDED", nap: "PENDING" });
      const runId = (await c.rt.listRuns({ status: ["RUNNING"] }))[0]?.id ?? "";
      const cancelled = await c.rt.cancel(runId, "user:test");
      await started.catch(() => undefined);
      expect(cancelled.status).toBe("ROLLED_BACK");
      expect(cancelled.steps.find((s) => s.id === "nap")?.status).not.toBe("SUCCEEDED");
      expect(notDurable).toEqual([]);
    } finally {
      reader.close();
      await c.close();
    }
  });

  it("in a session, are written before the call returns to its caller", async () => {
    w = await workspace();
    const file = join(w.dir, "own.db");
    const c = await counting(file);
    const reader = new Database(file, { readonly: true });
    try {
      const s = await c.rt.openSession({ principal: "agent:x" });
      const before = c.commits();
      expect(await s.call("sys.echo", { said: "hi" })).toEqual({ said: "hi" });
      expect(c.commits() - before).toBe(1);
      const rows = reader.prepare("SELECT status, outputs FROM steps").all() as {
        status: string;
        outputs: string;
      }[];
      expect(rows.map((r) => [r.status, JSON.parse(r.outputs)])).toEqual([
        ["SUCCEEDED", { said: "hi" }],
      ]);
    } finally {
      reader.close();
      await c.close();
    }
  });
});
