/**
 * @module `airun replay <run-id> [--spec FILE] [--policy FILE]`: re-executes a recorded run
 * without side effects and prints one line per step (✓ identical, ✗ with each divergence),
 * then a summary; `--json` prints the `ReplayReport`. Exit 0 only when the replay is identical,
 * 7 (`VERIFY_FAILED`) when any step diverges, 2 for an unknown run or a broken spec/policy.
 */
import type { Command } from "commander";
import type { ReplayReport, ReplayStepReport } from "../engine/replay/replay-types.js";
import { type CliContext, type CommonOptions, common, readingRuntime } from "./cli-kit.js";
import { ExitCode } from "./exit-codes.js";
import { jsonStyle, printJson } from "./json-output.js";

/** Registers `airun replay` on `program`. */
export function registerReplayCommand(program: Command, cli: CliContext): void {
  common(program.command("replay"))
    .description(
      "re-execute a recorded run without side effects and report every divergence (exit 0 only when identical)",
    )
    .argument("<run-id>", "the run to replay")
    .option("--spec <file>", "replay against an edited spec: what would this change have done?")
    .option("--policy <file>", "decide every step again with this policy file")
    .action(async (runId: string, opts: CommonOptions & { spec?: string; policy?: string }) => {
      await readingRuntime(cli, opts, async (rt) => {
        const report = await rt.replay(runId, {
          ...(opts.spec ? { specFile: opts.spec } : {}),
          ...(opts.policy ? { policyFile: opts.policy } : {}),
        });
        if (opts.json) printJson(replayJson(report));
        else process.stdout.write(`${replayText(report)}\n`);
        process.exitCode = report.identical ? ExitCode.OK : ExitCode.VERIFY_FAILED;
      });
    });
}

const short = (hash: string | null) => (hash === null ? "-" : hash.slice(0, 12));

/** The human report: a header, one line per step (plus one per divergence), a summary. */
export function replayText(report: ReplayReport): string {
  const lines: string[] = [];
  const { spec, policy } = report;
  lines.push(`replay of run ${report.runId} (${report.name})`);
  lines.push(
    spec.file === null
      ? `  spec    ${short(spec.recordedHash)} (recorded)`
      : `  spec    ${short(spec.recordedHash)} → ${short(spec.replayedHash)} (${spec.file})`,
  );
  const recorded = policy.recordedHashes.map(short).join(", ") || "-";
  lines.push(
    policy.replayedHash === null
      ? `  policy  ${recorded} (recorded decisions stand)`
      : `  policy  ${recorded} → ${short(policy.replayedHash)} (${policy.file})`,
  );
  const width = Math.max(4, ...report.steps.map((s) => s.id.length));
  const capWidth = Math.max(8, ...report.steps.map((s) => (s.capability ?? "approval").length));
  for (const step of report.steps) lines.push(...stepLines(step, width, capWidth));
  lines.push(summary(report));
  return lines.join("\n");
}

function stepLines(step: ReplayStepReport, width: number, capWidth: number): string[] {
  const ok = step.divergences.length === 0;
  const side = step.replayed ?? step.recorded;
  const status = `${side?.status ?? "-"}${side?.error ? ` ${side.error.code}` : ""}`;
  const source =
    step.replayed?.source === "recorded"
      ? " (recorded result served)"
      : step.replayed?.source === "executed"
        ? " (executed)"
        : "";
  const cap = (step.capability ?? "approval").padEnd(capWidth);
  const head = `${ok ? "✓" : "✗"} ${step.id.padEnd(width)}  ${cap}  ${status}${source}`;
  return [head, ...step.divergences.map((d) => `    ${d.kind}: ${d.message}`)];
}

function summary(report: ReplayReport): string {
  const total = report.steps.length;
  if (report.identical) {
    return `identical: ${total} step${total === 1 ? "" : "s"} replayed, no divergence`;
  }
  const counts = new Map<string, number>();
  for (const s of report.steps) {
    for (const d of s.divergences) counts.set(d.kind, (counts.get(d.kind) ?? 0) + 1);
  }
  const diverged = report.steps.filter((s) => s.divergences.length > 0).length;
  const kinds = [...counts].map(([k, n]) => `${k} ${n}`).join(", ");
  return `diverged: ${diverged} of ${total} steps (${kinds})`;
}

/**
 * The report in the CLI's JSON style. A divergence's two sides are recorded values (an output
 * may have any keys): they are kept as they are, the rest is snake_case.
 */
function replayJson(report: ReplayReport): unknown {
  return {
    ...(jsonStyle({ ...report, steps: [] }) as object),
    steps: report.steps.map((s) => ({
      ...(jsonStyle({ ...s, divergences: [] }) as object),
      divergences: s.divergences.map((d) => ({ ...d })),
    })),
  };
}
