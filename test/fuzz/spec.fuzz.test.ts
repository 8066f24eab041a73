/**
 * @module Property-based fuzzing of the spec loader (issue 13), both formats: valid generated
 * specs compile (and their hash does not depend on the YAML's layout); an unknown key or a
 * wrong type is reported at its field and line; hostile and broken input — alias bombs, deep
 * nesting, huge documents, damaged bytes, random edits — is always a located problem, never
 * a crash or a hang.
 */
import fc from "fast-check";
import { describe, it } from "vitest";
import { createStandardRegistry } from "../../src/capabilities/registry.js";
import { compileSpec, validateSpec } from "../../src/core/spec-compile.js";
import { decodeUtf8 } from "../../src/core/utf8.js";
import { formatFieldPath } from "../../src/core/yaml-source.js";
import {
  aliasBomb,
  applyEdits,
  damagedBytes,
  deepNesting,
  edits,
  type GeneratedDoc,
  hostileKey,
  nativeSpec,
  oddScalar,
  seedSpec,
  toYaml,
} from "./arbitraries.js";
import {
  assertLocated,
  assertNotPolluted,
  assertProblemAt,
  clearly,
  fuzz,
  LONG,
  timeoutOf,
} from "./kit.js";

const catalog = createStandardRegistry();
const FILE = "fuzz/workflow.yaml";

/** Validates `text`; it must never throw, and every problem must be located in it. */
function validate(text: string) {
  const result = validateSpec({ file: FILE, text }, catalog);
  if (result.plan === undefined && result.problems.length === 0) {
    throw new Error("no plan and no problem");
  }
  for (const p of result.problems) assertLocated(p, FILE, text);
  return result;
}

/** A copy of `value` with `f` applied to the mapping at `path`. */
function edit(
  value: Record<string, unknown>,
  path: readonly (string | number)[],
  f: (node: Record<string, unknown>) => void,
): Record<string, unknown> {
  const copy = structuredClone(value);
  let node: unknown = copy;
  for (const k of path) node = (node as Record<string | number, unknown>)[k];
  f(node as Record<string, unknown>);
  return copy;
}

const specs = fc.oneof(nativeSpec, seedSpec);
const styled = (docs: fc.Arbitrary<GeneratedDoc>) =>
  fc.record({ doc: docs, style: fc.nat(3), other: fc.nat(3) });

