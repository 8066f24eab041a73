// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Airun templates.
/**
 * @module Property-based fuzzing of the expression and template evaluator and of JSON input
 * (issue 13): any text compiles or is an `EXPRESSION_SYNTAX` error; any compiled expression
 * evaluates to a JSON value or an expression error, against any scope (hostile keys included:
 * nothing outside the scope's own data is reachable); nesting far past what anyone writes is
 * a clear error, never a stack overflow.
 */
import fc from "fast-check";
import { describe, it } from "vitest";
import { ExpressionError } from "../../src/core/errors.js";
import { compileExpression, type ExprScope, rewriteExpressionPaths } from "../../src/core/expr.js";
import type { JsonValue } from "../../src/core/json.js";
import { jsonValueProblems, parseJsonText } from "../../src/core/json-input.js";
import {
  parseTemplateString,
  resolveTemplates,
  templateReferences,
} from "../../src/core/template.js";
import { deepExpression, expression, hostileKey, scopeValue } from "./arbitraries.js";
import { assertClearError, assertNotPolluted, clearly, fuzz, timeoutOf } from "./kit.js";

/** Asserts `v` is JSON data: finite numbers, plain objects and arrays, nothing else. */
function assertJson(v: unknown, source: string): void {
  const stack: unknown[] = [v];
  while (stack.length > 0) {
    const x = stack.pop();
    if (x === null || typeof x === "string" || typeof x === "boolean") continue;
    if (typeof x === "number") {
      if (!Number.isFinite(x)) throw new Error(`"${source}" gave ${x}, which JSON cannot hold`);
      continue;
    }
    if (Array.isArray(x)) stack.push(...x);
    else if (typeof x === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(x))) {
      stack.push(...Object.values(x as object));
    } else throw new Error(`"${source}" reached a ${typeof x} (${String(x).slice(0, 60)})`);
  }
}

/** Compiles and evaluates `source`; only expression errors may come out. */
function evaluate(source: string, scope: ExprScope): void {
  const r = clearly(() => compileExpression(source).evaluate(scope));
  if (r.ok) assertJson(r.value, source);
  else if (!(r.error instanceof ExpressionError)) throw r.error;
}

const scope = fc
  .record({
    inputs: fc.dictionary(
      fc.oneof(fc.constantFrom("a", "b", "list", "k"), hostileKey),
      scopeValue,
      { maxKeys: 5 },
    ),
    out: scopeValue,
    secret: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
  })
  .map(
    ({ inputs, out, secret }): ExprScope => ({
      vars: {
        inputs: inputs as JsonValue,
        steps: { s: { outputs: out as JsonValue } },
        run: { id: "run-1", principal: "agent:fuzz" },
      },
      secret: (name) => (name === "TOKEN" ? secret : undefined),
    }),
  );

