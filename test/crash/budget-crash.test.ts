/**
 * Budgets survive kill -9 (SPEC §7, §9): the built `airun` is SIGKILLed right before and right
 * after the commits of a governed run (test-only crash switch; every commit with
 * AIRUN_CRASH_SWEEP=full, a seeded sample by default, see test/support/crash.ts), then
 * `airun recover` finishes it. The spend persisted with the run is never reset and never
 * counted twice: spent tool calls equal the attempts recorded (an attempt interrupted by the
 * crash counts once, as does its re-run), an interrupted model call's reservation is kept as
 * spent, a run over budget still abstains after recovery with its effects undone, and
 * governance adds no commit of its own (only the write-ahead reservation of a call that
 * reports usage).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { airun } from "../support/cli.js";
import {
  countCommits,
  expectLedgerVerifies,
  projectTemplate,
  type SweepReport,
  snapshotTree,
  sweepCrashPoints,
  withProjectStore,
} from "../support/crash.js";

const root = mkdtempSync(join(tmpdir(), "airun-budget-crash-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ZOD = pathToFileURL(createRequire(import.meta.url).resolve("zod")).href;

/** A fake model call: reserves max_tokens, uses `use`, logs each call made to calls.log. */
const PLUGIN = `
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "${ZOD}";
export const complete = {
  name: "test.llm.complete",
  description: "fake model call",
  input: z.object({ max_tokens: z.number().int(), use: z.number() }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  estimateUsage: (i) => ({ tokens: i.max_tokens }),
  actualUsage: (o) => ({ tokens: o.tokens }),
  async execute(i, ctx) {
    appendFileSync(join(ctx.sandbox.fsRoots[0], "..", "calls.log"), ctx.stepId + "\\n");
    return { tokens: i.use };
  },
};
`;

const MAX_TOKENS = 50;
const USE = 20;

/** Five calls in a chain: write, model, append, write, model. */
const spec = (governance: string) => `name: budgeted
version: 1
principal: agent:crash
${governance}steps:
  - id: w1
    capability: io.fs.write_file
    inputs: { path: config.json, content: '{"v":2}' }
  - id: ask
    capability: test.llm.complete
    depends_on: [w1]
    inputs: { max_tokens: ${MAX_TOKENS}, use: ${USE} }
  - id: w2
    capability: io.fs.append_file
    depends_on: [ask]
    inputs: { path: journal.log, content: "entry\\n" }
  - id: w3
    capability: io.fs.write_file
    depends_on: [w2]
    inputs: { path: report.txt, content: "report" }
  - id: final
    capability: test.llm.complete
    depends_on: [w3]
    inputs: { max_tokens: ${MAX_TOKENS}, use: ${USE} }
`;
const OVER_BUDGET = spec("governance:\n  budgets: { max_tool_calls: 4, max_tokens: 1000 }\n");
const WITHIN_BUDGET = spec("governance:\n  budgets: { max_tool_calls: 20, max_tokens: 1000 }\n");
const UNGOVERNED = spec("");

const INITIAL = { "config.json": '{"v":1}', "journal.log": "start\n" };

/** A project with the fake model plugin running `text` in a workspace holding INITIAL. */
function template(text: string): () => string {
  return projectTemplate(root, {
    "plugin.mjs": PLUGIN,
    "airun.yaml": 'home: home\nsandbox:\n  fs: { roots: [ws] }\nplugins: ["./plugin.mjs"]\n',
    "wf.yaml": text,
    ...Object.fromEntries(Object.entries(INITIAL).map(([f, c]) => [`ws/${f}`, c])),
  });
}

function callsLog(dir: string): string[] {
  const f = join(dir, "calls.log");
  return existsSync(f) ? readFileSync(f, "utf8").split("\n").filter(Boolean) : [];
}

interface Persisted {
  status: string;
  reason: string | null;
  detail: Record<string, unknown> | null;
  used: { tool_calls: number; tokens: number };
  inFlight: Record<string, unknown>;
  attempts: Record<string, number>;
}

/** What the (single) run of a project persisted, read from its database. */
function persisted(dir: string): Promise<Persisted | undefined> {
  return withProjectStore(dir, async (store) => {
    const [run] = await store.listRuns();
    if (!run) return undefined;
    const gov = (run.meta.governance ?? {}) as Record<string, unknown>;
    const steps = await store.getSteps(run.id);
    return {
      status: run.status,
      reason: run.reason,
      detail: run.reasonDetail as Record<string, unknown> | null,
      used: (gov.used ?? { tool_calls: 0, tokens: 0 }) as Persisted["used"],
      inFlight: (gov.in_flight ?? {}) as Record<string, unknown>,
      attempts: Object.fromEntries(steps.map((s) => [s.stepId, s.attempts])),
    };
  });
}

