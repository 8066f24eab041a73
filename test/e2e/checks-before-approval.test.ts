/**
 * Everything that can be checked is checked before a person is asked (issue 14): a command whose
 * binary is not on the exec allowlist, or a request to a host outside the HTTP allowlist, fails
 * at its gate instead of waiting for an approval that could only end in the same failure.
 */
import { afterAll, describe, expect, it } from "vitest";
import { project, type RunJson, tempRoot } from "./project.js";

const root = tempRoot("preflight");
afterAll(() => root.cleanup());

const POLICY = `version: 1
default: ALLOW
rules:
  - id: commands-need-sre
    capability: sys.exec.run
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
  - id: posts-need-sre
    capability: net.http.request
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
`;

const CONFIG = `home: home
policy: policies.yaml
principals:
  user:alice: { roles: [sre] }
sandbox:
  fs: { roots: [ws] }
  exec: { allow: ["true"] }
  http: { allow_hosts: ["api.example.com"] }
`;

function spec(inputs: string, capability: string): string {
  return `name: gated
version: 1
principal: agent:bot
steps:
  - id: first
    capability: io.fs.write_file
    inputs: { path: first.txt, content: "x" }
  - id: act
    capability: ${capability}
    inputs: ${inputs}
`;
}

describe("checks before an approval is asked", () => {
  it.each([
    [
      "a binary not on the exec allowlist",
      "sys.exec.run",
      "{ argv: [rm, -rf, /] }",
      /"rm" .* is not in sandbox\.exec\.allow/,
    ],
    [
      "a host outside the HTTP allowlist",
      "net.http.request",
      '{ method: POST, url: "https://evil.example.net/x", body: "{}" }',
      /evil\.example\.net.*allow_hosts/,
    ],
  ])(
    "%s fails at the gate: no approval requested, earlier effects undone",
    async (_what, capability, inputs, why) => {
      const p = project(root.path, {
        policy: POLICY,
        files: { "wf.yaml": spec(inputs, capability), "airun.yaml": CONFIG },
      });
      const run = await p.json<RunJson>(["run", "wf.yaml"]);
      expect(run.body.status).toBe("ROLLED_BACK");
      const act = p.step(run.body, "act");
      expect(act.status).toBe("FAILED");
      expect(act.error?.message).toMatch(why);
      expect(act.decision?.decision).toBe("REQUIRE_APPROVAL");
      expect(act.decision?.approval).toBeUndefined();
      const approvals = await p.json<{ approvals: unknown[] }>(["approvals", "list"]);
      expect(approvals.body.approvals).toEqual([]);
    },
  );
});
