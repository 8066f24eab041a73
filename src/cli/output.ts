/**
 * @module Human and JSON output of the CLI: live progress lines, run views, lists.
 */
import type { Writable } from "node:stream";
import type { ProgressEvent } from "../engine/context.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { RunView } from "../engine/state/run-view.js";
import { printJson } from "./json-output.js";
import { describePolicyEntry, type LedgerLine } from "./timeline.js";

const out = (s: string) => process.stdout.write(s);

/** A listener printing one line per step-level event as a run progresses. */
export function progressPrinter(stream: Writable): (e: ProgressEvent) => void {
  return (e) => {
    const d = (e.data ?? {}) as Record<string, unknown>;
    const step = e.stepId ?? "";
    let line: string | null = null;
    switch (e.type) {
      case "run.started":
        line = `▶ run ${e.runId}${d.name ? ` (${d.name})` : ""}`;
        break;
      case "step.succeeded":
        line = `  ✓ ${step}${typeof d.duration_ms === "number" ? `  ${d.duration_ms}ms` : ""}${Number(d.attempts) > 1 ? `  (${d.attempts} attempts)` : ""}`;
        break;
      case "step.failed":
        line = `  ✗ ${step}  ${d.code}: ${d.message}`;
        break;
      case "step.retry":
        line = `  ↻ ${step}  attempt ${d.failed_attempt} failed (${(d.error as { code?: string })?.code}); retrying in ${d.delay_ms}ms`;
        break;
      case "step.skipped":
        line = `  – ${step}  skipped (when: ${d.when})`;
        break;
      case "approval.requested":
        line = `  ⏸ ${step}  waits for approval (${(d.approvers as string[] | undefined)?.join(", ") || "any user:*"}): ${d.message}`;
        break;
      case "run.compensating":
        line = `  ⟲ rolling back (${d.reason})`;
        break;
      case "compensation.done":
        line = `  ↩ ${step}  undone`;
        break;
      case "compensation.refused":
        line = `  ! ${step}  undo refused: ${d.message}`;
        break;
      case "compensation.failed":
        line = `  ! ${step}  undo failed: ${d.message}`;
        break;
      default:
        break;
    }
    if (line) stream.write(`${line}\n`);
  };
}

/** Prints a run: its summary and steps, or the JSON view. */
export function printRun(view: RunView, json: boolean, events?: readonly LedgerLine[]): void {
  if (json) {
    printJson(events ? { ...view, events } : view);
    return;
  }
  const what =
    view.kind === "session"
      ? `session ${view.id}  ${view.name}`
      : `run ${view.id}  ${view.name} v${view.version}`;
  out(
    `${view.status}${view.outcome ? ` ${view.outcome}` : ""}${view.reason && view.reason !== "COMPLETED" ? ` (${view.reason})` : ""}  ${what}  as ${view.principal}\n`,
  );
  for (const s of view.steps) {
    const comp =
      s.compensation && s.compensation.status !== "VOID" ? `  undo: ${s.compensation.status}` : "";
    const err = s.error
      ? `  ${(s.error as { code?: string }).code}: ${(s.error as { message?: string }).message}`
      : "";
    out(
      `  ${s.status.padEnd(16)} ${s.id.padEnd(24)} ${String(s.capability ?? "").padEnd(20)} attempts ${s.attempts}${comp}${err}\n`,
    );
  }
  if (view.status === "WAITING_APPROVAL") {
    out(
      `\nwaiting for approval: airun workflow resume ${view.id} --decision approve|reject --as user:<you>\n`,
    );
  }
  if (view.reason_detail && view.status !== "COMPLETED")
    out(`\ndetail: ${JSON.stringify(view.reason_detail)}\n`);
  if (events)
    for (const e of events)
      out(
        `  ${new Date(e.at).toISOString()}  ${e.type.padEnd(22)} ${e.stepId ?? ""}  ${describePolicyEntry(e.type, (e.data ?? {}) as Record<string, unknown>) ?? JSON.stringify(e.data)}\n`,
      );
}

/** Prints a list of runs. */
export function printRunList(runs: readonly RunView[], json: boolean): void {
  if (json) {
    printJson({ runs });
    return;
  }
  if (runs.length === 0) out("no runs\n");
  for (const r of runs) {
    out(
      `${r.id}  ${r.status.padEnd(16)} ${(r.outcome ?? "").padEnd(9)} ${(r.reason ?? "").padEnd(20)} ${r.kind === "session" ? "session:" : ""}${r.name}  ${r.created_at}\n`,
    );
  }
}

/** Prints the capability catalogue. */
export function printCapabilities(rt: Runtime, pattern: string, json: boolean): void {
  const caps = rt.describeCapabilities(pattern);
  if (json) {
    printJson({ capabilities: caps });
    return;
  }
  for (const c of caps) {
    out(
      `${c.name.padEnd(22)} risk ${c.risk.padEnd(8)} ${c.effect.padEnd(8)} undo ${c.undo.padEnd(13)} ${c.idempotent ? "idempotent" : "          "}  ${c.description}\n`,
    );
  }
}
