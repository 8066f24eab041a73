// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Airun templates.
/**
 * @module What the fuzz suite found (issue 13), each as a fixed case that stays: the shrunk
 * counterexample, with the property that found it. These run on every `npm test`, whatever
 * the fuzz seed.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createStandardRegistry } from "../../src/capabilities/registry.js";
import { ExpressionError, ValidationError } from "../../src/core/errors.js";
import { compileExpression } from "../../src/core/expr.js";
import { compilePolicy } from "../../src/core/policy-compile.js";
import { validateSpec } from "../../src/core/spec-compile.js";
import { assertClearError, fuzz } from "./kit.js";

const catalog = createStandardRegistry();

/** `k0:` then `k1:` one space further in, and so on: nesting by indentation alone. */
function indented(levels: number, base: number): string {
  return Array.from({ length: levels }, (_, i) => `${" ".repeat(base + i)}k${i}:`).join("\n");
}

describe("fuzz regressions", () => {
  // spec: deep nesting / policy: broken text, seed 20261203.
  it("refuses YAML nested by indentation alone past the depth limit, at its line", () => {
    const spec = `name: deep\nsteps:\n  - id: a\n    capability: sys.echo\n    inputs:\n      x:\n${indented(1200, 8)} 1\n`;
    const { plan, problems } = validateSpec({ file: "wf.yaml", text: spec }, catalog);
    expect(plan).toBeUndefined();
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toMatch(/nested deeper than 64 levels \(limits\.yaml_depth/);
    expect(problems[0]?.line).toBeLessThan(80);

    const policy = `version: 1\nrules:\n  - id: r\n    decision: ALLOW\n    when:\n${indented(1200, 6)} 1\n`;
    let err: unknown;
    try {
      compilePolicy("pol.yaml", policy);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toMatch(
      /^pol\.yaml:\d+:\d+: nested deeper than 64 levels/,
    );
  });

  // expr: deep nesting, seed 20261203.
  it.each([
    ["parentheses", `${"(".repeat(20_000)}1${")".repeat(20_000)}`],
    ["negations", `${"!".repeat(20_000)}true`],
    ["minus signs", `${"-".repeat(20_000)}1`],
    ["len calls", `${"len(".repeat(20_000)}'x'${")".repeat(20_000)}`],
  ])("refuses an expression nested 20,000 deep (%s) with EXPRESSION_SYNTAX", (_, source) => {
    let err: unknown;
    try {
      compileExpression(source).evaluate({ vars: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ExpressionError);
    expect(assertClearError(err).code).toBe("EXPRESSION_SYNTAX");
    expect((err as Error).message).toMatch(/nested deeper than \d+ levels/);
  });

  it("reports an expression nested too deep in a spec at its field", () => {
    const when = `\${{ ${"(".repeat(5000)}true${")".repeat(5000)} }}`;
    const text = `name: w\nsteps:\n  - id: a\n    capability: sys.echo\n    when: "${when}"\n    inputs: {}\n`;
    const { problems } = validateSpec({ file: "wf.yaml", text }, catalog);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 5, field: "steps[0].when" });
    expect(problems[0]?.message).toMatch(/nested deeper than \d+ levels/);
  });

  // expr: grammar, seed 20261203: `--1e999` evaluated to Infinity, which JSON writes as null.
  it.each(["1e999", "--1e999", "-1e400 < 0"])("refuses the out-of-range number in %s", (source) => {
    expect(() => compileExpression(source)).toThrow(/number .*out of range|not a finite number/);
    try {
      compileExpression(source);
    } catch (err) {
      expect(assertClearError(err).code).toBe("EXPRESSION_SYNTAX");
    }
  });

  // spec: huge documents, seed 20261203: one mapping of 13,167 keys took over 20 s, since
  // checking that keys are unique took quadratic time. Its budget is the fuzz suite's, a
  // property failure rather than a clock on the suite.
  it("reads a mapping of 40,000 keys within the per-case budget, and still finds a duplicate", () => {
    const keys = (n: number, dup: boolean) =>
      `name: huge\nsteps:\n  - id: a\n    capability: sys.echo\n    inputs:\n${Array.from({ length: n }, (_, i) => `      k${i}: ${i}\n`).join("")}${dup ? "      k7: again\n" : ""}`;
    fuzz(
      "regression: many keys",
      fc.constant(keys(40_000, false)),
      (text) => {
        const { plan, problems } = validateSpec({ file: "wf.yaml", text }, catalog);
        expect(problems).toEqual([]);
        expect(plan?.steps[0]?.inputs).toMatchObject({ k0: 0, k39999: 39_999 });
      },
      { runs: 1, caseMs: 90_000 },
    );
    const { problems } = validateSpec({ file: "wf.yaml", text: keys(100, true) }, catalog);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 106, field: "steps[0].inputs.k7" });
    expect(problems[0]?.message).toMatch(/duplicate key "k7"|must be unique/);
  }, 300_000);
});
