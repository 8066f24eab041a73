/**
 * Seed fidelity (issue 14) through the built CLI: steps run in the order they are listed unless
 * they declare `depends_on` (both formats); undeclared seed names resolve at run time; the
 * seed-only keys work; the original's capability, input and output names resolve in workflows
 * and policy files; plugins may use two-part names.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
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

describe("seed-only keys", () => {
  it("global_compensation_steps run after the per-step undo, the one listed last first, and are recorded as steps", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `workflow_id: with_global_undo
agent_name: writer
global_compensation_steps:
  - name: first_cleanup
    capability_name: io.fs.append_file
    inputs: { path: undo.log, content: "global first_cleanup after {{ write.path }}\\n" }
  - name: last_cleanup
    capability_name: io.fs.append_file
    inputs: { path: undo.log, content: "global last_cleanup\\n" }
steps:
  - name: write
    capability_name: io.fs.write_file
    inputs: { path: a.txt, content: "a" }
    compensation:
      capability_name: io.fs.append_file
      inputs: { path: undo.log, content: "step write undone\\n" }
  - name: boom
    capability_name: sys.fail
    inputs: { message: "fail after the write" }
`,
    );
    const v = await p.run(["validate", "wf.yaml"]);
    expect(v.code).toBe(0);
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(3);
    expect(body.status).toBe("ROLLED_BACK");
    expect(readFileSync(join(p.ws, "undo.log"), "utf8")).toBe(
      `step write undone\nglobal last_cleanup\nglobal first_cleanup after ${join(p.ws, "a.txt")}\n`,
    );
    expect(p.step(body, "global_compensation.first_cleanup").status).toBe("COMPENSATED");
    expect(p.step(body, "global_compensation.last_cleanup").status).toBe("COMPENSATED");
    expect((await p.run(["ledger", "verify"])).code).toBe(0);
  });

  it("enable_auto_rollback: false ends a failed run FAILED with its effects kept and armed; workflow rollback undoes them later", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `workflow_id: keep_effects
agent_name: writer
enable_auto_rollback: false
steps:
  - name: write
    capability_name: io.fs.write_file
    inputs: { path: kept.txt, content: "kept" }
  - name: boom
    capability_name: sys.fail
    inputs: { message: "fails" }
`,
    );
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(6);
    expect(body).toMatchObject({ status: "FAILED", reason: "STEP_FAILED" });
    expect(JSON.stringify(body.reason_detail)).toContain("enable_auto_rollback is false");
    expect(p.step(body, "write").compensation?.status).toBe("ARMED");
    expect(readFileSync(join(p.ws, "kept.txt"), "utf8")).toBe("kept");

    const rb = await p.run(["workflow", "rollback", body.id, "--as", "user:alice"]);
    expect(rb.code).toBe(3);
    const after = await p.json(["workflow", "show", body.id]);
    expect(after.body.status).toBe("ROLLED_BACK");
    expect(existsSync(join(p.ws, "kept.txt"))).toBe(false);
  });

  it("enable_auto_rollback: false still undoes a cancelled run", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `workflow_id: keep_but_cancel
agent_name: writer
enable_auto_rollback: false
steps:
  - name: write
    capability_name: io.fs.write_file
    inputs: { path: w.txt, content: "w" }
  - name: gate
    step_type: HUMAN_APPROVAL
    inputs: { message: "continue?" }
`,
    );
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(5);
    const c = await p.run(["workflow", "cancel", body.id]);
    expect(c.code).toBe(3);
    expect(existsSync(join(p.ws, "w.txt"))).toBe(false);
  });

  it("per-agent policy entries tighten the policy in force (a DENY there refuses the step) but never loosen it", async () => {
    const p = project(root.path, {
      policy: `version: 1
default: DENY
rules:
  - id: writes
    principal: "agent:*"
    capability: io.fs.write_file
    decision: ALLOW
`,
    });
    p.write(
      "deny.yaml",
      `workflow_id: tightened
agent_name: writer
policy:
  - id: no-secrets
    agent: writer
    capability: io.fs.write_file
    when: { path: "secret/**" }
    decision: DENY
steps:
  - name: ok
    capability_name: io.fs.write_file
    inputs: { path: open.txt, content: "o" }
  - name: secret
    capability_name: io.fs.write_file
    inputs: { path: secret/s.txt, content: "s", create_dirs: true }
`,
    );
    const denied = await p.json(["run", "deny.yaml"]);
    expect(denied.code).toBe(4);
    expect(denied.body.reason).toBe("POLICY_DENIED");
    expect(p.step(denied.body, "secret").decision).toMatchObject({
      decision: "DENY",
      rule_ids: ["writes", "workflow:no-secrets"],
    });
    expect(existsSync(join(p.ws, "open.txt"))).toBe(false);
    expect(existsSync(join(p.ws, "secret"))).toBe(false);

    p.write(
      "loosen.yaml",
      `workflow_id: self_granting
agent_name: writer
policy:
  - agent: writer
    capability: io.fs.append_file
    decision: ALLOW
steps:
  - name: append
    capability_name: io.fs.append_file
    inputs: { path: log.txt, content: "x" }
`,
    );
    const still = await p.json(["run", "loosen.yaml"]);
    expect(still.code).toBe(4);
    expect(still.body.reason).toBe("POLICY_DENIED");
    expect(existsSync(join(p.ws, "log.txt"))).toBe(false);

    p.write(
      "bad.yaml",
      `workflow_id: bad_policy
agent_name: writer
policy:
  - agent: writer
    capability: io.fs.write_file
    decision: MAYBE
steps:
  - name: w
    capability_name: io.fs.write_file
    inputs: { path: b.txt, content: "b" }
`,
    );
    const bad = await p.run(["validate", "bad.yaml"]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/bad\.yaml:6:\d+: policy\[0\]\.decision: unknown decision "MAYBE"/);
  });

  it("a per-agent allowlist (agent_name + allowed_capabilities) refuses what it does not list, before any effect", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `workflow_id: allowlisted
agent_name: reader
policy:
  - agent_name: reader
    allowed_capabilities: ["io.fs.read_*", "io.fs.write_file"]
steps:
  - name: write
    capability_name: io.fs.write_file
    inputs: { path: w.txt, content: "w" }
  - name: append
    capability_name: io.fs.append_file
    inputs: { path: w.txt, content: "more" }
`,
    );
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(4);
    expect(body.reason).toBe("POLICY_DENIED");
    expect(p.step(body, "write").status).toBe("COMPENSATED");
    expect(p.step(body, "append").error?.message).toContain(
      "the workflow's per-agent policy lets agent:reader use only io.fs.read_*, io.fs.write_file, not io.fs.append_file",
    );
    expect(existsSync(join(p.ws, "w.txt"))).toBe(false);
  });

  it("metadata.version is the workflow's version", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `workflow_id: versioned
metadata: { owner: alice, version: "2.1" }
steps:
  - name: hi
    capability_name: sys.echo
    inputs: { hello: world }
`,
    );
    const v = await p.run(["validate", "wf.yaml"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain("versioned v2.1");
  });

  it("the Flamehaven sovdef block governs the run, with the evidence shorthands source_refs>=2 and validator_pass=true", async () => {
    const p = project(root.path);
    const spec = (refs: string) => `workflow_id: governed
agent_name: analyst
sovdef:
  objective: "Summarize incident and propose fix"
  tools:
    allowed: ["io.fs.*", "sys.*"]
    forbidden: ["io.fs.delete"]
  evidence:
    required: ["source_refs>=2", "validator_pass=true"]
  budgets: { max_tool_calls: 10 }
  rollback: { required: true }
steps:
  - name: note
    capability_name: io.fs.write_file
    inputs: { path: summary.txt, content: "summary" }
    evidence: { source_refs: ${refs} }
  - name: check
    capability_name: sys.echo
    inputs: { ok: true }
    evidence: { validator_pass: "{{ check.ok }}" }
`;
    p.write("ok.yaml", spec('["INC-1", "INC-2"]'));
    p.write("thin.yaml", spec('["INC-1"]'));
    const ok = await p.json(["run", "ok.yaml"]);
    expect(ok.code).toBe(0);
    expect(ok.body).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
    const thin = await p.json(["run", "thin.yaml"]);
    expect(thin.code).toBe(4);
    expect(thin.body).toMatchObject({ outcome: "ABSTAIN", reason: "EVIDENCE_UNMET" });
    expect(existsSync(join(p.ws, "summary.txt"))).toBe(true); // the accepted run's file

    p.write(
      "forbidden.yaml",
      spec('["a", "b"]')
        .replace("io.fs.write_file", "io.fs.delete")
        .replace(
          'inputs: { path: summary.txt, content: "summary" }',
          "inputs: { path: summary.txt }",
        ),
    );
    const f = await p.run(["validate", "forbidden.yaml"]);
    expect(f.code).toBe(2);
    expect(f.stdout).toContain('capability "io.fs.delete" is forbidden by sovdef.tools.forbidden');
  });
});

/** The seed fixtures (test/fixtures/seed/), copied unchanged into a project with the CRM plugin. */
const SEED = resolve("test/fixtures/seed");

