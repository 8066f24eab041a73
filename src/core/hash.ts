/**
 * @module Canonical JSON (RFC 8785) and SHA-256 helpers: the one way anything is hashed.
 */
import { createHash } from "node:crypto";
import canonicalizeJson from "canonicalize";

/** RFC 8785 canonical JSON of a value. */
export function canonicalJson(value: unknown): string {
  const out = canonicalizeJson(value);
  if (out === undefined) throw new TypeError("value cannot be canonicalized as JSON");
  return out;
}

/** Hex SHA-256 of bytes or a UTF-8 string. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Hex SHA-256 of the canonical JSON of a value. */
export function hashJson(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
