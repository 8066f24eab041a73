/**
 * @module `airun drift show <spec-file-or-name>`: the drift baselines (SPEC §7) of a workflow —
 * per metric the median, sample count, min and max over its accepted runs, and for a spec file
 * with drift settings the threshold (`factor` × median) and whether it is active yet.
 */
import type { Command } from "commander";
import type { DriftReport, VersionBaselines } from "../engine/governance/baselines.js";
import { type CliContext, type CommonOptions, common, readingRuntime } from "./cli-kit.js";
import { ExitCode } from "./exit-codes.js";
import { printJson } from "./json-output.js";

/** Registers the `drift` command group on `program`. */
export function registerDriftCommands(program: Command, cli: CliContext): void {
  const drift = program.command("drift").description("inspect drift baselines of workflows");
  common(drift.command("show"))
    .description("print the baselines (median, samples per metric) of a workflow")
    .argument("<spec>", "a workflow spec file (its name and version), or a workflow name")
    .action(async (spec: string, opts: CommonOptions) => {
      await readingRuntime(cli, opts, async (rt) => {
        const report = await rt.driftBaselines(spec);
        if (opts.json) printJson(report);
        else process.stdout.write(driftText(report));
        process.exitCode = ExitCode.OK;
      });
    });
}

const num = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(4).replace(/0+$/, ""));

/** The human form of a drift report. */
export function driftText(report: DriftReport): string {
  const lines = [`drift baselines of ${report.name}`];
  if (report.versions.length === 0) lines.push("  no accepted runs with recorded metrics yet");
  for (const v of report.versions) lines.push(...versionText(v));
  return `${lines.join("\n")}\n`;
}

function versionText(v: VersionBaselines): string[] {
  const d = v.drift;
  const settings = d
    ? `; drift: ${d.metrics.join(", ")} > ${d.factor} x median after ${d.min_samples} runs -> ${d.action}, window ${d.window}`
    : "";
  const out = [`version ${v.version}: ${v.runs} accepted runs${settings}`];
  const rows = [["metric", "median", "samples", "min", "max", "threshold"]];
  for (const [name, m] of Object.entries(v.metrics)) {
    rows.push([
      name,
      num(m.median),
      String(m.samples),
      num(m.min),
      num(m.max),
      m.threshold === null ? "-" : `${num(m.threshold)}${m.active ? "" : " (inactive)"}`,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    out.push(
      `  ${r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd()}`,
    );
  return out;
}
