/**
 * @module The `airun` command line. Parses arguments, opens a Runtime, prints human output
 * with live progress (or one JSON object with `--json`) and exits with the codes of SPEC §11:
 * 0 COMPLETED, 1 internal error, 2 usage/validation, 3 ROLLED_BACK+REMEDIATE,
 * 4 ROLLED_BACK+ABSTAIN, 5 WAITING_APPROVAL, 6 FAILED, 7 a verification failed.
 */
import { Command, CommanderError, Option } from "commander";
import { AirunError, formatProblem, ValidationError } from "../core/errors.js";
import { RunStatus } from "../core/status.js";
import type { RuntimeParts } from "../engine/runtime/runtime.js";
import { registerApprovalCommands } from "./approval-commands.js";
import {
  actingPrincipal,
  asPrincipal,
  type CliContext,
  type CommonOptions,
  collect,
  common,
  parseInputs,
  readingRuntime,
  withRuntime,
} from "./cli-kit.js";
import { registerDashboardCommand } from "./dashboard.js";
import { registerDriftCommands } from "./drift-commands.js";
import { ExitCode, exitCodeFor } from "./exit-codes.js";
import { cliHint } from "./hints.js";
import { initNextCommand, initProject } from "./init.js";
import { errorJson, printJson, usageErrorJson, wantsJson } from "./json-output.js";
import { registerLedgerCommands } from "./ledger-commands.js";
import { registerMcpCommand } from "./mcp-command.js";
import { printCapabilities, printRun, printRunList } from "./output.js";
import { registerPolicyCommands } from "./policy-commands.js";
import { registerReplayCommand } from "./replay-command.js";
import { registerServeCommands } from "./serve-commands.js";
import { registerStoreCommands } from "./store-commands.js";
import { printTimeline, runLedgerLines } from "./timeline.js";
import { registerWorkerCommand } from "./worker-command.js";

