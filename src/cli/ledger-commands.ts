/**
 * @module `airun ledger verify|checkpoint|export|verify-pack` and `airun trace`: proving what
 * happened. `verify-pack` needs no database and no home: it checks a pack offline.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { AirunError } from "../core/errors.js";
import {
  type CliContext,
  type CommonOptions,
  collect,
  common,
  readingRuntime,
  withRuntime,
} from "./cli-kit.js";
import { ExitCode, exitCodeFor } from "./exit-codes.js";
import { printJson } from "./json-output.js";
import { printTimeline, runLedgerLines } from "./timeline.js";

const out = (s: string) => process.stdout.write(s);

/** Registers the `ledger` command group and `trace`. */
export function registerLedgerCommands(program: Command, cli: CliContext): void {
  const ledger = program
    .command("ledger")
    .description("the tamper-evident ledger: verify, checkpoint, export evidence");

  common(ledger.command("verify"))
    .description(
      "check every entry's hash chain, every saved checkpoint (and --checkpoint files), and that every field the entries record of runs, steps and compensations agrees with their rows; exit 7 when anything is wrong",
    )
    .option(
      "--checkpoint <file>",
      "an earlier checkpoint to prove consistency with (repeatable)",
      collect,
    )
    .action(async (opts: CommonOptions & { checkpoint?: string[] }) => {
      const extra = await Promise.all(
        (opts.checkpoint ?? []).map(async (f) => ({ source: f, text: await readUserFile(f) })),
      );
      await readingRuntime(cli, opts, async (rt) => {
        const report = await rt.verifyLedger(extra);
        if (opts.json) printJson(report);
        else {
          out(
            `${report.ok ? "✓ ledger verifies" : "✗ ledger does NOT verify"}: ${report.entries} entries, root ${report.root}\n`,
          );
          if (report.pending > 0) {
            out(
              `  · ${report.pending} entries not yet integrated (committed after the integration this verification ran, or refused by it): their run chains were checked; no checkpoint covers them yet\n`,
            );
          }
          for (const c of report.checkpoints)
            out(`  ${c.status === "consistent" ? "✓" : "✗"} ${c.message}\n`);
          for (const p of report.problems.filter(
            (p) => !report.checkpoints.some((c) => c.message === p),
          )) {
            out(`  ✗ ${p}\n`);
          }
          for (const n of report.notes) out(`  · ${n}\n`);
        }
        process.exitCode = report.ok ? ExitCode.OK : ExitCode.VERIFY_FAILED;
      });
    });

  common(ledger.command("checkpoint"))
    .description("sign a checkpoint (tree size, Merkle root, time) of the verified ledger")
    .option("--out <file>", "also write the checkpoint to this file (keep it somewhere safe)")
    .action(async (opts: CommonOptions & { out?: string }) => {
      await withRuntime(cli, opts, async (rt) => {
        const cp = await rt.checkpointLedger();
        if (opts.out) await writeAtomically(opts.out, cp.text);
        if (opts.json) printJson(cp);
        else out(cp.text);
      });
    });

  common(ledger.command("export"))
    .description(
      "write a run's evidence pack: spec, policies, entries, proofs, signed checkpoint; exit 7 (nothing written) when the ledger does not verify or the run's state disagrees with it",
    )
    .argument("<run-id>")
    .requiredOption("--out <file>", "where to write the pack")
    .action(async (runId: string, opts: CommonOptions & { out: string }) => {
      await withRuntime(cli, opts, async (rt) => {
        const pack = await rt.exportEvidencePack(runId);
        await writeAtomically(opts.out, pack);
        const key = await rt.ledgerPublicKey();
        if (opts.json) printJson({ run: runId, file: opts.out, key: key.fingerprint });
        else out(`wrote ${opts.out} (signed by ${key.fingerprint})\n`);
      });
    });

  ledger
    .command("verify-pack")
    .description("verify an evidence pack offline (no database needed); exit 7 when it fails")
    .argument("<file>")
    .option("--key <file>", "the public key (PEM) the pack must be signed with")
    .option("--json", "print one JSON object instead of human output")
    .action(async (file: string, opts: { key?: string; json?: boolean }) => {
      const [text, { readPublicKey }, { verifyPack }] = await Promise.all([
        readUserFile(file),
        import("../core/checkpoint.js"),
        import("../core/evidence-pack.js"),
      ]);
      // A damaged key file is named (CHECKPOINT_INVALID_KEY, exit 7), not blamed on the pack.
      const key =
        opts.key === undefined
          ? undefined
          : readPublicKey(await readUserFile(opts.key), opts.key).pem;
      const report = verifyPack(text, key);
      if (opts.json) printJson(report);
      else {
        out(
          report.ok
            ? `✓ evidence pack verifies: run ${report.runId}, ${report.entries} entries proven against a checkpoint of ${report.treeSize}, signed by ${report.keyFingerprint}${key ? " (the trusted key)" : " (compare this fingerprint with the one you trust, or pass --key)"}\n`
            : `✗ evidence pack does NOT verify (${file})\n`,
        );
        for (const p of report.problems) out(`  ✗ ${p}\n`);
      }
      process.exitCode = report.ok ? ExitCode.OK : ExitCode.VERIFY_FAILED;
    });

  common(program.command("trace"))
    .description("tell a run's story from its ledger entries (same as workflow show --timeline)")
    .argument("<run-id>")
    .action(async (runId: string, opts: CommonOptions) => {
      await readingRuntime(cli, opts, async (rt) => {
        const view = await rt.getRun(runId);
        printTimeline(view, await runLedgerLines(rt, view), opts.json === true);
        process.exitCode = exitCodeFor(view);
      });
    });
}

async function readUserFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new AirunError("USAGE", `${file}: ${(err as Error).message}`, { file });
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}