/** Spend at the end: every attempt counted once; interrupted model calls at their reservation. */
function expectExactSpend(p: Persisted, where: string): void {
  const attempts = Object.values(p.attempts).reduce((a, b) => a + b, 0);
  expect(p.used.tool_calls, `${where}: tool calls = attempts`).toBe(attempts);
  expect(p.inFlight, where).toEqual({});
  let tokens = 0;
  for (const id of ["ask", "final"]) {
    const n = p.attempts[id] ?? 0;
    // Each attempt but a settled last one was interrupted: kept at its reservation.
    if (n > 0) tokens += USE + MAX_TOKENS * (n - 1);
  }
  expect(p.used.tokens, `${where}: tokens`).toBe(tokens);
}

/**
 * Kills a run of `text` at commit boundaries (see test/support/crash.ts) and recovers it; after
 * every recovery the spend is checked against what was persisted at the crash, and `check` must
 * pass, as it must for the uninterrupted run.
 */
function sweep(
  name: string,
  text: string,
  check: (dir: string, ws: string, where: string) => Promise<void>,
): Promise<SweepReport> {
  return sweepCrashPoints({
    name,
    args: ["run", "wf.yaml", "--json"],
    project: template(text),
    async afterCrash(dir, where) {
      const ws = join(dir, "ws");
      const before = await persisted(dir);
      const rec = await airun(["recover", "--json"], { cwd: dir });
      expect(rec.code, `${where}: ${rec.stderr}`).toBe(0);
      const after = await persisted(dir);
      if (!after) {
        expect(snapshotTree(ws), where).toEqual(INITIAL);
        return;
      }
      // Recovery never resets spend: the tokens spent, and those reserved by a model call
      // interrupted in flight, are still spent; so is every attempt recorded before the crash.
      if (before) {
        const reserved = Object.values(before.inFlight).reduce<number>(
          (sum, f) => sum + Number((f as { tokens?: number }).tokens ?? 0),
          0,
        );
        expect(after.used.tokens, where).toBeGreaterThanOrEqual(before.used.tokens + reserved);
        const attemptsAtCrash = Object.values(before.attempts).reduce((a, b) => a + b, 0);
        expect(after.used.tool_calls, where).toBeGreaterThanOrEqual(attemptsAtCrash);
      }
      await check(dir, ws, where);
      await expectLedgerVerifies(dir, where);
    },
    async afterFinish(dir, _run, where) {
      await check(dir, join(dir, "ws"), where);
      await expectLedgerVerifies(dir, where);
    },
  });
}

describe("budgets across kill -9", () => {
  // A sweep of every commit visits each twice (before and after): the workflows must keep
  // enough commit boundaries for the sweep to mean something.
  it("a run over budget abstains after a crash at any commit: spend kept, nothing counted twice, the refused call never made, effects undone", async () => {
    const r = await sweep("(over budget)", OVER_BUDGET, async (dir, ws, where) => {
      const p = (await persisted(dir))!;
      expect(p.status, where).toBe("ROLLED_BACK");
      expect(p.reason, where).toBe("BUDGET_EXCEEDED");
      expect(p.detail, where).toMatchObject({ budget: "max_tool_calls", limit: 4 });
      expectExactSpend(p, where);
      expect(p.used.tool_calls, where).toBeLessThanOrEqual(4);
      expect(callsLog(dir), where).not.toContain("final");
      expect(callsLog(dir).length, where).toBeLessThanOrEqual(p.attempts.ask ?? 0);
      expect(snapshotTree(ws), where).toEqual(INITIAL);
    });
    expect(r.commits).toBeGreaterThan(7);
  }, 600_000);

  it("a run within budget completes after a crash at any commit with its spend exact, and governance adds no commit but the model calls' reservations", async () => {
    const governed = await sweep("(within budget)", WITHIN_BUDGET, async (dir, ws, where) => {
      const p = (await persisted(dir))!;
      expect(p.status, where).toBe("COMPLETED");
      expectExactSpend(p, where);
      expect(snapshotTree(ws)["report.txt"], where).toBe("report");
    });
    expect(governed.commits).toBeGreaterThan(10);

    const plainCommits = await countCommits({
      args: ["run", "wf.yaml"],
      project: template(UNGOVERNED),
    });
    expect(plainCommits).toBeGreaterThan(5);
    // Two model calls: their reservations are committed before each call; nothing else is added.
    expect(governed.commits).toBe(plainCommits + 2);
  }, 600_000);
});
