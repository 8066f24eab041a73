/**
 * The governance envelope through the built `airun`, as a user runs it: a budget breach
 * (exit 4, effects undone, figures recorded), evidence gates (one ref → exit 4, two refs → 0),
 * a forbidden tool refused by validation (exit 2, line and field), drift after N accepted runs
 * and `airun drift show`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { project, type RunJson, snapshot, tempRoot } from "./project.js";

const root = tempRoot("governance");
afterAll(() => root.cleanup());

const fixture = (name: string) => readFileSync(resolve("test/fixtures/specs", name), "utf8");

interface EventJson {
  type: string;
  step_id?: string | null;
  stepId?: string | null;
  data: Record<string, unknown>;
}

describe("airun governance (e2e)", () => {
  it("budget breach: the breaching call is never made, every earlier effect is undone, exit 4 with the budget and figures recorded", async () => {
    const p = project(root.path, {
      files: { "ws/config.json": '{"v":1}', "ws/journal.log": "start\n" },
    });
    p.write("wf.yaml", fixture("governance-budget.yaml"));
    const before = snapshot(p.ws);
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(4);
    expect(body).toMatchObject({
      status: "ROLLED_BACK",
      outcome: "ABSTAIN",
      reason: "BUDGET_EXCEEDED",
    });
    expect(body.reason_detail).toMatchObject({
      step: "create",
      budget: "max_tool_calls",
      used: 2,
      requested: 1,
      limit: 2,
    });
    expect(existsSync(join(p.ws, "third.txt"))).toBe(false);
    expect(snapshot(p.ws)).toEqual(before);
    const shown = await p.json<RunJson & { events: EventJson[] }>([
      "workflow",
      "show",
      body.id,
      "--events",
    ]);
    const breached = shown.body.events.filter((e) => e.type === "budget.breached");
    expect(breached).toHaveLength(1);
    expect(breached[0]!.data).toMatchObject({ budget: "max_tool_calls", used: 2, limit: 2 });
    const created = shown.body.events.find((e) => e.type === "run.created");
    expect(created!.data).toMatchObject({
      objective: "Update the config and the journal within two tool calls",
    });
    // Human output says why, too.
    const human = await p.run(["workflow", "show", body.id]);
    expect(human.stdout).toMatch(/BUDGET_EXCEEDED/);
  });

  it("evidence: one source ref abstains and rolls back (exit 4); two refs and a passing validator are accepted (exit 0)", async () => {
    const p = project(root.path, { files: { "ws/incidents/inc-1/a.log": "a" } });
    p.write("wf.yaml", fixture("governance-evidence.yaml"));
    const one = await p.json(["run", "wf.yaml", "--input", "incident=inc-1"]);
    expect(one.code).toBe(4);
    expect(one.body).toMatchObject({
      status: "ROLLED_BACK",
      outcome: "ABSTAIN",
      reason: "EVIDENCE_UNMET",
    });
    expect(one.body.reason_detail).toMatchObject({
      failed: [{ expression: "len(evidence.source_refs) >= 2", result: false }],
    });
    expect(existsSync(join(p.ws, "summary-inc-1.md"))).toBe(false);

    p.write("ws/incidents/inc-2/a.log", "a");
    p.write("ws/incidents/inc-2/b.log", "b");
    const two = await p.json(["run", "wf.yaml", "--input", "incident=inc-2"]);
    expect(two.code).toBe(0);
    expect(two.body).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
    expect(readFileSync(join(p.ws, "summary-inc-2.md"), "utf8")).toBe("sources: 2");
  });

  it("a forbidden tool is refused before anything runs: exit 2, naming the line and field", async () => {
    const p = project(root.path);
    p.write("wf.yaml", fixture("governance-forbidden.yaml"));
    const run = await p.run(["run", "wf.yaml"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      'wf.yaml:13:17: steps[1].capability: capability "io.fs.delete" is forbidden by governance.tools.forbidden "io.fs.delete" (line 7)',
    );
    expect(existsSync(join(p.ws, "a.txt"))).toBe(false);
    expect(existsSync(join(p.dir, "home"))).toBe(true);
    const list = await p.json<{ runs: unknown[] }>(["workflow", "list"]);
    expect(list.body.runs).toEqual([]);
    const validate = await p.run(["validate", "wf.yaml"]);
    expect(validate.code).toBe(2);
    expect(validate.stdout).toMatch(/wf\.yaml:13:17: steps\[1\]\.capability/);
  });

  it("drift: after three accepted runs, a run with 5x the tool calls abstains (exit 4); drift show prints the baseline", async () => {
    const p = project(root.path);
    p.write("wf.yaml", fixture("governance-drift.yaml"));
    for (let i = 0; i < 3; i++) {
      const r = await p.json(["run", "wf.yaml", "--input", `tag=base${i}`]);
      expect(r.code, JSON.stringify(r.body)).toBe(0);
    }
    const big = await p.json(["run", "wf.yaml", "--input", "big=true", "--input", "tag=big"]);
    expect(big.code).toBe(4);
    expect(big.body).toMatchObject({ status: "ROLLED_BACK", outcome: "ABSTAIN", reason: "DRIFT" });
    expect(big.body.reason_detail).toMatchObject({
      step: "s4",
      findings: [{ metric: "tool_calls", value: 4, median: 1, threshold: 3, samples: 3 }],
    });
    expect(existsSync(join(p.ws, "s1-big.txt"))).toBe(false);
    expect(existsSync(join(p.ws, "s4-big.txt"))).toBe(false);

    const shown = await p.json<{
      name: string;
      versions: {
        version: string;
        runs: number;
        metrics: Record<string, Record<string, unknown>>;
      }[];
    }>(["drift", "show", "wf.yaml"]);
    expect(shown.code).toBe(0);
    expect(shown.body).toMatchObject({
      name: "governance_drift",
      versions: [{ version: "1", runs: 3 }],
    });
    expect(shown.body.versions[0]!.metrics.tool_calls).toMatchObject({
      median: 1,
      samples: 3,
      threshold: 3,
      active: true,
    });
    const human = await p.run(["drift", "show", "governance_drift"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/version 1: 3 accepted runs/);
    expect(human.stdout).toMatch(/tool_calls\s+1\s+3\s+1\s+1/);
  });
});
