/**
 * Budgets as transactions (SPEC §7): a call reserves its worst case before it is made and
 * settles with its actual usage after; the call that would breach a budget is never made, the
 * run abstains (BUDGET_EXCEEDED, which budget, used vs limit) and everything done is undone.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { callsMade, eventData, governanceMeta, governedWorkspace } from "./governance-kit.js";
import type { Workspace } from "./helpers.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

const writes = (n: number) =>
  Array.from(
    { length: n },
    (_, i) => `  - id: w${i + 1}
    capability: io.fs.write_file
    inputs: { path: "f${i + 1}.txt", content: "v${i + 1}" }
${i > 0 ? `    depends_on: [w${i}]\n` : ""}`,
  ).join("");

describe("governance budgets", () => {
  it("never makes the call that would breach max_tool_calls, undoes every earlier effect, and records which budget with used vs limit", async () => {
    w = await governedWorkspace();
    writeFileSync(join(w.ws, "f1.txt"), "original");
    const rt = await w.open();
    try {
      const spec = await w.spec(
        "wf.yaml",
        `name: capped\nprincipal: agent:t\ngovernance:\n  budgets: { max_tool_calls: 2 }\nsteps:\n${writes(3)}`,
      );
      const run = await rt.startRun({ specFile: spec });
      expect(run).toMatchObject({
        status: "ROLLED_BACK",
        outcome: "ABSTAIN",
        reason: "BUDGET_EXCEEDED",
      });
      expect(run.reason_detail).toMatchObject({
        step: "w3",
        code: "BUDGET_EXCEEDED",
        governance: "budget",
        budget: "max_tool_calls",
        used: 2,
        reserved: 0,
        requested: 1,
        limit: 2,
        capability: "io.fs.write_file",
      });
      // The breaching call was never made; the two before it were undone byte for byte.
      expect(existsSync(join(w.ws, "f3.txt"))).toBe(false);
      expect(readFileSync(join(w.ws, "f1.txt"), "utf8")).toBe("original");
      expect(existsSync(join(w.ws, "f2.txt"))).toBe(false);
      const w3 = run.steps.find((s) => s.id === "w3")!;
      expect(w3).toMatchObject({ status: "FAILED", attempts: 0 });
      const breached = await eventData(rt, run.id, "budget.breached");
      expect(breached).toEqual([
        expect.objectContaining({ budget: "max_tool_calls", used: 2, limit: 2 }),
      ]);
      expect(await governanceMeta(w, run.id)).toMatchObject({
        used: { tool_calls: 2 },
        calls: { "io.fs.write_file": 2 },
        in_flight: {},
      });
    } finally {
      await rt.close();
    }
  });

  it("reserves an LLM call's max_tokens before it is made and settles at the tokens it used", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = await w.spec(
        "wf.yaml",
        `name: tokens
principal: agent:t
governance:
  budgets: { max_tokens: 1000, max_cost_usd: 5 }
steps:
  - id: a
    capability: test.llm.complete
    inputs: { max_tokens: 600, use: 100 }
  - id: b
    capability: test.llm.complete
    depends_on: [a]
    inputs: { max_tokens: 800, use: 850 }
  - id: c
    capability: test.llm.complete
    depends_on: [b]
    inputs: { max_tokens: 100, use: 1 }
`,
      );
      const run = await rt.startRun({ specFile: spec });
      // b fits its reservation (100 + 800 <= 1000) and uses 850; c's 100 would make 1050.
      expect(run.reason).toBe("BUDGET_EXCEEDED");
      expect(run.reason_detail).toMatchObject({
        step: "c",
        budget: "max_tokens",
        used: 950,
        requested: 100,
        limit: 1000,
      });
      expect(callsMade(w)).toEqual(["a", "b"]);
      const settled = await eventData(rt, run.id, "budget.settled");
      expect(settled.map((s) => s.actual)).toEqual([
        { tool_calls: 1, tokens: 100, cost_usd: 0.1 },
        { tool_calls: 1, tokens: 850, cost_usd: 0.85 },
      ]);
      const reserved = await eventData(rt, run.id, "budget.reserved");
      expect(reserved.map((r) => r.reserved)).toEqual([
        { tool_calls: 1, tokens: 600, cost_usd: 0.6 },
        { tool_calls: 1, tokens: 800, cost_usd: 0.8 },
      ]);
      expect(await governanceMeta(w, run.id)).toMatchObject({
        used: { tool_calls: 2, tokens: 950, cost_usd: 0.95 },
      });
    } finally {
      await rt.close();
    }
  });

  it("counts every retry attempt as a tool call and stops retrying when the next attempt would breach", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = await w.spec(
        "wf.yaml",
        `name: retries
principal: agent:t
governance:
  budgets: { max_tool_calls: 3 }
steps:
  - id: flaky
    capability: sys.fail
    inputs: { message: "try again", retryable: true }
    retry: { max_attempts: 10, initial_delay: 1ms, max_delay: 2ms }
`,
      );
      const run = await rt.startRun({ specFile: spec });
      expect(run).toMatchObject({ status: "ROLLED_BACK", reason: "BUDGET_EXCEEDED" });
      expect(run.steps[0]).toMatchObject({ status: "FAILED", attempts: 3 });
      expect(run.reason_detail).toMatchObject({ budget: "max_tool_calls", used: 3, limit: 3 });
      expect(await governanceMeta(w, run.id)).toMatchObject({ used: { tool_calls: 3 } });
    } finally {
      await rt.close();
    }
  });

  it("does not accept a run whose calls used more than they reserved and ended over budget", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = await w.spec(
        "wf.yaml",
        `name: overrun
principal: agent:t
governance:
  budgets: { max_tokens: 300 }
steps:
  - id: note
    capability: io.fs.write_file
    inputs: { path: note.txt, content: "x" }
  - id: ask
    capability: test.llm.complete
    depends_on: [note]
    inputs: { max_tokens: 100, use: 500 }
`,
      );
      const run = await rt.startRun({ specFile: spec });
      expect(run).toMatchObject({
        status: "ROLLED_BACK",
        outcome: "ABSTAIN",
        reason: "BUDGET_EXCEEDED",
      });
      expect(run.reason_detail).toMatchObject({ budget: "max_tokens", used: 500, limit: 300 });
      expect(existsSync(join(w.ws, "note.txt"))).toBe(false);
    } finally {
      await rt.close();
    }
  });

  it("stops the call in flight when max_duration elapses and starts none after it", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = await w.spec(
        "wf.yaml",
        `name: slow
principal: agent:t
governance:
  budgets: { max_duration: 150ms }
steps:
  - id: first
    capability: io.fs.write_file
    inputs: { path: first.txt, content: "1" }
  - id: nap
    capability: sys.sleep
    depends_on: [first]
    inputs: { ms: 250 }
  - id: late
    capability: io.fs.write_file
    depends_on: [nap]
    inputs: { path: late.txt, content: "2" }
`,
      );
      const run = await rt.startRun({ specFile: spec });
      expect(run).toMatchObject({ status: "ROLLED_BACK", reason: "BUDGET_EXCEEDED" });
      expect(run.reason_detail).toMatchObject({ step: "nap", budget: "max_duration", limit: 150 });
      expect((run.reason_detail as { used: number }).used).toBeGreaterThanOrEqual(150);
      expect(existsSync(join(w.ws, "late.txt"))).toBe(false);
      expect(existsSync(join(w.ws, "first.txt"))).toBe(false);
      expect(run.steps.find((s) => s.id === "late")).toMatchObject({ attempts: 0 });
    } finally {
      await rt.close();
    }
  });

  it("with rollback.required false, an abstaining run keeps its effects and ends FAILED (ABSTAIN); a later rollback still undoes them", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = await w.spec(
        "wf.yaml",
        `name: keep\nprincipal: agent:t\ngovernance:\n  budgets: { max_tool_calls: 1 }\n  rollback: { required: false }\nsteps:\n${writes(2)}`,
      );
      const run = await rt.startRun({ specFile: spec });
      expect(run).toMatchObject({
        status: "FAILED",
        outcome: "ABSTAIN",
        reason: "BUDGET_EXCEEDED",
      });
      expect(run.reason_detail).toMatchObject({
        budget: "max_tool_calls",
        rollback: expect.stringMatching(/not required/),
      });
      expect(readFileSync(join(w.ws, "f1.txt"), "utf8")).toBe("v1");
      const undone = await rt.rollback(run.id, { principal: "user:ops" });
      expect(undone).toMatchObject({ status: "ROLLED_BACK", outcome: "ABSTAIN" });
      expect(existsSync(join(w.ws, "f1.txt"))).toBe(false);
    } finally {
      await rt.close();
    }
  });

  it("refuses a forbidden tool before anything runs: the validation problem names the step's capability field and line, and no run is recorded", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      // Validation refuses it first: the spec never starts.
      const spec = await w.spec(
        "wf.yaml",
        `name: tools\nprincipal: agent:t\ngovernance:\n  tools: { forbidden: ["io.fs.*"] }\nsteps:\n${writes(1)}`,
      );
      await expect(rt.startRun({ specFile: spec })).rejects.toMatchObject({
        code: "VALIDATION_FAILED",
        problems: [expect.objectContaining({ field: "steps[0].capability", line: 7 })],
      });
      expect(await rt.listRuns()).toEqual([]);
      expect(existsSync(join(w.ws, "f1.txt"))).toBe(false);
    } finally {
      await rt.close();
    }
  });

  it("keeps a workflow without governance exactly as before: no governance state in run.meta", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const run = await rt.startRun({
        specFile: await w.spec("wf.yaml", `name: plain\nprincipal: agent:t\nsteps:\n${writes(2)}`),
      });
      expect(run.status).toBe("COMPLETED");
      expect(await governanceMeta(w, run.id)).toEqual({});
      const types = (await rt.events(run.id)).map((e) => e.type);
      expect(types.filter((t) => /^(budget|evidence|drift)\./.test(t))).toEqual([]);
    } finally {
      await rt.close();
    }
  });
});