function seedProject(policy?: string): ReturnType<typeof project> {
  const p = project(root.path);
  p.write(
    "airun.yaml",
    `home: home
${policy ? "policy: policies.yaml\n" : ""}plugins: ["${join(SEED, "crm.mjs")}"]
sandbox:
  fs: { roots: [ws] }
  exec: { allow: [echo] }
`,
  );
  if (policy) p.write("policies.yaml", readFileSync(join(SEED, policy)));
  for (const f of ["onboard.yaml", "housekeeping.yaml", "incident.yaml"]) {
    p.write(f, readFileSync(join(SEED, f)));
  }
  return p;
}

describe("seed fixtures (every construct above), unchanged", () => {
  it("all validate; validate names the inputs they need (none) and the names read at run time", async () => {
    const p = seedProject();
    const r = await p.run(["validate", "onboard.yaml", "housekeeping.yaml", "incident.yaml"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("✓ onboard.yaml: onboard_customer v1.3");
    expect(r.stdout).toContain("{{ account_id }} resolves at run time");
    expect(r.stdout).not.toContain("inputs the run will need");
  });

  it("validate catches a reference to an output the capability does not declare, with did-you-mean", async () => {
    const p = seedProject();
    p.write(
      "typo.yaml",
      readFileSync(join(SEED, "onboard.yaml"), "utf8").replace(
        "checksum.checksum_sha256",
        "checksum.sha265",
      ),
    );
    const r = await p.run(["validate", "typo.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(
      /typo\.yaml:\d+:\d+: steps\[5\]\.inputs\.body: unresolved reference "steps\.checksum\.outputs\.sha265": io\.fs\.hash_file outputs path, sha256, bytes \(did you mean "sha256"\?\)/,
    );
  });

  it("onboard.yaml: two-part plugin capabilities, seed names and aliases run; approve completes, reject undoes everything and then the global compensation", async () => {
    const p = seedProject();
    const first = await p.json(["run", "onboard.yaml"]);
    expect(first.code).toBe(5);
    expect(first.body.principal).toBe("agent:onboarder");
    expect(p.step(first.body, "welcome").status).toBe("PENDING");
    expect(readFileSync(join(p.ws, "crm.log"), "utf8")).toBe("create ACC-1 Acme\n");
    const record = readFileSync(join(p.ws, "customers/ACC-1.txt"), "utf8");
    expect(record).toMatch(new RegExp(`^Acme ACC-1 opened by ${first.body.id} at \\d{4}-`));
    const approved = await p.json([
      "workflow",
      "resume",
      first.body.id,
      "--decision",
      "approve",
      "--as",
      "user:alice",
    ]);
    expect(approved.code).toBe(0);
    const sha = p.step(approved.body, "checksum").outputs?.sha256;
    expect(readFileSync(join(p.ws, "outbox.log"), "utf8")).toBe(
      `to=ops@acme.example subject=Welcome, Acme body=record ${sha} (${Buffer.byteLength(record)} bytes)\n`,
    );
    expect(p.step(approved.body, "listing").outputs?.entries).toMatchObject([
      { name: "ACC-1.txt" },
    ]);

    const second = await p.json(["run", "onboard.yaml"]);
    expect(second.code).toBe(5);
    const rejected = await p.json([
      "workflow",
      "resume",
      second.body.id,
      "--decision",
      "reject",
      "--as",
      "user:alice",
    ]);
    expect(rejected.code).toBe(3);
    expect(readFileSync(join(p.ws, "crm.log"), "utf8")).toBe(
      "create ACC-1 Acme\ncreate ACC-2 Acme\ndelete ACC-2\n",
    );
    expect(existsSync(join(p.ws, "customers/ACC-2.txt"))).toBe(false);
    expect(readFileSync(join(p.ws, "audit.log"), "utf8")).toBe(`rolled back ${second.body.id}\n`);
    expect((await p.run(["ledger", "verify"])).code).toBe(0);
  });

  it("housekeeping.yaml under a seed policy naming io.fs.delete_file: the delete is refused, the run ends FAILED with its effects kept, and workflow rollback undoes them", async () => {
    const p = seedProject("seed-policy.yaml");
    p.write("ws/scratch.tmp", "scratch");
    const check = await p.run([
      "policy",
      "check",
      "--as",
      "agent:janitor",
      "--capability",
      "io.fs.delete",
      "--input",
      "path=scratch.tmp",
    ]);
    expect(check.stdout).toContain("no-deletes-for-agents");
    const started = await p.json(["run", "housekeeping.yaml"]);
    // sys.run_command is sys.exec.run: HIGH risk, so the rule naming it asks a person first.
    expect(started.code).toBe(5);
    expect(p.step(started.body, "stamp").decision).toMatchObject({
      decision: "REQUIRE_APPROVAL",
      rule_ids: ["janitor-commands"],
    });
    const { code, body } = await p.json([
      "workflow",
      "resume",
      started.body.id,
      "--decision",
      "approve",
      "--as",
      "user:alice",
    ]);
    expect(code).toBe(6);
    expect(body).toMatchObject({ status: "FAILED", reason: "POLICY_DENIED" });
    expect(p.step(body, "drop_scratch").decision).toMatchObject({
      decision: "DENY",
      rule_ids: ["no-deletes-for-agents"],
    });
    expect(p.step(body, "stamp").outputs?.stdout).toBe("housekeeping ran\n");
    expect(readFileSync(join(p.ws, "archive/report.txt"), "utf8")).toBe("housekeeping ran\n");
    expect(readFileSync(join(p.ws, "scratch.tmp"), "utf8")).toBe("scratch");

    const rb = await p.run(["workflow", "rollback", body.id, "--as", "user:alice"]);
    expect(rb.code).toBe(4); // ROLLED_BACK, and a policy refusal is an ABSTAIN
    expect((await p.json(["workflow", "show", body.id])).body.status).toBe("ROLLED_BACK");
    expect(existsSync(join(p.ws, "archive"))).toBe(false);
    expect(existsSync(join(p.ws, "report.txt"))).toBe(false);
    expect(readFileSync(join(p.ws, "scratch.tmp"), "utf8")).toBe("scratch");
  });

  it("incident.yaml: the sovdef envelope accepts a run whose evidence meets the shorthands", async () => {
    const p = seedProject();
    const { code, body } = await p.json(["run", "incident.yaml"]);
    expect(code).toBe(0);
    expect(body).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
    expect(readFileSync(join(p.ws, "summary-INC-7.md"), "utf8")).toBe(
      'INC-7: see ["logs/INC-7","tickets/INC-7"]',
    );
  });
});
