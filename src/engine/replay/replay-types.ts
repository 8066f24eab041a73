/**
 * @module The vocabulary of `airun replay` (SPEC §10): what a replay of a recorded run reports,
 * step by step, and the stable kinds of divergence between the record and the replay.
 */
import type { JsonValue } from "../../core/json.js";
import type { StepStatus } from "../../core/status.js";

/**
 * How a replayed step can differ from its record. Stable strings (scripts branch on them):
 *
 * - `context_hash`: the step's own action changed (capability or resolved inputs); the hash is
 *   recomputed with the recorded spec and policy hashes, so an edited file around an unchanged
 *   step is not a divergence.
 * - `decision`: the gatekeeper would answer differently (decision or matched rules).
 * - `skipped`: the step would now be skipped (its `when`), although the record ran it.
 * - `ran`: the step would now run, although the record skipped it or never reached it.
 * - `outcome`: the step ends differently (a `sys.assert` now fails, a deterministic output
 *   differs, a served result no longer applies).
 * - `missing`: a recorded step is no longer in the spec. `new`: a spec step has no record.
 * - `not_reached`: the record ran the step but the replayed run would stop before it.
 */
export const DivergenceKind = {
  CONTEXT_HASH: "context_hash",
  DECISION: "decision",
  SKIPPED: "skipped",
  RAN: "ran",
  OUTCOME: "outcome",
  MISSING: "missing",
  NEW: "new",
  NOT_REACHED: "not_reached",
} as const;
export type DivergenceKind = (typeof DivergenceKind)[keyof typeof DivergenceKind];

/** One difference between a step's record and its replay. */
export interface Divergence {
  readonly kind: DivergenceKind;
  /** One sentence for people. */
  readonly message: string;
  /** The recorded side of what differs (a hash, a decision, a status, …), when it has one. */
  readonly recorded?: JsonValue;
  /** The replayed side of what differs. */
  readonly replayed?: JsonValue;
  /** `context_hash` and `outcome`: the JSON paths whose values differ (`text`, `a.b[2]`). */
  readonly paths?: readonly string[];
}

/**
 * A step's status in a replay: a step status, or `UNRECORDED` when the step would now make a
 * call whose result the record does not hold (replay never makes such a call).
 */
export type ReplayStatus = StepStatus | "UNRECORDED";

/** A gatekeeper answer, recorded or replayed. */
export interface ReplayDecision {
  /** `ALLOW`, `DENY` or `REQUIRE_APPROVAL`. */
  readonly decision: string;
  /** Ids of the rules that matched. */
  readonly ruleIds: readonly string[];
  readonly reason: string | null;
  /** Hash of the policy that answered (null for approval steps, which no policy decides). */
  readonly policyHash: string | null;
  /** Status of the person's decision on the step's approval (`USED`, `REJECTED`, …), if any. */
  readonly approval: string | null;
}

/** One side (record or replay) of a step. */
export interface ReplayStepState {
  readonly status: ReplayStatus;
  readonly contextHash: string | null;
  readonly decision: ReplayDecision | null;
  /** Outputs (secrets masked): recorded, served from the record, or computed by the replay. */
  readonly outputs: JsonValue | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

/** The replayed side of a step, with where its result came from. */
export interface ReplayedStepState extends ReplayStepState {
  /**
   * `executed`: a side-effect-free, deterministic capability ran again; `recorded`: the recorded
   * result (or a person's recorded decision) was served; `none`: no call was needed or possible.
   */
  readonly source: "executed" | "recorded" | "none";
}

/** A step of the replay report. */
export interface ReplayStepReport {
  readonly id: string;
  /** The capability (the replayed spec's, else the recorded one); null for approval steps. */
  readonly capability: string | null;
  /** Null for a step that is `new` in the replayed spec. */
  readonly recorded: ReplayStepState | null;
  /** Null for a recorded step `missing` from the replayed spec. */
  readonly replayed: ReplayedStepState | null;
  /** Empty when the step replays identically. */
  readonly divergences: readonly Divergence[];
}

/** What `Runtime.replay` returns. */
export interface ReplayReport {
  readonly runId: string;
  readonly name: string;
  /** True when no step diverges. */
  readonly identical: boolean;
  readonly spec: {
    readonly recordedHash: string;
    readonly replayedHash: string;
    /** The edited spec file replayed (`--spec`), or null for the recorded spec. */
    readonly file: string | null;
  };
  readonly policy: {
    /** Every policy hash the run recorded (its start, then each decision), in order. */
    readonly recordedHashes: readonly string[];
    /** Hash of the `--policy` file every step was re-decided with, or null. */
    readonly replayedHash: string | null;
    readonly file: string | null;
  };
  /** The replayed spec's steps in execution order, then recorded steps it no longer has. */
  readonly steps: readonly ReplayStepReport[];
}

/** What to replay the run against. */
export interface ReplayOptions {
  /** An edited spec to replay instead of the recorded one (compiled as `airun run` does). */
  readonly specFile?: string;
  /** The edited spec's text; read from `specFile` when absent. */
  readonly specText?: string;
  /** A policy file to decide every step again with (without it, the recorded decisions stand). */
  readonly policyFile?: string;
}
