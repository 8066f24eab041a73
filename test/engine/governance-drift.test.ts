/**
 * Drift (SPEC §7): metrics of accepted runs of a spec name and version form a baseline; once it
 * holds `min_samples` runs, a run beyond `factor` × the median triggers the configured action —
 * checked before each call against the running totals, and at commit.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Runtime } from "../../src/engine/runtime/runtime.js";
import { eventData, governanceMeta, governedWorkspace } from "./governance-kit.js";
import type { Workspace } from "./helpers.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

/** One write, plus four more when `big`: 1 tool call normally, 5 when big. */
const callsSpec = (action: string) => `name: drifty
version: 1
principal: agent:t
governance:
  drift: { metrics: [tool_calls], factor: 3, min_samples: 3, action: ${action} }
inputs:
  big: { type: boolean, default: false }
  tag: { type: string, default: a }
steps:
  - id: s1
    capability: io.fs.write_file
    inputs: { path: "s1-\${{ inputs.tag }}.txt", content: "1" }
${[2, 3, 4, 5]
  .map(
    (i) => `  - id: s${i}
    capability: io.fs.write_file
    depends_on: [s${i - 1}]
    when: "\${{ inputs.big }}"
    inputs: { path: "s${i}-\${{ inputs.tag }}.txt", content: "${i}" }
`,
  )
  .join("")}`;

/** One write, then six in parallel when `big`: 1 tool call normally, 7 when big. */
const fanOutSpec = `name: fanout
version: 1
principal: agent:t
governance:
  drift: { metrics: [tool_calls], factor: 3, min_samples: 3, action: require_approval }
inputs:
  big: { type: boolean, default: false }
  tag: { type: string, default: a }
steps:
  - id: f1
    capability: io.fs.write_file
    inputs: { path: "f1-\${{ inputs.tag }}.txt", content: "1" }
${[2, 3, 4, 5, 6, 7]
  .map(
    (i) => `  - id: f${i}
    capability: io.fs.write_file
    depends_on: [f1]
    when: "\${{ inputs.big }}"
    inputs: { path: "f${i}-\${{ inputs.tag }}.txt", content: "${i}" }
`,
  )
  .join("")}`;

async function baseline(rt: Runtime, spec: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const run = await rt.startRun({ specFile: spec, inputs: { tag: `base${i}` } });
    expect(run.status).toBe("COMPLETED");
  }
}

