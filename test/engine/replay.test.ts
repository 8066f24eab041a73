/**
 * `Runtime.replay` on real runs in a real SQLite home: an unchanged run replays identically
 * with the recorded outputs of nondeterministic capabilities served (never produced again), an
 * edited spec or policy diverges at exactly the steps it changes, and replay writes nothing —
 * neither to the sandbox nor to the run's rows.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createStandardRegistry } from "../../src/capabilities/registry.js";
import { compileSpec } from "../../src/core/spec-compile.js";
import type { ReplayReport } from "../../src/engine/replay/replay-types.js";
import type { Runtime } from "../../src/engine/runtime/runtime.js";
import { openStore } from "../../src/store/open-store.js";
import { snapshot } from "../e2e/project.js";
import { type Workspace, workspace } from "./helpers.js";

let w: Workspace;
let rt: Runtime | undefined;
afterEach(async () => {
  await rt?.close();
  rt = undefined;
  await w?.cleanup();
});

/** A LOW-risk, nondeterministic plugin that counts its calls in `<dir>/calls.log`. */
const CLOCK_PLUGIN = `import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "${pathToFileURL(resolve("node_modules/zod/index.js")).href}";
export const tick = {
  name: "demo.clock.tick",
  description: "Returns a fresh random number and the time; counts its calls",
  input: z.object({}),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  nondeterministic: true,
  async execute(_input, ctx) {
    appendFileSync(join(ctx.sandbox.fsRoots[0], "..", "calls.log"), "call\\n");
    return { n: 1 + Math.floor(Math.random() * 1e9), at: process.hrtime.bigint().toString() };
  },
};
`;

const ALLOW_ALL = `version: 1
default: DENY
rules:
  - id: allow-all
    principal: "*"
    capability: "**"
    decision: ALLOW
`;

const DEMO = `name: replay-demo
version: 1
principal: agent:planner
inputs:
  who: { type: string, default: world }
steps:
  - id: greet
    capability: sys.echo
    inputs: { text: "hello \${{ inputs.who }}" }
  - id: tick
    capability: demo.clock.tick
    inputs: {}
  - id: write
    capability: io.fs.write_file
    inputs: { path: greeting.txt, content: "\${{ steps.greet.outputs.text }} #\${{ steps.tick.outputs.n }}" }
  - id: check
    capability: sys.assert
    inputs: { that: "\${{ steps.tick.outputs.n > 0 }}" }
`;

/** A workspace with the clock plugin (and `policy` in force, `date` allowed), runtime open. */
async function setup(opts: { policy?: string; exec?: boolean } = {}): Promise<Runtime> {
  w = await workspace({ ...(opts.policy ? { policy: opts.policy } : {}) });
  const plugin = await w.spec("clock.mjs", CLOCK_PLUGIN);
  writeFileSync(
    join(w.dir, "airun.yaml"),
    `home: home\n${opts.policy ? "policy: policies.yaml\n" : ""}sandbox:\n  fs: { roots: [ws] }\n${opts.exec ? "  exec: { allow: [date] }\n" : ""}engine: { heartbeat: 200ms, lease_ttl: 2s }\nplugins: ["${plugin}"]\n`,
  );
  rt = await w.open();
  return rt;
}

function calls(): number {
  try {
    return readFileSync(join(w.dir, "calls.log"), "utf8").split("\n").filter(Boolean).length;
  } catch {
    return 0;
  }
}

/** Ids of the steps that diverge, and the divergence kinds of each. */
function diverging(report: ReplayReport): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const s of report.steps) {
    if (s.divergences.length > 0) out[s.id] = s.divergences.map((d) => d.kind);
  }
  return out;
}

function step(report: ReplayReport, id: string) {
  const s = report.steps.find((x) => x.id === id);
  if (!s) throw new Error(`no step ${id}`);
  return s;
}

/** Every row of the home's database that concerns `runId`, plus the total event count. */
async function rows(runId: string) {
  const store = await openStore({ url: "sqlite", home: w.home });
  try {
    return {
      run: await store.getRun(runId),
      steps: await store.getSteps(runId),
      compensations: await store.getCompensations(runId),
      events: await store.listEvents({ runId }),
      allEvents: (await store.listEvents({})).length,
    };
  } finally {
    await store.close();
  }
}