const ROUND_TRIP = { runs: 60 };
describe("fuzz: spec loader", () => {
  it(
    "compiles every valid generated spec, native and seed, with a hash independent of layout",
    () => {
      fuzz(
        "spec: valid specs compile",
        styled(specs),
        ({ doc, style, other }) => {
          const text = toYaml(doc.value, style);
          const { plan, problems } = validate(text);
          if (plan === undefined) {
            throw new Error(
              `a valid spec was refused:\n${problems.map((p) => `${p.line}: ${p.field}: ${p.message}`).join("\n")}\n---\n${text}`,
            );
          }
          const steps = doc.value.steps as unknown[];
          if (plan.steps.length !== steps.length) throw new Error("steps lost or added");
          const expected = "initial_state" in doc.value ? "seed" : "native";
          if (plan.format !== expected) throw new Error(`read as ${plan.format}, not ${expected}`);
          const again = compileSpec({ file: FILE, text: toYaml(doc.value, other) }, catalog);
          if (again.specHash !== plan.specHash) throw new Error("the spec hash depends on layout");
        },
        ROUND_TRIP,
      );
    },
    timeoutOf(ROUND_TRIP),
  );

  const FIELDS = { runs: 60 };
  it(
    "reports an unknown key at its field and on its line",
    () => {
      const arb = styled(specs).chain((s) =>
        fc.record({
          s: fc.constant(s),
          at: fc.constantFrom(...s.doc.closed),
          key: fc.stringMatching(/^zz_[a-z]{1,8}$/),
        }),
      );
      fuzz(
        "spec: unknown keys are located",
        arb,
        ({ s, at, key }) => {
          const value = edit(s.doc.value, at, (node) => {
            node[key] = 1;
          });
          const text = toYaml(value, s.style);
          const { problems } = validate(text);
          assertProblemAt(problems, formatFieldPath([...at, key]), key, text);
        },
        FIELDS,
      );
    },
    timeoutOf(FIELDS),
  );

  it(
    "reports a value of the wrong type at its field",
    () => {
      const arb = styled(specs).chain((s) =>
        fc.record({ s: fc.constant(s), typed: fc.constantFrom(...s.doc.typed) }),
      );
      fuzz(
        "spec: wrong types are located",
        arb,
        ({ s, typed }) => {
          const parent = typed.path.slice(0, -1);
          const key = typed.path[typed.path.length - 1] as string;
          const value = edit(s.doc.value, parent, (node) => {
            node[key] = typed.wrong;
          });
          const text = toYaml(value, s.style);
          const { problems } = validate(text);
          const field = formatFieldPath(typed.path);
          if (!problems.some((p) => p.field === field || p.field.startsWith(`${field}`))) {
            throw new Error(`no problem names ${field}: ${JSON.stringify(problems)}\n${text}`);
          }
        },
        FIELDS,
      );
    },
    timeoutOf(FIELDS),
  );

  const HOSTILE = { runs: 60 };
  it(
    "refuses keys that reach a prototype and reads odd scalars anywhere without crashing",
    () => {
      const arb = styled(specs).chain((s) =>
        fc.record({
          s: fc.constant(s),
          at: fc.constantFrom(...s.doc.closed, ...s.doc.typed.map((t) => t.path.slice(0, -1))),
          key: fc.oneof(hostileKey, fc.stringMatching(/^[a-z_]{1,10}$/)),
          scalar: oddScalar,
          hostile: fc.boolean(),
        }),
      );
      fuzz(
        "spec: hostile keys and odd scalars",
        arb,
        ({ s, at, key, scalar, hostile }) => {
          const value = edit(s.doc.value, at, (node) => {
            Object.defineProperty(node, key, {
              value: scalar,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          });
          let text = toYaml(value, s.style);
          if (hostile && s.style !== 1)
            text = text.replace(/^(\s*(- )?)name:/m, "$1__proto__: { polluted: 1 }\n$1name:");
          const { plan, problems } = validate(text);
          if (
            ["__proto__", "constructor", "prototype"].includes(key) ||
            (hostile && text.includes("__proto__:"))
          ) {
            if (plan !== undefined) throw new Error(`a prototype key was accepted:\n${text}`);
            if (!problems.some((p) => /could reach an object's prototype/.test(p.message))) {
              throw new Error(`not refused as a prototype key: ${JSON.stringify(problems)}`);
            }
          }
          assertNotPolluted();
        },
        HOSTILE,
      );
    },
    timeoutOf(HOSTILE),
  );

  const EDITS = { runs: 100 };
  it(
    "survives random edits of valid specs (every problem located)",
    () => {
      const damage = edits(
        [
          ":",
          "-",
          " ",
          "\n",
          "\t",
          "[",
          "]",
          "{",
          "}",
          '"',
          "'",
          "&a",
          "*a",
          "!!",
          "|",
          ">",
          "#",
          "%",
          "@",
          "`",
          "${{",
          "}}",
          "{{",
          "\u0000",
          "\ud800",
          "\r\n",
          "? ",
          ",",
          "<<: *a",
        ],
        1,
        6,
      );
      fuzz(
        "spec: random edits",
        fc.record({ s: styled(specs), es: damage }),
        ({ s, es }) => {
          const text = applyEdits(toYaml(s.doc.value, s.style), es);
          const r = clearly(() => compileSpec({ file: FILE, text }, catalog), FILE, text);
          if (r.ok) validate(text);
        },
        EDITS,
      );
    },
    timeoutOf(EDITS),
  );

  const ANY = { runs: 100 };
  it(
    "reads any YAML value as a spec without crashing",
    () => {
      const anyValue = fc.anything({
        maxDepth: 6,
        withNullPrototype: true,
        withBigInt: false,
        withMap: false,
        withSet: false,
        withDate: true,
        withTypedArray: false,
        withSparseArray: true,
        withBoxedValues: false,
      });
      fuzz(
        "spec: any YAML value",
        fc.record({
          v: fc.oneof(
            anyValue,
            fc.record({ steps: fc.array(anyValue, { maxLength: 4 }), name: oddScalar }),
          ),
          style: fc.nat(3),
        }),
        ({ v, style }) => {
          let text: string | undefined;
          try {
            text = toYaml(v, style);
          } catch {
            return; // not every value can be written as YAML
          }
          if (typeof text === "string") validate(text);
        },
        ANY,
      );
    },
    timeoutOf(ANY),
  );

  const BOMBS = { runs: 30 };
  it(
    "refuses alias bombs before they expand",
    () => {
      fuzz(
        "spec: alias bombs",
        aliasBomb,
        ({ text, expansion }) => {
          const { plan, problems } = validate(text);
          if (expansion > 10_000) {
            if (plan !== undefined) throw new Error(`a bomb of ${expansion} was accepted`);
            if (!problems.some((p) => /alias/i.test(p.message))) {
              throw new Error(`refused, but not as an alias bomb: ${JSON.stringify(problems)}`);
            }
          }
        },
        BOMBS,
      );
    },
    timeoutOf(BOMBS),
  );

  const DEEP = { runs: 30 };
  it(
    "refuses deep nesting with a located problem, never a stack overflow",
    () => {
      fuzz(
        "spec: deep nesting",
        deepNesting,
        ({ text, depth }) => {
          const { plan, problems } = validate(text);
          if (depth > 300 && plan !== undefined)
            throw new Error(`nesting ${depth} deep was accepted`);
          if (
            depth > 300 &&
            !problems.some((p) => /nested deeper|not allowed|must/.test(p.message))
          ) {
            throw new Error(`refused, but not for its depth: ${JSON.stringify(problems[0])}`);
          }
        },
        DEEP,
      );
    },
    timeoutOf(DEEP),
  );

  const HUGE = { runs: 3, caseMs: 30_000 };
  it(
    "reads huge documents within the budget",
    () => {
      const huge = fc.record({
        kind: fc.constantFrom("steps", "string", "keys", "lines"),
        // The short run stays small; a long one reaches 4 MB (`limits.spec_bytes`).
        n: fc.integer({ min: 1000, max: LONG ? 40_000 : 5000 }),
      });
      fuzz(
        "spec: huge documents",
        huge,
        ({ kind, n }) => {
          let text: string;
          if (kind === "steps") {
            text = `name: huge\nsteps:\n${Array.from({ length: n }, (_, i) => `  - id: s${i}\n    capability: sys.echo\n    inputs: { i: ${i}, prev: "\${{ steps.s${Math.max(0, i - 1)}.outputs.i }}" }\n`).join("")}`;
          } else if (kind === "string") {
            text = `name: huge\nsteps:\n  - id: a\n    capability: sys.echo\n    inputs: { x: "${"x".repeat(n * 100)}" }\n`;
          } else if (kind === "keys") {
            text = `name: huge\nsteps:\n  - id: a\n    capability: sys.echo\n    inputs:\n${Array.from({ length: n }, (_, i) => `      k${i}: ${i}\n`).join("")}`;
          } else {
            text = `name: huge\n${"# comment\n".repeat(n * 10)}steps:\n  - id: a\n    capability: sys.echo\n`;
          }
          validate(text);
        },
        HUGE,
      );
    },
    timeoutOf(HUGE),
  );

  const BYTES = { runs: 100 };
  it(
    "reads damaged bytes as a located UTF-8 problem, or a spec problem",
    () => {
      const valid = specs.map((d) => toYaml(d.value, 0));
      fuzz(
        "spec: random and damaged bytes",
        damagedBytes(valid),
        (bytes) => {
          const decoded = clearly(() => decodeUtf8(FILE, bytes), FILE);
          if (!decoded.ok) {
            if (!/not valid UTF-8/.test(decoded.error.message)) throw decoded.error;
            return;
          }
          validate(decoded.value);
        },
        BYTES,
      );
    },
    timeoutOf(BYTES),
  );
});
