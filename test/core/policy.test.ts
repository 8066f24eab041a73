/**
 * @module Tests of policy evaluation: rule matching, most-restrictive-wins, the HIGH-risk floor,
 * defaults, the built-in policy, principals and roles, and input conditions (path tricks).
 */
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/hash.js";
import { compileNameGlob, normalizePolicyPath } from "../../src/core/path-match.js";
import {
  BUILTIN_POLICY_TEXT,
  builtinPolicy,
  explainDecision,
  type PolicyRequest,
} from "../../src/core/policy.js";
import { compilePolicy } from "../../src/core/policy-compile.js";

function req(over: Partial<PolicyRequest> = {}): PolicyRequest {
  return {
    principal: "agent:planner",
    roles: [],
    capability: "io.fs.write_file",
    risk: "MEDIUM",
    effect: "write",
    undo: "builtin",
    hasCompensation: false,
    inputs: {},
    ...over,
  };
}

const policy = (yaml: string) => compilePolicy("policies.yaml", yaml);

describe("rule matching and combination", () => {
  it("collects every matching rule and lets the most restrictive win (DENY > APPROVAL > ALLOW)", () => {
    const p = policy(`
version: 1
default: ALLOW
rules:
  - { id: allow-all, principal: "*", capability: "**", decision: ALLOW }
  - { id: approve-fs, principal: "agent:*", capability: "io.fs.*", decision: REQUIRE_APPROVAL, approvers: ["role:sre"] }
  - { id: deny-write, principal: "agent:planner", capability: io.fs.write_file, decision: DENY, reason: "no writes" }
  - { id: other, principal: "agent:planner", capability: io.fs.read_file, decision: DENY }
`);
    const d = p.evaluate(req());
    expect(d.decision).toBe("DENY");
    expect(d.ruleIds).toEqual(["allow-all", "approve-fs", "deny-write"]);
    expect(d.reason).toContain("deny-write");
    expect(d.reason).toContain("no writes");
    expect(d.approvers).toEqual([]);

    const r = p.evaluate(req({ capability: "io.fs.append_file" }));
    expect(r.decision).toBe("REQUIRE_APPROVAL");
    expect(r.ruleIds).toEqual(["allow-all", "approve-fs"]);
    expect(r.approvers).toEqual(["role:sre"]);
  });

  it("the order of rules does not matter: a later ALLOW never overrides an earlier DENY", () => {
    const p = policy(`
rules:
  - { id: deny, principal: "*", capability: "io.fs.delete", decision: DENY }
  - { id: allow, principal: "*", capability: "io.fs.*", decision: ALLOW }
`);
    expect(p.evaluate(req({ capability: "io.fs.delete" })).decision).toBe("DENY");
  });

  it("unions the approvers of every rule that required approval", () => {
    const p = policy(`
rules:
  - { id: a, capability: "io.fs.*", decision: REQUIRE_APPROVAL, approvers: ["role:sre", "user:bob"] }
  - { id: b, capability: "io.**", decision: REQUIRE_APPROVAL, approvers: ["user:bob", "user:carol"] }
  - { id: c, capability: "io.fs.write_file", decision: ALLOW, approvers: ["user:dave"] }
`);
    const d = p.evaluate(req());
    expect(d.decision).toBe("REQUIRE_APPROVAL");
    expect(d.ruleIds).toEqual(["a", "b", "c"]);
    expect(d.approvers).toEqual(["role:sre", "user:bob", "user:carol"]);
  });

  it("falls back to the default when no rule matches, and the default is DENY when absent", () => {
    const p = policy(`
version: 1
rules:
  - { id: reads, principal: "agent:*", capability: "io.fs.read_*", decision: ALLOW }
`);
    const d = p.evaluate(req({ capability: "io.fs.write_file" }));
    expect(d.decision).toBe("DENY");
    expect(d.ruleIds).toEqual([]);
    expect(d.reason).toContain("default is DENY");
    expect(p.evaluate(req({ capability: "io.fs.read_file", risk: "LOW" })).decision).toBe("ALLOW");
  });

  it("uses an explicit default when given", () => {
    const p = policy("default: REQUIRE_APPROVAL\nrules: []\n");
    expect(p.evaluate(req()).decision).toBe("REQUIRE_APPROVAL");
    expect(policy("default: allow\n").evaluate(req()).decision).toBe("ALLOW");
  });

  it("filters on risk_level, one level or a list", () => {
    const p = policy(`
rules:
  - { id: low, capability: "**", risk_level: LOW, decision: ALLOW }
  - { id: midhigh, capability: "**", risk_level: [MEDIUM, HIGH], decision: DENY }
`);
    expect(p.evaluate(req({ risk: "LOW" })).ruleIds).toEqual(["low"]);
    expect(p.evaluate(req({ risk: "MEDIUM" })).ruleIds).toEqual(["midhigh"]);
    expect(p.evaluate(req({ risk: "CRITICAL" })).ruleIds).toEqual([]);
  });

  it("carries the policy hash (SHA-256 of the file text), the source and the rule ids", () => {
    const text = "rules:\n  - { capability: io.fs.write_file, decision: ALLOW }\n";
    const p = compilePolicy("/etc/airun/policies.yaml", text);
    const d = p.evaluate(req());
    expect(p.hash).toBe(sha256Hex(text));
    expect(d.policyHash).toBe(sha256Hex(text));
    expect(d.policySource).toBe("/etc/airun/policies.yaml");
    expect(p.source).toBe("/etc/airun/policies.yaml");
    expect(p.ruleCount).toBe(1);
    expect(d.ruleIds).toEqual(["rule-1"]);
  });

  it("never returns or changes inputs (gatekeeper, not commander)", () => {
    const inputs = { path: "reports/a.txt", nested: { x: 1 } };
    const snapshot = JSON.stringify(inputs);
    const d = policy(
      "rules: [{ capability: '**', when: { path: 'reports/**' }, decision: ALLOW }]\n",
    ).evaluate(req({ inputs }));
    expect(Object.keys(d).sort()).toEqual(
      ["approvers", "decision", "policyHash", "policySource", "reason", "ruleIds"].sort(),
    );
    expect(JSON.stringify(inputs)).toBe(snapshot);
  });
});

