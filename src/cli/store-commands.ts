/**
 * @module `airun store copy --to URL`: moving up from SQLite to PostgreSQL (or between any two
 * stores). The source is the store the config names (or AIRUN_STORE); the target must be empty.
 */
import type { Command } from "commander";
import { type CliContext, type CommonOptions, common, withRuntime } from "./cli-kit.js";
import { ExitCode } from "./exit-codes.js";
import { printJson } from "./json-output.js";

const out = (s: string) => process.stdout.write(s);

/** Registers the `store` command group. */
export function registerStoreCommands(program: Command, cli: CliContext): void {
  const store = program.command("store").description("the database behind the home");

  common(store.command("copy"))
    .description(
      "copy every run, approval, blob and ledger entry into an empty store (e.g. postgres://…?schema=airun), then verify both ledgers give one root; exit 7 when they do not. Stop every process using the source first.",
    )
    .requiredOption("--to <url>", "the target store URL (its password from PGPASSWORD)")
    .action(async (opts: CommonOptions & { to: string }) => {
      await withRuntime(cli, opts, async (rt) => {
        const report = await rt.copyStore(opts.to);
        if (opts.json) printJson(report);
        else {
          out(
            `copied ${report.runs} runs (${report.steps} steps, ${report.compensations} compensations), ${report.blobs} blobs, ${report.entries} ledger entries\n`,
          );
          out(`  source root ${report.sourceRoot}\n  copy root   ${report.targetRoot}\n`);
          for (const p of report.problems) out(`  ✗ ${p}\n`);
          out(
            report.ok ? "✓ both ledgers verify, with one root\n" : "✗ the copy does NOT verify\n",
          );
        }
        process.exitCode = report.ok ? ExitCode.OK : ExitCode.VERIFY_FAILED;
      });
    });
}
