/**
 * The governance envelope compiled (SPEC §7): defaults, every problem named with its field and
 * line through the spec compiler, tool globs, budget arithmetic and drift math.
 */
import { describe, expect, it } from "vitest";
import { createStandardRegistry } from "../../src/capabilities/registry.js";
import { compileGovernance, governanceOf, toolRefusal } from "../../src/core/governance.js";
import {
  addSpend,
  callSpend,
  checkReservation,
  checkSettled,
  describeBreach,
  ZERO_SPEND,
} from "../../src/core/governance-budget.js";
import {
  computeBaselines,
  detectDrift,
  median,
  runMetrics,
} from "../../src/core/governance-drift.js";
import { compileSpec, validateSpec } from "../../src/core/spec-compile.js";

const catalog = createStandardRegistry();
const problems = (text: string) =>
  validateSpec({ file: "wf.yaml", text }, catalog).problems.map((p) => ({
    line: p.line,
    field: p.field,
    message: p.message,
  }));

const budgets = {
  maxToolCalls: 3,
  maxTokens: 1000,
  maxCostUsd: 0.3,
  maxDurationMs: 60_000,
};

describe("compileGovernance", () => {
  it("fills defaults: rollback required, no tool limits, drift off; counts only with a counting budget or drift", () => {
    const g = compileGovernance({ objective: "x", budgets: { max_duration: "5m" } });
    expect(g).toMatchObject({
      objective: "x",
      allowed: null,
      forbidden: [],
      required: [],
      rollbackRequired: true,
      drift: null,
      counts: false,
      budgets: { maxToolCalls: null, maxTokens: null, maxCostUsd: null, maxDurationMs: 300_000 },
    });
    expect(Object.isFrozen(g.budgets)).toBe(true);
    expect(compileGovernance({ budgets: { max_tool_calls: 2 } }).counts).toBe(true);
    expect(compileGovernance({ drift: { action: "abstain" } }).drift).toEqual({
      metrics: ["tool_calls", "tokens", "cost_usd"],
      factor: 3,
      minSamples: 5,
      action: "abstain",
      window: 50,
      approvers: [],
    });
  });

  it("unwraps ${{ }} evidence requirements to the expression", () => {
    expect(
      compileGovernance({
        evidence: { required: ["${{ evidence.ok == true }}", "len(evidence.x) > 1"] },
      }).required,
    ).toEqual(["evidence.ok == true", "len(evidence.x) > 1"]);
  });

  it("throws GOVERNANCE_INVALID without a reporter", () => {
    expect(() => compileGovernance({ budgets: { max_tokens: -1 } })).toThrow(
      /governance.budgets.max_tokens: max_tokens must be an integer >= 0/,
    );
  });
});