describe("HIGH and CRITICAL risk are never plain ALLOW", () => {
  const p = policy(`
rules:
  - { id: ops-delete, principal: "role:ops", capability: io.fs.delete, decision: ALLOW, approvers: ["user:lead"] }
`);

  it("turns a matching ALLOW at HIGH risk into REQUIRE_APPROVAL and says so", () => {
    const d = p.evaluate(req({ capability: "io.fs.delete", risk: "HIGH", roles: ["ops"] }));
    expect(d.decision).toBe("REQUIRE_APPROVAL");
    expect(d.ruleIds).toEqual(["ops-delete"]);
    expect(d.reason).toMatch(/HIGH risk can never be plain ALLOW/);
    expect(d.approvers).toEqual(["user:lead"]);
  });

  it("does the same at CRITICAL risk, and for a default ALLOW", () => {
    expect(
      p.evaluate(req({ capability: "io.fs.delete", risk: "CRITICAL", roles: ["ops"] })).decision,
    ).toBe("REQUIRE_APPROVAL");
    const d = policy("default: ALLOW\n").evaluate(req({ risk: "HIGH" }));
    expect(d.decision).toBe("REQUIRE_APPROVAL");
    expect(d.reason).toMatch(/HIGH risk can never be plain ALLOW/);
  });

  it("treats an unrecognized risk value as high (fails closed)", () => {
    const d = policy("default: ALLOW\n").evaluate(req({ risk: "EXTREME" as never }));
    expect(d.decision).toBe("REQUIRE_APPROVAL");
  });

  it("keeps a DENY a DENY at HIGH risk", () => {
    const q = policy("rules: [{ capability: '**', decision: DENY }]\n");
    expect(q.evaluate(req({ risk: "HIGH" })).decision).toBe("DENY");
  });
});

