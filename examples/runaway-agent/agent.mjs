// The runaway agent of the Flamehaven seed: "unbounded tool calls → budget breach detected →
// auto-abstain + rollback path enforced". A research agent with a bug (it is never satisfied)
// searches and appends notes forever. Its session's governance allows 10 tool calls: the 11th
// is refused BEFORE it is made, the session abstains, every note it wrote is undone (newest
// first), and the ledger records which budget, the figures, and each undo.
//
//   npm run build && node examples/runaway-agent/agent.mjs     → ABSTAIN, BUDGET_EXCEEDED (exit 4)
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { BudgetExceededError, Runtime } from "airun";
import { stats } from "./capabilities.mjs";

const say = (s) => process.stdout.write(`${s}\n`);
const notes = fileURLToPath(new URL("research-notes.md", import.meta.url));

const rt = await Runtime.open({
  configFile: fileURLToPath(new URL("airun.yaml", import.meta.url)),
});
let code = 1;
try {
  const session = await rt.openSession({
    principal: "agent:researcher",
    name: "runaway-research",
    objective: "Find the root cause of the checkout 503s",
    governance: {
      budgets: { max_tool_calls: 10, max_duration: "1m" },
      rollback: { required: true },
    },
  });
  say(`session ${session.id}: budget max_tool_calls 10`);
  let calls = 0;
  try {
    // The bug: the stopping condition is never met. Nothing in the loop bounds it.
    for (let round = 1; ; round++) {
      const found = await session.call("research.web.search", {
        query: `root cause, take ${round}`,
      });
      say(`  ${++calls}. research.web.search "${found.query}"`);
      await session.call("io.fs.append_file", {
        path: "research-notes.md",
        content: `- ${found.results.join("; ")}\n`,
      });
      say(`  ${++calls}. io.fs.append_file   research-notes.md`);
    }
  } catch (err) {
    if (!(err instanceof BudgetExceededError)) throw err;
    const f = err.figures;
    say(
      `  ✋ call ${calls + 1} (${f.capability}) refused before it ran: ${f.budget} used ${f.used} + ${f.requested} > limit ${f.limit}`,
    );
    say(`session abstained: ${err.end.status} ${err.end.outcome} ${err.end.reason}`);
    say(`the search tool really ran ${stats.searches} times (never for the refused call)`);
    say(
      `research-notes.md ${existsSync(notes) ? "STILL EXISTS" : "is gone: every append was undone"}`,
    );
    code = 4;
  }
  say("the ledger says why:");
  for (const e of await rt.events(session.id)) {
    if (e.type === "budget.breached")
      say(`  #${e.seq} budget.breached   ${JSON.stringify(e.data)}`);
    if (e.type === "run.compensating") say(`  #${e.seq} run.compensating  reason ${e.data.reason}`);
    if (e.type === "compensation.done") say(`  #${e.seq} compensation.done ${e.stepId}`);
    if (e.type === "run.rolled_back")
      say(`  #${e.seq} run.rolled_back   ${e.data.outcome} ${e.data.reason}`);
  }
  const report = await rt.verifyLedger();
  say(`ledger verify: ${report.ok ? "ok" : "FAILED"}`);
  if (!report.ok) code = 7;
} finally {
  await rt.close();
}
process.exitCode = code;
