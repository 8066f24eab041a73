/** @module Tests of the expression language (src/core/expr.ts). */
import { describe, expect, it } from "vitest";
import { ExpressionError } from "../../src/core/errors.js";
import {
  compileExpression,
  type ExprScope,
  formatPath,
  isTruthy,
  rewriteExpressionPaths,
} from "../../src/core/expr.js";

const scope: ExprScope = {
  vars: {
    inputs: { env: "prod", n: 3, flag: false, list: [1, 2, 3], obj: { a: 1, b: 2 }, empty: "" },
    steps: { a: { outputs: { x: "hello", items: ["p", "q"], "odd-key": 7 } } },
    run: { id: "r1" },
  },
  secret: (name) => (name === "TOKEN" ? "s3cr3t" : undefined),
};

const ev = (src: string, s: ExprScope = scope) => compileExpression(src).evaluate(s);

function thrown(fn: () => unknown): ExpressionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ExpressionError);
    return err as ExpressionError;
  }
  throw new Error("expected an ExpressionError");
}

describe("expressions", () => {
  it("reads dotted, indexed and quoted-key paths", () => {
    expect(ev("inputs.env")).toBe("prod");
    expect(ev("inputs.list[1]")).toBe(2);
    expect(ev("steps.a.outputs.items[0]")).toBe("p");
    expect(ev("steps.a.outputs['odd-key']")).toBe(7);
    expect(ev('steps["a"].outputs.x')).toBe("hello");
    expect(ev("inputs.obj")).toEqual({ a: 1, b: 2 });
  });

  it("evaluates literals, including strings with escapes", () => {
    expect(ev("42")).toBe(42);
    expect(ev("1.5")).toBe(1.5);
    expect(ev("-2")).toBe(-2);
    expect(ev("true")).toBe(true);
    expect(ev("null")).toBe(null);
    expect(ev("'it\\'s'")).toBe("it's");
    expect(ev('"a\\"b\\\\c\\n"')).toBe('a"b\\c\n');
    expect(ev("'\\u00e9\\u{1F600}'")).toBe("é😀");
  });

  it("compares without coercion", () => {
    expect(ev("inputs.n == 3")).toBe(true);
    expect(ev("inputs.n == '3'")).toBe(false);
    expect(ev("inputs.n != '3'")).toBe(true);
    expect(ev("null == false")).toBe(false);
    expect(ev("inputs.list == inputs.list")).toBe(true);
    expect(ev("inputs.obj == inputs.obj")).toBe(true);
    expect(ev("'b' > 'a'")).toBe(true);
    expect(ev("inputs.n >= 3 && inputs.n <= 3 && inputs.n < 4 && inputs.n > 2")).toBe(true);
  });

  it("rejects ordering comparisons between different types", () => {
    expect(thrown(() => ev("inputs.n < 'a'")).code).toBe("EXPRESSION_TYPE");
  });

  it("applies precedence: ! over comparison over && over ||", () => {
    expect(ev("true || false && false")).toBe(true);
    expect(ev("(true || false) && false")).toBe(false);
    expect(ev("!inputs.flag && inputs.env == 'prod'")).toBe(true);
    expect(ev("1 < 2 == true")).toBe(true);
    expect(ev("!(inputs.n == 3)")).toBe(false);
  });

  it("short-circuits && and || and returns booleans", () => {
    // The right side would throw (unknown path) if it were evaluated.
    expect(ev("false && inputs.missing")).toBe(false);
    expect(ev("true || inputs.missing")).toBe(true);
    expect(ev("inputs.env && inputs.n")).toBe(true);
    expect(ev("inputs.empty || 0")).toBe(false);
  });

  it("computes len of strings, arrays and objects", () => {
    expect(ev("len(inputs.env)")).toBe(4);
    expect(ev("len(inputs.list)")).toBe(3);
    expect(ev("len(inputs.obj)")).toBe(2);
    expect(ev("len('😀')")).toBe(1);
    expect(thrown(() => ev("len(inputs.n)")).code).toBe("EXPRESSION_TYPE");
  });

  it("reads secrets through scope.secret", () => {
    expect(ev("secrets.TOKEN")).toBe("s3cr3t");
    const err = thrown(() => ev("secrets.OTHER"));
    expect(err.code).toBe("UNRESOLVED_REFERENCE");
    expect(err.path).toBe("secrets.OTHER");
  });

  it("throws UNRESOLVED_REFERENCE naming the path instead of returning undefined", () => {
    const cases: [string, string][] = [
      ["inputs.nope", "inputs.nope"],
      ["nothing.here", "nothing.here"],
      ["inputs.list[5]", "inputs.list[5]"],
      ["inputs.env.length", "inputs.env.length"],
      ["inputs.list.length", "inputs.list.length"],
      ["steps.b.outputs.x", "steps.b.outputs.x"],
    ];
    for (const [src, path] of cases) {
      const err = thrown(() => ev(src));
      expect(err.code).toBe("UNRESOLVED_REFERENCE");
      expect(err.path).toBe(path);
      expect(err.message).toContain(path);
    }
  });

  it("refuses prototype access at compile time", () => {
    for (const src of [
      "inputs.__proto__",
      "inputs.constructor",
      "inputs['__proto__']",
      "inputs.obj.prototype",
      "constructor",
      'inputs["constructor"].name',
    ]) {
      const err = thrown(() => compileExpression(src));
      expect(err.code).toBe("EXPRESSION_SYNTAX");
    }
  });

  it("does not reach inherited properties of objects", () => {
    const s: ExprScope = { vars: { o: { a: 1 } } };
    expect(thrown(() => ev("o.toString", s)).code).toBe("UNRESOLVED_REFERENCE");
    expect(thrown(() => ev("o.hasOwnProperty", s)).code).toBe("UNRESOLVED_REFERENCE");
    expect(thrown(() => ev("toString", s)).code).toBe("UNRESOLVED_REFERENCE");
  });

  it("reports syntax errors with the column", () => {
    const cases: [string, number][] = [
      ["inputs.env ==", 14],
      ["inputs.env = 'x'", 12],
      ["(1 == 1", 8],
      ["'open", 1],
      ["foo(1)", 1],
      ["a.b +", 5],
      ["", 1],
      ["a[b]", 3],
    ];
    for (const [src, col] of cases) {
      const err = thrown(() => compileExpression(src));
      expect(err.code, src).toBe("EXPRESSION_SYNTAX");
      expect(err.column, src).toBe(col);
    }
  });

  it("lists every path an expression reads", () => {
    const c = compileExpression("len(steps.a.outputs.items) > 1 && inputs.list[0] == secrets.X");
    expect(c.references).toEqual([
      ["steps", "a", "outputs", "items"],
      ["inputs", "list", "0"],
      ["secrets", "X"],
    ]);
  });

  it("caches compiled expressions by source", () => {
    expect(compileExpression("inputs.n == 1")).toBe(compileExpression("inputs.n == 1"));
  });

  it("rewrites paths and keeps the rest of the source", () => {
    const out = rewriteExpressionPaths("a.b == 'x' && len(c) > 0", (p) =>
      p[0] === "a" ? ["steps", "a", "outputs", ...p.slice(1)] : undefined,
    );
    expect(out).toBe("steps.a.outputs.b == 'x' && len(c) > 0");
    expect(formatPath(["steps", "odd-key", 0])).toBe("steps['odd-key'][0]");
    expect(formatPath(["a", "it's"])).toBe("a['it\\'s']");
    expect(compileExpression(formatPath(["a", "it's\\"])).references).toEqual([["a", "it's\\"]]);
  });

  it("treats false, null, 0 and empty string as falsy", () => {
    expect([false, null, 0, ""].map(isTruthy)).toEqual([false, false, false, false]);
    expect([true, 1, "x", [], {}].map(isTruthy)).toEqual([true, true, true, true, true]);
  });
});