describe("irreversible effects", () => {
  it("a default ALLOW does not cover an irreversible effect, an explicit rule does", () => {
    const p = policy(`
default: ALLOW
rules:
  - { id: allow-mail, capability: net.mail.send, decision: ALLOW }
`);
    const exec = p.evaluate(
      req({ capability: "sys.exec.run", risk: "MEDIUM", undo: "irreversible" }),
    );
    expect(exec.decision).toBe("DENY");
    expect(exec.reason).toMatch(/irreversible/);
    const mail = p.evaluate(
      req({ capability: "net.mail.send", risk: "MEDIUM", undo: "irreversible" }),
    );
    expect(mail.decision).toBe("ALLOW");
  });
});

describe("built-in default policy", () => {
  const b = builtinPolicy();

  it("is named builtin and hashed", () => {
    expect(b.source).toBe("builtin");
    expect(b.hash).toBe(sha256Hex(BUILTIN_POLICY_TEXT));
    expect(b.ruleCount).toBe(0);
  });

  it("allows write_file (MEDIUM, builtin undo)", () => {
    const d = b.evaluate(req());
    expect(d.decision).toBe("ALLOW");
    expect(d.policySource).toBe("builtin");
    expect(d.ruleIds).toEqual(["builtin:allow-reversible"]);
  });

  it("allows LOW-risk reads (undo none)", () => {
    const d = b.evaluate(
      req({ capability: "io.fs.read_file", risk: "LOW", effect: "read", undo: "none" }),
    );
    expect(d.decision).toBe("ALLOW");
  });

  it("requires approval for delete (HIGH, builtin undo)", () => {
    const d = b.evaluate(req({ capability: "io.fs.delete", risk: "HIGH", effect: "delete" }));
    expect(d.decision).toBe("REQUIRE_APPROVAL");
    expect(d.ruleIds).toEqual(["builtin:approve-high-risk"]);
  });

  it("requires approval for CRITICAL risk", () => {
    expect(b.evaluate(req({ risk: "CRITICAL" })).decision).toBe("REQUIRE_APPROVAL");
  });

  it("denies exec (irreversible)", () => {
    const d = b.evaluate(
      req({ capability: "sys.exec.run", risk: "HIGH", effect: "exec", undo: "irreversible" }),
    );
    expect(d.decision).toBe("DENY");
    expect(d.ruleIds).toEqual(["builtin:deny-irreversible"]);
  });

  it("allows a MEDIUM POST with a declared compensation, denies it without one", () => {
    const post = req({ capability: "net.http.request", effect: "network", undo: "compensation" });
    expect(b.evaluate({ ...post, hasCompensation: true }).decision).toBe("ALLOW");
    expect(b.evaluate({ ...post, hasCompensation: false }).decision).toBe("DENY");
  });

  it("exec with a declared compensation is HIGH risk: approval, not denial", () => {
    const d = b.evaluate(
      req({
        capability: "sys.exec.run",
        risk: "HIGH",
        undo: "irreversible",
        hasCompensation: true,
      }),
    );
    expect(d.decision).toBe("REQUIRE_APPROVAL");
  });
});

describe("principals and roles", () => {
  const p = policy(`
rules:
  - { id: agents, principal: "agent:*", capability: io.fs.read_file, decision: ALLOW }
  - { id: sre, principal: "role:sre", capability: io.fs.write_file, decision: ALLOW }
  - { id: listed, principal: ["user:alice", "service:ci"], capability: sys.echo.say, decision: ALLOW }
  - { id: deep, principal: "org:**", capability: sys.sleep.wait, decision: ALLOW }
  - { id: anyrole, principal: "role:team-*", capability: llm.chat.send, decision: ALLOW }
`);

  it("matches principal globs within one segment", () => {
    expect(p.evaluate(req({ capability: "io.fs.read_file" })).decision).toBe("ALLOW");
    expect(
      p.evaluate(req({ principal: "user:alice", capability: "io.fs.read_file" })).decision,
    ).toBe("DENY");
    expect(
      p.evaluate(req({ principal: "agent:planner:sub", capability: "io.fs.read_file" })).decision,
    ).toBe("DENY");
  });

  it("matches ** across principal segments", () => {
    expect(
      p.evaluate(req({ principal: "org:acme:bot", capability: "sys.sleep.wait" })).decision,
    ).toBe("ALLOW");
  });

  it("matches role:x against the principal's roles, not its name", () => {
    expect(p.evaluate(req({ roles: ["sre"] })).decision).toBe("ALLOW");
    expect(p.evaluate(req({ roles: ["dev"] })).decision).toBe("DENY");
    expect(p.evaluate(req({ principal: "role:sre", roles: [] })).decision).toBe("DENY");
    expect(p.evaluate(req({ roles: ["team-web"], capability: "llm.chat.send" })).decision).toBe(
      "ALLOW",
    );
  });

  it("matches any principal of a list", () => {
    expect(p.evaluate(req({ principal: "service:ci", capability: "sys.echo.say" })).decision).toBe(
      "ALLOW",
    );
    expect(p.evaluate(req({ principal: "user:bob", capability: "sys.echo.say" })).decision).toBe(
      "DENY",
    );
  });

  it("a rule without principal applies to everyone", () => {
    const q = policy("rules: [{ capability: io.fs.write_file, decision: ALLOW }]\n");
    expect(q.evaluate(req({ principal: "user:zed" })).decision).toBe("ALLOW");
  });
});

