/** @module The small pure stdlib: `data.json.*`, `text.template.render`, `text.regex.match`. */
import { describe, expect, it } from "vitest";
import {
  jsonGet,
  jsonParse,
  jsonStringify,
  parseJsonPath,
} from "../../../src/capabilities/data/json.js";
import { regexMatch } from "../../../src/capabilities/text/regex-match.js";
import { templateRender } from "../../../src/capabilities/text/template-render.js";
import type { AnyCapability } from "../../../src/core/capability.js";
import { CapabilityError } from "../../../src/core/errors.js";
import { makeCtx } from "../helpers.js";

async function call(cap: AnyCapability, raw: unknown): Promise<unknown> {
  return cap.execute(cap.input.parse(raw), makeCtx());
}

async function failure(p: Promise<unknown>): Promise<CapabilityError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CapabilityError);
  return err as CapabilityError;
}

describe("pure capabilities declare no effect", () => {
  it("are LOW, read, idempotent, undo none and deterministic", () => {
    for (const cap of [jsonParse, jsonStringify, jsonGet, templateRender, regexMatch]) {
      expect([
        cap.risk,
        cap.effect,
        cap.idempotent,
        cap.undo,
        cap.nondeterministic ?? false,
      ]).toEqual(["LOW", "read", true, "none", false]);
    }
  });
});

describe("data.json.parse / stringify", () => {
  it("parses JSON text into data and writes it back", async () => {
    expect(await call(jsonParse, { json_string: '{"a":[1,{"b":null}]}' })).toEqual({
      data: { a: [1, { b: null }] },
    });
    expect(await call(jsonStringify, { data: { b: 1, a: [true] } })).toEqual({
      json_string: '{"b":1,"a":[true]}',
    });
    expect(
      await call(jsonStringify, { data: { b: 1, a: 2 }, pretty: true, sort_keys: true }),
    ).toEqual({ json_string: '{\n  "a": 2,\n  "b": 1\n}' });
    expect(await call(jsonStringify, { data: [1], indent: 4 })).toEqual({
      json_string: "[\n    1\n]",
    });
  });

  it("fails on invalid JSON, a prototype key, or nesting beyond 256", async () => {
    expect((await failure(call(jsonParse, { json_string: "{a:1}" }))).code).toBe("JSON_INVALID");
    expect((await failure(call(jsonParse, { json_string: '{"__proto__":{}}' }))).message).toMatch(
      /__proto__/,
    );
    const deep = `${"[".repeat(300)}${"]".repeat(300)}`;
    expect((await failure(call(jsonParse, { json_string: deep }))).message).toMatch(/deeper/);
  });

  it("strict: false also accepts raw control characters inside strings (Python's strict=False)", async () => {
    const text = '{"a":"line1\nline2\tend","b\\"":"x"}\n';
    expect((await failure(call(jsonParse, { json_string: text }))).code).toBe("JSON_INVALID");
    expect(await call(jsonParse, { json_string: text, strict: false })).toEqual({
      data: { a: "line1\nline2\tend", 'b"': "x" },
    });
  });
});

describe("data.json.get", () => {
  const doc = { user: { name: "ada", tags: ["x", "y"], "a.b": 7 } };

  it("reads a path in data or JSON text, with $ and [n] forms", async () => {
    expect(await call(jsonGet, { data: doc, path: "user.name" })).toEqual({
      value: "ada",
      found: true,
    });
    expect(
      await call(jsonGet, { json_string: JSON.stringify(doc), path: "$.user.tags[1]" }),
    ).toEqual({ value: "y", found: true });
    expect(await call(jsonGet, { data: doc, path: 'user["a.b"]' })).toEqual({
      value: 7,
      found: true,
    });
    expect(await call(jsonGet, { data: doc, path: "user.tags.0" })).toEqual({
      value: "x",
      found: true,
    });
    expect(await call(jsonGet, { data: doc, path: "$" })).toEqual({ value: doc, found: true });
  });

  it("answers found: false (and the default) for a missing path, never a prototype member", async () => {
    expect(await call(jsonGet, { data: doc, path: "user.age" })).toEqual({
      value: null,
      found: false,
    });
    expect(await call(jsonGet, { data: doc, path: "user.age", default: 0 })).toEqual({
      value: 0,
      found: false,
    });
    expect(await call(jsonGet, { data: doc, path: "user.constructor" })).toEqual({
      value: null,
      found: false,
    });
    expect(await call(jsonGet, { data: doc, path: "user.tags[5]" })).toEqual({
      value: null,
      found: false,
    });
  });

  it("refuses a bad path and inputs that give both or neither source", async () => {
    expect(parseJsonPath("a..b")).toBeTypeOf("string");
    expect((await failure(call(jsonGet, { data: doc, path: "a[x" }))).code).toBe(
      "JSON_PATH_INVALID",
    );
    expect(jsonGet.input.safeParse({ path: "a" }).success).toBe(false);
    expect(jsonGet.input.safeParse({ path: "a", data: 1, json_string: "1" }).success).toBe(false);
  });
});

