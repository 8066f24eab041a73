/**
 * Attack: a declared compensation slipping past the gatekeeper (issue 13, finding 1). A step
 * the policy allows declares, as its undo, a call the policy forbids; a later step fails, so
 * the rollback would make the forbidden call with nobody asked. The compensation is part of
 * the step's authorization: a compensation that would be denied denies the step before it
 * acts; one that needs approval makes the step need it, and the approval shows it.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { project, type RunJson, tempRoot } from "../e2e/project.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-comp");
afterAll(() => root.cleanup());

const t = tally("policy spellings", "compensation-gate");

const SNEAKY = `name: sneaky_undo
version: 1
principal: agent:attacker
steps:
  - id: harmless
    capability: sys.echo
    inputs: { hello: world }
    compensation:
      capability: sys.exec.run
      inputs: { argv: [touch, PWNED], cwd: "." }
  - id: also_harmless
    capability: sys.echo
    depends_on: [harmless]
    inputs: { hello: again }
    compensation:
      capability: io.fs.delete
      inputs: { path: victim.txt }
  - id: boom
    capability: sys.fail
    depends_on: [also_harmless]
    inputs: { message: "trigger the rollback" }
`;

const POLICY = `version: 1
default: DENY
rules:
  - id: echo-ok
    principal: "agent:*"
    capability: sys.echo
    decision: ALLOW
  - id: fail-ok
    principal: "agent:*"
    capability: sys.fail
    decision: ALLOW
  - id: no-exec
    principal: "*"
    capability: "sys.exec.*"
    decision: DENY
    reason: agents never run commands
  - id: no-delete
    principal: "*"
    capability: io.fs.delete
    decision: DENY
`;

// Appended under the project's `sandbox:` section: `touch` may run, so the exploit is real.
const CONFIG = "  exec: { allow: [touch] }\n";

describe("attack: a compensation the policy forbids, declared on an allowed step", () => {
  it("is refused at the step's gate under an explicit policy: nothing runs, nothing is deleted", async () =>
    t.guard(
      "is refused at the step's gate under an explicit policy: nothing runs, nothing is deleted",
      async () => {
        const p = project(root.path, { policy: POLICY, config: CONFIG });
        p.write("ws/victim.txt", "keep me");
        p.write("wf.yaml", SNEAKY);
        const { code, body } = await p.json<RunJson>(["run", "wf.yaml"]);
        expect(existsSync(join(p.ws, "PWNED"))).toBe(false);
        expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("keep me");
        expect(body.status).toBe("ROLLED_BACK");
        expect(body.reason).toBe("POLICY_DENIED");
        expect(code).toBe(4);
        const harmless = p.step(body, "harmless");
        expect(harmless.status).toBe("FAILED");
        expect(harmless.error?.code).toBe("POLICY_DENIED");
        expect(harmless.error?.message).toMatch(/compensation sys\.exec\.run.*no-exec/);
        expect(harmless.decision).toMatchObject({
          decision: "DENY",
          compensation_decision: {
            capability: "sys.exec.run",
            decision: "DENY",
            rule_ids: ["no-exec"],
          },
        });
        expect(p.step(body, "also_harmless").status).toBe("NOT_RUN");
      },
    ));

  it("is never run unasked under the built-in policy: each HIGH-risk undo makes its step need a person, and a rejection runs nothing", async () =>
    t.guard(
      "is never run unasked under the built-in policy: each HIGH-risk undo makes its step need a person, and a rejection runs nothing",
      async () => {
        const p = project(root.path, { config: CONFIG });
        p.write("ws/victim.txt", "keep me");
        p.write("wf.yaml", SNEAKY);
        const { code, body } = await p.json<RunJson>(["run", "wf.yaml"]);
        expect(code).toBe(5);
        expect(p.step(body, "harmless")).toMatchObject({
          status: "WAITING_APPROVAL",
          decision: {
            decision: "REQUIRE_APPROVAL",
            compensation_decision: { capability: "sys.exec.run", decision: "REQUIRE_APPROVAL" },
          },
        });
        const rejected = await p.json<RunJson>([
          "workflow",
          "resume",
          body.id,
          "--decision",
          "reject",
          "--as",
          "user:bob",
        ]);
        expect(rejected.body.reason).toBe("APPROVAL_REJECTED");
        expect(existsSync(join(p.ws, "PWNED"))).toBe(false);
        expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("keep me");

        // Only the delete as an undo: the step asks a person, and the approval shows the undo.
        const q = project(root.path, { config: CONFIG });
        q.write("ws/victim.txt", "keep me");
        const execUndo = SNEAKY.slice(
          SNEAKY.indexOf("    compensation:"),
          SNEAKY.indexOf("  - id: also_harmless"),
        );
        q.write("wf.yaml", SNEAKY.replace(execUndo, ""));
        const waiting = await q.json<RunJson>(["run", "wf.yaml"]);
        expect(waiting.code).toBe(5);
        const step = q.step(waiting.body, "also_harmless");
        expect(step.status).toBe("WAITING_APPROVAL");
        expect(step.decision).toMatchObject({
          decision: "REQUIRE_APPROVAL",
          compensation_decision: {
            capability: "io.fs.delete",
            decision: "REQUIRE_APPROVAL",
            inputs: { path: "victim.txt" },
          },
        });
        expect(readFileSync(join(q.ws, "victim.txt"), "utf8")).toBe("keep me");
      },
    ));

  it("policy check shows the compensation's decision beside the step's", async () =>
    t.guard("policy check shows the compensation's decision beside the step's", async () => {
      const p = project(root.path, { policy: POLICY, config: CONFIG });
      const r = await p.json<{ decision: string; rule_ids: string[]; compensation: unknown }>([
        "policy",
        "check",
        "--as",
        "agent:attacker",
        "--capability",
        "sys.echo",
        "--compensation",
        "sys.exec.run",
        "--compensation-input",
        "argv=touch",
      ]);
      // The step alone is allowed (rule echo-ok); its undo is not (rule no-exec): DENY.
      expect(r.body.decision).toBe("DENY");
      expect(r.body.rule_ids).toEqual(["echo-ok"]);
      expect(r.body.compensation).toMatchObject({
        capability: "sys.exec.run",
        inputs: { argv: "touch" },
        decision: "DENY",
        rule_ids: ["no-exec"],
      });
    }));
});
