/**
 * Budgets survive kill -9 (SPEC §7, §9): the built `airun` is SIGKILLed right before and right
 * after every commit of a governed run (AIRUN_CRASH_AT), then `airun recover` finishes it. The
 * spend persisted with the run is never reset and never counted twice: spent tool calls equal
 * the attempts recorded (an attempt interrupted by the crash counts once, as does its re-run),
 * an interrupted model call's reservation is kept as spent, a run over budget still abstains
 * after recovery with its effects undone, and governance adds no commit of its own (only the
 * write-ahead reservation of a call that reports usage).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open-store.js";
import { airun } from "../support/cli.js";

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

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        out[relative(dir, p)] = "<dir>";
        walk(p);
      } else out[relative(dir, p)] = readFileSync(p, "latin1");
    }
  };
  walk(dir);
  return out;
}

let counter = 0;
function project(text: string): { dir: string; ws: string } {
  counter += 1;
  const dir = join(root, `p${counter}`);
  const ws = join(dir, "ws");
  mkdirSync(ws, { recursive: true });
  writeFileSync(join(dir, "plugin.mjs"), PLUGIN);
  writeFileSync(
    join(dir, "airun.yaml"),
    'home: home\nsandbox:\n  fs: { roots: [ws] }\nplugins: ["./plugin.mjs"]\n',
  );
  writeFileSync(join(dir, "wf.yaml"), text);
  for (const [f, c] of Object.entries(INITIAL)) writeFileSync(join(ws, f), c);
  return { dir, ws };
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
async function persisted(dir: string): Promise<Persisted | undefined> {
  const store = await openStore({ url: "sqlite", home: join(dir, "home") });
  try {
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
  } finally {
    await store.close();
  }
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

interface Sweep {
  /** Physical commits of an uninterrupted run. */
  commits: number;
  crashPoints: number;
}

async function sweep(
  text: string,
  check: (dir: string, ws: string, where: string) => Promise<void>,
): Promise<Sweep> {
  const result: Sweep = { commits: 0, crashPoints: 0 };
  for (const when of ["after", "before"] as const) {
    for (let n = 1; n < 100; n++) {
      const { dir, ws } = project(text);
      const run = await airun(["run", "wf.yaml", "--json"], {
        cwd: dir,
        env: { AIRUN_CRASH_AT: `${when}:${n}` },
      });
      const where = `${when}:${n}`;
      if (run.signal !== "SIGKILL") {
        if (when === "after") result.commits = n - 1;
        await check(dir, ws, `${where} (no crash)`);
        break;
      }
      result.crashPoints += 1;
      const before = await persisted(dir);
      const rec = await airun(["recover", "--json"], { cwd: dir });
      expect(rec.code, rec.stderr).toBe(0);
      const after = await persisted(dir);
      if (!after) {
        expect(snapshot(ws), where).toEqual(INITIAL);
        continue;
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
    }
  }
  return result;
}

describe("budgets across kill -9", () => {
  it("a run over budget abstains after a crash at any commit: spend kept, nothing counted twice, the refused call never made, effects undone", async () => {
    const r = await sweep(OVER_BUDGET, async (dir, ws, where) => {
      const p = (await persisted(dir))!;
      expect(p.status, where).toBe("ROLLED_BACK");
      expect(p.reason, where).toBe("BUDGET_EXCEEDED");
      expect(p.detail, where).toMatchObject({ budget: "max_tool_calls", limit: 4 });
      expectExactSpend(p, where);
      expect(p.used.tool_calls, where).toBeLessThanOrEqual(4);
      expect(callsLog(dir), where).not.toContain("final");
      expect(callsLog(dir).length, where).toBeLessThanOrEqual(p.attempts.ask ?? 0);
      expect(snapshot(ws), where).toEqual(INITIAL);
    });
    console.log(`budget crash sweep (over budget): ${r.crashPoints} crash points`);
    expect(r.crashPoints).toBeGreaterThan(15);
  }, 600_000);

  it("a run within budget completes after a crash at any commit with its spend exact, and governance adds no commit but the model calls' reservations", async () => {
    const governed = await sweep(WITHIN_BUDGET, async (dir, ws, where) => {
      const p = (await persisted(dir))!;
      expect(p.status, where).toBe("COMPLETED");
      expectExactSpend(p, where);
      expect(snapshot(ws)["report.txt"], where).toBe("report");
    });
    console.log(`budget crash sweep (within budget): ${governed.crashPoints} crash points`);
    expect(governed.crashPoints).toBeGreaterThan(20);

    let plainCommits = 0;
    for (let n = 1; n < 100; n++) {
      const { dir } = project(UNGOVERNED);
      const run = await airun(["run", "wf.yaml"], {
        cwd: dir,
        env: { AIRUN_CRASH_AT: `after:${n}` },
      });
      if (run.signal !== "SIGKILL") {
        plainCommits = n - 1;
        break;
      }
    }
    expect(plainCommits).toBeGreaterThan(5);
    // Two model calls: their reservations are committed before each call; nothing else is added.
    expect(governed.commits).toBe(plainCommits + 2);
  }, 600_000);
});
