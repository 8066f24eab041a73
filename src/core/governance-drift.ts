/**
 * @module Drift math (SPEC §7), pure: the metrics of a run, baselines (median per metric over
 * the accepted runs of one spec name and version) and the threshold test — a metric drifts
 * when its value exceeds `factor` × the baseline median, once the baseline holds at least
 * `min_samples` runs. A median of 0 makes any positive value drift (a tool never used before).
 */
import type { DriftSettings } from "./governance.js";
import { CALLS_METRIC_PREFIX, RUN_METRICS } from "./governance.js";
import type { Spend } from "./governance-budget.js";

/** The metrics of one run: `tool_calls`, `tokens`, `cost_usd`, `duration_ms`, `calls:<cap>`. */
export type RunMetrics = Readonly<Record<string, number>>;

/** The baseline of one metric. */
export interface MetricBaseline {
  readonly median: number;
  readonly samples: number;
  readonly min: number;
  readonly max: number;
}

/** A metric beyond its threshold. */
export interface DriftFinding {
  readonly metric: string;
  readonly value: number;
  readonly median: number;
  /** `factor` × median: the value must not exceed it. */
  readonly threshold: number;
  readonly factor: number;
  readonly samples: number;
}

/** The metrics of a run from its spend, its per-capability call counts and its duration. */
export function runMetrics(
  spend: Spend,
  calls: Readonly<Record<string, number>>,
  durationMs: number,
): RunMetrics {
  const out: Record<string, number> = {
    tool_calls: spend.toolCalls,
    tokens: spend.tokens,
    cost_usd: spend.costUsd,
    duration_ms: Math.max(0, Math.round(durationMs)),
  };
  for (const [cap, n] of Object.entries(calls)) out[`${CALLS_METRIC_PREFIX}${cap}`] = n;
  return out;
}

/** The median of a list (the mean of the two middle values for an even count); 0 when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Baselines over `samples` (a missing metric counts as 0 in a sample): for `metrics`, or for
 * the run-wide metrics plus every metric any sample has.
 *
 * @example
 * computeBaselines([{ tool_calls: 2 }, { tool_calls: 4 }, { tool_calls: 3 }], ["tool_calls"])
 * // { tool_calls: { median: 3, samples: 3, min: 2, max: 4 } }
 */
export function computeBaselines(
  samples: readonly RunMetrics[],
  metrics?: readonly string[],
): Record<string, MetricBaseline> {
  const names = new Set<string>(metrics ?? RUN_METRICS);
  if (!metrics) for (const s of samples) for (const k of Object.keys(s)) names.add(k);
  const out: Record<string, MetricBaseline> = {};
  for (const name of names) {
    const values = samples.map((s) => (Number.isFinite(s[name]) ? (s[name] as number) : 0));
    out[name] = {
      median: median(values),
      samples: values.length,
      min: values.length ? Math.min(...values) : 0,
      max: values.length ? Math.max(...values) : 0,
    };
  }
  return out;
}

/**
 * The configured metrics of `current` beyond `factor` × their baseline median. Metrics whose
 * baseline has fewer than `minSamples` runs are not judged.
 */
export function detectDrift(
  current: RunMetrics,
  baselines: Readonly<Record<string, MetricBaseline>>,
  settings: Pick<DriftSettings, "metrics" | "factor" | "minSamples">,
): DriftFinding[] {
  const out: DriftFinding[] = [];
  for (const metric of settings.metrics) {
    const base = baselines[metric];
    if (!base || base.samples < settings.minSamples) continue;
    const value = current[metric] ?? 0;
    const threshold = settings.factor * base.median;
    if (value > threshold) {
      out.push({
        metric,
        value,
        median: base.median,
        threshold,
        factor: settings.factor,
        samples: base.samples,
      });
    }
  }
  return out;
}

/** One line for people: `tool_calls 15 > 3 × median 3 (5 runs)`. */
export function describeFinding(f: DriftFinding): string {
  return `${f.metric} ${f.value} > ${f.factor} × median ${f.median} (${f.samples} accepted runs)`;
}