/** Builds the command tree. Each action sets `process.exitCode`. */
export function buildProgram(cli: CliContext = { parts: {} }): Command {
  const program = new Command("airun")
    .description("Governed, audited, undoable execution of AI-agent actions.")
    .version("0.1.0")
    // One line after an error (commander adds its "(Did you mean …?)"), never the whole page.
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      `
Exit codes: 0 COMPLETED, 1 internal error, 2 usage or validation error,
  3 ROLLED_BACK (REMEDIATE), 4 ROLLED_BACK (ABSTAIN), 5 WAITING_APPROVAL, 6 FAILED,
  7 verification failed (ledger verify, ledger verify-pack, replay diverged).
State: ./.airun (or --home, AIRUN_HOME); commands that only read never create it.
Config: ./airun.yaml (or --config). Who decides without --as: AIRUN_PRINCIPAL, else
  principal: in airun.yaml. --json: one JSON object on stdout, errors included
  ({"error":{"code","message","details",...}}), snake_case keys, ISO times.
Docs: README.md and docs/ARCHITECTURE.md.`,
    )
    .exitOverride();

  program
    .command("init")
    .description("create airun.yaml, policies.yaml and an example workflow in a folder")
    .argument("[dir]", "target folder", ".")
    .action(async (dir: string) => {
      const files = await initProject(dir);
      for (const f of files)
        process.stdout.write(
          `${f.created ? "created" : "kept"} ${f.path}${f.created ? "" : " (exists)"}\n`,
        );
      process.stdout.write(`\nnext: ${initNextCommand(dir)}\n`);
    });

  common(program.command("validate"))
    .description("check workflow specs; prints every problem as file:line:col")
    .argument("<specs...>", "workflow YAML files")
    .action(async (specs: string[], opts: CommonOptions) => {
      const { describeRunTimeNames, runTimeNames } = await import("./validate-output.js");
      await readingRuntime(cli, opts, async (rt) => {
        let bad = 0;
        const results = [];
        for (const spec of specs) {
          const { plan, problems, warnings } = await rt.validate(spec);
          const names = plan ? runTimeNames(plan) : { needed: [], resolved: [] };
          results.push({
            file: spec,
            ok: problems.length === 0,
            problems,
            warnings,
            steps: plan?.steps.length ?? 0,
            needs_inputs: names.needed,
            run_time_names: names.resolved,
          });
          if (problems.length > 0) bad += 1;
          if (!opts.json) {
            if (problems.length === 0) {
              process.stdout.write(
                `✓ ${spec}: ${plan?.name} v${plan?.version}, ${plan?.steps.length} steps\n`,
              );
              for (const line of describeRunTimeNames(names)) process.stdout.write(`  ${line}\n`);
            }
            for (const p of problems) process.stdout.write(`${formatProblem(p)}\n`);
            for (const w of warnings) process.stdout.write(`warning: ${formatProblem(w)}\n`);
          }
        }
        if (opts.json) printJson({ results });
        process.exitCode = bad > 0 ? ExitCode.USAGE : ExitCode.OK;
      });
    });

  addRunCommand(program.command("run"), cli);

  const workflow = program.command("workflow").description("run, inspect and steer runs");
  addRunCommand(workflow.command("run"), cli);
  common(workflow.command("list"))
    .description("list runs, newest first")
    .option(
      "--status <status>",
      `only runs in this status: ${RUN_STATUS_NAMES.join(", ")} (PAUSED is WAITING_APPROVAL)`,
    )
    .option("--limit <n>", "at most n runs", "50")
    .action(async (opts: CommonOptions & { status?: string; limit: string }) => {
      const status = opts.status === undefined ? undefined : parseRunStatus(opts.status);
      await readingRuntime(cli, opts, async (rt) => {
        const runs = await rt.listRuns({
          ...(status ? { status: [status] } : {}),
          limit: Number(opts.limit),
        });
        printRunList(runs, opts.json === true);
      });
    });
  common(workflow.command("show"))
    .alias("status")
    .description("show a run, its steps and outputs (alias: status)")
    .argument("<run-id>")
    .option("--events", "include the run's event history")
    .option("--timeline", "tell the run's story from its ledger entries (as airun trace)")
    .action(
      async (runId: string, opts: CommonOptions & { events?: boolean; timeline?: boolean }) => {
        await readingRuntime(cli, opts, async (rt) => {
          const view = await rt.getRun(runId);
          const events = opts.events || opts.timeline ? await runLedgerLines(rt, view) : undefined;
          if (opts.timeline) printTimeline(view, events ?? [], opts.json === true);
          else printRun(view, opts.json === true, events);
          process.exitCode = exitCodeFor(view);
        });
      },
    );
  common(workflow.command("resume"))
    .description("continue a run; with --decision, approve or reject its pending approval first")
    .argument("<run-id>")
    .addOption(
      new Option("--decision <decision>", "decide the pending approval").choices([
        "approve",
        "reject",
      ]),
    )
    .option(
      "--as <principal>",
      "who decides (kind:id); default: AIRUN_PRINCIPAL, else principal: in airun.yaml",
    )
    .option("--comment <text>", "a comment recorded with the decision")
    .option("--step <step-id>", "which waiting step, when several wait")
    .option(
      "--detach",
      "record the decision and exit: whichever `airun worker` is free continues the run",
    )
    .action(
      async (
        runId: string,
        opts: CommonOptions & {
          decision?: "approve" | "reject";
          comment?: string;
          step?: string;
          detach?: boolean;
        },
      ) => {
        asPrincipal(opts);
        await withRuntime(
          cli,
          opts,
          async (rt) => {
            const principal = opts.decision
              ? actingPrincipal(opts, rt.config, "deciding")
              : undefined;
            const view = await rt.resume(runId, {
              ...(opts.decision ? { decision: opts.decision } : {}),
              ...(principal !== undefined ? { principal } : {}),
              ...(opts.comment ? { comment: opts.comment } : {}),
              ...(opts.step ? { stepId: opts.step } : {}),
              ...(opts.detach ? { detach: true } : {}),
            });
            printRun(view, opts.json === true);
            process.exitCode = exitCodeFor(view);
          },
          { live: true },
        );
      },
    );
  common(workflow.command("cancel"))
    .description("cancel a running or waiting run; everything it did is rolled back")
    .argument("<run-id>")
    .option(
      "--as <principal>",
      "who cancels; default: AIRUN_PRINCIPAL, else principal: in airun.yaml, else user:cli",
    )
    .action(async (runId: string, opts: CommonOptions) => {
      asPrincipal(opts);
      await withRuntime(
        cli,
        opts,
        async (rt) => {
          const principal = actingPrincipal(opts, rt.config, "cancelling") ?? "user:cli";
          const view = await rt.cancel(runId, principal);
          printRun(view, opts.json === true);
          process.exitCode = exitCodeFor(view);
        },
        { live: true },
      );
    });
  common(workflow.command("rollback"))
    .description("undo a finished run after the fact, newest effect first (drift-checked)")
    .argument("<run-id>")
    .option(
      "--as <principal>",
      "who asks; default: AIRUN_PRINCIPAL, else principal: in airun.yaml, else user:cli",
    )
    .option("--force", "restore even targets changed since the run (overwrites those changes)")
    .action(async (runId: string, opts: CommonOptions & { force?: boolean }) => {
      asPrincipal(opts);
      await withRuntime(
        cli,
        opts,
        async (rt) => {
          const principal = actingPrincipal(opts, rt.config, "rolling back") ?? "user:cli";
          const view = await rt.rollback(runId, {
            principal,
            force: opts.force === true,
          });
          printRun(view, opts.json === true);
          process.exitCode = exitCodeFor(view);
        },
        { live: true },
      );
    });

  common(program.command("recover"))
    .description("bring every interrupted run to a correct state (safe to run any time)")
    .action(async (opts: CommonOptions) => {
      await withRuntime(
        cli,
        opts,
        async (rt) => {
          const recovered = await rt.recover();
          if (opts.json) printJson({ runs: recovered });
          else if (recovered.length === 0) process.stdout.write("nothing to recover\n");
          else
            for (const r of recovered)
              process.stdout.write(`${r.runId}  ${r.action}  ${r.status}\n`);
        },
        { live: true },
      );
    });

  registerApprovalCommands(program, cli);
  registerPolicyCommands(program, cli);
  registerDriftCommands(program, cli);
  registerReplayCommand(program, cli);
  registerLedgerCommands(program, cli);
  registerStoreCommands(program, cli);
  registerWorkerCommand(program, cli);
  registerServeCommands(program, cli, "0.1.0");
  registerDashboardCommand(program, cli);
  registerMcpCommand(program, cli, "0.1.0");

  common(program.command("capabilities"))
    .description("list capabilities with risk, effect class and undo")
    .argument("[pattern]", "name glob", "**")
    .action(async (pattern: string, opts: CommonOptions) => {
      await readingRuntime(cli, opts, async (rt) => {
        printCapabilities(rt, pattern, opts.json === true);
      });
    });

  return program;
}

