/**
 * Seed fidelity (issue 14) through the built CLI: steps run in the order they are listed unless
 * they declare `depends_on` (both formats); undeclared seed names resolve at run time; the
 * seed-only keys work; the original's capability, input and output names resolve in workflows
 * and policy files; plugins may use two-part names.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { project, tempRoot } from "./project.js";

const root = tempRoot("seed-fidelity");
afterAll(() => root.cleanup());

describe("steps run in the order they are listed", () => {
  it("a native step without depends_on does not start once a step listed before it failed (NOT_RUN, file never written)", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `name: ordered
version: 1
steps:
  - id: boom
    capability: sys.fail
    inputs: { message: "first step fails" }
  - id: later
    capability: io.fs.write_file
    inputs: { path: later.txt, content: "x" }
`,
    );
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(3);
    expect(p.step(body, "later")).toMatchObject({ status: "NOT_RUN", attempts: 0 });
    expect(existsSync(join(p.ws, "later.txt"))).toBe(false);
  });

  it("an approval step holds back the steps listed after it, while a step with depends_on: [] runs beside it", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `name: gated
version: 1
steps:
  - id: first
    capability: io.fs.write_file
    inputs: { path: first.txt, content: "1" }
  - id: gate
    type: approval
    message: "go on?"
  - id: after_gate
    capability: io.fs.write_file
    inputs: { path: after.txt, content: "2" }
  - id: side
    capability: io.fs.write_file
    depends_on: []
    inputs: { path: side.txt, content: "3" }
`,
    );
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(5);
    expect(p.step(body, "gate").status).toBe("WAITING_APPROVAL");
    expect(p.step(body, "after_gate")).toMatchObject({ status: "PENDING", attempts: 0 });
    expect(p.step(body, "side").status).toBe("SUCCEEDED");
    expect(existsSync(join(p.ws, "after.txt"))).toBe(false);
    expect(readFileSync(join(p.ws, "side.txt"), "utf8")).toBe("3");
  });

  it("a policy REQUIRE_APPROVAL on an action holds back the seed steps listed after it", async () => {
    const p = project(root.path, {
      policy: `version: 1
default: ALLOW
rules:
  - id: ask-before-append
    principal: "*"
    capability: io.fs.append_file
    decision: REQUIRE_APPROVAL
`,
    });
    p.write(
      "wf.yaml",
      `name: seed_gated
agent_name: writer
steps:
  - name: log
    capability_name: io.fs.append_file
    inputs: { path: log.txt, content: "a" }
  - name: then_write
    capability_name: io.fs.write_file
    inputs: { path: then.txt, content: "b" }
`,
    );
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(5);
    expect(p.step(body, "log").status).toBe("WAITING_APPROVAL");
    expect(p.step(body, "then_write")).toMatchObject({ status: "PENDING", attempts: 0 });
    expect(existsSync(join(p.ws, "then.txt"))).toBe(false);
  });

  it("explains a cycle that comes from the listed order, and validate names both steps", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `name: cyc
version: 1
steps:
  - id: a
    capability: sys.echo
    inputs: { v: "\${{ steps.b.outputs.v }}" }
  - id: b
    capability: sys.echo
    inputs: { v: 1 }
`,
    );
    const r = await p.run(["validate", "wf.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(
      /wf\.yaml:4:\d+: .*dependency cycle: a -> b -> a \(a step without depends_on waits for every step listed before it/,
    );
  });
});

describe("undeclared names in seed specs resolve at run time", () => {
  const NAMES = `workflow_id: names_demo
agent_name: writer
initial_state:
  customer: acme
steps:
  - name: record
    capability_name: io.fs.write_file
    inputs:
      path: "{{ customer }}.txt"
      content: "account={{ account_id }} run={{ workflow_id }} at={{ timestamp }}"
`;

  it("validate lists an undeclared name nothing gives as an input the run will need, instead of failing", async () => {
    const p = project(root.path);
    p.write("wf.yaml", NAMES);
    const r = await p.run(["validate", "wf.yaml"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("inputs the run will need: account_id (--input account_id=…)");
    expect(r.stdout).toMatch(/\{\{ workflow_id \}\} resolves at run time: .*else the run's id/);
    expect(r.stdout).toMatch(
      /\{\{ timestamp \}\} resolves at run time: .*else the run's start time/,
    );
    const j = await p.json<{ results: { needs_inputs: string[]; run_time_names: string[] }[] }>([
      "validate",
      "wf.yaml",
    ]);
    expect(j.body.results[0]).toMatchObject({
      needs_inputs: ["account_id"],
      run_time_names: ["workflow_id", "timestamp"],
    });
  });

  it("a run without the needed name is refused before any step (exit 2, naming it); with --input it resolves, and workflow_id / timestamp give the run's id and start time", async () => {
    const p = project(root.path);
    p.write("wf.yaml", NAMES);
    const refused = await p.run(["run", "wf.yaml"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr + refused.stdout).toContain("account_id");
    expect(existsSync(join(p.ws, "acme.txt"))).toBe(false);

    const { code, body } = await p.json(["run", "wf.yaml", "--input", "account_id=A-42"]);
    expect(code).toBe(0);
    const text = readFileSync(join(p.ws, "acme.txt"), "utf8");
    const m = /^account=A-42 run=(\S+) at=(\S+)$/.exec(text);
    expect(m).not.toBeNull();
    expect(m![1]).toBe(body.id);
    expect(new Date(m![2]!).toISOString()).toBe(m![2]);
  });

  it("reads an earlier step's output by key (the original's flat state), and an input given on the command line first", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `workflow_id: from_outputs
agent_name: writer
steps:
  - name: create
    capability_name: sys.echo
    inputs: { account_id: "A-7", plan: gold }
  - name: record
    capability_name: io.fs.write_file
    inputs: { path: out.txt, content: "{{ account_id }}/{{ plan }}" }
`,
    );
    const v = await p.run(["validate", "wf.yaml"]);
    expect(v.code).toBe(0);
    expect(v.stdout).not.toContain("inputs the run will need");
    const first = await p.json(["run", "wf.yaml"]);
    expect(first.code).toBe(0);
    expect(readFileSync(join(p.ws, "out.txt"), "utf8")).toBe("A-7/gold");
    // Replay resolves the names the same way: no divergence.
    expect((await p.run(["replay", first.body.id])).code).toBe(0);
    expect((await p.run(["run", "wf.yaml", "--input", "plan=silver"])).code).toBe(0);
    expect(readFileSync(join(p.ws, "out.txt"), "utf8")).toBe("A-7/silver");
  });

  it("a key two earlier steps output is an error naming both: at validate when their capabilities declare it, at run time otherwise", async () => {
    const p = project(root.path);
    p.write(
      "declared.yaml",
      `workflow_id: twice_declared
agent_name: writer
steps:
  - name: one
    capability_name: io.fs.write_file
    inputs: { path: a.txt, content: a }
  - name: two
    capability_name: io.fs.write_file
    inputs: { path: b.txt, content: b }
  - name: three
    capability_name: io.fs.write_file
    inputs: { path: c.txt, content: "{{ sha256 }}" }
`,
    );
    const v = await p.run(["validate", "declared.yaml"]);
    expect(v.code).toBe(2);
    expect(v.stdout).toMatch(
      /declared\.yaml:12:\d+: .*"\{\{ sha256 \}\}" is ambiguous: steps "one" and "two" both output "sha256"; write \{\{ one\.sha256 \}\} or \{\{ two\.sha256 \}\}/,
    );

    p.write(
      "open.yaml",
      `workflow_id: twice_open
agent_name: writer
steps:
  - name: first
    capability_name: io.fs.write_file
    inputs: { path: first.txt, content: "1" }
  - name: one
    capability_name: sys.echo
    inputs: { account_id: "A-1" }
  - name: two
    capability_name: sys.echo
    inputs: { account_id: "A-2" }
  - name: three
    capability_name: io.fs.write_file
    inputs: { path: c.txt, content: "{{ account_id }}" }
`,
    );
    expect((await p.run(["validate", "open.yaml"])).code).toBe(0);
    const { code, body } = await p.json(["run", "open.yaml"]);
    expect(code).toBe(3);
    expect(p.step(body, "three").status).toBe("FAILED");
    expect(p.step(body, "three").error?.message).toContain(
      '"{{ account_id }}" is ambiguous: steps "one" and "two" both output "account_id"',
    );
    expect(existsSync(join(p.ws, "c.txt"))).toBe(false);
    expect(existsSync(join(p.ws, "first.txt"))).toBe(false); // rolled back
  });
});
