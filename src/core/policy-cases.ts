/**
 * @module Policy table tests (`airun policy test FILE`): parsing and validating a YAML file of
 * cases, each a principal, a capability, optional inputs and risk, and the expected decision.
 * Every problem is reported with file, line, column and field. Running the cases against a
 * policy happens in the engine (`engine/policy-tools.ts`), which knows the capabilities.
 *
 * @example
 * # policy-tests.yaml (a list, or a mapping with `cases:`)
 * - name: agents may read reports
 *   principal: agent:planner
 *   capability: io.fs.read_file
 *   inputs: { path: reports/q1.txt }
 *   expect: ALLOW
 * - principal: agent:planner
 *   capability: io.fs.delete
 *   inputs: { path: secrets/key }
 *   risk: HIGH
 *   expect: DENY
 */
import { z } from "zod";
import { type Problem, ValidationError } from "./errors.js";
import { isPlainObject, type JsonObject } from "./json.js";
import { principalProblem } from "./principal.js";
import type { Decision, RiskLevel } from "./status.js";
import { type FieldPath, parseYamlSource, type YamlLimits } from "./yaml-source.js";

/** One table-test case. */
export interface PolicyCase {
  /** The case's name, or `case N` (1-based). */
  readonly name: string;
  readonly principal: string;
  readonly capability: string;
  readonly inputs: JsonObject;
  /** The step's declared risk (the effective risk is the max with the capability's floor). */
  readonly risk: RiskLevel | null;
  /**
   * Whether the step declares a compensation; given as a capability name (and its inputs), the
   * compensation is asked about too and its answer counts (SPEC §6).
   */
  readonly compensation: boolean | { readonly capability: string; readonly inputs: JsonObject };
  readonly expect: Decision;
  /** Where the case starts in the file. */
  readonly line: number;
}

const upper = (v: unknown) => (typeof v === "string" ? v.trim().toUpperCase() : v);

const caseSchema = z.strictObject({
  name: z.string().min(1).optional(),
  principal: z.string().superRefine((v, c) => {
    const problem = principalProblem(v);
    if (problem !== null) c.addIssue({ code: "custom", message: problem });
  }),
  capability: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "expected a capability name"),
  inputs: z.record(z.string(), z.unknown()).optional(),
  risk: z.preprocess(upper, z.enum(["LOW", "MEDIUM", "HIGH", "CRITICAL"])).optional(),
  compensation: z
    .union([
      z.boolean(),
      z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "expected a capability name"),
    ])
    .optional(),
  compensation_inputs: z.record(z.string(), z.unknown()).optional(),
  expect: z.preprocess(upper, z.enum(["ALLOW", "DENY", "REQUIRE_APPROVAL"])),
});

/**
 * Parses a table-test file: a YAML list of cases, or a mapping with a `cases:` list.
 * `knownCapability` reports capability names that do not exist (a typo would otherwise test
 * nothing).
 *
 * @throws ValidationError listing every problem (`file:line:col: field: message`).
 */
export function parsePolicyCases(
  file: string,
  text: string,
  knownCapability: (name: string) => boolean = () => true,
  limits?: YamlLimits,
): PolicyCase[] {
  const src = parseYamlSource(file, text, limits);
  if (src.syntaxProblems.length > 0) throw new ValidationError(src.syntaxProblems);
  let list: unknown = src.value;
  let base: FieldPath = [];
  const problems: Problem[] = [];
  if (isPlainObject(list)) {
    const extra = Object.keys(list).filter((k) => k !== "cases");
    for (const k of extra) problems.push(src.problem([k], `unknown key "${k}" (expected cases)`));
    list = list.cases;
    base = ["cases"];
  }
  if (!Array.isArray(list) || list.length === 0) {
    problems.push(
      src.problem(base, "expected a non-empty list of cases (principal, capability, expect)"),
    );
    throw new ValidationError(problems);
  }
  const cases: PolicyCase[] = [];
  list.forEach((raw, i) => {
    const at: FieldPath = [...base, i];
    const parsed = caseSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const p = [...at, ...issue.path.map((s) => (typeof s === "number" ? s : String(s)))];
        if (issue.code === "unrecognized_keys") {
          for (const k of issue.keys) problems.push(src.problem([...p, k], `unknown key "${k}"`));
        } else if (/received undefined$/.test(issue.message)) {
          problems.push(src.problem(p, "is required"));
        } else {
          problems.push(src.problem(p, issue.message));
        }
      }
      return;
    }
    const c = parsed.data;
    if (!knownCapability(c.capability)) {
      problems.push(src.problem([...at, "capability"], `unknown capability "${c.capability}"`));
      return;
    }
    if (typeof c.compensation === "string" && !knownCapability(c.compensation)) {
      problems.push(src.problem([...at, "compensation"], `unknown capability "${c.compensation}"`));
      return;
    }
    cases.push({
      name: c.name ?? `case ${i + 1}`,
      principal: c.principal,
      capability: c.capability,
      inputs: structuredClone((c.inputs ?? {}) as JsonObject),
      risk: c.risk ?? null,
      compensation:
        typeof c.compensation === "string"
          ? {
              capability: c.compensation,
              inputs: structuredClone((c.compensation_inputs ?? {}) as JsonObject),
            }
          : (c.compensation ?? false),
      expect: c.expect,
      line: src.locate(at).line,
    });
  });
  if (problems.length > 0) {
    throw new ValidationError(problems.sort((a, b) => a.line - b.line || a.col - b.col));
  }
  return cases;
}
