/**
 * @module The comparison half of a replay: a step's record against its replayed state, as
 * divergences of stable kinds (`replay-types.ts`) with one sentence each for people.
 */
import { canonicalJson } from "../../core/hash.js";
import { isPlainObject, type JsonValue } from "../../core/json.js";
import { Decision, StepStatus } from "../../core/status.js";
import type { StepRecord } from "../../store/store.js";
import { approvalOf } from "../state/approval-record.js";
import { errorOf, reachedStatus, recordedDecision } from "./replay-record.js";
import {
  type Divergence,
  DivergenceKind,
  type ReplayDecision,
  type ReplayStepReport,
  type ReplayStepState,
} from "./replay-types.js";
import type { WalkedStep } from "./replay-walk.js";

/** At most this many differing paths are listed per divergence. */
const MAX_PATHS = 20;

/** A step of the replayed spec, or of the record only, and what the replay made of it. */
export interface StepPair {
  readonly id: string;
  readonly capability: string | null;
  /** The capability the recorded plan had for this step (null: approval step or new step). */
  readonly recordedCapability: string | null;
  readonly inRecordedPlan: boolean;
  readonly inReplayedPlan: boolean;
  readonly rec: StepRecord | null;
  readonly walked: WalkedStep | null;
}

/** The report of one step: both sides and every divergence between them. */
export function compareStep(pair: StepPair): ReplayStepReport {
  const recorded = pair.rec === null ? null : recordedState(pair.rec);
  const replayed = pair.walked === null ? null : replayedState(pair.walked);
  const divergences: Divergence[] = [];
  if (!pair.inReplayedPlan) {
    divergences.push({
      kind: DivergenceKind.MISSING,
      message: "the recorded step is no longer in the spec",
      ...(recorded ? { recorded: recorded.status } : {}),
    });
  } else if (!pair.inRecordedPlan || pair.rec === null) {
    divergences.push({
      kind: DivergenceKind.NEW,
      message: `the step is not in the recorded run; the replay ${describe(pair.walked)}`,
      ...(replayed ? { replayed: replayed.status } : {}),
    });
  } else if (pair.walked !== null) {
    divergences.push(...differences(pair, pair.rec, pair.walked));
  }
  return { id: pair.id, capability: pair.capability, recorded, replayed, divergences };
}

function recordedState(rec: StepRecord): ReplayStepState {
  return {
    status: rec.status,
    contextHash: rec.contextHash,
    decision: recordedDecision(rec.decision),
    outputs: rec.outputs,
    error: errorOf(rec),
  };
}

function replayedState(w: WalkedStep): ReplayStepReport["replayed"] {
  return {
    status: w.status,
    contextHash: w.contextHash,
    decision: w.decision,
    outputs: w.outputs,
    error: w.error,
    source: w.source,
  };
}

/** Every divergence of a step present on both sides. */
function differences(pair: StepPair, rec: StepRecord, w: WalkedStep): Divergence[] {
  const out: Divergence[] = [];
  const decision = decisionDivergence(recordedDecision(rec.decision), w);
  if (decision) out.push(decision);
  if (rec.contextHash !== null && w.contextHash !== null && rec.contextHash !== w.contextHash) {
    out.push(contextDivergence(pair, rec, w));
  }
  // A denial the decision divergence already explains is not reported again as an outcome.
  const explained = decision !== null && w.error?.code === "POLICY_DENIED";
  const status = explained ? null : statusDivergence(rec, w);
  if (status) out.push(status);
  return out;
}

function decisionDivergence(rec: ReplayDecision | null, w: WalkedStep): Divergence | null {
  const rep = w.decision;
  if (rec === null || rep === null) return null;
  const sameRules = canonicalJson(rec.ruleIds) === canonicalJson(rep.ruleIds);
  if (rec.decision === rep.decision && sameRules) return null;
  const rules = (ids: readonly string[]) => (ids.length > 0 ? ids.join(", ") : "none");
  let message: string;
  if (rec.decision === rep.decision) {
    message = `still ${rep.decision}, but the matching rules change: ${rules(rec.ruleIds)} → ${rules(rep.ruleIds)}`;
  } else {
    message = `${rec.decision} → ${rep.decision} (rules: ${rules(rep.ruleIds)})`;
    if (rep.decision === Decision.DENY) {
      message += `: the step would be denied before any effect and the run rolled back (${rep.reason ?? "denied"})`;
    } else if (
      rep.decision === Decision.REQUIRE_APPROVAL &&
      w.status !== StepStatus.WAITING_APPROVAL
    ) {
      message +=
        rep.approval === null
          ? ": a real run would wait here for a person's approval (the replay goes on as if approved)"
          : `: the recorded approval (${rep.approval}) stands`;
    } else if (rec.decision === Decision.REQUIRE_APPROVAL && rep.decision === Decision.ALLOW) {
      message += ": no person would be asked to approve";
    } else if (rec.decision === Decision.DENY) {
      message += ": the step would no longer be denied";
    }
  }
  return {
    kind: DivergenceKind.DECISION,
    message,
    recorded: { decision: rec.decision, rule_ids: [...rec.ruleIds] },
    replayed: { decision: rep.decision, rule_ids: [...rep.ruleIds] },
  };
}

