// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Airun templates.
/** @module Tests of templates (src/core/template.ts). */
import { describe, expect, it } from "vitest";
import { ExpressionError } from "../../src/core/errors.js";
import type { ExprScope } from "../../src/core/expr.js";
import {
  collectSecretNames,
  evaluateCondition,
  hasTemplate,
  parseTemplateString,
  resolveTemplates,
  rewriteTemplates,
  templateReferences,
} from "../../src/core/template.js";

const scope: ExprScope = {
  vars: {
    inputs: { env: "prod", n: 3, tags: ["a", "b"], cfg: { k: 1 }, nothing: null },
    steps: { w: { outputs: { path: "conf/prod.json", size: 12 } } },
  },
  secret: (name) => ({ TOKEN: "t0k", USER: "bob" })[name],
};

describe("templates", () => {
  it("keeps the value's type when a string is exactly one template", () => {
    expect(resolveTemplates("${{ inputs.n }}", scope)).toBe(3);
    expect(resolveTemplates("${{ inputs.tags }}", scope)).toEqual(["a", "b"]);
    expect(resolveTemplates("${{ inputs.cfg }}", scope)).toEqual({ k: 1 });
    expect(resolveTemplates("${{ inputs.n > 2 }}", scope)).toBe(true);
    expect(resolveTemplates("${{ inputs.nothing }}", scope)).toBe(null);
  });

  it("copies objects with their key order, keeping a __proto__ key an own data property", () => {
    const value = JSON.parse(
      '{"z": "${{ inputs.n }}", "__proto__": {"env": "${{ inputs.env }}"}, "a": [1]}',
    );
    const out = resolveTemplates(value, scope) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(["z", "__proto__", "a"]);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toEqual({ env: "prod" });
    expect(out.z).toBe(3);
    expect(out.a).not.toBe(value.a);
    expect(({} as Record<string, unknown>).env).toBeUndefined();
  });

  it("stringifies values inside mixed strings (objects as JSON)", () => {
    expect(resolveTemplates("conf/${{ inputs.env }}.json", scope)).toBe("conf/prod.json");
    expect(resolveTemplates("n=${{ inputs.n }} tags=${{ inputs.tags }}", scope)).toBe(
      'n=3 tags=["a","b"]',
    );
    expect(resolveTemplates("cfg: ${{ inputs.cfg }}!", scope)).toBe('cfg: {"k":1}!');
    expect(resolveTemplates(" ${{ inputs.n }}", scope)).toBe(" 3");
  });

  it("gives {{ }} the same meaning as ${{ }}", () => {
    expect(resolveTemplates("{{ inputs.n }}", scope)).toBe(3);
    expect(resolveTemplates("a-{{inputs.env}}-${{ inputs.env }}", scope)).toBe("a-prod-prod");
  });

  it("resolves templates anywhere in a JSON value and leaves other values alone", () => {
    const value = {
      a: ["${{ steps.w.outputs.path }}", 1, true, null],
      b: { c: "x${{ inputs.n }}" },
      d: "plain",
    };
    expect(resolveTemplates(value, scope)).toEqual({
      a: ["conf/prod.json", 1, true, null],
      b: { c: "x3" },
      d: "plain",
    });
    expect(value.a[0]).toBe("${{ steps.w.outputs.path }}");
  });

  it("reads secrets via scope.secret", () => {
    expect(resolveTemplates({ h: "Bearer ${{ secrets.TOKEN }}" }, scope)).toEqual({
      h: "Bearer t0k",
    });
    expect(
      collectSecretNames({
        a: "${{ secrets.TOKEN }}",
        b: ["${{ secrets.USER }} ${{ secrets.TOKEN }}"],
      }),
    ).toEqual(["TOKEN", "USER"]);
  });

  it("throws UNRESOLVED_REFERENCE instead of leaving a literal in place", () => {
    for (const v of [
      "x ${{ inputs.missing }}",
      "${{ steps.other.outputs.x }}",
      "${{ secrets.NOPE }}",
    ]) {
      try {
        resolveTemplates(v, scope);
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(ExpressionError);
        expect((err as ExpressionError).code).toBe("UNRESOLVED_REFERENCE");
      }
    }
  });

  it("reports an unclosed template as a syntax error", () => {
    expect(() => parseTemplateString("a ${{ inputs.env")).toThrow(/not closed/);
  });

  it("does not end a template at }} inside a quoted string", () => {
    expect(resolveTemplates("${{ '}}' == '}}' }}", scope)).toBe(true);
  });

  it("detects templates and lists the paths they read", () => {
    expect(hasTemplate({ a: [1, { b: "x{{ inputs.n }}" }] })).toBe(true);
    expect(hasTemplate({ a: "{ not a template }" })).toBe(false);
    expect(
      templateReferences({ a: "${{ inputs.n == steps.w.outputs.size }}", b: "{{ run.id }}" }),
    ).toEqual([
      ["inputs", "n"],
      ["steps", "w", "outputs", "size"],
      ["run", "id"],
    ]);
  });

  it("evaluates conditions given as one template, a bare expression or a boolean", () => {
    expect(evaluateCondition("${{ inputs.env == 'prod' }}", scope)).toBe(true);
    expect(evaluateCondition("inputs.n < 2", scope)).toBe(false);
    expect(evaluateCondition(false, scope)).toBe(false);
    expect(evaluateCondition("${{ inputs.nothing }}", scope)).toBe(false);
  });

  it("rewrites every template and normalizes to ${{ }}", () => {
    const out = rewriteTemplates(
      { p: "dir/{{ a.b }}/${{ c }}", q: ["{{x}}"], r: 5 },
      (src, info) => (info.dollar ? src : `steps.${src}`),
    );
    expect(out).toEqual({ p: "dir/${{ steps.a.b }}/${{ c }}", q: ["${{ steps.x }}"], r: 5 });
  });
});
