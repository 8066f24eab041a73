/**
 * @module Tests of policy file validation: every problem reported, with file, line, column and
 * field; nothing unknown is ever accepted (an unknown decision must not fail open).
 */
import { describe, expect, it } from "vitest";
import { type Problem, ValidationError } from "../../src/core/errors.js";
import { compilePolicy, isPathField } from "../../src/core/policy-compile.js";

/** Compiles and returns the problems it throws (fails the test if it does not throw). */
function problems(text: string): readonly Problem[] {
  try {
    compilePolicy("pol.yaml", text);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    const v = err as ValidationError;
    expect(v.code).toBe("VALIDATION_FAILED");
    return v.problems;
  }
  throw new Error("expected a ValidationError");
}

describe("compilePolicy validation", () => {
  it("rejects an unknown decision with its line and column (never fails open)", () => {
    const ps = problems(`version: 1
rules:
  - id: ok
    capability: io.fs.read_file
    decision: ALLOW
  - id: typo
    capability: io.fs.delete
    decision: ALOW
`);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ file: "pol.yaml", line: 8, col: 15, field: "rules[1].decision" });
    expect(ps[0]?.message).toMatch(/unknown decision "ALOW"/);
  });

  it("rejects an unknown default decision", () => {
    const ps = problems("default: MAYBE\n");
    expect(ps[0]).toMatchObject({ line: 1, field: "default" });
  });

  it("rejects an unknown key in a rule, with a suggestion", () => {
    const ps = problems(`rules:
  - capability: io.fs.read_file
    decison: ALLOW
    decision: ALLOW
`);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ line: 3, field: "rules[0].decison" });
    expect(ps[0]?.message).toContain('did you mean "decision"');
  });

  it("rejects an unknown top-level key", () => {
    const ps = problems("version: 1\ndefualt: ALLOW\n");
    expect(ps[0]).toMatchObject({ line: 2, field: "defualt" });
    expect(ps[0]?.message).toContain('did you mean "default"');
  });

  it("rejects a bad risk level, in a list too", () => {
    const ps = problems(`rules:
  - capability: "**"
    risk_level: [LOW, SEVERE]
    decision: ALLOW
`);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ line: 3, col: 23, field: "rules[0].risk_level[1]" });
    expect(ps[0]?.message).toContain('unknown risk level "SEVERE"');
  });

  it("rejects a rule without a decision, located at the rule", () => {
    const ps = problems(`rules:
  - id: a
    capability: io.fs.read_file
    decision: ALLOW

  - id: b
    capability: io.fs.write_file
`);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ line: 6, field: "rules[1]" });
    expect(ps[0]?.message).toMatch(/no decision/);
  });

  it("reports invalid YAML with its position", () => {
    const ps = problems('rules:\n  - capability: "io.fs.read_file\n    decision: ALLOW\n');
    expect(ps.length).toBeGreaterThan(0);
    expect(ps[0]?.file).toBe("pol.yaml");
    expect(ps[0]?.line).toBeGreaterThanOrEqual(2);
  });

  it("reports every problem at once, formatted file:line:col field message", () => {
    try {
      compilePolicy(
        "pol.yaml",
        `version: 2
default: NOPE
rules:
  - { capability: "io..fs", decision: ALLOW }
  - { principal: alice, capability: "**", decision: ALLOW }
  - { capability: "**", decision: DENY, approvers: [role:sre] }
  - { id: x, capability: "**", decision: ALLOW }
  - { id: x, capability: "**", decision: DENY }
  - { capability: "**", action: ALLOW, decision: ALLOW }
  - { capability: "**", capabilities: [a.b.c], decision: ALLOW }
  - "not a rule"
`,
      );
      expect.unreachable();
    } catch (err) {
      const v = err as ValidationError;
      const fields = v.problems.map((p) => `${p.line}:${p.field}`);
      expect(fields).toEqual([
        "1:version",
        "2:default",
        "4:rules[0].capability",
        "5:rules[1].principal",
        "6:rules[2].approvers",
        "8:rules[4].id",
        "9:rules[5].action",
        "10:rules[6].capabilities",
        "11:rules[7]",
      ]);
      expect(v.message.split("\n")[0]).toMatch(
        /^pol\.yaml:1:10: version: unsupported policy version/,
      );
      expect(v.context.location).toBe("pol.yaml:1:10");
    }
  });

  it("rejects a bad condition: unknown operator, null value, '..' in a path pattern, number for a path", () => {
    const ps = problems(`rules:
  - capability: "**"
    when:
      mode: { like: "a%" }
      other: null
      path: "../x/**"
      cwd: 3
      "inputs.": x
    decision: DENY
`);
    expect(ps.map((p) => p.field)).toEqual([
      "rules[0].when.mode",
      "rules[0].when.other",
      "rules[0].when.path",
      "rules[0].when.cwd",
      "rules[0].when.inputs.",
    ]);
    expect(ps.map((p) => p.line)).toEqual([4, 5, 6, 7, 8]);
  });

  it("rejects a match key given both at the top level and under when", () => {
    const ps = problems(`rules:
  - capability: io.fs.read_file
    when: { capability: io.fs.write_file }
    decision: ALLOW
`);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ line: 3, field: "rules[0].when.capability" });
  });

  it("rejects an empty file and a non-mapping document", () => {
    expect(problems("")[0]?.message).toMatch(/empty/);
    expect(problems("- a\n- b\n")[0]?.message).toMatch(/mapping/);
    expect(problems("rules: {}\n")[0]).toMatchObject({ field: "rules" });
  });

  it("rejects a non-string decision", () => {
    expect(problems("rules: [{ capability: '**', decision: 1 }]\n")[0]?.field).toBe(
      "rules[0].decision",
    );
  });

  it("accepts the full SPEC §6 example", () => {
    const p = compilePolicy(
      "pol.yaml",
      `version: 1
default: DENY
rules:
  - id: agents-read
    principal: "agent:*"
    capability: "io.fs.read_*"
    risk_level: [LOW, MEDIUM]
    when: { "inputs.path": "reports/**" }
    decision: ALLOW
    approvers: ["role:sre"]
    reason: "free text shown to people"
`,
    );
    expect(p.ruleCount).toBe(1);
    const d = p.evaluate({
      principal: "agent:planner",
      roles: [],
      capability: "io.fs.read_file",
      risk: "LOW",
      effect: "read",
      undo: "none",
      hasCompensation: false,
      inputs: { path: "reports/q1.md" },
    });
    expect(d.decision).toBe("ALLOW");
    expect(d.ruleIds).toEqual(["agents-read"]);
    expect(d.reason).toContain("free text shown to people");
  });
});

describe("isPathField", () => {
  it.each([
    ["path", true],
    ["from", true],
    ["to", true],
    ["cwd", true],
    ["source_path", true],
    ["filePath", true],
    ["url", false],
    ["method", false],
    ["topic", false],
  ])("%s → %s", (key, yes) => {
    expect(isPathField(key)).toBe(yes);
  });
});
