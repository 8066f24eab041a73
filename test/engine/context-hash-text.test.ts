/**
 * @module The context hash (SPEC §7) is SHA-256 over the canonical JSON of spec hash, step id,
 * capability, recorded inputs, touched paths, principal and policy hash: `describeCall` writes
 * that text member by member, and must hash exactly what `hashJson` of the object hashes,
 * whatever the inputs, ids and principal hold (replays and approvals recorded before compare
 * against it).
 */
import { describe, expect, it } from "vitest";
import type { AnyCapability, TouchedPath } from "../../src/core/capability.js";
import { hashJson } from "../../src/core/hash.js";
import type { JsonValue } from "../../src/core/json.js";
import type { PlanStep } from "../../src/core/plan.js";
import { describeCall } from "../../src/engine/step/resolve.js";

const cap = (name: string) =>
  ({
    name,
    risk: "LOW",
    undo: "none",
    idempotent: true,
    effect: "read",
  }) as unknown as AnyCapability;
const step = (id: string) => ({ id, risk: null }) as unknown as PlanStep;

/** The object the context hash is defined over (SPEC §7). */
function expected(
  capability: string,
  stepId: string,
  inputs: JsonValue,
  id: { specHash: string; policyHash: string; principal: string },
  paths: readonly TouchedPath[],
): string {
  const obj: Record<string, JsonValue> = {
    spec: id.specHash,
    step: stepId,
    capability,
    inputs,
    principal: id.principal,
    policy: id.policyHash,
  };
  if (paths.length > 0) obj.paths = Object.fromEntries(paths.map((t) => [t.field, t.path]));
  return hashJson(obj);
}

/** A hash, or the error thrown instead (a lone surrogate cannot be canonicalized). */
function outcome(f: () => string): { hash: string } | { error: string } {
  try {
    return { hash: f() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const INPUTS: JsonValue[] = [
  {},
  { i: 1, note: "step 1" },
  { z: 1, a: [3, 2, { y: null, b: true }], é: "ü", "\u{1F600}": "x", "": -0.5 },
  { nested: { deep: { deeper: [1, "two", { three: 3e21 }] } }, big: 1e-7 },
  "a string",
  [1, 2, 3],
  { quote: 'he said "hi"\n\t\\', lone: "\uD800x" },
];
const IDS = [
  { specHash: "a".repeat(64), policyHash: "b".repeat(64), principal: "agent:bench" },
  { specHash: "c".repeat(64), policyHash: "b".repeat(64), principal: "user:ünï\u2028code" },
  { specHash: "c".repeat(64), policyHash: "d".repeat(64), principal: "agent:bench" },
];
const PATHS: TouchedPath[][] = [
  [],
  [
    { field: "to", path: "/ws/b.txt", relative: "b.txt" },
    { field: "from", path: "/ws/a\u00e9.txt", relative: "a\u00e9.txt" },
  ],
];

describe("the context hash text", () => {
  it("hashes what hashJson of the SPEC §7 object hashes, for any inputs, ids and paths", () => {
    let n = 0;
    // Identities alternate, so a remembered identity must never leak into another's hash.
    for (const paths of PATHS) {
      for (const inputs of INPUTS) {
        for (const id of [...IDS, ...IDS.slice().reverse()]) {
          for (const [c, s] of [
            ["sys.echo", "s1"],
            ["io.fs.write_file", "step-\u00fc"],
          ] as const) {
            const got = outcome(
              () => describeCall(cap(c), step(s), {}, inputs, [], id, paths).contextHash,
            );
            expect(got).toEqual(outcome(() => expected(c, s, inputs, id, paths)));
            n++;
          }
        }
      }
    }
    expect(n).toBe(2 * INPUTS.length * 6 * 2);
  });
});
