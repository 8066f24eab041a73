/**
 * Saga semantics on a real SQLite file and a real sandbox folder: rollback restores bytes,
 * retries are exact, timeouts stop steps, `when` skips are recorded, policy decisions gate.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Workspace, workspace } from "./helpers.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

const THREE_EFFECTS_THEN_FAIL = `
name: three_then_fail
version: 1
principal: agent:test
steps:
  - id: mkdir
    capability: io.fs.make_dir
    inputs: { path: made/deeper }
  - id: overwrite
    capability: io.fs.write_file
    inputs: { path: existing.bin, content: "bmV3", encoding: base64 }
  - id: create
    capability: io.fs.write_file
    depends_on: [mkdir]
    inputs: { path: made/deeper/new.txt, content: "fresh" }
  - id: boom
    capability: sys.fail
    depends_on: [overwrite, create]
    inputs: { message: "planned failure" }
`;

describe("saga rollback", () => {
  it("undoes every earlier effect when a step fails: original bytes back, created files and folders gone", async () => {
    w = await workspace();
    const original = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x0a]);
    writeFileSync(join(w.ws, "existing.bin"), original);
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec("wf.yaml", THREE_EFFECTS_THEN_FAIL),
      });
      expect(view.status).toBe("ROLLED_BACK");
      expect(view.outcome).toBe("REMEDIATE");
      expect(view.reason).toBe("STEP_FAILED");
      expect(readFileSync(join(w.ws, "existing.bin")).equals(original)).toBe(true);
      expect(existsSync(join(w.ws, "made"))).toBe(false);
      const steps = Object.fromEntries(view.steps.map((s) => [s.id, s]));
      expect(steps.boom?.status).toBe("FAILED");
      expect(steps.create?.status).toBe("COMPENSATED");
      expect(steps.mkdir?.compensation?.status).toBe("DONE");
      // Newest first: the compensation events appear in reverse order of the step intents.
      const events = await rt.events(view.id);
      const undone = events.filter((e) => e.type === "compensation.done").map((e) => e.stepId);
      const intents = events.filter((e) => e.type === "step.intent").map((e) => e.stepId);
      expect(undone).toEqual([...intents].reverse());
    } finally {
      await rt.close();
    }
  });

  it("completes and keeps effects when nothing fails", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "ok.yaml",
          `name: ok\nversion: 1\nsteps:\n  - id: w\n    capability: io.fs.write_file\n    inputs: { path: a.txt, content: "A" }\n  - id: r\n    capability: io.fs.read_file\n    inputs: { path: "\${{ steps.w.outputs.path }}" }\n`,
        ),
      });
      expect(view.status).toBe("COMPLETED");
      expect(view.outcome).toBe("ACCEPT");
      expect(view.steps.find((s) => s.id === "r")?.outputs).toMatchObject({ content: "A" });
      expect(await readFile(join(w.ws, "a.txt"), "utf8")).toBe("A");
    } finally {
      await rt.close();
    }
  });
});

describe("retries and timeouts", () => {
  it("makes exactly one attempt with max_retries: 0 (seed format)", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "seed.yaml",
          `name: once\nversion: "1.0"\nsteps:\n  - name: flaky\n    capability_name: sys.fail\n    max_retries: 0\n    inputs: { message: transient, retryable: true }\n`,
        ),
      });
      expect(view.status).toBe("ROLLED_BACK");
      expect(view.steps[0]?.attempts).toBe(1);
      const retries = (await rt.events(view.id)).filter((e) => e.type === "step.retry");
      expect(retries).toHaveLength(0);
    } finally {
      await rt.close();
    }
  });

  it("retries a retryable failure exactly max_attempts times, and never a non-retryable one", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const spec = (retryable: boolean) =>
        `name: r\nversion: 1\nsteps:\n  - id: f\n    capability: sys.fail\n    retry: { max_attempts: 3, initial_delay: 5ms, max_delay: 10ms }\n    inputs: { message: nope, retryable: ${retryable} }\n`;
      const a = await rt.startRun({ specFile: await w.spec("a.yaml", spec(true)) });
      expect(a.steps[0]?.attempts).toBe(3);
      const retries = (await rt.events(a.id)).filter((e) => e.type === "step.retry");
      expect(retries.map((e) => (e.data as { next_attempt: number }).next_attempt)).toEqual([2, 3]);
      const b = await rt.startRun({ specFile: await w.spec("b.yaml", spec(false)) });
      expect(b.steps[0]?.attempts).toBe(1);
    } finally {
      await rt.close();
    }
  });

  it("stops a step that runs past its timeout", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const started = Date.now();
      const view = await rt.startRun({
        specFile: await w.spec(
          "t.yaml",
          `name: t\nversion: 1\nsteps:\n  - id: slow\n    capability: sys.sleep\n    timeout: 100ms\n    inputs: { ms: 10000 }\n`,
        ),
      });
      expect(Date.now() - started).toBeLessThan(5000);
      expect(view.status).toBe("ROLLED_BACK");
      expect((view.steps[0]?.error as { code?: string } | null)?.code).toBe("TIMEOUT");
    } finally {
      await rt.close();
    }
  });

  it("fails the step on a capability error (missing file) and records it", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "m.yaml",
          `name: m\nversion: 1\nsteps:\n  - id: read\n    capability: io.fs.read_file\n    inputs: { path: nope.txt }\n`,
        ),
      });
      expect(view.status).toBe("ROLLED_BACK");
      expect(view.steps[0]?.status).toBe("FAILED");
      expect((view.steps[0]?.error as { code?: string } | null)?.code).toMatch(/NOT_FOUND/);
    } finally {
      await rt.close();
    }
  });
});

describe("conditions, concurrency and idempotency", () => {
  it("records a skipped step when its condition is false", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "c.yaml",
          `name: c\nversion: 1\ninputs:\n  env: { type: string, default: prod }\nsteps:\n  - id: only_staging\n    capability: io.fs.write_file\n    when: "\${{ inputs.env != 'prod' }}"\n    inputs: { path: s.txt, content: x }\n`,
        ),
      });
      expect(view.status).toBe("COMPLETED");
      expect(view.steps[0]?.status).toBe("SKIPPED");
      expect(existsSync(join(w.ws, "s.txt"))).toBe(false);
      expect((await rt.events(view.id)).some((e) => e.type === "step.skipped")).toBe(true);
    } finally {
      await rt.close();
    }
  });

  it("runs steps that declare depends_on: [] concurrently", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const started = Date.now();
      const view = await rt.startRun({
        specFile: await w.spec(
          "p.yaml",
          `name: p\nversion: 1\nsteps:\n${[1, 2, 3, 4].map((i) => `  - id: s${i}\n    capability: sys.sleep\n    depends_on: []\n    inputs: { ms: 300 }\n`).join("")}`,
        ),
      });
      expect(view.status).toBe("COMPLETED");
      // Four 300 ms sleeps declared parallel (depends_on: []) under the default concurrency of
      // 4 overlap. Without depends_on they would run one after another, in the order listed.
      expect(Date.now() - started).toBeLessThan(1100);
    } finally {
      await rt.close();
    }
  });

  it("returns the same run for the same idempotency key, executing its steps once", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const spec = await w.spec(
        "i.yaml",
        `name: i\nversion: 1\nsteps:\n  - id: a\n    capability: io.fs.append_file\n    inputs: { path: log.txt, content: "x" }\n`,
      );
      const a = await rt.startRun({ specFile: spec, idempotencyKey: "k-1" });
      const b = await rt.startRun({ specFile: spec, idempotencyKey: "k-1" });
      expect(b.id).toBe(a.id);
      expect(await readFile(join(w.ws, "log.txt"), "utf8")).toBe("x");
    } finally {
      await rt.close();
    }
  });
});

describe("gatekeeper", () => {
  it("stops a denied step before any effect and rolls back earlier ones (ABSTAIN, POLICY_DENIED)", async () => {
    w = await workspace({
      policy: `version: 1\ndefault: DENY\nrules:\n  - id: writes\n    principal: "agent:*"\n    capability: io.fs.write_file\n    when: { path: "ok/**" }\n    decision: ALLOW\n`,
    });
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "d.yaml",
          `name: d\nversion: 1\nprincipal: agent:x\nsteps:\n  - id: allowed\n    capability: io.fs.write_file\n    inputs: { path: ok/a.txt, content: a, create_dirs: true }\n  - id: denied\n    capability: io.fs.write_file\n    depends_on: [allowed]\n    inputs: { path: secret/b.txt, content: b, create_dirs: true }\n`,
        ),
      });
      expect(view.status).toBe("ROLLED_BACK");
      expect(view.outcome).toBe("ABSTAIN");
      expect(view.reason).toBe("POLICY_DENIED");
      expect(existsSync(join(w.ws, "ok", "a.txt"))).toBe(false);
      expect(existsSync(join(w.ws, "secret"))).toBe(false);
      const decision = view.steps.find((s) => s.id === "allowed")?.decision as {
        rule_ids: string[];
        policy_hash: string;
      };
      expect(decision.rule_ids).toEqual(["writes"]);
      expect(decision.policy_hash).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await rt.close();
    }
  });

  it("waits for approval on HIGH risk, refuses self-approval, and executes the step once approved", async () => {
    w = await workspace();
    writeFileSync(join(w.ws, "victim.txt"), "keep me?");
    const spec = await w.spec(
      "del.yaml",
      `name: del\nversion: 1\nprincipal: agent:cleaner\nsteps:\n  - id: rm\n    capability: io.fs.delete\n    inputs: { path: victim.txt }\n`,
    );
    let rt = await w.open();
    let runId: string;
    try {
      const view = await rt.startRun({ specFile: spec });
      runId = view.id;
      expect(view.status).toBe("WAITING_APPROVAL");
      expect(existsSync(join(w.ws, "victim.txt"))).toBe(true);
      await expect(
        rt.resume(runId, { decision: "approve", principal: "agent:cleaner" }),
      ).rejects.toMatchObject({ code: "SELF_APPROVAL" });
      await expect(
        rt.resume(runId, { decision: "approve", principal: "agent:other" }),
      ).rejects.toMatchObject({ code: "NOT_ELIGIBLE" });
    } finally {
      await rt.close();
    }
    // A different process (a new runtime) decides: approvals are persisted, not in memory.
    rt = await w.open();
    try {
      const done = await rt.resume(runId, { decision: "approve", principal: "user:bob" });
      expect(done.status).toBe("COMPLETED");
      expect(done.steps[0]?.status).toBe("SUCCEEDED");
      expect(existsSync(join(w.ws, "victim.txt"))).toBe(false);
      // And the deletion can still be undone after the fact.
      const undone = await rt.rollback(runId, { principal: "user:bob" });
      expect(undone.status).toBe("ROLLED_BACK");
      expect(readFileSync(join(w.ws, "victim.txt"), "utf8")).toBe("keep me?");
    } finally {
      await rt.close();
    }
  });

  it("rolls back on rejection (REMEDIATE, APPROVAL_REJECTED)", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "a.yaml",
          `name: a\nversion: 1\nprincipal: agent:p\nsteps:\n  - id: w\n    capability: io.fs.write_file\n    inputs: { path: a.txt, content: a }\n  - id: gate\n    type: approval\n    depends_on: [w]\n    message: "ship it?"\n`,
        ),
      });
      expect(view.status).toBe("WAITING_APPROVAL");
      const done = await rt.resume(view.id, {
        decision: "reject",
        principal: "user:carol",
        comment: "no",
      });
      expect(done.status).toBe("ROLLED_BACK");
      expect(done.reason).toBe("APPROVAL_REJECTED");
      expect(done.outcome).toBe("REMEDIATE");
      expect(existsSync(join(w.ws, "a.txt"))).toBe(false);
    } finally {
      await rt.close();
    }
  });
});

describe("after-the-fact rollback and drift", () => {
  it("refuses to undo a file changed since the run (FAILED, COMPENSATION_FAILED) and leaves the change alone", async () => {
    w = await workspace();
    writeFileSync(join(w.ws, "conf.json"), "v1");
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "r.yaml",
          `name: r\nversion: 1\nsteps:\n  - id: w\n    capability: io.fs.write_file\n    inputs: { path: conf.json, content: v2 }\n`,
        ),
      });
      expect(view.status).toBe("COMPLETED");
      writeFileSync(join(w.ws, "conf.json"), "edited by a human");
      const after = await rt.rollback(view.id, { principal: "user:ops" });
      expect(after.status).toBe("FAILED");
      expect(after.reason).toBe("COMPENSATION_FAILED");
      expect(readFileSync(join(w.ws, "conf.json"), "utf8")).toBe("edited by a human");
      const forced = await rt.rollback(view.id, { principal: "user:ops", force: true });
      expect(forced.status).toBe("ROLLED_BACK");
      expect(readFileSync(join(w.ws, "conf.json"), "utf8")).toBe("v1");
    } finally {
      await rt.close();
    }
  });
});

describe("secrets", () => {
  it("passes a secret to the call but never writes it to the database", async () => {
    w = await workspace();
    const canary = "canary-7f3a9d1e-secret";
    const rt = await w.open({ CANARY: canary });
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "s.yaml",
          `name: s\nversion: 1\nsteps:\n  - id: w\n    capability: io.fs.write_file\n    inputs: { path: s.txt, content: "token=\${{ secrets.CANARY }}" }\n  - id: e\n    capability: sys.echo\n    inputs: { said: "\${{ secrets.CANARY }}" }\n`,
        ),
      });
      expect(view.status).toBe("COMPLETED");
      expect(readFileSync(join(w.ws, "s.txt"), "utf8")).toBe(`token=${canary}`);
      expect(JSON.stringify(view)).not.toContain(canary);
      expect(view.steps.find((s) => s.id === "e")?.outputs).toEqual({ said: "***" });
    } finally {
      await rt.close();
    }
    for (const f of ["airun.db", "airun.db-wal"]) {
      const p = join(w.home, f);
      if (existsSync(p)) expect(readFileSync(p).includes(Buffer.from(canary))).toBe(false);
    }
  });
});
