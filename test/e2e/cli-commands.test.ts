/**
 * The command line as a new user meets it (issue 14): the original project's command names
 * (`workflow run`, `workflow status`, `--status PAUSED`), a decision's principal from the
 * environment or the config, policy tools that accept capabilities no plugin provides, closest
 * names for an unknown capability, `init` that says what it did, read-only commands that
 * create nothing, and an unknown command answered in one line.
 */
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { airun } from "../support/cli.js";
import { project, type RunJson, tempRoot } from "./project.js";

const root = tempRoot("cli-cmds");
afterAll(() => root.cleanup());

/** A run that waits for approval (the built-in policy asks a person before a delete). */
const WAITS = `name: waits
version: 1
principal: agent:e2e
steps:
  - id: remove
    capability: io.fs.delete
    inputs: { path: victim.txt }
`;

describe("the original's command names", () => {
  it("workflow run is run, workflow status is show", async () => {
    const p = project(root.path, { files: { "ws/victim.txt": "v" } });
    p.write("wf.yaml", WAITS);
    const started = await p.json(["workflow", "run", "wf.yaml"]);
    expect(started.code).toBe(5);
    expect(started.body.status).toBe("WAITING_APPROVAL");
    const status = await p.json(["workflow", "status", started.body.id]);
    expect(status.code).toBe(5);
    expect(status.body.id).toBe(started.body.id);
    const help = await p.run(["workflow", "--help"]);
    expect(help.stdout).toMatch(/run\|?.*<spec>|run \[options\] <spec>/);
    expect(help.stdout).toContain("status");
  });

  it("workflow list --status PAUSED lists the runs waiting for approval; an unknown status is exit 2 naming the valid ones", async () => {
    const p = project(root.path, { files: { "ws/victim.txt": "v" } });
    p.write("wf.yaml", WAITS);
    const started = await p.json(["run", "wf.yaml"]);
    const paused = await p.json<{ runs: RunJson[] }>(["workflow", "list", "--status", "PAUSED"]);
    expect(paused.code).toBe(0);
    expect(paused.body.runs.map((r) => r.id)).toEqual([started.body.id]);
    const lower = await p.json<{ runs: RunJson[] }>(["workflow", "list", "--status", "paused"]);
    expect(lower.body.runs.map((r) => r.id)).toEqual([started.body.id]);
    const done = await p.json<{ runs: RunJson[] }>(["workflow", "list", "--status", "COMPLETED"]);
    expect(done.body.runs).toEqual([]);
    const bad = await p.run(["workflow", "list", "--status", "SLEEPING"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"SLEEPING"');
    for (const s of ["WAITING_APPROVAL", "PAUSED", "COMPLETED", "ROLLED_BACK", "FAILED"]) {
      expect(bad.stderr).toContain(s);
    }
  });

  it("resume --decision without --as decides as AIRUN_PRINCIPAL, else the config's principal, and says which", async () => {
    const p = project(root.path, {
      files: { "ws/victim.txt": "v" },
      config: "principal: user:carol\n",
    });
    p.write("wf.yaml", WAITS);
    const first = await p.json(["run", "wf.yaml"]);
    const byEnv = await p.run(["workflow", "resume", first.body.id, "--decision", "reject"], {
      AIRUN_PRINCIPAL: "user:dave",
    });
    expect(byEnv.code).toBe(3);
    expect(byEnv.stderr).toContain("as user:dave (from AIRUN_PRINCIPAL)");
    const a1 = await p.json<{ approvals: { decided_by: string }[] }>([
      "approvals",
      "list",
      "--run",
      first.body.id,
    ]);
    expect(a1.body.approvals[0]?.decided_by).toBe("user:dave");

    const second = await p.json(["run", "wf.yaml"]);
    const byConfig = await p.run(["workflow", "resume", second.body.id, "--decision", "reject"]);
    expect(byConfig.code).toBe(3);
    expect(byConfig.stderr).toContain(
      `as user:carol (from principal in ${join(p.dir, "airun.yaml")})`,
    );

    const bad = await p.run(["workflow", "resume", second.body.id, "--decision", "approve"], {
      AIRUN_PRINCIPAL: "bob",
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("AIRUN_PRINCIPAL");
  });

  it("resume --decision with neither --as, AIRUN_PRINCIPAL nor a config principal names all three ways", async () => {
    const p = project(root.path, { files: { "ws/victim.txt": "v" } });
    p.write("wf.yaml", WAITS);
    const run = await p.json(["run", "wf.yaml"]);
    const r = await p.run(["workflow", "resume", run.body.id, "--decision", "approve"], {
      AIRUN_PRINCIPAL: "",
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("PRINCIPAL_REQUIRED");
    expect(r.stderr).toContain("--as");
    expect(r.stderr).toContain("AIRUN_PRINCIPAL");
    expect(r.stderr).toContain("principal:");
  });
});

describe("policy tools and unknown capabilities", () => {
  const POLICY = `version: 1
default: DENY
rules:
  - id: crm-writes
    principal: "agent:*"
    capability: "crm.*"
    decision: REQUIRE_APPROVAL
    approvers: [user:alice]
`;

  it("policy check answers for a capability no loaded plugin provides, with a warning", async () => {
    const p = project(root.path, { policy: POLICY });
    const r = await p.run([
      "policy",
      "check",
      "--as",
      "agent:sales",
      "--capability",
      "crm.create_account",
      "--input",
      "name=ACME",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Decision: REQUIRE_APPROVAL");
    expect(r.stdout).toContain("crm-writes");
    expect(r.stderr).toContain('warning: no loaded capability is named "crm.create_account"');
  });

  it("policy test runs cases naming capabilities no plugin provides, with a warning each", async () => {
    const p = project(root.path, { policy: POLICY });
    p.write(
      "cases.yaml",
      `- name: crm needs a person
  principal: agent:sales
  capability: crm.create_account
  expect: REQUIRE_APPROVAL
- name: mail is denied
  principal: agent:sales
  capability: email.send
  expect: DENY
`,
    );
    const r = await p.run(["policy", "test", "cases.yaml"]);
    expect(r.stderr).toContain('"crm.create_account"');
    expect(r.stderr).toContain('"email.send"');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("2 passed, 0 failed");
  });

  it("an unknown capability in a workflow names the closest capabilities (io.fs.delete for io.fs.delete_folder)", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      "name: x\nversion: 1\nprincipal: agent:a\nsteps:\n  - id: a\n    capability: io.fs.delete_folder\n    inputs: { path: a }\n",
    );
    const r = await p.run(["validate", "wf.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(
      /unknown capability "io\.fs\.delete_folder" \(did you mean "io\.fs\.delete"/,
    );
  });
});

describe("init", () => {
  it("init DIR prints a next command that uses DIR/airun.yaml, and a second init says which files it kept", async () => {
    const cwd = join(root.path, "init-here");
    mkdirSync(cwd);
    const first = await airun(["init", "proj"], { cwd });
    expect(first.code).toBe(0);
    const next = /next: (.*)$/m.exec(first.stdout)?.[1];
    expect(next).toContain("--config proj/airun.yaml");
    const args = (next ?? "").replace(/^airun /, "").split(" ");
    const ran = await airun([...args, "--json"], { cwd });
    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.stdout).status).toBe("COMPLETED");
    expect(existsSync(join(cwd, "proj", "out", "hello.txt"))).toBe(true);
    expect(existsSync(join(cwd, ".airun"))).toBe(false);

    const again = await airun(["init", "proj"], { cwd });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`kept ${join("proj", "airun.yaml")} (exists)`);
    expect(again.stdout).toContain(`kept ${join("proj", "policies.yaml")} (exists)`);
    expect(again.stdout).toContain(`kept ${join("proj", "workflows", "hello.yaml")} (exists)`);
  });

  it("read-only commands create no ./.airun", async () => {
    const cwd = join(root.path, "readonly");
    mkdirSync(cwd);
    for (const args of [
      ["capabilities"],
      ["workflow", "list"],
      ["approvals", "list"],
      ["ledger", "verify"],
      ["policy", "check", "--as", "user:a", "--capability", "io.fs.read_file"],
    ]) {
      const r = await airun(args, { cwd });
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      expect(readdirSync(cwd), args.join(" ")).toEqual([]);
    }
    const show = await airun(["workflow", "show", "nope"], { cwd });
    expect(show.code).toBe(2);
    expect(show.stderr).toContain("NOT_FOUND");
    expect(readdirSync(cwd)).toEqual([]);
  });
});

describe("an unknown command", () => {
  it("prints a did-you-mean and one line, not the whole help", async () => {
    const cwd = root.path;
    const typo = await airun(["worklfow", "list"], { cwd });
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("(Did you mean workflow?)");
    expect(typo.stderr).not.toContain("Usage:");
    expect(typo.stderr.trim().split("\n").length).toBeLessThanOrEqual(3);
    const sub = await airun(["workflow", "lst"], { cwd });
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain("(Did you mean list?)");
    expect(sub.stderr).not.toContain("Usage:");
  });
});