describe("replay of an unchanged run", () => {
  it("reports identical and serves the nondeterministic plugin's recorded output instead of calling it", async () => {
    const r = await setup();
    const view = await r.startRun({ specFile: await w.spec("demo.yaml", DEMO) });
    expect(view.status).toBe("COMPLETED");
    expect(calls()).toBe(1);
    const recordedTick = view.steps.find((s) => s.id === "tick")?.outputs;

    const report = await r.replay(view.id);

    expect(diverging(report)).toEqual({});
    expect(report.identical).toBe(true);
    expect(calls()).toBe(1);
    const tick = step(report, "tick");
    expect(tick.replayed?.source).toBe("recorded");
    expect(tick.replayed?.outputs).toEqual(recordedTick);
    expect(step(report, "greet").replayed?.source).toBe("executed");
    expect(step(report, "greet").replayed?.outputs).toEqual({ text: "hello world" });
    // The write's inputs embed the tick's output: its recomputed hash matches only if the
    // served output is exactly the recorded one.
    const write = step(report, "write");
    expect(write.replayed?.contextHash).toBe(write.recorded?.contextHash);
    expect(write.replayed?.contextHash).toMatch(/^[0-9a-f]{64}$/);
    expect(report.spec.replayedHash).toBe(report.spec.recordedHash);
    expect(report.policy.replayedHash).toBeNull();
  });

  it("writes nothing: the sandbox bytes and every row of the run are unchanged", async () => {
    const r = await setup();
    const view = await r.startRun({ specFile: await w.spec("demo.yaml", DEMO) });
    writeFileSync(join(w.ws, "greeting.txt"), "edited by a person since");
    const files = snapshot(w.ws);
    await r.close();
    rt = undefined;
    const before = await rows(view.id);
    rt = await w.open();

    const same = await rt.replay(view.id);
    const edited = await rt.replay(view.id, {
      specFile: await w.spec("edited.yaml", DEMO.replace("hello", "hi")),
      policyFile: await w.spec("deny.yaml", `version: 1\ndefault: DENY\nrules: []\n`),
    });
    await rt.close();
    rt = undefined;

    expect(same.identical).toBe(true);
    expect(edited.identical).toBe(false);
    expect(snapshot(w.ws)).toEqual(files);
    expect(await rows(view.id)).toEqual(before);
    expect(calls()).toBe(1);
  });

  it("replays a rolled-back run as identical, the failing sys.fail executed again", async () => {
    const r = await setup();
    const view = await r.startRun({
      specFile: await w.spec(
        "rb.yaml",
        `name: rb\nversion: 1\nprincipal: agent:planner\nsteps:\n  - id: write\n    capability: io.fs.write_file\n    inputs: { path: a.txt, content: A }\n  - id: boom\n    capability: sys.fail\n    depends_on: [write]\n    inputs: { message: no }\n  - id: after\n    capability: demo.clock.tick\n    depends_on: [boom]\n    inputs: {}\n`,
      ),
    });
    expect(view.status).toBe("ROLLED_BACK");

    const report = await r.replay(view.id);

    expect(diverging(report)).toEqual({});
    expect(step(report, "write").recorded?.status).toBe("COMPENSATED");
    expect(step(report, "write").replayed?.status).toBe("SUCCEEDED");
    expect(step(report, "boom").replayed).toMatchObject({
      status: "FAILED",
      source: "executed",
      error: { code: "SYS_FAIL" },
    });
    expect(step(report, "after").replayed?.status).toBe("PENDING");
    expect(calls()).toBe(0);
    // The rollback removed the file; the replay did not write it again.
    expect(existsSync(join(w.ws, "a.txt"))).toBe(false);
  });

  it("serves an approved sys.exec.run's recorded output (date +%s%N) rather than running it again", async () => {
    const r = await setup({ policy: ALLOW_ALL, exec: true });
    const waiting = await r.startRun({
      specFile: await w.spec(
        "exec.yaml",
        `name: ex\nversion: 1\nprincipal: agent:planner\nsteps:\n  - id: now\n    capability: sys.exec.run\n    inputs: { argv: [date, "+%s%N"] }\n  - id: show\n    capability: sys.echo\n    inputs: { at: "\${{ steps.now.outputs.stdout }}" }\n`,
      ),
    });
    expect(waiting.status).toBe("WAITING_APPROVAL");
    const view = await r.decideApproval(waiting.id, { decision: "approve", principal: "user:bob" });
    expect(view.status).toBe("COMPLETED");
    const recorded = view.steps.find((s) => s.id === "now")?.outputs as { stdout: string };
    await new Promise((res) => setTimeout(res, 5));

    const report = await r.replay(view.id);

    expect(diverging(report)).toEqual({});
    const now = step(report, "now");
    expect(now.replayed?.source).toBe("recorded");
    expect(now.replayed?.outputs).toEqual(recorded);
    expect(now.replayed?.decision).toMatchObject({
      decision: "REQUIRE_APPROVAL",
      approval: "USED",
    });
    expect(step(report, "show").replayed?.outputs).toEqual({ at: recorded.stdout });
  });

  it("replays a step that used a secret identically, without the secret in the environment", async () => {
    w = await workspace();
    const withSecret = await w.open({ TOKEN: "s3cr3t-value" });
    const view = await withSecret.startRun({
      specFile: await w.spec(
        "s.yaml",
        `name: s\nversion: 1\nsteps:\n  - id: call\n    capability: sys.echo\n    inputs: { auth: "Bearer \${{ secrets.TOKEN }}" }\n`,
      ),
    });
    await withSecret.close();
    expect(view.steps[0]?.outputs).toEqual({ auth: "Bearer ***" });
    rt = await w.open({});

    const report = await rt.replay(view.id);

    expect(diverging(report)).toEqual({});
    expect(step(report, "call").replayed?.outputs).toEqual({ auth: "Bearer ***" });
  });

  it("replays approval steps with the person's recorded decision, pending or given", async () => {
    const r = await setup();
    const spec = await w.spec(
      "ap.yaml",
      `name: ap\nversion: 1\nprincipal: agent:planner\nsteps:\n  - id: ok\n    type: approval\n    message: "Ship it?"\n  - id: after\n    capability: demo.clock.tick\n    depends_on: [ok]\n    inputs: {}\n`,
    );
    const waiting = await r.startRun({ specFile: spec });
    expect(waiting.status).toBe("WAITING_APPROVAL");
    const pending = await r.replay(waiting.id);
    expect(diverging(pending)).toEqual({});
    expect(step(pending, "ok").replayed?.status).toBe("WAITING_APPROVAL");
    expect(step(pending, "after").replayed?.status).toBe("PENDING");

    const done = await r.decideApproval(waiting.id, { decision: "approve", principal: "user:bob" });
    expect(done.status).toBe("COMPLETED");
    const report = await r.replay(done.id);

    expect(diverging(report)).toEqual({});
    expect(step(report, "ok").replayed).toMatchObject({
      status: "SUCCEEDED",
      source: "recorded",
      outputs: { approved: true, decided_by: "user:bob" },
    });
    expect(calls()).toBe(1);
  });

  it("serves a failure that happened in prepare, before any attempt or recorded decision", async () => {
    const r = await setup({ policy: ALLOW_ALL });
    const view = await r.startRun({
      specFile: await w.spec(
        "p.yaml",
        `name: p\nversion: 1\nprincipal: agent:planner\nsteps:\n  - id: write\n    capability: io.fs.write_file\n    inputs: { path: no-such-dir/x.txt, content: x }\n`,
      ),
    });
    expect(view.steps[0]).toMatchObject({ status: "FAILED", attempts: 0, decision: null });
    await r.close();
    // The configured policy changed since: the record shows the step passed the gatekeeper.
    writeFileSync(join(w.dir, "policies.yaml"), "version: 1\ndefault: DENY\nrules: []\n");
    rt = await w.open();

    const report = await rt.replay(view.id);

    expect(diverging(report)).toEqual({});
    expect(step(report, "write").replayed).toMatchObject({
      status: "FAILED",
      source: "recorded",
      error: { code: "FS_NOT_FOUND" },
    });
    expect(existsSync(join(w.ws, "no-such-dir"))).toBe(false);
  });

  it("replays a run that never started a step as trivially identical", async () => {
    w = await workspace();
    const registry = createStandardRegistry();
    const specText = `name: idle\nversion: 1\nsteps:\n  - id: a\n    capability: sys.echo\n    inputs: { x: 1 }\n`;
    const plan = compileSpec({ file: "idle.yaml", text: specText }, registry);
    const store = await openStore({ url: "sqlite", home: w.home });
    const now = Date.now();
    try {
      await store.commit([
        {
          op: "insertRun",
          run: {
            id: "run-idle",
            kind: "workflow",
            name: plan.name,
            specVersion: plan.version,
            specHash: plan.specHash,
            specText,
            plan: plan as never,
            principal: "user:x",
            inputs: {},
            status: "RUNNING",
            outcome: null,
            reason: null,
            reasonDetail: null,
            idempotencyKey: null,
            leaseOwner: "elsewhere:1:dead",
            leaseExpiresAt: now + 60_000,
            leaseEpoch: 1,
            cancelRequestedBy: null,
            createdAt: now,
            updatedAt: now,
            meta: {},
          },
        },
        {
          op: "putStep",
          step: {
            runId: "run-idle",
            stepId: "a",
            status: "PENDING",
            attempts: 0,
            inputs: null,
            outputs: null,
            error: null,
            decision: null,
            contextHash: null,
            seq: null,
            startedAt: null,
            finishedAt: null,
          },
        },
      ]);
    } finally {
      await store.close();
    }
    rt = await w.open();

    const report = await rt.replay("run-idle");

    expect(report.identical).toBe(true);
    expect(step(report, "a").replayed?.status).toBe("PENDING");
  });

  it("refuses an unknown run with NOT_FOUND", async () => {
    const r = await setup();
    await expect(r.replay("no-such-run")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("replay against an edited spec", () => {
  it("diverges at exactly the step whose input changed and the step consuming its output", async () => {
    const r = await setup();
    const view = await r.startRun({ specFile: await w.spec("demo.yaml", DEMO) });

    const report = await r.replay(view.id, {
      specFile: await w.spec("edited.yaml", DEMO.replace('"hello ', '"hi ')),
    });

    expect(diverging(report)).toEqual({
      greet: ["context_hash", "outcome"],
      write: ["context_hash"],
    });
    expect(step(report, "greet").divergences[0]?.paths).toEqual(["text"]);
    expect(step(report, "write").divergences[0]?.paths).toEqual(["content"]);
    expect(step(report, "greet").replayed?.outputs).toEqual({ text: "hi world" });
    expect(report.spec.replayedHash).not.toBe(report.spec.recordedHash);
    expect(calls()).toBe(1);
  });

  it("goes past where the recorded run stopped when the failing step no longer fails", async () => {
    const r = await setup();
    const spec = (limit: number) =>
      `name: g\nversion: 1\nprincipal: agent:planner\ninputs:\n  n: { type: number, default: 3 }\nsteps:\n  - id: gate\n    capability: sys.assert\n    inputs: { that: "\${{ inputs.n > ${limit} }}" }\n  - id: next\n    capability: demo.clock.tick\n    depends_on: [gate]\n    inputs: {}\n`;
    const view = await r.startRun({ specFile: await w.spec("g.yaml", spec(5)) });
    expect(view.status).toBe("ROLLED_BACK");
    expect(diverging(await r.replay(view.id))).toEqual({});

    const report = await r.replay(view.id, { specFile: await w.spec("g2.yaml", spec(1)) });

    expect(diverging(report)).toEqual({ gate: ["context_hash", "outcome"], next: ["ran"] });
    // The plugin would now be called; the record holds no result and replay never calls it.
    expect(step(report, "next").replayed).toMatchObject({ status: "UNRECORDED", source: "none" });
    expect(calls()).toBe(0);
  });

  it("reports a changed when as skipped or ran, and removed or added steps as missing or new", async () => {
    const r = await setup();
    const spec = (body: string) =>
      `name: w\nversion: 1\nprincipal: agent:planner\ninputs:\n  flag: { type: boolean, default: false }\nsteps:\n${body}`;
    const view = await r.startRun({
      specFile: await w.spec(
        "w.yaml",
        spec(
          `  - id: a\n    capability: sys.echo\n    inputs: { x: 1 }\n  - id: b\n    capability: sys.echo\n    when: "\${{ inputs.flag }}"\n    inputs: { x: 2 }\n  - id: c\n    capability: sys.echo\n    inputs: { x: 3 }\n`,
        ),
      ),
    });
    expect(view.steps.map((s) => s.status)).toEqual(["SUCCEEDED", "SKIPPED", "SUCCEEDED"]);

    const report = await r.replay(view.id, {
      specFile: await w.spec(
        "w2.yaml",
        spec(
          `  - id: b\n    capability: sys.echo\n    when: "\${{ !inputs.flag }}"\n    inputs: { x: 2 }\n  - id: c\n    capability: sys.echo\n    when: "\${{ inputs.flag }}"\n    inputs: { x: 3 }\n  - id: d\n    capability: sys.echo\n    inputs: { x: 4 }\n`,
        ),
      ),
    });

    expect(diverging(report)).toEqual({ b: ["ran"], c: ["skipped"], d: ["new"], a: ["missing"] });
    expect(step(report, "b").replayed).toMatchObject({ status: "SUCCEEDED", source: "executed" });
  });
});

describe("replay against an edited policy", () => {
  it("diverges at the denied step (decision) and reports the steps after it as not reached", async () => {
    const r = await setup({ policy: ALLOW_ALL });
    const view = await r.startRun({ specFile: await w.spec("demo.yaml", DEMO) });
    expect(view.status).toBe("COMPLETED");
    const deny = await w.spec(
      "next.yaml",
      `${ALLOW_ALL}  - id: no-clock\n    principal: "*"\n    capability: demo.clock.tick\n    decision: DENY\n`,
    );

    const report = await r.replay(view.id, { policyFile: deny });

    expect(diverging(report)).toEqual({
      tick: ["decision"],
      write: ["not_reached"],
      check: ["not_reached"],
    });
    const tick = step(report, "tick");
    expect(tick.recorded?.decision).toMatchObject({ decision: "ALLOW", ruleIds: ["allow-all"] });
    expect(tick.replayed).toMatchObject({
      status: "FAILED",
      error: { code: "POLICY_DENIED" },
      decision: { decision: "DENY", ruleIds: ["allow-all", "no-clock"] },
    });
    // The action itself did not change: the context hash, recomputed with the recorded
    // policy hash, still matches.
    expect(tick.replayed?.contextHash).toBe(tick.recorded?.contextHash);
    expect(report.policy.replayedHash).not.toBeNull();
    expect(report.policy.recordedHashes).not.toContain(report.policy.replayedHash);
  });

  it("reports a step that would now need approval, and goes on as if approved", async () => {
    const r = await setup({ policy: ALLOW_ALL });
    const view = await r.startRun({ specFile: await w.spec("demo.yaml", DEMO) });
    const gate = await w.spec(
      "gate.yaml",
      `${ALLOW_ALL}  - id: review-writes\n    principal: "*"\n    capability: io.fs.write_file\n    decision: REQUIRE_APPROVAL\n`,
    );

    const report = await r.replay(view.id, { policyFile: gate });

    expect(diverging(report)).toEqual({ write: ["decision"] });
    expect(step(report, "write").divergences[0]?.message).toContain("wait here for a person");
    expect(step(report, "check").replayed?.status).toBe("SUCCEEDED");
  });

  it("replays identically under the same policy file", async () => {
    const r = await setup({ policy: ALLOW_ALL });
    const view = await r.startRun({ specFile: await w.spec("demo.yaml", DEMO) });

    const report = await r.replay(view.id, { policyFile: join(w.dir, "policies.yaml") });

    expect(report.identical).toBe(true);
    expect(report.policy.replayedHash).toBe(report.policy.recordedHashes[0]);
  });
});
