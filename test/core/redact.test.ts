import { describe, expect, it } from "vitest";
import type { JsonValue } from "../../src/core/json.js";
import { MASK, redact } from "../../src/core/redact.js";

describe("redact", () => {
  const keys = ["password", "token", "API_KEY"];

  it("masks secret values inside strings, longest first, anywhere in the value", () => {
    const value = { a: "x-abcdef-y", list: ["abc", { deep: "zabcz" }], n: 1 };
    expect(redact(value, { secrets: ["abc", "abcdef", ""] })).toEqual({
      a: `x-${MASK}-y`,
      list: [MASK, { deep: `z${MASK}z` }],
      n: 1,
    });
  });

  it("replaces values of keys containing a fragment (case-insensitive) and of dotted fields", () => {
    const value = {
      user: "ann",
      Password: { nested: "p" },
      my_api_key_2: "k",
      headers: { Authorization: "Bearer x", accept: "json" },
    };
    expect(redact(value, { keys, fields: ["headers.authorization"] })).toEqual({
      user: "ann",
      Password: MASK,
      my_api_key_2: MASK,
      headers: { Authorization: MASK, accept: "json" },
    });
  });

  it("never mutates its input, and shares only the parts it left untouched", () => {
    const untouched = { a: [1, 2, { b: "c" }] };
    const value = { keep: untouched, list: [{ token: "t" }, "s"], other: "o" };
    const before = structuredClone(value);
    const out = redact(value, { keys }) as typeof value;
    expect(value).toEqual(before);
    expect(out).toEqual({ keep: untouched, list: [{ token: MASK }, "s"], other: "o" });
    expect(out).not.toBe(value);
    expect(out.list).not.toBe(value.list);
    expect(out.keep).toBe(untouched);
  });

  it("returns the value itself when nothing matches, and keeps key order when something does", () => {
    const value: JsonValue = { z: 1, a: { m: [true, null, "x"] } };
    expect(redact(value, { keys, fields: ["a.q"], secrets: ["nope"] })).toBe(value);
    const out = redact({ z: 1, token: "t", a: 2 }, { keys }) as Record<string, JsonValue>;
    expect(Object.keys(out)).toEqual(["z", "token", "a"]);
  });

  it("gives the same answer when the same rule lists are used again (compiled once)", () => {
    const rules = { keys, fields: ["x.y"] };
    for (let i = 0; i < 3; i++) {
      expect(redact({ x: { y: 1, z: 2 }, token: 3 }, rules)).toEqual({
        x: { y: MASK, z: 2 },
        token: MASK,
      });
    }
  });

  it("keeps numeric plural counts like max_tokens and usage.total_tokens, but masks token strings and lists", () => {
    const value = {
      max_tokens: 400,
      usage: { total_tokens: 12, input_tokens: 5 },
      maxTokens: 9,
      api_tokens: ["t1", "t2"],
      refresh_token: "r",
      tokens_left: "x",
      tokenSecret: 3,
    };
    expect(redact(value, { keys: ["token"] })).toEqual({
      max_tokens: 400,
      usage: { total_tokens: 12, input_tokens: 5 },
      maxTokens: 9,
      api_tokens: MASK,
      refresh_token: MASK,
      tokens_left: MASK,
      tokenSecret: MASK,
    });
  });

  it("masks the secrets a list holds now: a frozen list, and a list changed between calls", () => {
    const frozen = Object.freeze(["abcd", "abcdef"]);
    const value = { a: "x abcdef y abcd", nested: [{ b: "abcdabcdef" }] };
    const expected = { a: "x *** y ***", nested: [{ b: "******" }] };
    expect(redact(value, { secrets: frozen })).toEqual(expected);
    expect(redact(value, { secrets: frozen })).toEqual(expected);
    const growing = ["wxyz"];
    expect(redact("wxyz 1234", { secrets: growing })).toBe("*** 1234");
    growing.push("1234");
    expect(redact("wxyz 1234", { secrets: growing })).toBe("*** ***");
  });

  it("matches dotted fields at any depth and keys inside arrays, with or without field rules", () => {
    const value = { outer: { inner: { auth: "s", keep: 1 }, list: [{ password: "p", n: 2 }] } };
    expect(redact(value, { fields: ["outer.inner.auth"], keys: ["password"] })).toEqual({
      outer: { inner: { auth: MASK, keep: 1 }, list: [{ password: MASK, n: 2 }] },
    });
    expect(redact(value, { keys: ["password"] })).toEqual({
      outer: { inner: { auth: "s", keep: 1 }, list: [{ password: MASK, n: 2 }] },
    });
  });
});
