/** @module Tests of policy table-test parsing (src/core/policy-cases.ts). */
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/core/errors.js";
import { parsePolicyCases } from "../../src/core/policy-cases.js";

function problemsOf(text: string, known?: (n: string) => boolean) {
  try {
    parsePolicyCases("cases.yaml", text, known);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).problems;
  }
  throw new Error("expected a ValidationError");
}

describe("parsePolicyCases", () => {
  it("reads a list of cases with defaults: case N names, empty inputs, no risk, no compensation", () => {
    const cases = parsePolicyCases(
      "cases.yaml",
      `- principal: agent:a
  capability: io.fs.read_file
  expect: allow
- name: deletes need a human
  principal: user:bob
  capability: io.fs.delete
  inputs: { path: x, nested: { n: 1 } }
  risk: high
  compensation: true
  expect: REQUIRE_APPROVAL
`,
    );
    expect(cases).toEqual([
      {
        name: "case 1",
        principal: "agent:a",
        capability: "io.fs.read_file",
        inputs: {},
        risk: null,
        compensation: false,
        expect: "ALLOW",
        line: 1,
      },
      {
        name: "deletes need a human",
        principal: "user:bob",
        capability: "io.fs.delete",
        inputs: { path: "x", nested: { n: 1 } },
        risk: "HIGH",
        compensation: true,
        expect: "REQUIRE_APPROVAL",
        line: 4,
      },
    ]);
  });

  it("accepts a mapping with cases:", () => {
    const cases = parsePolicyCases(
      "c.yaml",
      "cases:\n  - { principal: agent:a, capability: sys.echo, expect: DENY }\n",
    );
    expect(cases.map((c) => [c.name, c.line])).toEqual([["case 1", 2]]);
  });

  it("reports every problem with file, line and field: bad decision, missing keys, unknown keys, unknown capability", () => {
    const ps = problemsOf(
      `- principal: agent:a
  capability: io.fs.read_file
  expect: PERHAPS
- capability: io.fs.read_file
  expect: ALLOW
- principal: agent:a
  capability: io.fs.raed_file
  expect: ALLOW
- principal: agent:a
  capability: sys.echo
  expected: ALLOW
`,
      (n) => n !== "io.fs.raed_file",
    );
    expect(ps.map((p) => [p.line, p.field])).toEqual([
      [3, "[0].expect"],
      [4, "[1].principal"],
      [7, "[2].capability"],
      [9, "[3].expect"],
      [11, "[3].expected"],
    ]);
    expect(ps.every((p) => p.file === "cases.yaml")).toBe(true);
    expect(ps[1]?.message).toBe("is required");
    expect(ps[2]?.message).toMatch(/unknown capability "io.fs.raed_file"/);
  });

  it("refuses an empty file, a non-list and YAML syntax errors", () => {
    expect(problemsOf("")[0]?.message).toMatch(/non-empty list of cases/);
    expect(problemsOf("principal: agent:a\n")[0]?.message).toMatch(/unknown key "principal"/);
    expect(problemsOf("- [unclosed\n")[0]?.line).toBeGreaterThan(0);
  });
});
