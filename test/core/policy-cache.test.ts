/**
 * @module The compiled evaluator's caches (candidates per capability and caller, decisions per
 * matched rule set and risk) never change an answer: every input that matters is in the key.
 */
import { describe, expect, it } from "vitest";
import type { PolicyRequest } from "../../src/core/policy.js";
import { compilePolicy } from "../../src/core/policy-compile.js";

const policy = compilePolicy(
  "p.yaml",
  `version: 1
default: DENY
rules:
  - { id: sre-write, principal: "role:sre", capability: io.fs.write_file, decision: ALLOW }
  - { id: agent-write, principal: "agent:*", capability: io.fs.write_file, when: { path: "out/**" }, decision: ALLOW }
  - { id: no-secrets, capability: "io.fs.**", when: { path: "secrets/**" }, decision: DENY }
`,
);

function req(over: Partial<PolicyRequest>): PolicyRequest {
  return {
    principal: "agent:a",
    roles: [],
    capability: "io.fs.write_file",
    risk: "LOW",
    effect: "write",
    undo: "builtin",
    hasCompensation: false,
    inputs: { path: "out/a.txt" },
    ...over,
  };
}

describe("evaluator caches", () => {
  it("re-evaluates roles: the same principal with and without a role gets different answers", () => {
    const u = { principal: "user:carol", inputs: { path: "x" } };
    expect(policy.evaluate(req(u)).decision).toBe("DENY");
    expect(policy.evaluate(req({ ...u, roles: ["sre"] })).decision).toBe("ALLOW");
    expect(policy.evaluate(req(u)).decision).toBe("DENY");
  });

  it("does not reuse a cached roles array after the caller mutated it", () => {
    const roles = ["sre"];
    const r = req({ principal: "user:dave", roles, inputs: { path: "x" } });
    expect(policy.evaluate(r).decision).toBe("ALLOW");
    roles.length = 0;
    expect(policy.evaluate(r).decision).toBe("DENY");
  });

  it("keys decisions by risk: the same matches at HIGH risk need approval", () => {
    expect(policy.evaluate(req({})).decision).toBe("ALLOW");
    const high = policy.evaluate(req({ risk: "HIGH" }));
    expect(high.decision).toBe("REQUIRE_APPROVAL");
    expect(high.reason).toMatch(/HIGH risk/);
    expect(policy.evaluate(req({})).decision).toBe("ALLOW");
  });

  it("re-normalizes each new path value (no stale path between calls)", () => {
    expect(policy.evaluate(req({ inputs: { path: "out/../secrets/k" } })).decision).toBe("DENY");
    expect(policy.evaluate(req({ inputs: { path: "out/./b" } })).decision).toBe("ALLOW");
    expect(policy.evaluate(req({ inputs: { path: "out//../secrets/k" } })).decision).toBe("DENY");
  });

  it("names the principal and capability in a default decision, per caller", () => {
    expect(policy.evaluate(req({ principal: "service:x", inputs: {} })).reason).toContain(
      "io.fs.write_file for service:x",
    );
    expect(
      policy.evaluate(req({ principal: "service:y", capability: "io.fs.move", inputs: {} })).reason,
    ).toContain("io.fs.move for service:y");
  });

  it("hands out frozen decisions, so a shared cached answer cannot be altered", () => {
    const d = policy.evaluate(req({}));
    expect(Object.isFrozen(d)).toBe(true);
    expect(Object.isFrozen(d.ruleIds)).toBe(true);
  });
});
