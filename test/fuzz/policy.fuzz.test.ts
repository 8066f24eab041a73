/**
 * @module Property-based fuzzing of the policy loader (issue 13), all three formats: valid
 * generated policies load with every rule and answer any request with a decision; an unknown
 * key or a wrong value is reported at its field and line; hostile and broken input (alias
 * bombs, deep nesting, damaged bytes, random edits, table-test files) is always a located
 * `ValidationError`, never a crash or a hang.
 */
import fc from "fast-check";
import { describe, it } from "vitest";
import { createStandardRegistry } from "../../src/capabilities/registry.js";
import { ValidationError } from "../../src/core/errors.js";
import type { PolicyRequest } from "../../src/core/policy.js";
import { parsePolicyCases } from "../../src/core/policy-cases.js";
import { compilePolicy } from "../../src/core/policy-compile.js";
import { decodeUtf8 } from "../../src/core/utf8.js";
import { formatFieldPath } from "../../src/core/yaml-source.js";
import {
  aliasBomb,
  applyEdits,
  damagedBytes,
  deepNesting,
  edits,
  hostileKey,
  oddScalar,
  policyDoc,
  policyRequest,
  toYaml,
} from "./arbitraries.js";
import { assertNotPolluted, assertProblemAt, clearly, fuzz, timeoutOf } from "./kit.js";

const FILE = "fuzz/policies.yaml";
const capabilities = createStandardRegistry().names();
const DECISIONS = ["ALLOW", "DENY", "REQUIRE_APPROVAL"];

/** Compiles `text`: a policy, or a ValidationError whose every problem is located in it. */
function load(text: string) {
  const r = clearly(() => compilePolicy(FILE, text, { capabilities }), FILE, text);
  if (!r.ok && !(r.error instanceof ValidationError)) throw r.error;
  return r;
}

function problemsOf(r: ReturnType<typeof load>) {
  return r.ok ? [] : (r.error as ValidationError).problems;
}

const styled = fc.record({ doc: policyDoc, style: fc.nat(3) });