describe("governance in a spec: every problem with its field and line", () => {
  it("reports unknown keys, bad budgets, bad drift settings and bad rollback", () => {
    const text = `name: t
governance:
  objectiv: x
  budgets: { max_tokens: 1.5, max_cost_usd: -1, max_duration: soon, max_calls: 3 }
  rollback: { required: "yes" }
  drift: { metrics: [tool_calls, speed], factor: 0.5, action: panic, min_samples: 0 }
steps:
  - id: a
    capability: sys.echo
`;
    expect(problems(text)).toEqual([
      {
        line: 3,
        field: "governance.objectiv",
        message: expect.stringMatching(
          /unknown governance key "objectiv" \(did you mean "objective"\?\)/,
        ),
      },
      {
        line: 4,
        field: "governance.budgets.max_tokens",
        message: "max_tokens must be an integer >= 0",
      },
      {
        line: 4,
        field: "governance.budgets.max_cost_usd",
        message: "max_cost_usd must be a number >= 0",
      },
      {
        line: 4,
        field: "governance.budgets.max_duration",
        message: expect.stringMatching(/duration/),
      },
      {
        line: 4,
        field: "governance.budgets.max_calls",
        message: expect.stringMatching(/unknown governance.budgets key/),
      },
      {
        line: 5,
        field: "governance.rollback.required",
        message: "rollback.required must be true or false",
      },
      {
        line: 6,
        field: "governance.drift.metrics[1]",
        message: expect.stringMatching(/unknown drift metric "speed"/),
      },
      { line: 6, field: "governance.drift.factor", message: "factor must be a number >= 1" },
      {
        line: 6,
        field: "governance.drift.action",
        message: expect.stringMatching(/one of warn, require_approval, abstain/),
      },
      {
        line: 6,
        field: "governance.drift.min_samples",
        message: "min_samples must be an integer >= 1",
      },
    ]);
  });

  it("refuses a forbidden tool at the step's capability field, naming the governance rule and its line", () => {
    const text = `name: t
governance:
  tools:
    allowed: ["io.fs.*", "sys.*"]
    forbidden: ["io.fs.delete", "sys.exec.*"]
steps:
  - id: ok
    capability: io.fs.write_file
    inputs: { path: a, content: b }
  - id: bad
    capability: io.fs.delete
    inputs: { path: a }
  - id: undo
    capability: sys.echo
    compensation: { capability: io.fs.delete, inputs: { path: a } }
  - id: outside
    capability: net.http.request
    inputs: { url: "https://example.com" }
`;
    expect(problems(text)).toEqual([
      {
        line: 11,
        field: "steps[1].capability",
        message:
          'capability "io.fs.delete" is forbidden by governance.tools.forbidden "io.fs.delete" (line 5)',
      },
      {
        line: 15,
        field: "steps[2].compensation.capability",
        message: expect.stringMatching(/"io.fs.delete" is forbidden/),
      },
      {
        line: 17,
        field: "steps[3].capability",
        message: 'capability "net.http.request" is not in governance.tools.allowed (line 4)',
      },
    ]);
  });

  it("reports a required evidence key no step contributes", () => {
    const text = `name: t
governance:
  evidence:
    required: ["len(evidence.source_refs) >= 2", "evidence.ok == true"]
steps:
  - id: a
    capability: sys.echo
    evidence: { ok: true }
`;
    expect(problems(text)).toEqual([
      {
        line: 4,
        field: "governance.evidence.required[0]",
        message: expect.stringMatching(
          /evidence.source_refs is required but no step contributes it/,
        ),
      },
    ]);
  });

  it("compiles the SPEC §7 example and keeps the section as written in the plan", () => {
    const plan = compileSpec(
      {
        file: "wf.yaml",
        text: `name: t
governance:
  objective: "Summarize incident and propose fix"
  tools: { allowed: ["io.fs.*", "llm.chat"], forbidden: ["io.fs.delete", "sys.exec.*"] }
  evidence:
    required: ["len(evidence.source_refs) >= 2"]
  budgets: { max_tokens: 6000, max_cost_usd: 1.20, max_tool_calls: 20, max_duration: 5m }
  rollback: { required: true }
  drift: { metrics: [tool_calls, cost_usd], factor: 3, min_samples: 5, action: require_approval }
steps:
  - id: a
    capability: io.fs.list_dir
    inputs: { path: "." }
    evidence: { source_refs: "\${{ steps.a.outputs.entries }}" }
`,
      },
      catalog,
    );
    expect(plan.governance).toMatchObject({ budgets: { max_duration: "5m" } });
    const g = governanceOf(plan)!;
    expect(governanceOf(plan)).toBe(g);
    expect(g).toMatchObject({
      objective: "Summarize incident and propose fix",
      budgets: { maxTokens: 6000, maxCostUsd: 1.2, maxToolCalls: 20, maxDurationMs: 300_000 },
      drift: { metrics: ["tool_calls", "cost_usd"], action: "require_approval", minSamples: 5 },
    });
  });
});

describe("toolRefusal", () => {
  it("matches capability globs segment by segment; forbidden wins over allowed", () => {
    const g = { allowed: ["io.fs.*", "llm.chat"], forbidden: ["io.fs.delete"] };
    expect(toolRefusal(g, "io.fs.write_file")).toBeNull();
    expect(toolRefusal(g, "llm.chat")).toBeNull();
    expect(toolRefusal(g, "io.fs.delete")).toMatchObject({
      list: "forbidden",
      pattern: "io.fs.delete",
    });
    expect(toolRefusal(g, "io.fsx.read")).toMatchObject({ list: "allowed", pattern: null });
    expect(
      toolRefusal({ allowed: null, forbidden: ["sys.exec.*"] }, "sys.exec.run"),
    ).not.toBeNull();
    expect(toolRefusal({ allowed: null, forbidden: ["sys.*"] }, "sys.exec.run")).toBeNull();
    expect(toolRefusal({ allowed: null, forbidden: ["sys.**"] }, "sys.exec.run")).not.toBeNull();
  });
});

