// Governance envelope benchmark (SovDef), against a baseline measured in the same run: governed
// sequential bench.echo steps/s (sys.echo committed step by step, bench/committed-echo.mjs) with a full envelope (tools, budgets, evidence, rollback, drift)
// vs the same workflow without one (target >= 0.9x). Each step contributes evidence; the
// budgets are generous, so every call is reserved and settled but none breaches.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Runtime } from "../dist/engine/runtime/runtime.js";
import { benchRegistry } from "./committed-echo.mjs";

const STEPS = Number(process.env.BENCH_GOVERNANCE_STEPS ?? 1500);
const SYNC = process.env.BENCH_SYNC ?? "FULL";
const fmt = (n) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });

const ENVELOPE = `governance:
  objective: "benchmark the envelope"
  tools: { allowed: ["sys.*", "bench.*"], forbidden: ["sys.exec.*"] }
  evidence: { required: ["len(evidence.source_refs) >= 2"] }
  budgets: { max_tool_calls: ${STEPS * 10}, max_tokens: 1000000, max_cost_usd: 100, max_duration: 1h }
  rollback: { required: true }
  drift: { metrics: [tool_calls], factor: 100, min_samples: 5, action: warn }
`;

function project(root, name, governed) {
  const dir = join(root, name);
  mkdirSync(join(dir, "ws"), { recursive: true });
  writeFileSync(
    join(dir, "airun.yaml"),
    `home: home\nsqlite: { synchronous: ${SYNC} }\nsandbox:\n  fs: { roots: [ws] }\naudit: { level: BASIC }\n`,
  );
  let spec = `name: ${name}\nversion: 1\nprincipal: agent:bench\n${governed ? ENVELOPE : ""}steps:\n`;
  for (let i = 0; i < STEPS; i++) {
    spec += `  - id: s${i}\n${i ? `    depends_on: [s${i - 1}]\n` : ""}    capability: bench.echo\n    inputs: { refs: ["doc-${i}"] }\n`;
    if (governed) spec += `    evidence: { source_refs: "\${{ steps.s${i}.outputs.refs }}" }\n`;
  }
  writeFileSync(join(dir, "wf.yaml"), spec);
  return dir;
}

async function stepsPerSecond(dir) {
  const rt = await Runtime.open({ cwd: dir, env: {}, registry: benchRegistry() });
  try {
    const view = await rt.startRun({ specFile: join(dir, "wf.yaml") });
    if (view.status !== "COMPLETED") {
      throw new Error(`${dir}: ${view.status} ${JSON.stringify(view.reason_detail)}`);
    }
    const events = await rt.events(view.id);
    return (STEPS / (events.at(-1).at - events[0].at)) * 1000;
  } finally {
    await rt.close();
  }
}

export async function runGovernanceBench() {
  const root = mkdtempSync(join(tmpdir(), "airun-bench-gov-"));
  try {
    console.log(`\nGovernance envelope benchmark (synchronous=${SYNC}, ${STEPS}-step runs)\n`);
    await stepsPerSecond(project(root, "warmup", true));
    const plain = [];
    const governed = [];
    // Alternate the two variants so that neither profits from a warmer machine.
    for (let i = 0; i < 7; i++) {
      plain.push(await stepsPerSecond(project(root, `plain${i}`, false)));
      governed.push(await stepsPerSecond(project(root, `gov${i}`, true)));
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[3];
    console.log(
      "1. sequential bench.echo steps (sys.echo committed step by step), each contributing evidence",
    );
    console.log(`   without an envelope:                         ${fmt(median(plain))} steps/s`);
    console.log(
      `   full envelope (tools, budgets, evidence, drift): ${fmt(median(governed))} steps/s`,
    );
    console.log(`   ratio: ${(median(governed) / median(plain)).toFixed(2)}x   (target >= 0.90)`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
