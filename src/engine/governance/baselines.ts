/**
 * @module Drift baselines (SPEC §7): the metrics of ACCEPTed runs of one spec name and version,
 * read from the runs' `meta.governance.metrics` (recorded in their COMPLETED commit). A runtime
 * reads them once and keeps them for 30 s per name and version; runs accepted in this process
 * are added at once. `driftReport` is what `airun drift show` prints.
 */
import { type DriftSettings, governanceOf, RUN_METRICS } from "../../core/governance.js";
import {
  computeBaselines,
  type MetricBaseline,
  type RunMetrics,
} from "../../core/governance-drift.js";
import { isPlainObject } from "../../core/json.js";
import type { Plan } from "../../core/plan.js";
import { Outcome, RunStatus } from "../../core/status.js";
import type { RunRecord, Store } from "../../store/store.js";

/** How long baselines read from the store are reused. */
const CACHE_MS = 30_000;
/** How many of a workflow's most recent completed runs are read to find its samples. */
const SCAN_LIMIT = 1000;

interface Cached {
  readonly at: number;
  /** Newest first. */
  readonly samples: RunMetrics[];
}

const caches = new WeakMap<Store, Map<string, Cached>>();

/** The metrics an accepted run recorded, or undefined. */
function sampleOf(run: RunRecord): RunMetrics | undefined {
  if (run.status !== RunStatus.COMPLETED || run.outcome !== Outcome.ACCEPT) return undefined;
  const gov = run.meta.governance;
  const m = isPlainObject(gov) ? gov.metrics : undefined;
  if (!isPlainObject(m)) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m))
    if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
  return out;
}

/** Samples of every version of a workflow, newest first. */
async function readSamples(store: Store, name: string): Promise<Map<string, RunMetrics[]>> {
  const runs = await store.listRuns({ name, status: [RunStatus.COMPLETED], limit: SCAN_LIMIT });
  const byVersion = new Map<string, RunMetrics[]>();
  for (const r of runs) {
    const s = sampleOf(r);
    if (!s) continue;
    const list = byVersion.get(r.specVersion) ?? [];
    list.push(s);
    byVersion.set(r.specVersion, list);
  }
  return byVersion;
}

const key = (name: string, version: string) => `${name}\0${version}`;

/** The metrics of the `window` most recent accepted runs of the plan's name and version. */
export async function driftSamples(
  store: Store,
  plan: Pick<Plan, "name" | "version">,
  window: number,
  now = Date.now(),
): Promise<RunMetrics[]> {
  let cache = caches.get(store);
  if (!cache) {
    cache = new Map();
    caches.set(store, cache);
  }
  const k = key(plan.name, plan.version);
  let hit = cache.get(k);
  if (!hit || now - hit.at > CACHE_MS) {
    const all = await readSamples(store, plan.name);
    hit = { at: now, samples: all.get(plan.version) ?? [] };
    cache.set(k, hit);
  }
  return hit.samples.slice(0, window);
}

/** Adds the metrics of a run this process is accepting to the cached samples. */
export function addDriftSample(
  store: Store,
  plan: Pick<Plan, "name" | "version">,
  metrics: RunMetrics,
): void {
  caches.get(store)?.get(key(plan.name, plan.version))?.samples.unshift(metrics);
}

/** The baselines of one version of a workflow. */
export interface VersionBaselines {
  readonly version: string;
  /** Accepted runs with recorded metrics (all of them, not only the window). */
  readonly runs: number;
  /** The spec's drift settings, when the report was asked for a spec file. */
  readonly drift: DriftSettingsJson | null;
  readonly metrics: Readonly<
    Record<
      string,
      MetricBaseline & {
        /** `factor` × median, for the metrics the spec's drift settings check. */
        readonly threshold: number | null;
        /** The baseline has `min_samples` runs: drift on this metric is acted upon. */
        readonly active: boolean | null;
      }
    >
  >;
}

/** Drift settings as `--json` prints them. */
export interface DriftSettingsJson {
  readonly metrics: readonly string[];
  readonly factor: number;
  readonly min_samples: number;
  readonly action: string;
  readonly window: number;
  readonly approvers: readonly string[];
}

function settingsJson(d: DriftSettings): DriftSettingsJson {
  return {
    metrics: [...d.metrics],
    factor: d.factor,
    min_samples: d.minSamples,
    action: d.action,
    window: d.window,
    approvers: [...d.approvers],
  };
}

/** What `airun drift show` prints. */
export interface DriftReport {
  readonly name: string;
  readonly versions: readonly VersionBaselines[];
}

/**
 * The baselines of a workflow: of the plan's version (with its drift thresholds) when given a
 * plan, else of every version of that workflow name.
 */
export async function driftReport(store: Store, target: Plan | string): Promise<DriftReport> {
  const name = typeof target === "string" ? target : target.name;
  const all = await readSamples(store, name);
  const plans = typeof target === "string" ? null : target;
  const versions = plans ? [plans.version] : [...all.keys()].sort();
  const drift = plans ? (governanceOf(plans)?.drift ?? null) : null;
  return {
    name,
    versions: versions.map((version) => {
      const samples = all.get(version) ?? [];
      const windowed = drift ? samples.slice(0, drift.window) : samples;
      const names = new Set<string>([...RUN_METRICS, ...(drift?.metrics ?? [])]);
      for (const s of windowed) for (const k of Object.keys(s)) names.add(k);
      const base = computeBaselines(windowed, [...names].sort(metricOrder));
      const metrics: Record<string, VersionBaselines["metrics"][string]> = {};
      for (const [m, b] of Object.entries(base)) {
        const checked = drift?.metrics.includes(m) ?? false;
        metrics[m] = {
          ...b,
          threshold: checked && drift ? drift.factor * b.median : null,
          active: drift ? checked && b.samples >= drift.minSamples : null,
        };
      }
      return { version, runs: samples.length, drift: drift ? settingsJson(drift) : null, metrics };
    }),
  };
}

/** Run-wide metrics first (in their usual order), then per-capability counts by name. */
function metricOrder(a: string, b: string): number {
  const ia = (RUN_METRICS as readonly string[]).indexOf(a);
  const ib = (RUN_METRICS as readonly string[]).indexOf(b);
  if (ia >= 0 || ib >= 0) return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
  return a < b ? -1 : a > b ? 1 : 0;
}