function contextDivergence(pair: StepPair, rec: StepRecord, w: WalkedStep): Divergence {
  const paths = differingPaths(rec.inputs, w.inputs);
  const what: string[] = [];
  if (pair.recordedCapability !== pair.capability) {
    what.push(
      `capability ${pair.recordedCapability ?? "approval"} → ${pair.capability ?? "approval"}`,
    );
  }
  if (paths.length > 0) what.push(`inputs differ at ${paths.join(", ")}`);
  let message = `the action changed: ${what.length > 0 ? what.join("; ") : "its recorded hash no longer matches (redaction settings?)"}`;
  if (w.source === "recorded" && w.status === StepStatus.SUCCEEDED) {
    message += "; the recorded outputs were served anyway";
  }
  if (approvalOf(rec.decision) !== null) {
    message +=
      "; the recorded approval covered the recorded action only (a real run would ask again)";
  }
  return {
    kind: DivergenceKind.CONTEXT_HASH,
    message,
    recorded: rec.contextHash,
    replayed: w.contextHash,
    paths,
  };
}

function statusDivergence(rec: StepRecord, w: WalkedStep): Divergence | null {
  const was = reachedStatus(rec);
  const now = w.status;
  const sides = { recorded: rec.status as string, replayed: now as string };
  if (was === now) {
    if (now === StepStatus.FAILED) {
      const a = errorOf(rec)?.code ?? null;
      const b = w.error?.code ?? null;
      if (a !== b) {
        return {
          kind: DivergenceKind.OUTCOME,
          message: `fails differently: ${a} → ${b}${w.error ? ` (${w.error.message})` : ""}`,
          recorded: a,
          replayed: b,
        };
      }
    }
    if (now === StepStatus.SUCCEEDED && w.source === "executed") {
      const paths = differingPaths(rec.outputs, w.outputs);
      if (paths.length > 0) {
        return {
          kind: DivergenceKind.OUTCOME,
          message: `the outputs differ at ${paths.join(", ")}`,
          recorded: rec.outputs,
          replayed: w.outputs,
          paths,
        };
      }
    }
    return null;
  }
  if (now === StepStatus.PENDING) {
    if (was === StepStatus.PENDING) return null;
    return {
      kind: DivergenceKind.NOT_REACHED,
      message: `the recorded run ran it (${rec.status}); now ${w.why ?? "it is not reached"}`,
      ...sides,
    };
  }
  if (now === StepStatus.SKIPPED) {
    return {
      kind: DivergenceKind.SKIPPED,
      message:
        was === StepStatus.PENDING
          ? "the recorded run never reached it; it would now be skipped (its when is false)"
          : `its when is now false: it would be skipped (recorded ${rec.status})`,
      ...sides,
    };
  }
  if (was === StepStatus.SKIPPED || was === StepStatus.PENDING) {
    return {
      kind: DivergenceKind.RAN,
      message: `${was === StepStatus.SKIPPED ? "the recorded run skipped it" : "the recorded run never reached it"}; it would now run: ${describe(w)}`,
      ...sides,
    };
  }
  return {
    kind: DivergenceKind.OUTCOME,
    message: `${rec.status} → ${describe(w)}`,
    ...sides,
  };
}

/** The replayed state of a step in words. */
function describe(w: WalkedStep | null): string {
  if (w === null) return "does not reach it";
  switch (w.status) {
    case StepStatus.PENDING:
      return `does not reach it (${w.why ?? "not reached"})`;
    case StepStatus.FAILED:
      return `FAILED ${w.error?.code ?? ""}${w.error ? `: ${w.error.message}` : ""}`.trim();
    case "UNRECORDED":
      return "UNRECORDED (the call would be made; the record holds no result to serve)";
    case StepStatus.WAITING_APPROVAL:
      return "WAITING_APPROVAL (a person must decide)";
    default:
      return w.status;
  }
}

/**
 * The JSON paths (`a.b[2]`) whose values differ between two values; `(root)` when they differ
 * as a whole. At most `MAX_PATHS`.
 */
export function differingPaths(a: JsonValue | null, b: JsonValue | null): string[] {
  const out: string[] = [];
  const walk = (x: JsonValue | undefined, y: JsonValue | undefined, path: string) => {
    if (out.length >= MAX_PATHS) return;
    if (isPlainObject(x) && isPlainObject(y)) {
      const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const k of keys) {
        walk(
          x[k] as JsonValue | undefined,
          y[k] as JsonValue | undefined,
          path ? `${path}.${k}` : k,
        );
      }
      return;
    }
    if (Array.isArray(x) && Array.isArray(y) && x.length === y.length) {
      for (let i = 0; i < x.length; i++) walk(x[i], y[i], `${path}[${i}]`);
      return;
    }
    const same =
      x === undefined || y === undefined ? x === y : canonicalJson(x) === canonicalJson(y);
    if (!same) out.push(path || "(root)");
  };
  walk(a ?? null, b ?? null, "");
  return out;
}
