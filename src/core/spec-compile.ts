/**
 * @module The workflow spec compiler: YAML text (native or seed format, SPEC §4) → a validated,
 * frozen `Plan`. Every problem is collected with its file, line, column and field; nothing is
 * silently ignored (unknown keys, unresolved template references, bad capability inputs).
 *
 * Decisions where SPEC §4 is silent:
 * - Step ids are identifiers (`[A-Za-z_][A-Za-z0-9_-]*`); ids with `-` are read in
 *   expressions as `steps['my-step'].outputs`.
 * - A step's `risk_level` may be lower than its capability's floor: the plan records the
 *   declared value; the gatekeeper still uses max(floor, declared).
 * - Compensation and evidence templates may read the step's own outputs (they run after it);
 *   inputs and `when` may not (that is a cycle). Any other step they read becomes a dependency.
 * - `when` accepts one template, a bare expression or a boolean; it is stored as `${{ expr }}`.
 * - `timeout` follows the duration convention (a bare number is milliseconds);
 *   `timeout_seconds` is seconds. On approval steps the timeout is the approval's expiry.
 * - `{{ }}` templates whose root is not a native root (`inputs`, `steps`, `run`, `secrets`,
 *   `evidence`) are read as seed shorthand (`{{ step.key }}`, `{{ input }}`); `${{ }}` never is.
 *   A name that is neither a step nor a declared input (`{{ account_id }}`) is an undeclared
 *   name read at run time (`seed-names.ts`): it becomes an input (`undeclared: true`; required
 *   when no step listed before its reader can output it and it is not `workflow_id`, `run_id`
 *   or `timestamp`), and the steps listed before that may output it become dependencies. Two
 *   such steps whose capabilities both declare the key are an error naming both.
 * - Steps run in the order they are listed, in both formats (the original's "steps execute in
 *   order"): a step without `depends_on` waits for every step listed before it (its plan
 *   `dependsOn` names only those no other earlier step already waits for). `depends_on: [...]`
 *   replaces that wait (`[]`: start at once), so parallelism is always explicit. Seed
 *   principal: `agent:<agent_name>` first (least privilege), else `metadata.owner`. Seed
 *   `policy`/`global_compensation_steps` must be empty and `enable_auto_rollback` true (Airun
 *   cannot honour them and will not ignore them); `max_execution_time_seconds` becomes
 *   `governance.budgets.max_duration` unless governance sets one. Step `description` and
 *   `agent_name` are accepted and not kept.
 * - An input declared without a default is required; a bare value is a default.
 * - `specHash` leaves out the steps' source lines: reformatting a file does not change it.
 *
 * The parts live in `spec-*` modules: `spec-context` (compilation state, reporting),
 * `spec-workflow` (workflow-level fields), `spec-step` (one step; `spec-approval`,
 * `spec-timing`, `spec-inputs` for its parts), `spec-references` (templates, dependencies,
 * ordering), `spec-governance` (the governance section, tools allowed/forbidden per step,
 * evidence keys) and `plan-schema` (persisted plans, spec hash).
 */
import type { CapabilityCatalog } from "./capability.js";
import { type Problem, ValidationError } from "./errors.js";
import { isPlainObject } from "./json.js";
import type { Plan, PlanStep } from "./plan.js";
import { computeSpecHash, deepFreeze } from "./plan-schema.js";
import { SpecContext } from "./spec-context.js";
import { checkGovernanceSteps } from "./spec-governance.js";
import { declaredOutputKeys } from "./spec-inputs.js";
import { orderSteps } from "./spec-references.js";
import { isSeedDocument, SEED_TOP_LEVEL_KEYS } from "./spec-seed.js";
import { compileGlobalCompensations, compileStep, registerStepId } from "./spec-step.js";
import {
  checkSeedExtras,
  workflowGovernance,
  workflowIdentity,
  workflowInputs,
  workflowPrincipal,
} from "./spec-workflow.js";
import { parseYamlSource, type YamlLimits } from "./yaml-source.js";

export { computeSpecHash, planFromJson } from "./plan-schema.js";
export { closestName } from "./spec-context.js";
export { RUN_FIELDS } from "./spec-references.js";
export { DEFAULT_RETRY } from "./spec-timing.js";

/** A spec file as read by the caller (core does no I/O). */
export interface SpecSource {
  readonly file: string;
  readonly text: string;
}

/** Result of `validateSpec`: the plan when there is no problem, and every problem found. */
export interface SpecValidation {
  readonly plan?: Plan;
  readonly problems: readonly Problem[];
  /** What the author probably did not mean (the spec compiles anyway), located like problems. */
  readonly warnings: readonly Problem[];
}

const TOP_KEYS = [
  "name",
  "version",
  "description",
  "principal",
  "inputs",
  "governance",
  "steps",
  ...SEED_TOP_LEVEL_KEYS,
];

