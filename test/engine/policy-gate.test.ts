/**
 * The gatekeeper on real runs: HIGH risk is never plain ALLOW, and path spellings cannot slip a
 * write past a DENY rule.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Workspace, workspace } from "./helpers.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

const POLICY = `version: 1
default: DENY
rules:
  - id: allow-all-fs
    principal: "agent:*"
    capability: "io.fs.*"
    decision: ALLOW
  - id: no-secrets
    principal: "*"
    capability: "io.fs.*"
    when: { path: "secrets/**" }
    decision: DENY
`;

describe("policy on real runs", () => {
  it("makes a HIGH-risk step wait for approval even under an ALLOW rule", async () => {
    w = await workspace({ policy: POLICY });
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "d.yaml",
          `name: d\nversion: 1\nprincipal: agent:x\nsteps:\n  - id: rm\n    capability: io.fs.delete\n    inputs: { path: gone.txt }\n`,
        ),
      });
      expect(view.status).toBe("WAITING_APPROVAL");
      const decision = view.steps[0]?.decision as { decision: string; rule_ids: string[] };
      expect(decision.decision).toBe("REQUIRE_APPROVAL");
      expect(decision.rule_ids).toContain("allow-all-fs");
    } finally {
      await rt.close();
    }
  });

  it.each([
    "reports/../secrets/x.txt",
    "reports//../secrets/x.txt",
    "./secrets/x.txt",
    "secrets//x.txt",
    "secrets/./x.txt",
  ])("denies a write to %s under a DENY rule on secrets/** and writes nothing", async (path) => {
    w = await workspace({ policy: POLICY });
    mkdirSync(join(w.ws, "reports"));
    mkdirSync(join(w.ws, "secrets"));
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "s.yaml",
          `name: s\nversion: 1\nprincipal: agent:x\nsteps:\n  - id: w\n    capability: io.fs.write_file\n    inputs: { path: "${path}", content: leaked }\n`,
        ),
      });
      expect(view.status).toBe("ROLLED_BACK");
      expect(view.reason).toBe("POLICY_DENIED");
      expect(existsSync(join(w.ws, "secrets", "x.txt"))).toBe(false);
    } finally {
      await rt.close();
    }
  });
});