describe("fuzz: expressions and templates", () => {
  const GRAMMAR = { runs: 300 };
  it(
    "evaluates expressions from the grammar to JSON, or an expression error",
    () => {
      fuzz(
        "expr: grammar",
        fc.record({ e: expression, scope }),
        ({ e, scope: s }) => evaluate(e, s),
        GRAMMAR,
      );
    },
    timeoutOf(GRAMMAR),
  );

  const TEXT = { runs: 300 };
  it(
    "compiles any text or refuses it with EXPRESSION_SYNTAX",
    () => {
      const text = fc.oneof(
        fc.string({ unit: "binary", maxLength: 60 }),
        fc
          .array(
            fc.constantFrom(
              "inputs",
              ".",
              "[",
              "]",
              "'",
              '"',
              "\\",
              "(",
              ")",
              "len",
              "==",
              "!",
              "-",
              "1",
              "1e999",
              "0x1",
              "&&",
              "||",
              " ",
              "__proto__",
              "constructor",
              "secrets",
              "TOKEN",
              ",",
              "<",
              "steps",
              "s",
              "outputs",
            ),
            { maxLength: 30 },
          )
          .map((xs) => xs.join("")),
      );
      fuzz(
        "expr: any text",
        fc.record({ t: text, scope }),
        ({ t, scope: s }) => {
          evaluate(t, s);
          const r = clearly(() => rewriteExpressionPaths(t, () => undefined));
          if (r.ok && r.value !== t)
            throw new Error(`an identity rewrite changed "${t}" into "${r.value}"`);
        },
        TEXT,
      );
    },
    timeoutOf(TEXT),
  );

  const DEEP = { runs: 20 };
  it(
    "refuses expressions nested past any real use with a clear error",
    () => {
      fuzz(
        "expr: deep nesting",
        deepExpression,
        (e) => {
          evaluate(e, { vars: { inputs: {} } });
          const r = clearly(() =>
            resolveTemplates({ x: `\${{ ${e} }}`, y: `a {{ ${e} }} b` }, { vars: {} }),
          );
          if (!r.ok && !(r.error instanceof ExpressionError)) throw r.error;
        },
        DEEP,
      );
    },
    timeoutOf(DEEP),
  );

  const TEMPLATES = { runs: 300 };
  it(
    "splits and resolves any templated string, or refuses it with an expression error",
    () => {
      const piece = fc.oneof(
        fc.string({ maxLength: 6 }),
        fc.constantFrom(
          "${{",
          "{{",
          "}}",
          "}",
          "{",
          "$",
          "'",
          '"',
          "\\",
          "${{ inputs.a }}",
          "{{ inputs.b }}",
          "{{ '}}' }}",
          "${{ secrets.TOKEN }}",
        ),
        expression.map((e) => `\${{ ${e} }}`),
      );
      const value = fc.oneof(
        fc.array(piece, { maxLength: 8 }).map((xs) => xs.join("")),
        fc.dictionary(
          fc.oneof(fc.string({ maxLength: 4 }), hostileKey),
          fc.array(piece, { maxLength: 4 }).map((xs) => xs.join("")),
          { maxKeys: 3 },
        ),
      );
      fuzz(
        "template: any templated value",
        fc.record({ v: value, scope }),
        ({ v, scope: s }) => {
          const results = [
            clearly(() => (typeof v === "string" ? parseTemplateString(v) : null)),
            clearly(() => templateReferences(v as JsonValue)),
            clearly(() => resolveTemplates(v as JsonValue, s)),
          ];
          for (const r of results)
            if (!r.ok && !(r.error instanceof ExpressionError)) throw r.error;
          const resolved = results[2];
          if (resolved?.ok) assertJson(resolved.value, JSON.stringify(v));
          assertNotPolluted();
        },
        TEMPLATES,
      );
    },
    timeoutOf(TEMPLATES),
  );

  const JSON_TEXT = { runs: 150 };
  it(
    "parses JSON input text or names the line and column of the error",
    () => {
      const text = fc.oneof(
        fc.json({ maxDepth: 4 }),
        fc
          .json({ maxDepth: 4 })
          .chain((j) =>
            fc.tuple(
              fc.constant(j),
              fc.nat(j.length),
              fc.constantFrom("", ",", "}", "]", "\u0000", '"', "\\u12", "\n", "NaN", "1e999"),
            ),
          )
          .map(([j, at, ins]) => j.slice(0, at) + ins + j.slice(at + 1)),
        fc.string({ unit: "binary", maxLength: 50 }),
        fc.integer({ min: 1, max: 100_000 }).map((d) => "[".repeat(d) + "]".repeat(d)),
        fc.integer({ min: 1, max: 100_000 }).map((d) => `${'{"a":'.repeat(d)}1${"}".repeat(d)}`),
      );
      fuzz(
        "json: input text",
        text,
        (t) => {
          const r = clearly(() => parseJsonText("inputs.json", t), "inputs.json", t);
          if (r.ok) jsonValueProblems(r.value, 64, "inputs");
        },
        JSON_TEXT,
      );
    },
    timeoutOf(JSON_TEXT),
  );

  it("the harness catches a non-Airun error", () => {
    let caught = false;
    try {
      assertClearError(new RangeError("Maximum call stack size exceeded"));
    } catch {
      caught = true;
    }
    if (!caught) throw new Error("assertClearError let a RangeError through");
  });
});
