import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { describe, expect, it } from "vitest";
import { canonicalJson, hashJson, sha256Hex } from "../../src/core/hash.js";

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TRICKY_STRINGS = [
  "",
  "a",
  "é",
  "€",
  "\u0000\u001f\u007f",
  '"\\/\b\f\n\r\t',
  "\u2028\u2029",
  "😀",
  "\ud83d\ude00x",
  "ﬀ",
  "\uffff",
  "10",
  "1",
  "A",
  "_",
  "aa",
  "\u00e9\u0065\u0301",
];
const TRICKY_NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.1,
  1e21,
  1e-7,
  123456789012345680000,
  5e-324,
  Number.MAX_VALUE,
  Number.MIN_SAFE_INTEGER,
  2 ** 53,
  1.5e300,
  -4.5e-10,
  333333333.3333333,
];

function randomValue(next: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const r = next();
  if (depth <= 0 || r < 0.45) {
    const kind = Math.floor(next() * 5);
    if (kind === 0) return pick(TRICKY_STRINGS);
    if (kind === 1) return pick(TRICKY_NUMBERS);
    if (kind === 2) return (next() - 0.5) * 10 ** Math.floor(next() * 40 - 20);
    if (kind === 3) return next() < 0.5;
    return null;
  }
  if (r < 0.7) {
    return Array.from({ length: Math.floor(next() * 5) }, () => randomValue(next, depth - 1));
  }
  const obj: Record<string, unknown> = {};
  const n = Math.floor(next() * 6);
  for (let i = 0; i < n; i++) obj[pick(TRICKY_STRINGS)] = randomValue(next, depth - 1);
  return obj;
}

/** `{ a: { a: … { a: 1 } } }`, `depth` levels deep. */
function deep(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v, b: [i] };
  return v;
}

function packageResult(value: unknown): { ok: string | undefined } | { error: string } {
  try {
    return { ok: canonicalize(value) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function ourResult(value: unknown): { ok: string | undefined } | { error: string } {
  try {
    return { ok: canonicalJson(value) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

describe("canonicalJson (RFC 8785)", () => {
  it("is byte-identical to the canonicalize package on 5,000 random JSON values", () => {
    const next = rng(8785);
    for (let i = 0; i < 5000; i++) {
      const value = randomValue(next, 4);
      const expected = canonicalize(value) as string;
      expect(canonicalJson(value), JSON.stringify(value)).toBe(expected);
      // Re-parsed canonical text has its keys in order already (the JSON.stringify fast path).
      expect(canonicalJson(JSON.parse(expected))).toBe(expected);
    }
  });

  it("is byte-identical to the package on the RFC 8785 examples and edge cases", () => {
    const cases: unknown[] = [
      { numbers: [333333333.3333333, 1e30, 4.5, 0.002, 1e-27], literals: [null, true, false] },
      { "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew", "1": "One" },
      { "\ud83d\ude00": "emoji", "\u0080": "control", "\u00f6": "umlaut" },
      { b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } },
      { skipped: undefined, sym: Symbol("x"), kept: 1 },
      [undefined, Symbol("y"), 1],
      { when: new Date(0) },
      { nested: { toJSON: () => ({ b: 2, a: 1 }) } },
      { a: 1, b: { c: [1, { d: "e", f: null }] } },
      { "1": "a", "10": "b", "9": "c", "-1": "d", "01": "e" },
      Object.assign(Object.create(null), { b: 1, a: Object.assign(Object.create(null), { z: 0 }) }),
      Object.assign([2, 1], { toJSON: () => ({ b: 1, a: 2 }) }),
      { a: { toJSON: "not a function" } },
      // biome-ignore lint/suspicious/noSparseArray: holes are part of what is compared
      [1, , 3],
      { s: new String("x"), n: new Number(2), b: new Boolean(false) },
      { [Symbol("k")]: 1, k: 2 },
      deep(100),
      [],
      {},
      "plain",
      42,
      true,
      null,
    ];
    for (const value of cases) expect(canonicalJson(value)).toBe(canonicalize(value));
  });

  it("refuses exactly what the package refuses, with the same messages", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cyclicArray: unknown[] = [1];
    cyclicArray.push(cyclicArray);
    const bad: unknown[] = [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      { x: Number.NEGATIVE_INFINITY },
      [Number.NaN],
      "\ud800",
      { k: "x\udc00y" },
      { "\udbff": 1 },
      cyclic,
      cyclicArray,
    ];
    for (const value of bad) {
      const ours = ourResult(value);
      expect(ours).toHaveProperty("error");
      expect(ours).toEqual(packageResult(value));
    }
    // A shared (not cyclic) reference is fine.
    const shared = { s: 1 };
    expect(canonicalJson({ a: shared, b: [shared, shared] })).toBe(
      canonicalize({ a: shared, b: [shared, shared] }),
    );
  });

  it("throws a TypeError for a value that has no JSON form", () => {
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });
});

describe("sha256Hex / hashJson", () => {
  it("agree with createHash over strings and bytes", () => {
    for (const s of ["", "abc", "é😀", "x".repeat(10_000)]) {
      const expected = createHash("sha256").update(s).digest("hex");
      expect(sha256Hex(s)).toBe(expected);
      expect(sha256Hex(new TextEncoder().encode(s))).toBe(expected);
    }
  });

  it("hashJson is the SHA-256 of the package's canonical text", () => {
    const value = { step: "s1", inputs: { b: [1, 2], a: "é" }, policy: "p" };
    expect(hashJson(value)).toBe(
      createHash("sha256")
        .update(canonicalize(value) as string)
        .digest("hex"),
    );
  });
});
