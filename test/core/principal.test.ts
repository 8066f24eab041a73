import { describe, expect, it } from "vitest";
import { AirunError } from "../../src/core/errors.js";
import {
  isPrincipal,
  isPrincipalPattern,
  isRoleName,
  parsePrincipal,
  principalPatternProblem,
  principalProblem,
  requirePrincipal,
} from "../../src/core/principal.js";

describe("the principal grammar", () => {
  it("accepts kind:id in lower-case ASCII", () => {
    for (const p of [
      "user:alice",
      "agent:planner",
      "service:ci",
      "user:daniel@example.com",
      "agent:account_manager",
      "team-web:x.y+z",
      "u:0",
      `k:${"a".repeat(128)}`,
    ]) {
      expect(isPrincipal(p), p).toBe(true);
    }
    expect(parsePrincipal("agent:planner")).toEqual({
      ok: true,
      principal: { kind: "agent", id: "planner" },
    });
  });

  it("refuses every other spelling, naming the offending character and the likely meaning", () => {
    const cases: [string, RegExp][] = [
      ["user:alice ", /a space \(U\+0020\) at position 11.*did you mean "user:alice"/],
      ["user:alice\t", /a tab/],
      ["User:alice", /a capital "U".*did you mean "user:alice"/],
      ["user:\u0430lice", /non-ASCII character "\u0430" \(U\+0430\)/],
      ["user:alice\u200b", /invisible or combining character \(U\+200B\)/],
      ["user:", /empty id/],
      [":alice", /empty kind/],
      ["nobody", /has no kind/],
      ["user:alice:x", /":" \(U\+003A\) at position 11/],
      ["role:sre", /reserved/],
      ["system:timeout", /reserved/],
      ["9user:x", /kind must start with a letter/],
      ["user:.x", /id must start/],
      [`k:${"a".repeat(129)}`, /longer than 128/],
      [`${"k".repeat(33)}:a`, /longer than 32/],
    ];
    for (const [value, message] of cases) {
      expect(isPrincipal(value), JSON.stringify(value)).toBe(false);
      expect(principalProblem(value), JSON.stringify(value)).toMatch(message);
    }
    expect(principalProblem(42)).toMatch(/must be a string/);
  });

  it("throws INVALID_PRINCIPAL, a usage error, naming the field", () => {
    expect(requirePrincipal("user:bob", "--as")).toBe("user:bob");
    let err: unknown;
    try {
      requirePrincipal("nobody", "--as");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AirunError);
    expect((err as AirunError).code).toBe("INVALID_PRINCIPAL");
    expect((err as AirunError).message).toMatch(/^--as: "nobody"/);
  });

  it("patterns: anyone, a role (globs) or kind:id with globs", () => {
    for (const p of [
      "*",
      "**",
      "agent:*",
      "user:alice",
      "role:sre",
      "role:team-*",
      "org:**",
      "*:ci",
      "user:a?c",
    ]) {
      expect(isPrincipalPattern(p), p).toBe(true);
    }
    for (const p of [
      "agent:",
      "user:Bob",
      "user:bob ",
      "role:",
      "role:SRE",
      "system:*",
      "nobody",
      "user:\u0430*",
    ]) {
      expect(principalPatternProblem(p), p).not.toBeNull();
    }
    expect(isRoleName("sales_director")).toBe(true);
    expect(isRoleName("SRE")).toBe(false);
    expect(isRoleName("sre ops")).toBe(false);
  });
});
