/**
 * @module `airun replay <run>` (SPEC §10): re-executes a recorded run without side effects and
 * reports every divergence from the record. With an edited spec (`specFile`) or policy
 * (`policyFile`) it answers "what would this change have done?" against real history.
 *
 * Read-only: the run's rows are read, never written (no event, no lease), and no capability
 * with an effect is called (see `replay-walk.ts` for which calls run again and which results
 * are served from the record). Context hashes are recomputed with the RECORDED spec and policy
 * hashes, so a `context_hash` divergence means the step's own action changed. Without
 * `policyFile` the recorded decisions stand (a step the record never decided asks the
 * configured policy); with it, every action step is decided again by that file, loaded as the
 * gatekeeper loads it (roles from the config; a decision hook is never called, its recorded
 * answer is kept).
 */
import { resolve } from "node:path";
import { NotFoundError } from "../../core/errors.js";
import type { JsonObject } from "../../core/json.js";
import type { Plan } from "../../core/plan.js";
import { builtinPolicy, type CompiledPolicy } from "../../core/policy.js";
import { planFromJson } from "../../core/spec-compile.js";
import { StepStatus } from "../../core/status.js";
import type { EngineContext } from "../context.js";
import { EventType } from "../events.js";
import { coerceInputs } from "../inputs.js";
import { PolicyGatekeeper } from "../policy/gatekeeper.js";
import { compareStep, type StepPair } from "./replay-compare.js";
import { recordedDecision } from "./replay-record.js";
import type { ReplayOptions, ReplayReport, ReplayStepReport } from "./replay-types.js";
import { walkPlan } from "./replay-walk.js";

/** What the Runtime lends a replay: its spec reader and compiler (the ones `airun run` uses). */
export interface ReplayDeps {
  readSpec(file: string): Promise<string>;
  compile(file: string, text: string): Plan;
}

/**
 * Replays run `runId` (see the module comment).
 *
 * @throws NotFoundError for an unknown run; ValidationError for a broken edited spec or
 * policy, or when the recorded inputs do not satisfy the edited spec's declared inputs.
 */
export async function replayRun(
  ctx: EngineContext,
  runId: string,
  options: ReplayOptions,
  deps: ReplayDeps,
): Promise<ReplayReport> {
  const run = await ctx.store.getRun(runId);
  if (!run) throw new NotFoundError(`run ${runId}`, { runId });
  const [records, created] = await Promise.all([
    ctx.store.getSteps(runId),
    ctx.store.listEvents({ runId, types: [EventType.RUN_CREATED], limit: 1 }),
  ]);
  const recordedPlan = planFromJson(run.plan);
  let plan = recordedPlan;
  let inputs = run.inputs;
  if (options.specFile !== undefined) {
    const text = options.specText ?? (await deps.readSpec(options.specFile));
    plan = deps.compile(options.specFile, text);
    inputs = inputsFor(plan, run.inputs, options.specFile);
  }
  const policy = options.policyFile ? await loadPolicy(options.policyFile) : null;
  const startPolicyHash =
    (created[0]?.data as { policy_hash?: unknown } | null)?.policy_hash ?? null;
  // A step the recorded run never started (NOT_RUN once it ended) is one it did not reach.
  const recordsById = new Map(
    records.map((r) => [
      r.stepId,
      r.status === StepStatus.NOT_RUN ? { ...r, status: StepStatus.PENDING } : r,
    ]),
  );
  const walked = await walkPlan({
    catalog: ctx.catalog,
    settings: ctx.settings,
    run,
    plan,
    inputs,
    records: recordsById,
    policy,
    fallbackPolicy:
      ctx.gatekeeper instanceof PolicyGatekeeper ? ctx.gatekeeper.compiled : builtinPolicy(),
    startPolicyHash:
      typeof startPolicyHash === "string" ? startPolicyHash : ctx.gatekeeper.policy.hash,
  });

  const recordedSteps = new Map(recordedPlan.steps.map((s) => [s.id, s]));
  const replayedIds = new Set(plan.steps.map((s) => s.id));
  const pairs: StepPair[] = plan.steps.map((ps) => ({
    id: ps.id,
    capability: ps.capability,
    recordedCapability: recordedSteps.get(ps.id)?.capability ?? null,
    inRecordedPlan: recordedSteps.has(ps.id),
    inReplayedPlan: true,
    rec: recordsById.get(ps.id) ?? null,
    walked: walked.get(ps.id) ?? null,
  }));
  for (const ps of recordedPlan.steps) {
    if (replayedIds.has(ps.id)) continue;
    pairs.push({
      id: ps.id,
      capability: ps.capability,
      recordedCapability: ps.capability,
      inRecordedPlan: true,
      inReplayedPlan: false,
      rec: recordsById.get(ps.id) ?? null,
      walked: null,
    });
  }
  const steps: ReplayStepReport[] = pairs.map(compareStep);

  const recordedHashes: string[] = [];
  const note = (h: unknown) => {
    if (typeof h === "string" && !recordedHashes.includes(h)) recordedHashes.push(h);
  };
  note(startPolicyHash);
  for (const r of records) note(recordedDecision(r.decision)?.policyHash);
  return {
    runId: run.id,
    name: run.name,
    identical: steps.every((s) => s.divergences.length === 0),
    spec: {
      recordedHash: run.specHash,
      replayedHash: plan.specHash,
      file: options.specFile ?? null,
    },
    policy: {
      recordedHashes,
      replayedHash: policy?.hash ?? null,
      file: policy?.source ?? null,
    },
    steps,
  };
}

/** The recorded inputs the edited spec still declares, checked and defaulted as `run` does. */
function inputsFor(plan: Plan, recorded: JsonObject, file: string): JsonObject {
  const given: JsonObject = {};
  for (const [name, value] of Object.entries(recorded)) {
    if (name in plan.inputs) given[name] = value;
  }
  return coerceInputs(plan, given, file);
}

/** Loads a policy file with the gatekeeper's loader (validated completely, not watched). */
async function loadPolicy(file: string): Promise<CompiledPolicy> {
  // The loader already reports an unreadable file as a ValidationError naming it.
  const gk = await PolicyGatekeeper.load(resolve(file));
  gk.close();
  return gk.compiled;
}
