/**
 * What a finished run says about its steps and approvals is what happened (issue 14, bug 5),
 * through the built CLI: a cancelled wait leaves no approval PENDING and no step waiting; steps
 * that never started say NOT_RUN; `trace` names an approval step's risk and policy; a principal
 * without a kind is malformed, not "not eligible"; an idempotency key reused for another
 * request is refused instead of answering with the old run.
 */
import { afterAll, describe, expect, it } from "vitest";
import { type ApprovalJson, project, type RunJson, tempRoot } from "./project.js";

const root = tempRoot("truthful-states");
afterAll(() => root.cleanup());

const POLICY = `version: 1
default: ALLOW
rules:
  - id: deletes-need-a-person
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
`;

const WAITS = `name: waits
version: 1
principal: agent:bot
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: a.txt, content: "a" }
  - id: remove
    capability: io.fs.delete
    depends_on: [write]
    inputs: { path: victim.txt }
  - id: after
    capability: io.fs.write_file
    depends_on: [remove]
    inputs: { path: c.txt, content: "c" }
`;

const GATED = `name: gated
version: 1
principal: agent:bot
steps:
  - id: gate
    type: approval
    message: "go?"
    approvers: ["user:bob"]
  - id: fail
    capability: sys.fail
    depends_on: [gate]
    inputs: { message: planned }
  - id: never
    capability: sys.echo
    depends_on: [fail]
    inputs: { hi: there }
`;

const ECHO = `name: echo
version: 1
principal: agent:bot
inputs:
  n: { type: number }
steps:
  - id: say
    capability: sys.echo
    inputs: { n: "\${{ inputs.n }}" }
`;

describe("what a finished run says about its steps", () => {
  it("cancelling a run that waits for approval cancels the approval, and the steps that never ran say NOT_RUN", async () => {
    const p = project(root.path, { policy: POLICY, files: { "ws/victim.txt": "keep" } });
    p.write("wf.yaml", WAITS);
    const waiting = await p.json<RunJson>(["run", "wf.yaml"]);
    expect(waiting.code).toBe(5);
    const id = waiting.body.id;
    const cancelled = await p.json<RunJson>(["workflow", "cancel", id, "--as", "user:ops"]);
    expect(cancelled.body.status).toBe("ROLLED_BACK");
    const view = (await p.json<RunJson>(["workflow", "show", id])).body;
    expect(p.step(view, "write").status).toBe("COMPENSATED");
    expect(p.step(view, "remove").status).toBe("NOT_RUN");
    expect(p.step(view, "after").status).toBe("NOT_RUN");
    const approval = p.step(view, "remove").decision?.approval as { status: string };
    expect(approval.status).toBe("CANCELLED");
    const pending = await p.json<{ approvals: ApprovalJson[] }>(["approvals", "list"]);
    expect(pending.body.approvals).toEqual([]);
    const late = await p.run(["workflow", "resume", id, "--decision", "approve", "--as", "user:x"]);
    expect(late.code).toBe(2);
    expect(late.stderr).toMatch(/ROLLED_BACK/);
    expect((await p.run(["ledger", "verify"])).code).toBe(0);
  }, 60_000);

  it("an approval step: trace names its risk and policy; a principal without a kind is malformed; a rejected gate leaves the later steps NOT_RUN", async () => {
    const p = project(root.path);
    p.write("wf.yaml", GATED);
    const waiting = await p.json<RunJson>(["run", "wf.yaml"]);
    expect(waiting.code).toBe(5);
    const id = waiting.body.id;
    const trace = await p.run(["trace", id]);
    expect(trace.stdout).toMatch(/gate/);
    expect(trace.stdout).not.toMatch(/undefined|policy \?/);
    const bob = await p.run(["workflow", "resume", id, "--decision", "approve", "--as", "bob"]);
    expect(bob.code).toBe(2);
    expect(bob.stderr).toMatch(/INVALID_PRINCIPAL/);
    expect(bob.stderr).not.toMatch(/NOT_ELIGIBLE/);
    const approved = await p.json<RunJson>([
      "workflow",
      "resume",
      id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    expect(approved.body.status).toBe("ROLLED_BACK");
    expect(p.step(approved.body, "fail").status).toBe("FAILED");
    expect(p.step(approved.body, "never").status).toBe("NOT_RUN");
    expect((await p.run(["ledger", "verify"])).code).toBe(0);
  }, 60_000);

  it("an idempotency key reused with other inputs is refused (exit 2, naming the key and the run); with the same request it is the same run", async () => {
    const p = project(root.path);
    p.write("wf.yaml", ECHO);
    const first = await p.json<RunJson>([
      "run",
      "wf.yaml",
      "--input",
      "n=1",
      "--idempotency-key",
      "k1",
    ]);
    expect(first.code).toBe(0);
    const again = await p.json<RunJson>([
      "run",
      "wf.yaml",
      "--input",
      "n=1",
      "--idempotency-key",
      "k1",
    ]);
    expect(again.body.id).toBe(first.body.id);
    const other = await p.run(["run", "wf.yaml", "--input", "n=2", "--idempotency-key", "k1"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/IDEMPOTENCY_KEY_REUSED/);
    expect(other.stderr).toContain(first.body.id);
    expect(other.stderr).toMatch(/inputs/);
    const list = await p.json<{ runs: unknown[] }>(["workflow", "list"]);
    expect(list.body.runs).toHaveLength(1);
  }, 60_000);
});