describe("governance drift", () => {
  it("warn: after min_samples accepted runs, a run with 5x the tool calls records drift.detected once and completes", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = await w.spec("wf.yaml", callsSpec("warn"));
      // Before the baseline has min_samples runs, nothing is judged.
      const early = await rt.startRun({ specFile: spec, inputs: { big: true, tag: "early" } });
      expect(early.status).toBe("COMPLETED");
      expect(await eventData(rt, early.id, "drift.detected")).toEqual([]);
      await baseline(rt, spec, 3);
      const big = await rt.startRun({ specFile: spec, inputs: { big: true, tag: "big" } });
      expect(big).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
      const detected = await eventData(rt, big.id, "drift.detected");
      expect(detected).toMatchObject([
        {
          phase: "call",
          action: "warn",
          findings: [
            { metric: "tool_calls", value: 4, median: 1, threshold: 3, factor: 3, samples: 4 },
          ],
        },
      ]);
      expect(await governanceMeta(w, big.id)).toMatchObject({
        metrics: { tool_calls: 5, "calls:io.fs.write_file": 5 },
        drift: { warned: ["tool_calls"] },
      });
      const report = await rt.driftBaselines(spec);
      expect(report.versions).toHaveLength(1);
      expect(report.versions[0]).toMatchObject({
        version: "1",
        runs: 5,
        drift: { metrics: ["tool_calls"], factor: 3, min_samples: 3, action: "warn" },
      });
      expect(report.versions[0]!.metrics.tool_calls).toMatchObject({
        median: 1,
        samples: 5,
        min: 1,
        max: 5,
        threshold: 3,
        active: true,
      });
      const byName = await rt.driftBaselines("drifty");
      expect(byName.versions.map((v) => v.version)).toEqual(["1"]);
      expect(byName.versions[0]!.metrics.tool_calls).toMatchObject({ median: 1, samples: 5 });
    } finally {
      await rt.close();
    }
  });

  it("abstain: the call that drifts is not made, the run abstains (DRIFT) and earlier effects are undone", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = await w.spec("wf.yaml", callsSpec("abstain"));
      await baseline(rt, spec, 3);
      const big = await rt.startRun({ specFile: spec, inputs: { big: true, tag: "big" } });
      expect(big).toMatchObject({ status: "ROLLED_BACK", outcome: "ABSTAIN", reason: "DRIFT" });
      expect(big.reason_detail).toMatchObject({
        step: "s4",
        governance: "drift",
        phase: "call",
        findings: [{ metric: "tool_calls", value: 4, median: 1, threshold: 3 }],
      });
      for (const i of [1, 2, 3, 4]) expect(existsSync(join(w.ws, `s${i}-big.txt`))).toBe(false);
      expect(existsSync(join(w.ws, "s1-base0.txt"))).toBe(true);
    } finally {
      await rt.close();
    }
  });

  it("require_approval before a call: the drifting step waits for a person; approved in another runtime, the run completes without asking again", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = await w.spec("wf.yaml", callsSpec("require_approval"));
      await baseline(rt, spec, 3);
      const big = await rt.startRun({ specFile: spec, inputs: { big: true, tag: "big" } });
      expect(big.status).toBe("WAITING_APPROVAL");
      const s4 = big.steps.find((s) => s.id === "s4")!;
      expect(s4.status).toBe("WAITING_APPROVAL");
      expect(s4.decision).toMatchObject({
        decision: "REQUIRE_APPROVAL",
        drift: [{ metric: "tool_calls", value: 4 }],
      });
      expect(existsSync(join(w.ws, "s4-big.txt"))).toBe(false);
      // Decided by another runtime (as by another process): the run's state is reloaded.
      const other = await w.open();
      try {
        const done = await other.decideApproval(big.id, {
          decision: "approve",
          principal: "user:bob",
        });
        expect(done).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
      } finally {
        await other.close();
      }
      expect(existsSync(join(w.ws, "s5-big.txt"))).toBe(true);
      expect(await eventData(rt, big.id, "approval.requested")).toHaveLength(1);
      // Recorded when the step started waiting, once (not again when it ran after approval).
      expect(await eventData(rt, big.id, "drift.detected")).toMatchObject([
        { phase: "call", action: "require_approval", findings: [{ metric: "tool_calls" }] },
      ]);
    } finally {
      await rt.close();
    }
  });

  it("require_approval with parallel steps: one drift decision per run — the other drifting steps wait behind it, and one approve lets them all run", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = await w.spec("wf.yaml", fanOutSpec);
      await baseline(rt, spec, 3);
      const big = await rt.startRun({ specFile: spec, inputs: { big: true, tag: "big" } });
      expect(big.status).toBe("WAITING_APPROVAL");
      const pending = await rt.listApprovals({ runId: big.id });
      expect(pending).toHaveLength(1);
      expect(pending[0]!.message).toMatch(/drift: tool_calls/);
      // Plain resume: the run's one pending approval, so nothing is ambiguous.
      const done = await rt.decideApproval(big.id, { decision: "approve", principal: "user:bob" });
      expect(done).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
      for (let i = 2; i <= 7; i++) expect(existsSync(join(w.ws, `f${i}-big.txt`))).toBe(true);
      expect(await eventData(rt, big.id, "approval.requested")).toHaveLength(1);
    } finally {
      await rt.close();
    }
  });

  it("require_approval at commit: drift only visible once calls settled waits on the governance.drift gate; approve completes, reject rolls back", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = await w.spec(
        "wf.yaml",
        `name: tokens
version: 2
principal: agent:t
governance:
  drift: { metrics: [tokens], factor: 3, min_samples: 3, action: require_approval }
inputs:
  use: { type: number, default: 10 }
  tag: { type: string, default: a }
steps:
  - id: note
    capability: io.fs.write_file
    inputs: { path: "note-\${{ inputs.tag }}.txt", content: "n" }
  - id: ask
    capability: test.llm.complete
    depends_on: [note]
    inputs: { max_tokens: 10, use: "\${{ inputs.use }}" }
`,
      );
      await baseline(rt, spec, 3);
      const big = await rt.startRun({ specFile: spec, inputs: { use: 1000, tag: "big" } });
      expect(big.status).toBe("WAITING_APPROVAL");
      const [pending] = await rt.listApprovals({ runId: big.id });
      expect(pending).toMatchObject({ step_id: "governance.drift", status: "PENDING" });
      expect(pending!.message).toMatch(/tokens 1000 > 3 × median 10/);
      const done = await rt.decideApproval(big.id, { decision: "approve", principal: "user:bob" });
      expect(done).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
      expect(await governanceMeta(w, big.id)).toMatchObject({
        drift: { acknowledged: ["tokens"] },
      });

      const rejected = await rt.startRun({ specFile: spec, inputs: { use: 2000, tag: "rej" } });
      expect(rejected.status).toBe("WAITING_APPROVAL");
      const after = await rt.decideApproval(rejected.id, {
        decision: "reject",
        principal: "user:bob",
      });
      expect(after).toMatchObject({
        status: "ROLLED_BACK",
        outcome: "REMEDIATE",
        reason: "APPROVAL_REJECTED",
      });
      expect(existsSync(join(w.ws, "note-rej.txt"))).toBe(false);
    } finally {
      await rt.close();
    }
  });
});
