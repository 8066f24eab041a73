/**
 * @module `airun dashboard`: a terminal view of pending approvals and recent runs, refreshed
 * every second, with keys to decide (↑/↓ or j/k select, `a` approve, `r` reject, `q` quit) as
 * the `--as` principal, for people who live in tmux. It reads and decides through the Runtime
 * like every command (the same rules: eligibility, no self-approval), so it works beside a
 * running `airun serve` or without one. Without a terminal it prints one frame and exits.
 */
import type { Command } from "commander";
import { AirunError } from "../core/errors.js";
import type { ApprovalView } from "../engine/approvals/approval-view.js";
import type { Runtime } from "../engine/runtime/runtime.js";
import type { RunView } from "../engine/state/run-view.js";
import {
  asPrincipal,
  type CliContext,
  type CommonOptions,
  common,
  withRuntime,
} from "./cli-kit.js";

const ESC = "\x1b[";
const bold = (s: string) => `${ESC}1m${s}${ESC}0m`;
const dim = (s: string) => `${ESC}2m${s}${ESC}0m`;
const inverse = (s: string) => `${ESC}7m${s}${ESC}0m`;

function left(ms: number | null, now: number): string {
  if (ms === null) return "never";
  const s = Math.max(0, Math.round((ms - now) / 1000));
  if (s === 0) return "expired";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(s % 60).padStart(2, "0")}s`;
}

const pad = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n));

/** One screen of the dashboard. */
export function frame(
  approvals: readonly ApprovalView[],
  runs: readonly RunView[],
  selected: number,
  who: string | undefined,
  status: string,
  now: number,
): string {
  const lines = [
    `${bold("Airun dashboard")}  ${who ?? dim("read-only (pass --as to decide)")}  ${new Date(now).toISOString().slice(11, 19)}`,
    dim("↑/↓ select · a approve · r reject · q quit"),
    "",
    bold(`Pending approvals (${approvals.length})`),
  ];
  if (approvals.length === 0) lines.push(dim("  nothing waits for a decision"));
  approvals.forEach((a, i) => {
    const row = `${pad(a.run_name, 16)} ${pad(a.step_id, 12)} by ${pad(a.requester, 18)} expires ${pad(left(a.expires_at, now), 8)} ${pad(a.message, 50)}`;
    lines.push(i === selected ? inverse(`> ${row}`) : `  ${row}`);
  });
  lines.push("", bold("Runs (newest first)"));
  for (const r of runs) {
    lines.push(
      `  ${pad(r.id, 20)} ${pad(r.name, 16)} ${pad(r.status, 17)} ${pad(r.outcome ?? "", 9)} ${r.principal}`,
    );
  }
  lines.push("", status);
  return lines.join("\n");
}

/** Registers `airun dashboard` on `program`. */
export function registerDashboardCommand(program: Command, cli: CliContext): void {
  common(program.command("dashboard"))
    .description("terminal view of pending approvals and runs; keys to approve or reject")
    .option("--as <principal>", "who decides (kind:id); without it the view is read-only")
    .option("--comment <text>", "comment recorded with each decision", "from airun dashboard")
    .action(async (opts: CommonOptions & { comment: string }) => {
      const who = asPrincipal(opts);
      await withRuntime(cli, opts, async (rt) => {
        if (!process.stdin.isTTY || !process.stdout.isTTY) {
          const [approvals, runs] = await read(rt);
          process.stdout.write(`${frame(approvals, runs, -1, who, "", Date.now())}\n`);
          return;
        }
        await interactive(rt, who, opts.comment);
      });
    });
}

async function read(rt: Runtime): Promise<[ApprovalView[], RunView[]]> {
  return Promise.all([rt.listApprovals(), rt.listRuns({ limit: 15 })]);
}

async function interactive(rt: Runtime, who: string | undefined, comment: string): Promise<void> {
  const out = process.stdout;
  let approvals: ApprovalView[] = [];
  let runs: RunView[] = [];
  let selected = 0;
  let status = "";
  let busy = false;
  const draw = () => {
    selected = Math.min(selected, Math.max(0, approvals.length - 1));
    out.write(`${ESC}H${ESC}2J${frame(approvals, runs, selected, who, status, Date.now())}`);
  };
  const refresh = async () => {
    [approvals, runs] = await read(rt);
    draw();
  };
  out.write(`${ESC}?1049h${ESC}?25l`);
  (await import("node:readline")).emitKeypressEvents(process.stdin);
  process.stdin.setRawMode(true);
  process.stdin.resume();
  try {
    await refresh();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (!busy) refresh().catch((err) => (status = `refresh failed: ${String(err)}`));
      }, 1000);
      const decide = async (decision: "approve" | "reject") => {
        const a = approvals[selected];
        if (!a) return;
        if (!who) {
          status = "read-only: start with --as <principal> to decide";
          return draw();
        }
        busy = true;
        status = `${decision === "approve" ? "approving" : "rejecting"} ${a.id} …`;
        draw();
        try {
          const view = await rt.decideApproval(a.id, { decision, principal: who, comment });
          status = `${decision === "approve" ? "approved" : "rejected"} ${a.id}: run ${view.status}${view.outcome ? ` ${view.outcome}` : ""}`;
        } catch (err) {
          status =
            err instanceof AirunError
              ? `refused: ${err.code}: ${err.message}`
              : `failed: ${String(err)}`;
        } finally {
          busy = false;
        }
        await refresh();
      };
      process.stdin.on("keypress", (_s: string, key: { name?: string; ctrl?: boolean }) => {
        if (key.name === "q" || (key.ctrl && key.name === "c")) {
          clearInterval(timer);
          resolve();
        } else if (key.name === "up" || key.name === "k") {
          selected = Math.max(0, selected - 1);
          draw();
        } else if (key.name === "down" || key.name === "j") {
          selected += 1;
          draw();
        } else if (!busy && key.name === "a") void decide("approve");
        else if (!busy && key.name === "r") void decide("reject");
      });
    });
  } finally {
    process.stdin.setRawMode(false);
    process.stdin.pause();
    out.write(`${ESC}?25h${ESC}?1049l`);
  }
}