describe("text.template.render", () => {
  it("fills placeholders from an object or a JSON string of variables", async () => {
    expect(
      await call(templateRender, {
        template: "Hello {{ who.name }}, you have {{ len(items) }} items; ok={{ n >= 2 }}",
        variables: { who: { name: "Ada" }, items: [1, 2], n: 2 },
      }),
    ).toEqual({ rendered: "Hello Ada, you have 2 items; ok=true" });
    expect(
      await call(templateRender, { template: "${{ a }}-{{ b }}", variables: '{"a":1,"b":[2]}' }),
    ).toEqual({ rendered: "1-[2]" });
  });

  it("fails, naming the placeholder, when a variable is missing", async () => {
    const err = await failure(call(templateRender, { template: "x {{ nope }}", variables: {} }));
    expect(err.code).toBe("TEMPLATE_FAILED");
    expect(err.message).toMatch(/nope/);
  });
});

describe("text.regex.match", () => {
  it("returns the first match with numbered and named groups", async () => {
    expect(
      await call(regexMatch, {
        pattern: "(?P<year>\\d{4})-(\\d{2})",
        text: "on 2026-12 and 2027-01",
      }),
    ).toMatchObject({
      matched: true,
      match: "2026-12",
      groups: ["2026", "12"],
      named_groups: { year: "2026" },
      count: 1,
      truncated: false,
    });
  });

  it("returns every match with all, up to max_matches, and honours flags", async () => {
    const out = (await call(regexMatch, {
      pattern: "^a.",
      text: "AB\naC\nad",
      flags: "im",
      all: true,
      max_matches: 2,
    })) as { count: number; matches: { match: string; start: number }[]; truncated: boolean };
    expect(out.matches.map((m) => [m.match, m.start])).toEqual([
      ["AB", 0],
      ["aC", 3],
    ]);
    expect(out.truncated).toBe(true);
    expect(await call(regexMatch, { pattern: "z", text: "abc" })).toMatchObject({
      matched: false,
      match: null,
      groups: [],
      count: 0,
    });
  });

  it("matches a catastrophic-backtracking pattern in linear time (RE2): (a+)+$ on 100k a's", async () => {
    // A backtracking engine needs ~2^100000 steps for this; RE2 answers after one linear scan.
    const out = await call(regexMatch, { pattern: "(a+)+$", text: `${"a".repeat(100_000)}b` });
    expect(out).toMatchObject({ matched: false });
  });

  it("refuses backreferences and lookaround, bad flags, and oversized pattern or text", async () => {
    expect((await failure(call(regexMatch, { pattern: "(a)\\1", text: "aa" }))).code).toBe(
      "REGEX_INVALID",
    );
    expect((await failure(call(regexMatch, { pattern: "a(?=b)", text: "ab" }))).code).toBe(
      "REGEX_INVALID",
    );
    expect(regexMatch.input.safeParse({ pattern: "a", text: "a", flags: "g" }).success).toBe(false);
    expect(regexMatch.input.safeParse({ pattern: "a".repeat(4097), text: "a" }).success).toBe(
      false,
    );
    expect(
      regexMatch.input.safeParse({ pattern: "a", text: "a".repeat(1024 * 1024 + 1) }).success,
    ).toBe(false);
  });
});