describe("fuzz: policy loader", () => {
  const VALID = { runs: 80 };
  it(
    "loads every valid generated policy and answers any request with a decision",
    () => {
      fuzz(
        "policy: valid policies load and decide",
        fc.record({ p: styled, requests: fc.array(policyRequest, { minLength: 1, maxLength: 5 }) }),
        ({ p, requests }) => {
          const text = toYaml(p.doc.value, p.style);
          const r = load(text);
          if (!r.ok)
            throw new Error(`a valid policy was refused:\n${r.error.message}\n---\n${text}`);
          if (r.value.ruleCount !== p.doc.rules) throw new Error("rules lost or added");
          for (const req of requests) {
            const d = r.value.evaluate(req as PolicyRequest);
            if (!DECISIONS.includes(d.decision)) throw new Error(`decision ${d.decision}`);
            if (d.policyHash !== r.value.hash) throw new Error("decision names another policy");
          }
        },
        VALID,
      );
    },
    timeoutOf(VALID),
  );

  const FIELDS = { runs: 60 };
  it(
    "reports an unknown key or a wrong value at its field and on its line",
    () => {
      const arb = styled.chain((p) =>
        fc.record({
          p: fc.constant(p),
          change: fc.oneof(
            fc.record({
              at: fc.constantFrom(...p.doc.closed),
              key: fc.stringMatching(/^zz_[a-z]{1,8}$/),
            }),
            fc.constantFrom(...p.doc.typed),
          ),
        }),
      );
      fuzz(
        "policy: problems are located",
        arb,
        ({ p, change }) => {
          const value = structuredClone(p.doc.value);
          let field: string;
          let key: string;
          if ("key" in change) {
            let node: unknown = value;
            for (const k of change.at) node = (node as Record<string | number, unknown>)[k];
            (node as Record<string, unknown>)[change.key] = 1;
            field = formatFieldPath([...change.at, change.key]);
            key = change.key;
          } else {
            let node: unknown = value;
            for (const k of change.path.slice(0, -1))
              node = (node as Record<string | number, unknown>)[k];
            key = change.path[change.path.length - 1] as string;
            (node as Record<string, unknown>)[key] = change.wrong;
            field = formatFieldPath(change.path);
          }
          const text = toYaml(value, p.style);
          const problems = problemsOf(load(text));
          assertProblemAt(problems, field, key, text);
        },
        FIELDS,
      );
    },
    timeoutOf(FIELDS),
  );

  const HOSTILE = { runs: 80 };
  it(
    "refuses prototype keys and reads odd scalars in any field without crashing",
    () => {
      const arb = styled.chain((p) =>
        fc.record({
          p: fc.constant(p),
          at: fc.constantFrom(...p.doc.closed),
          key: fc.oneof(
            hostileKey,
            fc.constantFrom(
              "when",
              "default",
              "decision",
              "principal",
              "capability",
              "risk_level",
              "approvers",
              "path",
              "inputs.path",
              "id",
            ),
          ),
          scalar: fc.oneof(
            oddScalar,
            fc.array(oddScalar, { maxLength: 3 }),
            fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 5 })), oddScalar, {
              maxKeys: 2,
            }),
          ),
        }),
      );
      fuzz(
        "policy: hostile keys and odd scalars",
        arb,
        ({ p, at, key, scalar }) => {
          const value = structuredClone(p.doc.value);
          let node: unknown = value;
          for (const k of at) node = (node as Record<string | number, unknown>)[k];
          Object.defineProperty(node, key, {
            value: scalar,
            enumerable: true,
            writable: true,
            configurable: true,
          });
          const text = toYaml(value, p.style);
          const r = load(text);
          if (["__proto__", "constructor", "prototype"].includes(key) && r.ok) {
            throw new Error(`a prototype key was accepted:\n${text}`);
          }
          if (r.ok)
            r.value.evaluate({
              principal: "agent:a",
              roles: [],
              capability: "io.fs.read_file",
              risk: "LOW",
              effect: "read",
              undo: "none",
              hasCompensation: false,
              inputs: { path: "a" },
            });
          assertNotPolluted();
        },
        HOSTILE,
      );
    },
    timeoutOf(HOSTILE),
  );

  const BROKEN = { runs: 80 };
  it(
    "refuses broken text (edits, bombs, deep nesting, damaged bytes) with located problems",
    () => {
      const valid = styled.map((p) => toYaml(p.doc.value, p.style));
      const edited = fc
        .record({
          text: valid,
          es: edits(
            [
              ":",
              "-",
              " ",
              "\n",
              "[",
              "]",
              "{",
              "}",
              '"',
              "'",
              "&a",
              "*a",
              "!!str",
              "|",
              "#",
              "\t",
              "**",
              "{a,b",
              "\\",
              "\u0000",
              "<<: *a",
            ],
            1,
            5,
          ),
        })
        .map(({ text, es }) => applyEdits(text, es));
      const text = fc.oneof(
        edited,
        aliasBomb.map((b) =>
          b.text.replace("name: bomb", "version: 1").replace(/steps:[\s\S]*/, "rules: []\n"),
        ),
        deepNesting.map((d) => d.text),
        damagedBytes(valid).map((bytes) => {
          const r = clearly(() => decodeUtf8(FILE, bytes), FILE);
          return r.ok ? r.value : "";
        }),
      );
      fuzz("policy: broken text", text, (t) => void load(t), BROKEN);
    },
    timeoutOf(BROKEN),
  );

  const CASES = { runs: 60 };
  it(
    "reads any table-test file as cases or located problems",
    () => {
      const field = fc.oneof(
        oddScalar,
        fc.constantFrom("agent:a", "io.fs.read_file", "ALLOW", "deny", "HIGH", "io.fs.copy"),
      );
      const kase = fc.dictionary(
        fc.oneof(
          fc.constantFrom(
            "name",
            "principal",
            "capability",
            "inputs",
            "risk",
            "compensation",
            "compensation_inputs",
            "expect",
          ),
          hostileKey,
        ),
        fc.oneof(
          field,
          fc.dictionary(fc.oneof(fc.string({ maxLength: 4 }), hostileKey), field, { maxKeys: 3 }),
        ),
        { maxKeys: 8 },
      );
      fuzz(
        "policy: table-test files",
        fc.record({
          cases: fc.oneof(
            fc.array(kase, { maxLength: 4 }),
            fc.record({ cases: fc.array(kase, { maxLength: 4 }) }),
          ),
          style: fc.nat(3),
        }),
        ({ cases, style }) => {
          const text = toYaml(cases, style);
          const r = clearly(
            () => parsePolicyCases("cases.yaml", text, (n) => capabilities.includes(n)),
            "cases.yaml",
            text,
          );
          if (!r.ok && !(r.error instanceof ValidationError)) throw r.error;
        },
        CASES,
      );
    },
    timeoutOf(CASES),
  );
});