describe("capability globs", () => {
  const p = policy(`
rules:
  - { id: reads, capability: "io.fs.read_*", decision: ALLOW }
  - { id: io-one, capability: "io.*", decision: DENY }
  - { id: net-all, capability: "net.**", decision: REQUIRE_APPROVAL }
  - { id: list, capabilities: ["sys.echo", "sys.sleep"], decision: ALLOW }
  - { id: q, capability: "llm.ch?t", decision: ALLOW }
`);

  it("* stays within a segment, ** crosses segments, ? is one character", () => {
    expect(p.evaluate(req({ capability: "io.fs.read_file" })).ruleIds).toEqual(["reads"]);
    expect(p.evaluate(req({ capability: "io.fs.write_file" })).ruleIds).toEqual([]);
    expect(p.evaluate(req({ capability: "io.x" })).ruleIds).toEqual(["io-one"]);
    expect(p.evaluate(req({ capability: "net.http.request" })).ruleIds).toEqual(["net-all"]);
    expect(p.evaluate(req({ capability: "llm.chat" })).ruleIds).toEqual(["q"]);
    expect(p.evaluate(req({ capability: "llm.chaat" })).ruleIds).toEqual([]);
  });

  it("matches exact names from a capabilities list", () => {
    expect(p.evaluate(req({ capability: "sys.sleep" })).ruleIds).toEqual(["list"]);
    expect(p.evaluate(req({ capability: "sys.fail" })).ruleIds).toEqual([]);
  });

  it("does not treat a dot as a regexp wildcard", () => {
    expect(compileNameGlob("io.fs.read_*", ".")("ioXfs.read_file")).toBe(false);
  });

  it("a bare * matches any capability, whatever its first segment", () => {
    const q = policy("rules: [{ id: all, capability: '*', decision: DENY }]\n");
    expect(q.evaluate(req({ capability: "a.b.c" })).ruleIds).toEqual(["all"]);
    expect(q.evaluate(req({ capability: "zz.y.x" })).ruleIds).toEqual(["all"]);
  });

  it("gives the same answers on repeated evaluation (index cache)", () => {
    for (let i = 0; i < 3; i++) {
      expect(p.evaluate(req({ capability: "io.fs.read_file" })).ruleIds).toEqual(["reads"]);
    }
  });
});

