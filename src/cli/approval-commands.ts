/**
 * @module `airun approvals list` (pending approvals, or every approval of one run) and
 * `airun approvals show <run-id|approval-id>` (one approval: status, requester, action hash,
 * approvers, expiry, on_timeout, its decision history and webhook deliveries). Deciding stays
 * `airun workflow resume <run> --decision approve|reject --as P` (or `Runtime.decideApproval`).
 */
import type { Command } from "commander";
import type { ApprovalDetail, ApprovalView } from "../engine/approvals/approval-view.js";
import { type CliContext, type CommonOptions, common, readingRuntime } from "./cli-kit.js";
import { printJson } from "./json-output.js";

const out = (s: string) => process.stdout.write(s);
const iso = (ms: number | null) => (ms === null ? "never" : new Date(ms).toISOString());

/** Registers the `approvals` command group on `program`. */
export function registerApprovalCommands(program: Command, cli: CliContext): void {
  const approvals = program.command("approvals").description("human approvals");

  common(approvals.command("list"))
    .description("list pending approvals (or, with --run, every approval of a run)")
    .option("--run <run-id>", "every approval of this run, whatever its status")
    .action(async (opts: CommonOptions & { run?: string }) => {
      await readingRuntime(cli, opts, async (rt) => {
        const list = await rt.listApprovals(opts.run ? { runId: opts.run } : {});
        if (opts.json) printJson({ approvals: list });
        else printList(list, opts.run !== undefined);
      });
    });

  common(approvals.command("show"))
    .description("show one approval: who asked, for which action, who may decide, its history")
    .argument("<ref>", "an approval id (<run-id>/<step-id>/<n>) or a run id")
    .action(async (ref: string, opts: CommonOptions) => {
      await readingRuntime(cli, opts, async (rt) => {
        const approval = await rt.getApproval(ref);
        // What the gated call would change (db.row.*), as its decision recorded and its action
        // hash binds it.
        const decision = (await rt.approvalAction(approval)).decision;
        const preview =
          decision !== null && typeof decision === "object" && !Array.isArray(decision)
            ? (decision.preview ?? null)
            : null;
        if (opts.json) printJson(preview ? { approval, preview } : { approval });
        else {
          printDetail(approval);
          if (preview) printPreview(preview as { facts?: unknown; rows?: unknown[] });
        }
      });
    });
}

function printList(list: readonly ApprovalView[], all: boolean): void {
  if (list.length === 0) {
    out(all ? "no approvals\n" : "no pending approvals\n");
    return;
  }
  for (const a of list) {
    out(
      `${a.id}  ${a.status.padEnd(8)} requested by ${a.requester}  approvers: ${a.approvers.join(", ") || "any user:*"}  expires ${iso(a.expires_at)}\n    ${a.message}\n`,
    );
  }
}

/** The rows a gated call would change, one JSON line each. */
function printPreview(p: { facts?: unknown; rows?: unknown[] }): void {
  out(`\nwould change  ${JSON.stringify(p.facts ?? {})}\n`);
  for (const row of p.rows ?? []) out(`  ${JSON.stringify(row)}\n`);
}

function printDetail(a: ApprovalDetail): void {
  const rows: [string, string][] = [
    ["approval", a.id],
    ["status", a.status],
    ["run", `${a.run_id} (${a.run_name}, ${a.run_status})`],
    ["step", a.step_id],
    ["message", a.message],
    ["requester", a.requester],
    ["action hash", a.action_hash],
    ["approvers", a.approvers.join(", ") || "any user:*"],
    ["requested", iso(a.requested_at)],
    ["expires", iso(a.expires_at)],
    ["on timeout", a.on_timeout],
  ];
  if (a.decided_at !== null) {
    rows.push(["decided", `${iso(a.decided_at)} by ${a.decided_by ?? "?"}`]);
    if (a.comment) rows.push(["comment", a.comment]);
  }
  for (const [k, v] of rows) out(`${k.padEnd(12)} ${v}\n`);
  if (a.history.length > 0) {
    out("\nhistory\n");
    for (const h of a.history) {
      const d = (h.data ?? {}) as Record<string, unknown>;
      const what =
        h.type === "approval.decided"
          ? `${d.decision} by ${d.by}${d.comment ? `: ${d.comment}` : ""}`
          : h.type === "approval.expired"
            ? `nobody decided in time (on_timeout ${d.on_timeout})`
            : h.type === "approval.voided"
              ? `action changed (approved ${String(d.approved_hash).slice(0, 12)}…, now ${String(d.action_hash).slice(0, 12)}…)${d.why ? `: ${d.why}` : ""}`
              : `by ${d.requester}`;
      out(`  ${iso(h.at)}  ${h.type.padEnd(18)} ${what}\n`);
    }
  }
  if (a.deliveries.length > 0) {
    out("\nwebhook deliveries\n");
    for (const d of a.deliveries) {
      const result = d.status !== undefined ? `HTTP ${d.status}` : String(d.error);
      out(
        `  ${iso(Number(d.at))}  ${String(d.event).padEnd(18)} attempt ${d.attempt}  ${String(d.outcome).padEnd(9)} ${result}  ${d.duration_ms}ms  ${d.url}\n`,
      );
    }
  }
}
