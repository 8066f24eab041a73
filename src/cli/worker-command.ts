/**
 * @module `airun worker`: a process that claims and drives runs from the store the home points
 * at (`store:` in airun.yaml, or AIRUN_STORE). Start any number, on any machine, against one
 * PostgreSQL database; on SQLite it works too, on one machine, by polling. SIGTERM or SIGINT
 * drains it: no new claims, runs in flight finish within `--drain-timeout`, the rest are handed
 * back to the other workers. `--drain` works through what is queued and exits when idle.
 */
import type { Command } from "commander";
import { parseDuration } from "../core/duration.js";
import { AirunError } from "../core/errors.js";
import { type CliContext, type CommonOptions, common, withRuntime } from "./cli-kit.js";
import { printJson } from "./json-output.js";

interface WorkerFlags extends CommonOptions {
  concurrency: string;
  poll: string;
  drainTimeout: string;
  sweepEvery: string;
  drain?: boolean;
  quiet?: boolean;
}

function duration(flag: string, value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new AirunError("USAGE", `${flag}: "${value}" is not a duration (500ms, 30s, 15m)`);
  return ms;
}

/** Registers `worker` on `program`. */
export function registerWorkerCommand(program: Command, cli: CliContext): void {
  common(program.command("worker"))
    .description(
      "claim and drive queued runs (airun run --detach, the API's start, approvals decided with --detach, runs of dead workers); start one per core or machine against one PostgreSQL store",
    )
    .option("--concurrency <n>", "runs driven at once by this worker", "8")
    .option(
      "--poll <duration>",
      "look for runs at least this often (wakeups come sooner on PostgreSQL)",
      "1s",
    )
    .option(
      "--drain-timeout <duration>",
      "on SIGTERM/SIGINT (or --drain), how long runs in flight may take before their leases are handed back",
      "30s",
    )
    .option("--sweep-every <duration>", "run a recovery sweep this often", "30s")
    .option("--drain", "work through what is queued, then exit when nothing is left")
    .option("--quiet", "do not print a line per run claimed and finished")
    .addHelpText(
      "after",
      `
Each run is held under a lease on the database's clock, renewed every engine.heartbeat
(at most half of engine.lease_ttl). A worker that dies (SIGKILL, a lost machine) loses its
runs when their leases lapse; another worker takes them over and settles what was in flight.
Every commit carries the lease's epoch, so a worker paused past its lease cannot write for a
run it no longer holds, and it checks its lease again right before each side effect.

Examples:
  AIRUN_STORE=postgres://airun@db/airun airun worker          # one per machine or core
  airun run deploy.yaml --detach                              # enqueue; a worker runs it
  airun workflow resume <run-id> --decision approve --detach  # decide; a free worker continues
`,
    )
    .action(async (opts: WorkerFlags) => {
      const concurrency = Number(opts.concurrency);
      if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
        throw new AirunError(
          "USAGE",
          `--concurrency: "${opts.concurrency}" is not a positive integer`,
        );
      }
      const pollMs = duration("--poll", opts.poll);
      const drainTimeoutMs = duration("--drain-timeout", opts.drainTimeout);
      const sweepIntervalMs = duration("--sweep-every", opts.sweepEvery);
      const say = (line: string) => {
        if (!opts.quiet && !opts.json) process.stdout.write(`${line}\n`);
      };
      await withRuntime(
        cli,
        opts,
        async (rt) => {
          const handle = await rt.work({
            concurrency,
            pollMs,
            drainTimeoutMs,
            untilIdle: opts.drain === true,
            onEvent: (e) => {
              if (e.type === "error") {
                process.stderr.write(`airun worker: ${e.runId || "claim"}: ${e.detail}\n`);
              } else say(`${e.type} ${e.runId} ${e.detail}`.trimEnd());
            },
          });
          say(
            `airun worker: ${process.pid} working (concurrency ${concurrency}, ${
              handle.wakeups ? "LISTEN/NOTIFY wakeups and " : ""
            }polling every ${pollMs}ms)`,
          );
          const stop = (signal: string) => {
            process.stderr.write(
              `airun worker: ${signal}: no new claims; finishing runs in flight, then handing back the rest\n`,
            );
            handle.drain();
          };
          process.once("SIGTERM", () => stop("SIGTERM"));
          process.once("SIGINT", () => stop("SIGINT"));
          const summary = await handle.done;
          if (opts.json) printJson({ worker: summary });
          else
            say(
              `airun worker: stopped (claimed ${summary.claimed}, finished ${summary.finished}, lost ${summary.lost}, handed back ${summary.handedBack})`,
            );
        },
        { worker: { sweepIntervalMs } },
      );
    });
}
