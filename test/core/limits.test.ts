import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/core/errors.js";
import { jsonValueProblems, parseJsonText, utf8Length } from "../../src/core/json-input.js";
import { decodeUtf8 } from "../../src/core/utf8.js";
import { nestingBeyond } from "../../src/core/yaml-guard.js";
import { parseYamlSource } from "../../src/core/yaml-source.js";

/** A YAML mapping nested `depth` levels deep in block style (the top-level mapping is 1). */
function blockNest(depth: number): string {
  let s = "";
  for (let i = 0; i < depth - 1; i++) s += `${"  ".repeat(i)}k${i}:\n`;
  return `${s}${"  ".repeat(depth - 1)}leaf: 1\n`;
}

function problemOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (err instanceof ValidationError) return err.message;
    throw err;
  }
  return "no problem";
}

describe("strict UTF-8", () => {
  it("decodes UTF-8 and names the first byte that is not, with its line and column", () => {
    expect(decodeUtf8("f", new TextEncoder().encode("a: café ✓ 𝄞\n"))).toBe("a: café ✓ 𝄞\n");
    const cases: [number[], RegExp][] = [
      [[0x61, 0x0a, 0x62, 0xe9, 0x0a], /^f:2:2: .*byte 3 is 0xE9/],
      [[0xc0, 0x80], /^f:1:1: .*byte 0 is 0xC0/], // overlong NUL
      [[0x61, 0xed, 0xa0, 0x80], /^f:1:2: .*byte 1 is 0xED/], // a surrogate
      [[0xc3, 0xa9, 0xe2, 0x82], /^f:1:2: .*byte 2 is 0xE2/], // truncated at the end
      [[0xf5, 0x80, 0x80, 0x80], /byte 0 is 0xF5/], // beyond U+10FFFF
    ];
    for (const [bytes, message] of cases) {
      expect(problemOf(() => decodeUtf8("f", Uint8Array.from(bytes)))).toMatch(message);
    }
  });
});

describe("JSON inputs", () => {
  it("locates a syntax error, counts UTF-8 bytes, finds deep nesting and prototype keys", () => {
    expect(problemOf(() => parseJsonText("in.json", '{\n  "a": [1,,2]\n}'))).toMatch(
      /^in\.json:2:\d+: not valid JSON/,
    );
    expect(utf8Length("aé✓𝄞")).toBe(1 + 2 + 3 + 4);
    expect(jsonValueProblems({ a: [[1]] }, 3, "inputs")).toEqual([]);
    expect(jsonValueProblems({ a: [[[1]]] }, 3, "inputs")).toEqual([
      { field: "inputs.a[0][0]", message: "nested deeper than 3 levels (limits.input_depth)" },
    ]);
    const proto = JSON.parse('{"a": {"__proto__": {"x": 1}}, "b": [{"prototype": 1}]}');
    expect(jsonValueProblems(proto, 64, "").map((p) => p.field)).toEqual([
      "a.__proto__",
      "b[0].prototype",
    ]);
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(jsonValueProblems({ deep }, 64, "")).toHaveLength(1);
  });
});

describe("YAML limits", () => {
  it("accepts a document exactly as deep as the limit and refuses one level more, with its place", () => {
    expect(
      parseYamlSource("f", blockNest(8), { yamlDepth: 8, yamlAliases: 100 }).syntaxProblems,
    ).toEqual([]);
    const deeper = parseYamlSource("f", blockNest(9), { yamlDepth: 8, yamlAliases: 100 });
    expect(deeper.value).toBeUndefined();
    expect(deeper.syntaxProblems[0]).toMatchObject({
      line: 9,
      message: expect.stringMatching(/deeper than 8/),
    });
  });

  it("the guard never refuses what the exact check accepts: block scalars, quoted lines, comments, dashes", () => {
    const text = `name: x # - - - [[[[
steps:
  - id: a
    run: |
      - - - - - - - - - - [[[[[[[[[[
          deeply: indented: text
    say: 'it''s
            a long
                      quoted line - - - - - - - - - -'
    list: [a, [b, {c: "[[[[[[[[[[[[[[[[[[[[" }]]
    dashes: ------------------------------------------------
${blockNest(12)
  .split("\n")
  .map((l) => (l ? `    ${l}` : l))
  .join("\n")}`;
    for (const limit of [16, 17, 20]) {
      const src = parseYamlSource("f", text, { yamlDepth: limit, yamlAliases: 100 });
      expect(src.syntaxProblems, String(limit)).toEqual([]);
    }
    expect(nestingBeyond(text, 64)).toBe(-1);
  });

  it("refuses nesting thousands deep before parsing, quickly", () => {
    for (const text of [
      `a: ${"[".repeat(100_000)}`,
      `a:\n  ${"- ".repeat(100_000)}x`,
      `${"? ".repeat(100_000)}x`,
    ]) {
      const started = Date.now();
      const src = parseYamlSource("f", text);
      expect(src.syntaxProblems[0]?.message).toMatch(/deeper than 64/);
      expect(Date.now() - started).toBeLessThan(2_000);
    }
  });

  it("refuses alias bombs, prototype keys and lone surrogates; allows a few aliases", () => {
    let bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n';
    for (let i = 0; i < 9; i++) {
      const n = String.fromCharCode(98 + i);
      bomb += `${n}: &${n} [${Array(9)
        .fill(`*${String.fromCharCode(97 + i)}`)
        .join(",")}]\n`;
    }
    expect(parseYamlSource("f", bomb).syntaxProblems[0]?.message).toMatch(/limits\.yaml_aliases/);
    const dry = "a: &x { k: v }\nb: *x\nc: *x\n";
    expect(parseYamlSource("f", dry).value).toEqual({
      a: { k: "v" },
      b: { k: "v" },
      c: { k: "v" },
    });
    expect(
      parseYamlSource("f", dry, { yamlDepth: 64, yamlAliases: 0 }).syntaxProblems[0]?.message,
    ).toMatch(/aliases are not allowed/);
    const proto = parseYamlSource("f", "a:\n  b: 1\n  __proto__: { x: 1 }\n");
    expect(proto.syntaxProblems[0]).toMatchObject({ line: 3, col: 3, field: "a.__proto__" });
    expect(parseYamlSource("f", "a: b\ud800c\n").syntaxProblems[0]?.message).toMatch(/surrogate/);
  });
});