/** Compiles the parsed document; `undefined` when any problem was reported in `ctx`. */
function compileDocument(ctx: SpecContext): Omit<Plan, "specHash"> | undefined {
  const doc = ctx.src.value;
  if (!isPlainObject(doc)) {
    ctx.report([], "a workflow spec must be a YAML mapping");
    return undefined;
  }
  ctx.seed = isSeedDocument(doc);
  ctx.checkKeys(doc, TOP_KEYS, [], "workflow");
  const { name, version, description } = workflowIdentity(ctx, doc);
  const principal = workflowPrincipal(ctx, doc);
  const inputs = workflowInputs(ctx, doc);
  const governance = workflowGovernance(ctx, doc);
  const extras = checkSeedExtras(ctx, doc);

  const rawSteps = doc.steps;
  if (!Array.isArray(rawSteps) || rawSteps.length === 0) {
    ctx.report(
      rawSteps === undefined ? [] : ["steps"],
      "a workflow needs a non-empty list of steps",
    );
    return undefined;
  }
  // First pass: step ids (templates and depends_on refer to steps declared later too).
  const ids = rawSteps.map((raw, i) => registerStepId(ctx, raw, i));
  rawSteps.forEach((raw, i) => {
    const id = ids[i];
    if (id === undefined || !isPlainObject(raw)) return;
    ctx.listed.push({ id, ...listedOutputs(ctx, raw) });
  });
  const steps: PlanStep[] = [];
  // The steps listed so far that no step listed so far waits for: a step without `depends_on`
  // waits for these (and so, transitively, for every step listed before it).
  const frontier = new Set<string>();
  rawSteps.forEach((raw, i) => {
    if (!isPlainObject(raw)) return;
    // A step whose id was refused (duplicate, malformed) is still checked, with no order edge.
    const step = compileStep(ctx, raw, i, ids[i] === undefined ? [] : [...frontier]);
    if (!step) return;
    steps.push(step);
    for (const d of step.dependsOn) frontier.delete(d);
    if (ids[i] !== undefined) frontier.add(ids[i]);
  });
  const anchors = compileGlobalCompensations(ctx, doc.global_compensation_steps);
  if (governance) checkGovernanceSteps(ctx, governance, rawSteps);
  // Undeclared seed names are inputs too: `--input` may give them, and one that nothing listed
  // before its reader can output is an input the run needs.
  for (const [name, needed] of ctx.undeclared) {
    if (Object.hasOwn(inputs, name)) continue;
    inputs[name] = { type: "any", required: needed, undeclared: true };
  }
  const ordered = orderSteps(ctx, steps);
  if (ctx.problems.length > 0 || !ordered) return undefined;
  return {
    name,
    version,
    description,
    principal,
    inputs,
    governance,
    steps: withAnchors(anchors, ordered),
    format: ctx.seed ? "seed" : "native",
    ...(extras.autoRollback ? {} : { autoRollback: false as const }),
    ...(extras.policy ? { specPolicy: extras.policy } : {}),
  };
}

/**
 * The steps after the anchors of the global compensations, each step waiting for them: they
 * are armed before anything else happens, so they are undone after everything else.
 */
function withAnchors(anchors: readonly PlanStep[], steps: readonly PlanStep[]): PlanStep[] {
  if (anchors.length === 0) return [...steps];
  const last = anchors[anchors.length - 1]!.id;
  return [...anchors, ...steps.map((s) => ({ ...s, dependsOn: [last, ...s.dependsOn] }))];
}

/** What a listed step outputs, as far as the compiler can know (see `SpecContext.listed`). */
function listedOutputs(
  ctx: SpecContext,
  raw: Record<string, unknown>,
): { outputs: readonly string[] | null; by: string } {
  if (raw.type === "approval" || raw.step_type === "HUMAN_APPROVAL") {
    return { outputs: APPROVAL_OUTPUTS, by: "an approval step" };
  }
  const cap = ctx.capability(raw.capability ?? raw.capability_name);
  return cap ? { outputs: declaredOutputKeys(cap), by: cap.name } : { outputs: null, by: "" };
}

/** What a decided approval step outputs (`engine/step/approval-step.ts`). */
const APPROVAL_OUTPUTS: readonly string[] = ["approved", "decided_by", "comment"];

function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col);
}

/**
 * Validates a spec and returns every problem found; `plan` is set only when there is none.
 * `limits` bound the YAML's nesting and alias expansion (default: `DEFAULT_LIMITS`).
 *
 * @example
 * const { plan, problems } = validateSpec({ file: "wf.yaml", text }, registry);
 * for (const p of problems) console.error(formatProblem(p));
 */
export function validateSpec(
  source: SpecSource,
  catalog: CapabilityCatalog,
  limits?: YamlLimits,
): SpecValidation {
  const src = parseYamlSource(source.file, source.text, limits);
  if (src.syntaxProblems.length > 0) {
    return { problems: sortProblems(src.syntaxProblems), warnings: [] };
  }
  const ctx = new SpecContext(src, catalog);
  const body = compileDocument(ctx);
  const problems = sortProblems(ctx.problems);
  const warnings = sortProblems(ctx.warnings);
  if (!body || problems.length > 0) {
    return {
      problems: problems.length ? problems : [src.problem([], "the spec could not be compiled")],
      warnings,
    };
  }
  const plan: Plan = { ...body, specHash: computeSpecHash(body) };
  return { plan: deepFreeze(plan), problems: [], warnings };
}

/**
 * Compiles a workflow spec (native or seed format) into a frozen `Plan`. Throws a
 * `ValidationError` listing EVERY problem (file, line, column, field, message).
 *
 * A step's `risk_level` may be lower than its capability's risk floor: the plan records the
 * declared value, and the gatekeeper still applies max(floor, declared).
 */
export function compileSpec(
  source: SpecSource,
  catalog: CapabilityCatalog,
  limits?: YamlLimits,
): Plan {
  const { plan, problems } = validateSpec(source, catalog, limits);
  if (!plan) throw new ValidationError(problems, { location: source.file });
  return plan;
}
