// The incident scenario as an SDK agent loop: a (scripted, offline) planner decides each next
// tool call; Airun decides whether and how it happens. The session is the transaction: commit
// checks the evidence (>= 2 source refs, validator passed) or everything is undone.
//
//   npm run build && node examples/incident/agent.mjs            → ACCEPT, ticket filed (exit 0)
//   node examples/incident/agent.mjs INC-0000                     → ABSTAIN, nothing kept (exit 4)
//
// Then: node dist/airun.mjs workflow list --config examples/incident/airun.yaml
import { fileURLToPath } from "node:url";
import {
  BudgetExceededError,
  CallDeniedError,
  EvidenceUnmetError,
  fromOutput,
  Runtime,
  SessionClosedError,
} from "airun";

const incident = process.argv[2] ?? "INC-1042";
const say = (s) => process.stdout.write(`${s}\n`);

/**
 * The planner: what a model would decide, given what it has seen so far. Its one bad idea (to
 * delete old tickets) is refused by the gatekeeper, and it carries on.
 */
function nextAction(seen) {
  if (!seen.retrieve) {
    return {
      id: "retrieve",
      tool: "incident.logs.retrieve",
      input: { incident, query: "error warn deploy pool" },
      // Evidence taken from what the tool returned, not from what the agent claims.
      opts: { evidence: { source_refs: fromOutput("refs") } },
    };
  }
  if (!seen.cleanup) {
    return { id: "cleanup", tool: "io.fs.delete", input: { path: "out/tickets/old.md" } };
  }
  if (!seen.summarize) {
    return {
      id: "summarize",
      tool: "incident.text.summarize",
      input: { incident, passages: seen.retrieve.passages, max_tokens: 800 },
    };
  }
  if (!seen.validate) {
    return {
      id: "validate",
      tool: "incident.checks.validate",
      input: { cited: seen.summarize.cited, refs: seen.retrieve.refs, fix: seen.summarize.fix },
      opts: { evidence: { validator_pass: fromOutput("pass") } },
    };
  }
  if (!seen.ticket) {
    return {
      id: "ticket",
      tool: "io.fs.write_file",
      input: {
        path: `out/tickets/${incident}.md`,
        content: seen.summarize.markdown,
        create_dirs: true,
      },
    };
  }
  return null; // done
}

const rt = await Runtime.open({
  configFile: fileURLToPath(new URL("airun.yaml", import.meta.url)),
});
let code = 0;
try {
  const session = await rt.openSession({
    principal: "agent:incident-bot",
    name: "incident-agent",
    objective: `Summarize ${incident} and propose a fix`,
    governance: {
      tools: {
        allowed: ["incident.**", "io.fs.write_file"],
        forbidden: ["io.fs.delete", "sys.exec.*", "net.http.*"],
      },
      evidence: {
        required: ["len(evidence.source_refs) >= 2", "evidence.validator_pass == true"],
      },
      budgets: { max_tokens: 6000, max_cost_usd: 1.2, max_tool_calls: 20, max_duration: "5m" },
      rollback: { required: true },
    },
  });
  say(`session ${session.id} opened as ${session.principal}`);
  try {
    const seen = {};
    for (let action = nextAction(seen); action !== null; action = nextAction(seen)) {
      try {
        seen[action.id] = await session.call(action.tool, action.input, {
          id: action.id,
          ...action.opts,
        });
        say(`  ✓ ${action.id.padEnd(10)} ${action.tool}`);
      } catch (err) {
        if (!(err instanceof CallDeniedError)) throw err;
        // Refused before anything happened; the session stays open and the agent moves on.
        seen[action.id] = { refused: err.message };
        say(
          `  ✗ ${action.id.padEnd(10)} ${action.tool} refused by ${err.deniedBy}; the session stays open`,
        );
      }
    }
    const view = await session.commit();
    say(`${view.status} ${view.outcome}: ticket out/tickets/${incident}.md filed`);
  } catch (err) {
    if (err instanceof EvidenceUnmetError) {
      code = 4;
      say(`ABSTAIN: evidence unmet, everything the session did was undone`);
      for (const f of err.failed) say(`  - ${f.expression}   read ${JSON.stringify(f.values)}`);
    } else if (err instanceof BudgetExceededError) {
      code = 4;
      say(`ABSTAIN: ${err.message}`);
    } else if (err instanceof SessionClosedError) {
      code = err.end.status === "FAILED" ? 6 : 3;
      say(err.message);
    } else {
      await session.rollback({ reason: String(err) }).catch(() => undefined);
      throw err;
    }
  }
  const entries = await rt.events(session.id);
  const report = await rt.verifyLedger();
  say(
    `ledger: ${entries.length} entries for session ${session.id}; verify: ${report.ok ? "ok" : "FAILED"}`,
  );
  say(
    `see it: node dist/airun.mjs workflow show ${session.id} --config examples/incident/airun.yaml`,
  );
} finally {
  await rt.close();
}
process.exitCode = code;
