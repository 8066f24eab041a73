/**
 * `airun policy check` and `airun policy test` through the built binary, in a temp project:
 * explanations name the policy (file and hash, or the built-in default), every matching rule
 * and the reason; table tests exit 0 / 1 / 2; neither command opens (or creates) the database.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/hash.js";
import { project, tempRoot } from "./project.js";

const root = tempRoot("policy-cmd");
afterAll(() => root.cleanup());

const POLICY = `version: 1
rules:
  - id: agents-read-reports
    principal: "agent:*"
    capability: "io.fs.read_*"
    when: { "inputs.path": "reports/**" }
    decision: ALLOW
  - id: no-secrets
    capability: "io.fs.**"
    when: { path: "secrets/**" }
    decision: DENY
    reason: secrets stay put
  - id: sre-deletes
    principal: role:sre
    capability: io.fs.delete
    decision: ALLOW
    approvers: ["role:lead"]
  - id: get-only
    principal: "agent:*"
    capability: net.http.request
    when: { method: { in: [GET, HEAD] } }
    decision: ALLOW
`;
const CONFIG = "principals:\n  user:alice: { roles: [sre] }\n";

interface CheckJson {
  principal: string;
  roles: string[];
  capability: string;
  risk: string;
  risk_floor: string;
  decision: string;
  rule_ids: string[];
  reason: string;
  approvers: string[];
  policy: { source: string; hash: string };
}

describe("airun policy check", () => {
  it("explains an ALLOW: policy file and hash, the matching rule, the reason, and creates no database", async () => {
    const p = project(root.path, { policy: POLICY, config: CONFIG });
    const r = await p.run([
      "policy",
      "check",
      "--as",
      "agent:reader",
      "--capability",
      "io.fs.read_file",
      "--input",
      "path=reports/q1.txt",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Decision: ALLOW");
    expect(r.stdout).toContain("Rules:    agents-read-reports");
    expect(r.stdout).toContain(join(p.dir, "policies.yaml"));
    expect(r.stdout).toContain(sha256Hex(POLICY));
    expect(existsSync(join(p.dir, "home"))).toBe(false);
  });

  it("reports every matching rule and lets the DENY win against a '..' path trick (--json)", async () => {
    const p = project(root.path, { policy: POLICY, config: CONFIG });
    const { code, body } = await p.json<CheckJson>([
      "policy",
      "check",
      "--as",
      "agent:reader",
      "--capability",
      "io.fs.read_file",
      "--input",
      "path=reports//../secrets/./key",
    ]);
    expect(code).toBe(0);
    expect(body).toMatchObject({
      decision: "DENY",
      rule_ids: ["no-secrets"],
      reason: 'denied by rule "no-secrets": secrets stay put',
      policy: { source: join(p.dir, "policies.yaml"), hash: sha256Hex(POLICY) },
    });
  });

  it("takes roles from the config's principals and the risk floor from the registry (HIGH delete needs approval)", async () => {
    const p = project(root.path, { policy: POLICY, config: CONFIG });
    const { body } = await p.json<CheckJson>([
      "policy",
      "check",
      "--as",
      "user:alice",
      "--capability",
      "io.fs.delete",
    ]);
    expect(body).toMatchObject({
      roles: ["sre"],
      risk: "HIGH",
      risk_floor: "HIGH",
      decision: "REQUIRE_APPROVAL",
      rule_ids: ["sre-deletes"],
      approvers: ["role:lead"],
    });
    expect(body.reason).toMatch(/HIGH risk can never be plain ALLOW/);
  });

  it("raises the risk with --risk and feeds non-path conditions by equality", async () => {
    const p = project(root.path, { policy: POLICY, config: CONFIG });
    const base = ["policy", "check", "--as", "agent:x", "--capability", "net.http.request"];
    const get = await p.json<CheckJson>([...base, "--input", "method=GET"]);
    expect(get.body).toMatchObject({ decision: "ALLOW", risk: "LOW", rule_ids: ["get-only"] });
    const post = await p.json<CheckJson>([...base, "--input", "method=POST"]);
    expect(post.body).toMatchObject({ decision: "DENY", rule_ids: [] });
    const high = await p.json<CheckJson>([...base, "--input", "method=GET", "--risk", "high"]);
    expect(high.body).toMatchObject({ decision: "REQUIRE_APPROVAL", risk: "HIGH" });
  });

  it("says the built-in default answered when there is no policy file, and --policy overrides the config", async () => {
    const p = project(root.path, { files: { "other.yaml": POLICY } });
    const builtin = await p.json<CheckJson>([
      "policy",
      "check",
      "--as",
      "agent:x",
      "--capability",
      "io.fs.write_file",
    ]);
    expect(builtin.body).toMatchObject({
      decision: "ALLOW",
      rule_ids: ["builtin:allow-reversible"],
      policy: { source: "builtin" },
    });
    const human = await p.run([
      "policy",
      "check",
      "--as",
      "agent:x",
      "--capability",
      "sys.exec.run",
    ]);
    expect(human.stdout).toContain("Policy:   built-in default");
    expect(human.stdout).toContain("builtin:deny-irreversible");

    const other = await p.json<CheckJson>([
      "policy",
      "check",
      "--as",
      "agent:x",
      "--capability",
      "io.fs.write_file",
      "--policy",
      "other.yaml",
    ]);
    expect(other.body.policy.source).toBe(join(p.dir, "other.yaml"));
    expect(other.body.decision).toBe("DENY");
  });

  it("exits 2 for an unknown capability, a bad --risk, or a broken policy file (with file:line:col)", async () => {
    const p = project(root.path, {
      policy: POLICY,
      files: { "broken.yaml": "rules: [ { decision: MAYBE } ]\n" },
    });
    const unknown = await p.run([
      "policy",
      "check",
      "--as",
      "agent:x",
      "--capability",
      "io.fs.nope",
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown capability "io.fs.nope"/);
    const risk = await p.run([
      "policy",
      "check",
      "--as",
      "agent:x",
      "--capability",
      "sys.echo",
      "--risk",
      "extreme",
    ]);
    expect(risk.code).toBe(2);
    const broken = await p.run([
      "policy",
      "check",
      "--as",
      "agent:x",
      "--capability",
      "sys.echo",
      "--policy",
      "broken.yaml",
    ]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/broken\.yaml:1:\d+: rules\[0\]\.decision: .*MAYBE/);
  });
});

const CASES_OK = `- name: agents read reports
  principal: agent:reader
  capability: io.fs.read_file
  inputs: { path: reports/q1.txt }
  expect: ALLOW
- name: a path trick does not reach secrets
  principal: agent:reader
  capability: io.fs.read_file
  inputs: { path: "reports/../secrets/key" }
  expect: DENY
- name: sre deletes need a human
  principal: user:alice
  capability: io.fs.delete
  inputs: { path: tmp/x }
  expect: REQUIRE_APPROVAL
`;

describe("airun policy test", () => {
  it("passes every case and exits 0, printing one line per case", async () => {
    const p = project(root.path, {
      policy: POLICY,
      config: CONFIG,
      files: { "cases.yaml": CASES_OK },
    });
    const r = await p.run(["policy", "test", "cases.yaml"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("✓ agents read reports: ALLOW");
    expect(r.stdout).toContain("✓ a path trick does not reach secrets: DENY");
    expect(r.stdout).toContain("3 passed, 0 failed");
    expect(existsSync(join(p.dir, "home"))).toBe(false);
  });

  it("exits 1 on a mismatch and names the case, its line, the rules and the reason", async () => {
    const cases = `${CASES_OK}- name: alice deletes freely
  principal: user:alice
  capability: io.fs.delete
  expect: ALLOW
`;
    const p = project(root.path, {
      policy: POLICY,
      config: CONFIG,
      files: { "cases.yaml": cases },
    });
    const r = await p.run(["policy", "test", "cases.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      "✗ alice deletes freely (cases.yaml:16): expected ALLOW, got REQUIRE_APPROVAL",
    );
    expect(r.stdout).toContain("rules: sre-deletes");
    expect(r.stdout).toContain("3 passed, 1 failed");

    const { code, body } = await p.json<{
      passed: number;
      failed: number;
      results: { name: string; pass: boolean }[];
    }>(["policy", "test", "cases.yaml"]);
    expect(code).toBe(1);
    expect(body).toMatchObject({ passed: 3, failed: 1 });
    expect(body.results.filter((x) => !x.pass).map((x) => x.name)).toEqual([
      "alice deletes freely",
    ]);
  });

  it("fails the same cases without the config's roles: roles come from principals", async () => {
    const p = project(root.path, { policy: POLICY, files: { "cases.yaml": CASES_OK } });
    const r = await p.run(["policy", "test", "cases.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      "✗ sre deletes need a human (cases.yaml:11): expected REQUIRE_APPROVAL, got DENY",
    );
  });

  it("exits 2 for a malformed file, every problem as file:line:col", async () => {
    const bad = `- principal: agent:a
  capability: io.fs.read_fil
  expect: ALLOW
- principal: agent:a
  capability: sys.echo
  expect: SOMETIMES
`;
    const p = project(root.path, { policy: POLICY, files: { "bad.yaml": bad } });
    const r = await p.run(["policy", "test", "bad.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /bad\.yaml:2:\d+: \[0\]\.capability: unknown capability "io.fs.read_fil"/,
    );
    expect(r.stderr).toMatch(/bad\.yaml:6:\d+: \[1\]\.expect: /);
    const missing = await p.run(["policy", "test", "nope.yaml"]);
    expect(missing.code).toBe(2);
  });
});