describe("conditions on inputs", () => {
  const p = policy(`
default: ALLOW
rules:
  - id: no-secrets
    capability: "io.fs.*"
    when: { "inputs.path": "secrets/**" }
    decision: DENY
`);
  const deny = (path: string) => p.evaluate(req({ inputs: { path } })).decision;

  it.each([
    ["secrets/x"],
    ["reports/../secrets/x"],
    ["reports//../secrets/x"],
    ["./secrets/x"],
    ["secrets//x"],
    ["secrets/./x"],
    ["secrets/x/"],
    ["secrets"],
    ["secrets/.hidden"],
    ["secrets/a/.git/config"],
  ])("denies %j", (path) => {
    expect(deny(path)).toBe("DENY");
  });

  it.each([["reports/secrets/x"], ["secretsX/y"], ["Secrets/x"]])("does not deny %j", (path) => {
    expect(deny(path)).toBe("ALLOW");
  });

  it("an escaping '..' cannot be proven safe: it matches DENY rules", () => {
    expect(deny("../secrets/x")).toBe("DENY");
    expect(deny("reports/../../x")).toBe("DENY");
  });

  it("an escaping '..' never matches an ALLOW rule", () => {
    const q = policy(`
rules:
  - { id: reports, capability: "io.fs.*", when: { path: "reports/**" }, decision: ALLOW }
  - { id: any, capability: "io.fs.*", when: { path: "**" }, decision: ALLOW }
`);
    expect(q.evaluate(req({ inputs: { path: "reports/a" } })).decision).toBe("ALLOW");
    expect(q.evaluate(req({ inputs: { path: "reports/../../etc/passwd" } })).decision).toBe("DENY");
    expect(q.evaluate(req({ inputs: { path: "../reports/a" } })).ruleIds).toEqual([]);
  });

  it("NFC-normalizes both sides (NFD input vs NFC pattern and the reverse)", () => {
    const nfc = "caf\u00e9";
    const nfd = "cafe\u0301";
    const q = policy(
      `rules: [{ capability: "**", when: { path: "${nfc}/**" }, decision: DENY }]\n`,
    );
    expect(q.evaluate(req({ inputs: { path: `${nfd}/menu` } })).decision).toBe("DENY");
    const r = policy(
      `default: ALLOW\nrules: [{ capability: "**", when: { path: "${nfd}/**" }, decision: DENY }]\n`,
    );
    expect(r.evaluate(req({ inputs: { path: `${nfc}/menu` } })).decision).toBe("DENY");
  });

  it("matches case-sensitively", () => {
    expect(deny("SECRETS/x")).toBe("ALLOW");
  });

  it("treats from, to, cwd and *_path / *path keys as paths", () => {
    const q = policy(`
default: ALLOW
rules:
  - { id: from, capability: "**", when: { from: "secrets/**" }, decision: DENY }
  - { id: to, capability: "**", when: { to: "secrets/**" }, decision: DENY }
  - { id: cwd, capability: "**", when: { cwd: "/etc/**" }, decision: DENY }
  - { id: sp, capability: "**", when: { source_path: "secrets/**" }, decision: DENY }
  - { id: fp, capability: "**", when: { filepath: "secrets/**" }, decision: DENY }
`);
    expect(q.evaluate(req({ inputs: { from: "a/../secrets/k" } })).ruleIds).toEqual(["from"]);
    expect(q.evaluate(req({ inputs: { to: "./secrets//k" } })).ruleIds).toEqual(["to"]);
    expect(q.evaluate(req({ inputs: { cwd: "/tmp/../etc/x" } })).ruleIds).toEqual(["cwd"]);
    expect(q.evaluate(req({ inputs: { source_path: "secrets/./k" } })).ruleIds).toEqual(["sp"]);
    expect(q.evaluate(req({ inputs: { filepath: "secrets/k" } })).ruleIds).toEqual(["fp"]);
  });

  it("handles absolute paths: /.. stays at the root", () => {
    const q = policy(
      "default: ALLOW\nrules: [{ capability: '**', when: { path: '/etc/**' }, decision: DENY }]\n",
    );
    expect(q.evaluate(req({ inputs: { path: "/../etc/passwd" } })).decision).toBe("DENY");
    expect(q.evaluate(req({ inputs: { path: "//etc//passwd" } })).decision).toBe("DENY");
    expect(q.evaluate(req({ inputs: { path: "/srv/etc/passwd" } })).decision).toBe("ALLOW");
  });

  it("supports {in: [...]} and lists of path globs", () => {
    const q = policy(`
default: ALLOW
rules:
  - { capability: "**", when: { path: { in: ["secrets/**", "*.key"] } }, decision: DENY }
`);
    expect(q.evaluate(req({ inputs: { path: "id.key" } })).decision).toBe("DENY");
    expect(q.evaluate(req({ inputs: { path: "keys/id.key" } })).decision).toBe("ALLOW");
    expect(q.evaluate(req({ inputs: { path: "secrets/a" } })).decision).toBe("DENY");
  });

  it("{equals} on a path field compares the normalized path literally", () => {
    const q = policy(
      "rules: [{ capability: '**', when: { path: { equals: 'a/*' } }, decision: ALLOW }]\n",
    );
    expect(q.evaluate(req({ inputs: { path: "a/*" } })).decision).toBe("ALLOW");
    expect(q.evaluate(req({ inputs: { path: "./a//*" } })).decision).toBe("ALLOW");
    expect(q.evaluate(req({ inputs: { path: "a/b" } })).decision).toBe("DENY");
  });

  it("compares other fields by equality: strings, numbers, booleans, {in}, {equals}", () => {
    const q = policy(`
rules:
  - { id: get, capability: net.http.request, when: { "inputs.method": { in: [GET, HEAD] } }, decision: ALLOW }
  - { id: port, capability: net.http.request, when: { port: 443 }, decision: ALLOW }
  - { id: dry, capability: net.http.request, when: { dry_run: true }, decision: ALLOW }
  - { id: eq, capability: net.http.request, when: { mode: { equals: "a*" } }, decision: ALLOW }
`);
    const ev = (inputs: Record<string, unknown>) =>
      q.evaluate(req({ capability: "net.http.request", inputs: inputs as never })).ruleIds;
    expect(ev({ method: "GET" })).toEqual(["get"]);
    expect(ev({ method: "POST" })).toEqual([]);
    expect(ev({ method: "get" })).toEqual([]);
    expect(ev({ port: 443 })).toEqual(["port"]);
    expect(ev({ port: "443" })).toEqual([]);
    expect(ev({ dry_run: true })).toEqual(["dry"]);
    expect(ev({ dry_run: "true" })).toEqual([]);
    expect(ev({ mode: "a*" })).toEqual(["eq"]);
    expect(ev({ mode: "abc" })).toEqual([]);
  });

  it("does not treat a glob in a non-path field as a pattern", () => {
    const q = policy(
      "rules: [{ capability: '**', when: { url: 'https://*' }, decision: ALLOW }]\n",
    );
    expect(q.evaluate(req({ inputs: { url: "https://x" } })).decision).toBe("DENY");
  });

  it("follows dotted paths into nested objects and arrays", () => {
    const q = policy(`
rules:
  - { id: nested, capability: "**", when: { "inputs.headers.x-env": prod }, decision: DENY }
  - { id: arr, capability: "**", when: { "inputs.argv.0": rm }, decision: DENY }
`);
    expect(q.evaluate(req({ inputs: { headers: { "x-env": "prod" } } })).ruleIds).toEqual([
      "nested",
    ]);
    expect(q.evaluate(req({ inputs: { argv: ["rm", "-rf"] } })).ruleIds).toEqual(["arr"]);
    expect(q.evaluate(req({ inputs: { argv: ["ls"] } })).ruleIds).toEqual([]);
  });

  it("a condition on a missing field does not match (DENY or ALLOW)", () => {
    expect(p.evaluate(req({ inputs: {} })).decision).toBe("ALLOW");
    expect(p.evaluate(req({ inputs: { other: "secrets/x" } })).decision).toBe("ALLOW");
    expect(p.evaluate(req({ inputs: { path: null } })).decision).toBe("ALLOW");
    const q = policy("rules: [{ capability: '**', when: { mode: fast }, decision: ALLOW }]\n");
    expect(q.evaluate(req({ inputs: {} })).decision).toBe("DENY");
  });

  it("does not read inherited properties (no prototype lookups)", () => {
    const q = policy(
      "rules: [{ capability: '**', when: { 'inputs.toString.name': toString }, decision: ALLOW }]\n",
    );
    expect(q.evaluate(req({ inputs: {} })).decision).toBe("DENY");
    // A condition on a key that could reach a prototype is refused outright.
    expect(() =>
      policy(
        "rules: [{ capability: '**', when: { 'inputs.constructor.name': Object }, decision: ALLOW }]\n",
      ),
    ).toThrow(/constructor.*not allowed/);
  });

  it("a non-string value in a path field cannot be proven safe", () => {
    expect(p.evaluate(req({ inputs: { path: 42 } })).decision).toBe("DENY");
    const q = policy("rules: [{ capability: '**', when: { path: '**' }, decision: ALLOW }]\n");
    expect(q.evaluate(req({ inputs: { path: ["a"] } })).decision).toBe("DENY");
  });

  it("all conditions of a rule must hold", () => {
    const q = policy(`
rules:
  - { id: both, capability: "**", when: { path: "out/**", mode: "append" }, decision: ALLOW }
`);
    expect(q.evaluate(req({ inputs: { path: "out/a", mode: "append" } })).ruleIds).toEqual([
      "both",
    ]);
    expect(q.evaluate(req({ inputs: { path: "out/a", mode: "write" } })).ruleIds).toEqual([]);
  });

  it("REQUIRE_APPROVAL rules also match unprovable paths (the restrictive reading)", () => {
    const q = policy(`
default: ALLOW
rules: [{ id: gate, capability: "**", when: { path: "prod/**" }, decision: REQUIRE_APPROVAL }]
`);
    expect(q.evaluate(req({ inputs: { path: "../prod/x" } })).decision).toBe("REQUIRE_APPROVAL");
  });
});

