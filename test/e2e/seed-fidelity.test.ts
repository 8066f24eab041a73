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
