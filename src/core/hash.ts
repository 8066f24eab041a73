/**
 * @module Canonical JSON (RFC 8785) and SHA-256 helpers: the one way anything is hashed.
 */
import * as crypto from "node:crypto";
import canonicalize from "canonicalize";

/**
 * RFC 8785 canonical JSON of a value, by the `canonicalize` package, with a fast path for
 * the common case (the context hash of every step): a value whose object keys are already in
 * canonical order is written by `JSON.stringify` natively, which for such values is exactly
 * the canonical text (test/core/hash.test.ts compares both on thousands of values).
 */
export function canonicalJson(value: unknown): string {
  // Fast path: when every object's keys are already in canonical order and every leaf is a
  // plain JSON value, JSON.stringify writes exactly the canonical text (natively, in one go).
  if (isCanonicalReady(value, 0)) return JSON.stringify(value);
  const out = canonicalize(value);
  if (out === undefined) throw new TypeError("value cannot be canonicalized as JSON");
  return out;
}

/** Depth beyond which the fast-path check gives up (a cycle, or an unusually deep value). */
const FAST_PATH_MAX_DEPTH = 64;

/**
 * True when `JSON.stringify(v)` is canonical: strings well formed, numbers finite, arrays
 * dense, objects plain (no `toJSON`) with keys already sorted by UTF-16 code units and no
 * `undefined`/function/symbol/bigint anywhere. Anything else takes the general path.
 */
function isCanonicalReady(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case "string":
      return isWellFormed(v);
    case "number":
      return Number.isFinite(v);
    case "boolean":
      return true;
    case "object": {
      if (v === null) return true;
      if (depth >= FAST_PATH_MAX_DEPTH) return false;
      if ("toJSON" in v) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          if (!(i in v) || !isCanonicalReady(v[i], depth + 1)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      const keys = Object.keys(v);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        if ((i > 0 && (keys[i - 1] as string) >= key) || !isWellFormed(key)) return false;
        if (!isCanonicalReady((v as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** `String.prototype.isWellFormed` (ES2024, native in Node 20): no lone surrogates. */
const isWellFormed = (s: string): boolean =>
  (s as unknown as { isWellFormed(): boolean }).isWellFormed();

// One-shot `crypto.hash` (Node >= 20.12) is about twice as fast as createHash for short input.
const oneShot = (
  crypto as unknown as { hash?: (alg: string, data: string | Uint8Array, enc: "hex") => string }
).hash;

/** Hex SHA-256 of bytes or a UTF-8 string. */
export function sha256Hex(data: string | Uint8Array): string {
  if (oneShot !== undefined) return oneShot("sha256", data, "hex");
  return crypto.createHash("sha256").update(data).digest("hex");
}

/** Hex SHA-256 of the canonical JSON of a value. */
export function hashJson(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
