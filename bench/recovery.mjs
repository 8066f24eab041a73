// Recovery after a crash (section 8 of `npm run bench`): a child process starts N runs at
// once, each in a 2 s step with a write-ahead intent (an idempotent capability with an undo
// record, so each run is RUNNING with its step RUNNING), and is killed with SIGKILL once every
// run is inside that step. Then a runtime in this process recovers the home: the figure is the
// time from the start of `recover()` until every run is terminal or has started its
// interrupted step again (the capability reports each new invocation), and the time until the
// sweep returned (every run driven to its end: the 2 s step plus its completion).
//
// Run alone with `node bench/recovery.mjs [N ...]` (after `npm run build`).
import { fork } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { createStandardRegistry } from "../dist/capabilities/registry.js";
import { defineCapability } from "../dist/core/capability.js";
import { Runtime } from "../dist/engine/runtime/runtime.js";

const STEP_MS = 2_000;

/** The registry of both processes: the standard library plus `bench.run.hold`. */
function registry(onInvoke) {
  const reg = createStandardRegistry();
  reg.register(
    defineCapability({
      name: "bench.run.hold",
      description: "holds for a while (a slow, idempotent call with an undo record)",
      input: z.object({ ms: z.number() }),
      output: z.object({}),
      risk: "LOW",
      effect: "write",
      idempotent: true,
      undo: "builtin",
      prepare: async () => ({ data: null }),
      revert: async () => {},
      execute: async ({ ms }, ctx) => {
        onInvoke(ctx.runId);
        await new Promise((r) => setTimeout(r, ms));
        return {};
      },
    }),
  );
  return reg;
}

const SPEC = `name: held
version: 1
principal: agent:bench
steps:
  - id: hold
    capability: bench.run.hold
    inputs: { ms: ${STEP_MS} }
  - id: done
    capability: sys.echo
    depends_on: [hold]
    inputs: { ok: true }
`;

function project(n) {
  const dir = mkdtempSync(join(tmpdir(), `airun-recovery-${n}-`));
  mkdirSync(join(dir, "ws"));
  writeFileSync(
    join(dir, "airun.yaml"),
    "home: home\nsandbox:\n  fs: { roots: [ws] }\naudit: { level: BASIC }\nengine: { lease_ttl: 60s, heartbeat: 20s }\n",
  );
  writeFileSync(join(dir, "wf.yaml"), SPEC);
  return dir;
}

/** The child: starts `n` runs and says when every one is inside its held step. */
async function child(dir, n) {
  let inside = 0;
  const rt = await Runtime.open({
    cwd: dir,
    env: {},
    registry: registry(() => {
      inside += 1;
      if (inside === n) process.send?.("inside");
    }),
  });
  const spec = join(dir, "wf.yaml");
  await Promise.all(Array.from({ length: n }, () => rt.startRun({ specFile: spec })));
}

/** Crashes `n` runs mid-step in a child process, then recovers them here. */
export async function recoveryFigure(n) {
  const dir = project(n);
  try {
    const started = performance.now();
    const proc = fork(fileURLToPath(import.meta.url), ["--child", dir, String(n)], {
      stdio: "inherit",
    });
    await new Promise((resolve, reject) => {
      proc.once("message", resolve);
      proc.once("exit", (code) => reject(new Error(`child exited (${code}) before the crash`)));
    });
    proc.kill("SIGKILL");
    await new Promise((r) => proc.once("exit", r));
    const setupMs = performance.now() - started;

    const again = new Set();
    let allAgainAt = 0;
    const rt = await Runtime.open({
      cwd: dir,
      env: {},
      registry: registry((runId) => {
        again.add(runId);
        if (again.size === n) allAgainAt = performance.now();
      }),
    });
    try {
      const t0 = performance.now();
      const recovered = await rt.recover();
      const sweepMs = performance.now() - t0;
      const resumed = recovered.filter((r) => r.action === "resumed").length;
      const completed = recovered.filter((r) => r.status === "COMPLETED").length;
      return {
        n,
        setupMs,
        againMs: allAgainAt ? allAgainAt - t0 : Number.NaN,
        sweepMs,
        resumed,
        completed,
      };
    } finally {
      await rt.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (x) => x.toLocaleString("en-US", { maximumFractionDigits: 0 });

/** Section 8 of `npm run bench`. */
export async function runRecoveryBench(sizes = [1_000, 10_000]) {
  console.log(
    `8. recovery: N runs killed (SIGKILL) inside a ${STEP_MS / 1000} s step with a write-ahead intent, then \`recover()\``,
  );
  for (const n of sizes) {
    const r = await recoveryFigure(n);
    console.log(
      `   N=${fmt(n).padStart(6)}: every run running its step again after ${fmt(r.againMs)} ms   (target for 10,000: < 10,000 ms); sweep returned after ${fmt(r.sweepMs)} ms (${fmt(r.completed)} completed of ${fmt(r.resumed)} resumed; setup ${fmt(r.setupMs)} ms)`,
    );
  }
  console.log();
}

if (process.argv[2] === "--child") {
  await child(process.argv[3], Number(process.argv[4]));
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const sizes = process.argv.slice(2).map(Number);
  await runRecoveryBench(sizes.length > 0 ? sizes : undefined);
}