/** The `run` command (also `workflow run`, the original project's name for it). */
function addRunCommand(cmd: Command, cli: CliContext): void {
  common(cmd)
    .description("run a workflow as a transaction: all steps complete, or everything is undone")
    .argument("<spec>", "workflow YAML file")
    .option("--input <key=value>", "an input value (repeatable)", collect)
    .option("--inputs <file>", "input values from a JSON file")
    .option("--as <principal>", "who is running it (kind:id); default: the spec's principal")
    .option("--idempotency-key <key>", "a run started twice with the same key is the same run")
    .option(
      "--detach",
      "enqueue the run and exit at once (prints its id): an `airun worker` on the same store claims and drives it",
    )
    .action(
      async (
        spec: string,
        opts: CommonOptions & {
          input?: string[];
          inputs?: string;
          idempotencyKey?: string;
          detach?: boolean;
        },
      ) => {
        const principal = asPrincipal(opts);
        await withRuntime(
          cli,
          opts,
          async (rt) => {
            const inputs = await parseInputs(opts.input, opts.inputs, rt.config.limits);
            const view = await rt.startRun({
              specFile: spec,
              inputs,
              ...(principal !== undefined ? { principal } : {}),
              ...(opts.idempotencyKey ? { idempotencyKey: opts.idempotencyKey } : {}),
              ...(opts.detach ? { detach: true } : {}),
            });
            printRun(view, opts.json === true);
            process.exitCode = exitCodeFor(view);
          },
          { live: true },
        );
      },
    );
}

/** The run statuses `--status` accepts; PAUSED (the original project's name) is WAITING_APPROVAL. */
const RUN_STATUS_NAMES = [...Object.values(RunStatus), "PAUSED"];

/** A `--status` value as a run status; a usage error naming the valid ones otherwise. */
function parseRunStatus(value: string): RunStatus {
  const upper = value.trim().toUpperCase();
  if (upper === "PAUSED") return RunStatus.WAITING_APPROVAL;
  if ((Object.values(RunStatus) as string[]).includes(upper)) return upper as RunStatus;
  throw new AirunError(
    "USAGE",
    `--status ${JSON.stringify(value)} is not a run status: expected one of ${RUN_STATUS_NAMES.join(", ")}`,
  );
}

/**
 * Runs the CLI with `argv`; resolves to the exit code. `parts` are runtime parts to inject into
 * every command's runtime: the shipped binary (`bin.ts`) passes none; a test harness passes
 * store commit hooks.
 */
export async function main(argv: readonly string[], parts: RuntimeParts = {}): Promise<number> {
  // A reader that goes away (`airun trace … | head`) must not crash a command mid-way: the
  // rest of the output is dropped, the work (a run, a rollback) finishes and is recorded.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
  });
  const program = buildProgram({ parts });
  const json = wantsJson(argv);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return 0;
      if (json) printRawJson(usageErrorJson(err.message, err.code));
      return ExitCode.USAGE;
    }
    if (json) printRawJson(errorJson(err));
    if (err instanceof ValidationError) {
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
      return ExitCode.USAGE;
    }
    if (err instanceof AirunError) {
      process.stderr.write(`airun: ${err.code}: ${err.message}\n`);
      const hint = cliHint(err);
      if (hint) process.stderr.write(`  hint: ${hint}\n`);
      return exitCodeFor(err);
    }
    process.stderr.write(`airun: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return ExitCode.INTERNAL;
  }
}

/** An error object as built (already in the JSON style), on stdout. */
function printRawJson(value: object): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