describe("budget arithmetic", () => {
  it("refuses a reservation when used + in flight + estimate would exceed a limit, naming the budget and figures", () => {
    const used = { toolCalls: 2, tokens: 100, costUsd: 0.1 };
    expect(checkReservation(budgets, used, ZERO_SPEND, callSpend({ tokens: 900 }), 0)).toBeNull();
    expect(
      checkReservation(
        budgets,
        used,
        { toolCalls: 0, tokens: 50, costUsd: 0 },
        callSpend({ tokens: 900 }),
        0,
      ),
    ).toEqual({ budget: "max_tokens", used: 100, reserved: 50, requested: 900, limit: 1000 });
    expect(
      checkReservation(budgets, used, { toolCalls: 1, tokens: 0, costUsd: 0 }, callSpend({}), 0),
    ).toMatchObject({ budget: "max_tool_calls", used: 2, reserved: 1, requested: 1, limit: 3 });
  });

  it("adds money without float drift: 0.1 + 0.2 fits a 0.3 limit", () => {
    const used = addSpend(callSpend({ costUsd: 0.1 }), { toolCalls: 0, tokens: 0, costUsd: 0 });
    expect(checkReservation(budgets, used, ZERO_SPEND, callSpend({ costUsd: 0.2 }), 0)).toBeNull();
    expect(addSpend(callSpend({ costUsd: 0.1 }), callSpend({ costUsd: 0.2 })).costUsd).toBe(0.3);
  });

  it("stops calls once max_duration elapsed, checked before anything else", () => {
    expect(checkReservation(budgets, ZERO_SPEND, ZERO_SPEND, callSpend({}), 60_000)).toEqual({
      budget: "max_duration",
      used: 60_000,
      reserved: 0,
      requested: 0,
      limit: 60_000,
    });
    expect(checkReservation(budgets, ZERO_SPEND, ZERO_SPEND, callSpend({}), 59_999)).toBeNull();
  });

  it("treats bad usage figures as zero and detects settled spend over a limit", () => {
    expect(callSpend({ tokens: -5, costUsd: Number.NaN })).toEqual({
      toolCalls: 1,
      tokens: 0,
      costUsd: 0,
    });
    expect(checkSettled(budgets, { toolCalls: 1, tokens: 1001, costUsd: 0 })).toMatchObject({
      budget: "max_tokens",
      used: 1001,
    });
    expect(
      describeBreach({ budget: "max_tool_calls", used: 3, reserved: 0, requested: 1, limit: 3 }),
    ).toBe("max_tool_calls: 3 used + 0 reserved + 1 requested > limit 3");
  });
});

describe("drift math", () => {
  it("takes the median (mean of the middle two for an even count)", () => {
    expect(median([])).toBe(0);
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it("flags a metric beyond factor x median only once the baseline has min_samples runs", () => {
    const samples = [{ tool_calls: 2 }, { tool_calls: 1 }, { tool_calls: 3, "calls:x.y.z": 1 }];
    const base = computeBaselines(samples);
    expect(base.tool_calls).toEqual({ median: 2, samples: 3, min: 1, max: 3 });
    expect(base["calls:x.y.z"]).toEqual({ median: 0, samples: 3, min: 0, max: 1 });
    const settings = { metrics: ["tool_calls"], factor: 3, minSamples: 3 };
    expect(detectDrift({ tool_calls: 6 }, base, settings)).toEqual([]);
    expect(detectDrift({ tool_calls: 7 }, base, settings)).toEqual([
      { metric: "tool_calls", value: 7, median: 2, threshold: 6, factor: 3, samples: 3 },
    ]);
    expect(detectDrift({ tool_calls: 70 }, base, { ...settings, minSamples: 4 })).toEqual([]);
    // A tool never used in the baseline drifts at its first use.
    expect(
      detectDrift({ "calls:x.y.z": 1 }, computeBaselines([{}, {}, {}], ["calls:x.y.z"]), {
        ...settings,
        metrics: ["calls:x.y.z"],
      }),
    ).toHaveLength(1);
  });

  it("builds run metrics from spend, per-capability calls and duration", () => {
    expect(
      runMetrics({ toolCalls: 2, tokens: 10, costUsd: 0.5 }, { "llm.chat": 2 }, 1234.6),
    ).toEqual({
      tool_calls: 2,
      tokens: 10,
      cost_usd: 0.5,
      duration_ms: 1235,
      "calls:llm.chat": 2,
    });
  });
});