describe("normalizePolicyPath", () => {
  it.each([
    ["a/b", "a/b"],
    ["a//b", "a/b"],
    ["./a/./b/", "a/b"],
    ["a/b/../c", "a/c"],
    ["a/..", "."],
    ["/a/../../b", "/b"],
    ["/", "/"],
  ])("%j → %j", (input, out) => {
    expect(normalizePolicyPath(input)).toEqual({ ok: true, path: out });
  });

  it("refuses values that climb above their start or contain NUL", () => {
    expect(normalizePolicyPath("../a").ok).toBe(false);
    expect(normalizePolicyPath("a/../../b").ok).toBe(false);
    expect(normalizePolicyPath("a\0b").ok).toBe(false);
  });
});

describe("seed formats", () => {
  it("accepts capabilities: [...] with action:", () => {
    const p = policy(`
rules:
  - principal: "user:alice"
    capabilities: ["io.fs.read_file", "io.fs.list_dir"]
    action: ALLOW
`);
    expect(
      p.evaluate(req({ principal: "user:alice", capability: "io.fs.list_dir" })).decision,
    ).toBe("ALLOW");
  });

  it("accepts match keys nested under when: with decision:", () => {
    const p = policy(`
rules:
  - principal: "user:*"
    when:
      capability: io.fs.delete
      risk_level: HIGH
      path: "prod/**"
    decision: DENY
  - when: { capability: "io.fs.*", risk_level: [LOW, MEDIUM] }
    decision: ALLOW
`);
    const del = (risk: "HIGH" | "MEDIUM", path: string) =>
      p.evaluate(
        req({ principal: "user:bob", capability: "io.fs.delete", risk, inputs: { path } }),
      );
    expect(del("HIGH", "prod/db").decision).toBe("DENY");
    expect(del("HIGH", "prod/db").ruleIds).toEqual(["rule-1"]);
    expect(del("HIGH", "dev/db").decision).toBe("DENY"); // no rule → default DENY
    expect(del("MEDIUM", "dev/db").ruleIds).toEqual(["rule-2"]);
  });

  it("accepts lowercase decisions and risk levels", () => {
    const p = policy("rules: [{ capability: '**', risk_level: low, action: allow }]\n");
    expect(p.evaluate(req({ risk: "LOW" })).decision).toBe("ALLOW");
  });
});

describe("explainDecision", () => {
  it("names the decision, the policy, the rules, the approvers and the reason", () => {
    const p = policy(`
rules:
  - { id: gate, capability: "**", decision: REQUIRE_APPROVAL, approvers: [role:sre], reason: "needs eyes" }
`);
    const text = explainDecision(p.evaluate(req()));
    expect(text).toContain("Decision: REQUIRE_APPROVAL");
    expect(text).toContain("policies.yaml");
    expect(text).toContain(p.hash.slice(0, 12));
    expect(text).toContain("gate");
    expect(text).toContain("role:sre");
    expect(text).toContain("needs eyes");
    expect(explainDecision(builtinPolicy().evaluate(req()))).toContain("built-in default");
  });
});
