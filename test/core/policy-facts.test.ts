/**
 * Policy conditions on what a call would change (`facts.*`, from a capability's preview) and
 * numeric bounds (`{gt: 10}`): "deletes of more than 10 rows in crm.customers need an SRE".
 */
import { describe, expect, it } from "vitest";
import type { PolicyRequest } from "../../src/core/policy.js";
import { compilePolicy } from "../../src/core/policy-compile.js";

const req = (facts: PolicyRequest["facts"] | undefined, inputs = {}): PolicyRequest => ({
  principal: "agent:bot",
  roles: [],
  capability: "db.row.delete",
  risk: "MEDIUM",
  effect: "delete",
  undo: "builtin",
  hasCompensation: false,
  inputs,
  ...(facts ? { facts } : {}),
});

const POLICY = `version: 1
default: ALLOW
rules:
  - id: big-crm-deletes
    principal: "agent:*"
    capability: db.row.delete
    when: { "facts.db": crm, "facts.table": customers, "facts.rows": { gt: 10 } }
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
  - id: allow-small
    principal: "agent:*"
    capability: db.row.delete
    when: { "facts.rows": { gte: 0, lte: 10 } }
    decision: ALLOW
`;

describe("policy conditions on facts", () => {
  const p = compilePolicy("policies.yaml", POLICY);

  it("requires approval above the row count and allows at or below it", () => {
    const big = p.evaluate(req({ db: "crm", table: "customers", rows: 11 }));
    expect(big.decision).toBe("REQUIRE_APPROVAL");
    expect(big.ruleIds).toEqual(["big-crm-deletes"]);
    expect(big.approvers).toEqual(["role:sre"]);
    const small = p.evaluate(req({ db: "crm", table: "customers", rows: 10 }));
    expect(small.ruleIds).toEqual(["allow-small"]);
    expect(p.evaluate(req({ db: "crm", table: "orders", rows: 500 })).ruleIds).toEqual([]);
  });

  it("reads facts from the preview, never from inputs of the same name", () => {
    const spoofed = p.evaluate(req(undefined, { facts: { rows: 1 }, rows: 1 }));
    expect(spoofed.ruleIds).toEqual([]);
  });

  it("treats a missing count as matching a restrictive rule and never an ALLOW", () => {
    const noCount = p.evaluate(req({ db: "crm", table: "customers" }));
    expect(noCount.decision).toBe("REQUIRE_APPROVAL");
    expect(noCount.ruleIds).toEqual(["big-crm-deletes"]);
  });

  it("refuses a bound that is not a number, by field", () => {
    expect(() =>
      compilePolicy(
        "policies.yaml",
        `version: 1\nrules:\n  - { id: x, principal: "*", capability: "**", when: { "facts.rows": { gt: ten } }, decision: DENY }\n`,
      ),
    ).toThrow(/gt\|gte\|lt\|lte/);
  });
});
