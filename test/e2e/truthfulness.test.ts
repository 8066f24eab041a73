/**
 * A run never reports an effect, an outcome or a decision that did not happen (issue 14,
 * truthfulness bugs). Each case through the built CLI, with its real effects on disk.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { background, project, type RunJson, tempRoot, waitFor } from "./project.js";

const root = tempRoot("truth");
afterAll(() => root.cleanup());

const CHARGE_PLUGIN = resolve("test/fixtures/plugins-engine/charge.mjs");

/** The run view of the only run of a project. */
async function onlyRun(p: ReturnType<typeof project>): Promise<RunJson> {
  const list = await p.json<{ runs: { id: string }[] }>(["workflow", "list"]);
  const id = list.body.runs[0]?.id;
  if (!id) throw new Error("no run");
  return (await p.json<RunJson>(["workflow", "show", id])).body;
}

describe("truthfulness", () => {
  it("recover does not invent success: a killed non-idempotent call with a compensation and no reconcile ends FAILED/IN_DOUBT, its undo not run", async () => {
    const p = project(root.path, { config: `plugins: ["${CHARGE_PLUGIN}"]\n` });
    p.write(
      "wf.yaml",
      `name: pay\nversion: 1\nprincipal: agent:shop\nsteps:\n  - id: charge\n    capability: demo.payments.charge\n    inputs: { amount: 42, pause_ms: 5000 }\n    compensation:\n      capability: demo.payments.refund\n      inputs: { amount: 42 }\n`,
    );
    const policy = `version: 1\ndefault: ALLOW\nrules: []\n`;
    p.write("policies.yaml", policy);
    p.write(
      "airun.yaml",
      `${readFileSync(join(p.dir, "airun.yaml"), "utf8")}policy: policies.yaml\n`,
    );
    expect((await p.run(["workflow", "list"])).code).toBe(0);
    const bg = background(["run", "wf.yaml"], p.dir);
    await waitFor("the charge to be in flight", async () => {
      const list = await p.json<{ runs: { id: string }[] }>(["workflow", "list"]);
      const id = list.body.runs[0]?.id;
      if (!id) return undefined;
      const view = (await p.json<RunJson>(["workflow", "show", id])).body;
      return p.step(view, "charge").status === "RUNNING" ? true : undefined;
    });
    bg.kill();
    expect((await bg.done).signal).toBe("SIGKILL");
    expect((await p.run(["recover"])).code).toBe(0);
    const view = await onlyRun(p);
    expect(view.status).toBe("FAILED");
    expect(view.reason).toBe("IN_DOUBT");
    expect(view.outcome).not.toBe("ACCEPT");
    expect(p.step(view, "charge").status).toBe("FAILED");
    // Nothing was charged (it died during the pause), and nothing was refunded on a guess.
    expect(existsSync(join(p.ws, "charges.txt"))).toBe(false);
    expect((await p.run(["ledger", "verify"])).code).toBe(0);
  }, 60_000);

  it("workflow cancel of an executing run stops it before its next step, aborts the call in flight and rolls back", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `name: slow\nversion: 1\nprincipal: agent:e2e\nsteps:\n  - id: one\n    capability: io.fs.write_file\n    inputs: { path: one.txt, content: "1" }\n  - id: nap\n    capability: sys.sleep\n    depends_on: [one]\n    inputs: { ms: 600000 }\n  - id: two\n    capability: io.fs.write_file\n    depends_on: [nap]\n    inputs: { path: two.txt, content: "2" }\n`,
    );
    expect((await p.run(["workflow", "list"])).code).toBe(0);
    const bg = background(["run", "wf.yaml", "--json"], p.dir);
    const id = await waitFor("the nap to be in flight", async () => {
      const list = await p.json<{ runs: { id: string }[] }>(["workflow", "list"]);
      const runId = list.body.runs[0]?.id;
      if (!runId || !existsSync(join(p.ws, "one.txt"))) return undefined;
      return runId;
    });
    const cancel = await p.json<RunJson>(["workflow", "cancel", id, "--as", "user:alice"]);
    const done = await bg.done;
    const view = JSON.parse(done.stdout) as RunJson;
    expect(view.status).toBe("ROLLED_BACK");
    expect(view.reason).toBe("CANCELLED");
    expect(cancel.body.status).toBe("ROLLED_BACK");
    expect(existsSync(join(p.ws, "two.txt"))).toBe(false);
    expect(existsSync(join(p.ws, "one.txt"))).toBe(false);
    // The run did not sit out its ten-minute sleep (the test's timeout is a minute): it was cut.
    expect(p.step(view, "nap").status).not.toBe("COMPLETED");
  }, 60_000);

  it("a failing step aborts its parallel siblings at once instead of waiting out their calls", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `name: race\nversion: 1\nprincipal: agent:e2e\nsteps:\n  - id: nap\n    capability: sys.sleep\n    depends_on: []\n    inputs: { ms: 600000 }\n  - id: boom\n    capability: sys.fail\n    depends_on: []\n    inputs: { message: "fail fast" }\n`,
    );
    const { body } = await p.json<RunJson>(["run", "wf.yaml"]);
    expect(body.status).toBe("ROLLED_BACK");
    // The ten-minute nap was aborted, not waited out (the test's timeout is 30 s).
    expect(p.step(body, "nap").status).not.toBe("COMPLETED");
  }, 30_000);

  it("max_duration aborts a call in flight at the deadline: the run abstains with BUDGET_EXCEEDED", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `name: long\nversion: 1\nprincipal: agent:e2e\ngovernance:\n  budgets: { max_duration: 1s }\nsteps:\n  - id: nap\n    capability: sys.sleep\n    inputs: { ms: 600000 }\n`,
    );
    const { code, body } = await p.json<RunJson>(["run", "wf.yaml"]);
    // The ten-minute nap was aborted at the deadline, not waited out (the test's timeout is 30 s).
    expect(p.step(body, "nap").status).not.toBe("COMPLETED");
    expect(body.reason).toBe("BUDGET_EXCEEDED");
    expect(body.outcome).toBe("ABSTAIN");
    expect(code).toBe(4);
  }, 30_000);

  it("rollback.required refuses a step that cannot be undone at validation, naming the step", async () => {
    const p = project(root.path, { config: '  exec: { allow: ["true"] }\n' });
    p.write(
      "wf.yaml",
      `name: strict\nversion: 1\nprincipal: agent:e2e\ngovernance:\n  rollback: { required: true }\nsteps:\n  - id: fire\n    capability: sys.exec.run\n    inputs: { argv: ["true"] }\n`,
    );
    const v = await p.run(["validate", "wf.yaml"]);
    expect(v.code).toBe(2);
    expect(v.stdout + v.stderr).toMatch(/wf\.yaml:\d+:\d+: steps\[0\].*fire.*cannot be undone/);
    const r = await p.run(["run", "wf.yaml"]);
    expect(r.code).toBe(2);
    const list = await p.json<{ runs: unknown[] }>(["workflow", "list"]);
    expect(list.body.runs).toEqual([]);
  });
});
