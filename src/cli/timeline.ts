/**
 * @module A run's story for a person (`airun trace`, `workflow show --timeline`): one line per
 * ledger entry, with the entry number, the time since the run began, the step, and what
 * happened in words (who decided what under which policy, what ran, what was undone).
 */
import type { ProgressEvent } from "../engine/context.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { RunView } from "../engine/state/run-view.js";
import { printJson } from "./json-output.js";

type Data = Record<string, unknown>;

/**
 * A ledger entry as the CLI shows it next to a run: the run's own entries, and the policy's
 * (`policy.loaded`, `policy.reload_refused`; no run, no step) recorded while it ran.
 */
export type LedgerLine = Omit<ProgressEvent, "runId"> & { readonly runId: string | null };

/**
 * The run's entries with the policy's entries recorded during the run (between its first and,
 * once it ended, its last entry), in ledger order.
 */
export async function runLedgerLines(rt: Runtime, view: RunView): Promise<LedgerLine[]> {
  const own: LedgerLine[] = await rt.events(view.id);
  const first = own[0]?.seq;
  if (first === undefined) return own;
  const ended =
    view.status === "COMPLETED" || view.status === "ROLLED_BACK" || view.status === "FAILED";
  const policy = await rt.policyHistory({
    afterSeq: first,
    ...(ended ? { untilSeq: own.at(-1)?.seq ?? first } : {}),
  });
  if (policy.length === 0) return own;
  const lines: LedgerLine[] = [...own, ...policy.map((p) => ({ ...p, runId: null, stepId: null }))];
  return lines.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
}

/** Words for a policy entry (`policy.loaded`, `policy.reload_refused`). */
export function describePolicyEntry(type: string, d: Data): string | undefined {
  if (type === "policy.loaded") {
    const warnings = Array.isArray(d.warnings) ? d.warnings : [];
    const what = d.previous_hash
      ? `policy reloaded: ${d.source} (${short(d.hash)}, ${d.rules ?? "?"} rules) replaces ${short(d.previous_hash)}`
      : `policy loaded: ${d.source} (${short(d.hash)})`;
    return `${what}${warnings.length > 0 ? `; warnings: ${warnings.join("; ")}` : ""}`;
  }
  if (type === "policy.reload_refused") {
    const problems = Array.isArray(d.problems) ? d.problems : [];
    return `policy edit refused: ${d.source}: ${d.error ?? "invalid"}${problems.length > 0 ? ` (${problems.join("; ")})` : ""}; still deciding under ${short(d.kept_hash)}`;
  }
  return undefined;
}

const short = (h: unknown, n = 12): string => (typeof h === "string" ? h.slice(0, n) : "?");

/** Words for one entry. Unknown types fall back to their data. */
function describe(e: LedgerLine): string {
  const d = (e.data ?? {}) as Data;
  const policy = describePolicyEntry(e.type, d);
  if (policy !== undefined) return policy;
  switch (e.type) {
    case "run.created":
      return `run created: ${d.name} v${d.version} as ${d.principal}; policy ${d.policy_source} (${short(d.policy_hash)}); spec ${short(d.spec_hash)}`;
    case "run.started":
    case "run.resumed":
      return `${e.type === "run.started" ? "started" : "resumed"} by ${d.owner ?? "?"}`;
    case "run.recovered":
      return "taken over by recovery after its owner stopped";
    case "step.decision": {
      // An approval step is the workflow's own question: no policy decided it.
      if (d.risk === undefined) return `${d.decision}: ${d.reason ?? "asked by the workflow"}`;
      const rules = Array.isArray(d.rule_ids) ? d.rule_ids.join(", ") : "";
      return `gatekeeper: ${d.decision} at ${d.risk} risk (policy ${short(d.policy_hash)}${rules ? `; rules ${rules}` : ""})${d.reason ? ` — ${d.reason}` : ""}`;
    }
    case "step.intent":
      return `intent recorded before the effect: ${d.capability}, context ${short(d.context_hash)}, undo ${d.compensation ?? "none"}`;
    case "step.attempt":
      return `attempt ${d.attempt}`;
    case "step.retry":
      return `attempt ${d.failed_attempt} failed (${(d.error as Data | undefined)?.code}); retry in ${d.delay_ms}ms`;
    case "step.succeeded":
      return `succeeded${typeof d.duration_ms === "number" ? ` in ${d.duration_ms}ms` : ""}${Number(d.attempts) > 1 ? ` after ${d.attempts} attempts` : ""}`;
    case "step.failed":
      return `failed: ${d.code}: ${d.message}`;
    case "step.skipped":
      return `skipped (when: ${d.when})`;
    case "step.not_run":
      return `not run: the run ended first${d.approval ? ` (approval ${d.approval} cancelled)` : ""}`;
    case "approval.requested":
      return `approval requested from ${Array.isArray(d.approvers) && d.approvers.length ? d.approvers.join(", ") : "any user:*"}${d.message ? `: ${d.message}` : ""}`;
    case "approval.decided":
      return `approval ${d.decision ?? d.status} by ${d.by ?? d.principal ?? "?"}${d.comment ? ` — ${d.comment}` : ""}`;
    case "approval.expired":
      return `approval expired: nobody decided in time (on_timeout ${d.on_timeout})`;
    case "approval.voided":
      return `approval voided: ${d.why ?? d.reason ?? ""}`;
    case "run.waiting_approval":
      return "waiting for a human decision";
    case "run.compensating":
      return `rolling back (${d.reason})`;
    case "compensation.started":
      return `undo started (${d.capability ?? d.kind ?? ""})`;
    case "compensation.done":
      return "undone";
    case "compensation.refused":
    case "compensation.failed":
      return `undo ${e.type.slice("compensation.".length)}: ${d.message ?? ""}`;
    case "run.completed":
    case "run.rolled_back":
    case "run.failed":
      return `run ${e.type.slice("run.".length).replace("_", " ")}: ${d.outcome ?? ""} ${d.reason ?? ""}`.trim();
    default:
      return `${e.type} ${JSON.stringify(e.data)}`;
  }
}

/** Prints a run's timeline (or, with `json`, the entries with their words). */
export function printTimeline(view: RunView, events: readonly LedgerLine[], json: boolean): void {
  const start = events[0]?.at ?? 0;
  const lines = events.map((e) => ({
    seq: e.seq ?? null,
    at: new Date(e.at).toISOString(),
    offset_ms: e.at - start,
    type: e.type,
    step: e.stepId,
    text: describe(e),
  }));
  if (json) {
    printJson({ run: view, timeline: lines });
    return;
  }
  process.stdout.write(
    `run ${view.id}  ${view.name} v${view.version}  ${view.status}${view.outcome ? ` ${view.outcome}` : ""}${view.reason ? ` (${view.reason})` : ""}\n`,
  );
  for (const l of lines) {
    const when = `+${(l.offset_ms / 1000).toFixed(3)}s`.padStart(10);
    const seq = l.seq === null ? "" : `#${l.seq}`;
    process.stdout.write(`${seq.padStart(7)} ${when}  ${(l.step ?? "").padEnd(18)} ${l.text}\n`);
  }
}
