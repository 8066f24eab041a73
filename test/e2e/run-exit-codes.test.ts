/**
 * The built `airun run` in a temp project: every exit code of SPEC §11 with the run's real
 * effects on disk, the `--json` view, and clear usage errors on stderr.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type ApprovalJson,
  background,
  project,
  type RunJson,
  tempRoot,
  waitFor,
} from "./project.js";

const root = tempRoot("exit");
afterAll(() => root.cleanup());

const WRITE_THEN_READ = `name: write_read
version: 1
principal: agent:e2e
inputs:
  who: { type: string, default: world }
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: greeting.txt, content: "hello \${{ inputs.who }}" }
  - id: read
    capability: io.fs.read_file
    inputs: { path: "\${{ steps.write.outputs.path }}" }
`;

const EFFECTS_THEN_FAIL = `name: effects_then_fail
version: 1
principal: agent:e2e
steps:
  - id: mkdir
    capability: io.fs.make_dir
    inputs: { path: made/deeper }
  - id: overwrite
    capability: io.fs.write_file
    inputs: { path: blob.bin, content: "bmV3IGJ5dGVz", encoding: base64 }
  - id: create
    capability: io.fs.write_file
    depends_on: [mkdir]
    inputs: { path: made/deeper/new.txt, content: "fresh" }
  - id: append
    capability: io.fs.append_file
    inputs: { path: journal.log, content: "more\\n" }
  - id: boom
    capability: sys.fail
    depends_on: [overwrite, create, append]
    inputs: { message: "planned failure" }
`;

describe("airun run: exit codes and effects", () => {
  it("exits 0 with a COMPLETED ACCEPT --json view whose steps carry id, status, attempts and outputs", async () => {
    const p = project(root.path);
    p.write("wf.yaml", WRITE_THEN_READ);
    const { code, body } = await p.json(["run", "wf.yaml", "--input", "who=e2e"]);
    expect(code).toBe(0);
    expect(body).toMatchObject({
      name: "write_read",
      status: "COMPLETED",
      outcome: "ACCEPT",
      reason: "COMPLETED",
      principal: "agent:e2e",
    });
    expect(body.id).toMatch(/\S+/);
    expect(body.steps.map((s) => [s.id, s.status, s.attempts])).toEqual([
      ["write", "SUCCEEDED", 1],
      ["read", "SUCCEEDED", 1],
    ]);
    expect(p.step(body, "read").outputs).toMatchObject({ content: "hello e2e" });
    expect(readFileSync(join(p.ws, "greeting.txt"), "utf8")).toBe("hello e2e");

    const shown = await p.json(["workflow", "show", body.id]);
    expect(shown.code).toBe(0);
    expect(shown.body.status).toBe("COMPLETED");
    expect(p.step(shown.body, "write").outputs).toMatchObject({ bytes: 9 });
  });

  it("prints the run's status, id and steps in human output", async () => {
    const p = project(root.path);
    p.write("wf.yaml", WRITE_THEN_READ);
    const r = await p.run(["run", "wf.yaml"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/COMPLETED ACCEPT\s+run \S+\s+write_read v1\s+as agent:e2e/);
    expect(r.stdout).toMatch(/✓ write/);
    expect(r.stdout).toMatch(/SUCCEEDED\s+read\s+io\.fs\.read_file\s+attempts 1/);
  });

  it("exits 3 ROLLED_BACK REMEDIATE when a step fails, restoring overwritten binary bytes and appended files exactly and removing created files and folders", async () => {
    const original = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x0a, 0x0d, 0x00]);
    const p = project(root.path, {
      files: { "ws/blob.bin": original, "ws/journal.log": "first\n" },
    });
    p.write("wf.yaml", EFFECTS_THEN_FAIL);
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(3);
    expect(body).toMatchObject({
      status: "ROLLED_BACK",
      outcome: "REMEDIATE",
      reason: "STEP_FAILED",
    });
    expect(p.step(body, "boom")).toMatchObject({ status: "FAILED", error: { code: "SYS_FAIL" } });
    for (const id of ["mkdir", "overwrite", "create", "append"]) {
      expect(p.step(body, id).status, id).toBe("COMPENSATED");
    }
    expect(readFileSync(join(p.ws, "blob.bin")).equals(original)).toBe(true);
    expect(readFileSync(join(p.ws, "journal.log"), "utf8")).toBe("first\n");
    expect(existsSync(join(p.ws, "made"))).toBe(false);

    const shown = await p.json(["workflow", "show", body.id]);
    expect(shown.code).toBe(3);
    expect(shown.body.status).toBe("ROLLED_BACK");
  });

  it("runs a step's declared compensation on rollback even when its capability has no built-in undo (sys.echo)", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      `name: declared_undo
version: 1
principal: agent:e2e
steps:
  - id: create_account
    capability: sys.echo
    inputs: { account_id: acct-1 }
    compensation:
      capability: io.fs.write_file
      inputs: { path: "deleted-\${{ steps.create_account.outputs.account_id }}.txt", content: "undone" }
  - id: boom
    capability: sys.fail
    depends_on: [create_account]
    inputs: { message: "planned failure" }
`,
    );
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(3);
    expect(p.step(body, "create_account").status).toBe("COMPENSATED");
    expect(readFileSync(join(p.ws, "deleted-acct-1.txt"), "utf8")).toBe("undone");
  });

  it("exits 4 ROLLED_BACK ABSTAIN when a policy file DENYs a step, undoing the earlier write", async () => {
    const p = project(root.path, {
      policy: `version: 1
default: ALLOW
rules:
  - id: no-secrets
    principal: "*"
    capability: io.fs.write_file
    when: { path: "secrets/**" }
    decision: DENY
    reason: never write secrets
`,
    });
    p.write(
      "wf.yaml",
      `name: denied
version: 1
principal: agent:e2e
steps:
  - id: fine
    capability: io.fs.write_file
    inputs: { path: fine.txt, content: "ok" }
  - id: secret
    capability: io.fs.write_file
    depends_on: [fine]
    inputs: { path: secrets/key.txt, content: "k" }
`,
    );
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(4);
    expect(body).toMatchObject({
      status: "ROLLED_BACK",
      outcome: "ABSTAIN",
      reason: "POLICY_DENIED",
    });
    expect(p.step(body, "secret").error).toMatchObject({ code: "POLICY_DENIED" });
    expect(p.step(body, "secret").error?.message).toContain("no-secrets");
    expect(p.step(body, "fine").status).toBe("COMPENSATED");
    expect(existsSync(join(p.ws, "fine.txt"))).toBe(false);
    expect(existsSync(join(p.ws, "secrets"))).toBe(false);
  });

  it("exits 5 WAITING_APPROVAL for a HIGH-risk io.fs.delete and deletes nothing", async () => {
    const p = project(root.path, { files: { "ws/victim.txt": "keep me" } });
    p.write(
      "wf.yaml",
      `name: delete_it
version: 1
principal: agent:e2e
steps:
  - id: remove
    capability: io.fs.delete
    inputs: { path: victim.txt }
`,
    );
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(5);
    expect(body.status).toBe("WAITING_APPROVAL");
    expect(p.step(body, "remove")).toMatchObject({ status: "WAITING_APPROVAL", attempts: 0 });
    expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("keep me");
    const list = await p.json<{ approvals: ApprovalJson[] }>(["approvals", "list"]);
    expect(list.body.approvals.map((a) => [a.run_id, a.step_id])).toEqual([[body.id, "remove"]]);
  });

  it("exits 6 FAILED COMPENSATION_FAILED when an after-the-fact rollback finds its target edited since, and --force then restores the original", async () => {
    const p = project(root.path, { files: { "ws/target.txt": "ORIGINAL" } });
    p.write(
      "wf.yaml",
      `name: overwrite
version: 1
principal: agent:e2e
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: target.txt, content: "FROM RUN" }
`,
    );
    const run = await p.json(["run", "wf.yaml"]);
    expect(run.code).toBe(0);
    writeFileSync(join(p.ws, "target.txt"), "EDITED BY A HUMAN");

    const refused = await p.json<RunJson>(["workflow", "rollback", run.body.id]);
    expect(refused.code).toBe(6);
    expect(refused.body).toMatchObject({ status: "FAILED", reason: "COMPENSATION_FAILED" });
    expect(p.step(refused.body, "write").compensation?.status).toBe("REFUSED");
    expect(readFileSync(join(p.ws, "target.txt"), "utf8")).toBe("EDITED BY A HUMAN");

    const forced = await p.json<RunJson>(["workflow", "rollback", run.body.id, "--force"]);
    expect(forced.code).toBe(3);
    expect(forced.body.status).toBe("ROLLED_BACK");
    expect(readFileSync(join(p.ws, "target.txt"), "utf8")).toBe("ORIGINAL");
  });
});

describe("airun: usage errors exit 2 with a message on stderr", () => {
  const p = project(root.path);
  p.write("wf.yaml", WRITE_THEN_READ);
  p.write(
    "typed.yaml",
    'name: typed\nversion: 1\ninputs:\n  n: { type: number, required: true }\nsteps:\n  - id: e\n    capability: sys.echo\n    inputs: { n: "${{ inputs.n }}" }\n',
  );

  it.each([
    [["bogus"], /unknown command 'bogus'/],
    [["run", "wf.yaml", "--bogus"], /unknown option '--bogus'/],
    [["run", "wf.yaml", "--input", "who"], /--input expects key=value, got "who"/],
    [["run", "typed.yaml", "--input", "n=abc"], /inputs\.n: expected number, got "abc"/],
    [["run", "typed.yaml"], /inputs\.n: required input is missing/],
    [["run", "wf.yaml", "--input", "nope=1"], /inputs\.nope: unknown input/],
    [["run", "missing.yaml"], /missing\.yaml.*cannot read spec/],
    [["workflow", "show", "no-such-run"], /NOT_FOUND: run no-such-run/],
    [["workflow", "cancel", "no-such-run"], /NOT_FOUND: run no-such-run/],
    [["workflow", "rollback", "no-such-run"], /NOT_FOUND: run no-such-run/],
    [
      ["workflow", "resume", "no-such-run", "--decision", "approve", "--as", "user:bob"],
      /NOT_FOUND: run no-such-run/,
    ],
    [["workflow", "resume", "x", "--decision", "maybe"], /argument 'maybe' is invalid/],
  ])("airun %j exits 2 and explains why on stderr", async (args, message) => {
    const r = await p.run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe("");
  });

  it("records no run for any of the refused commands", async () => {
    const list = await p.json<{ runs: unknown[] }>(["workflow", "list"]);
    expect(list.body.runs).toEqual([]);
  });
});

describe("airun: errors speak in product terms, the CLI adds its hint, and a conflict is not a usage error", () => {
  it("a decision without --as exits 2 with the hint to pass it; a run another live process holds exits 1 (CONFLICT), not 2", async () => {
    const p = project(root.path);
    p.write(
      "slow.yaml",
      "name: slow\nversion: 1\nprincipal: agent:e2e\nsteps:\n  - id: nap\n    capability: sys.sleep\n    inputs: { ms: 600000 }\n",
    );
    // The nap outlasts any machine's load (the run is killed at the end), so the run is still
    // held when `resume` asks for it.
    expect((await p.run(["workflow", "list"])).code).toBe(0); // the home exists before the race
    const bg = background(["run", "slow.yaml"], p.dir);
    try {
      const runId = await waitFor("the run to start", async () => {
        const list = await p.json<{ runs: { id: string; status: string }[] }>(["workflow", "list"]);
        return list.body.runs.find((r) => r.status === "RUNNING")?.id;
      });
      const noPrincipal = await p.run(["workflow", "resume", runId, "--decision", "approve"]);
      expect(noPrincipal.code).toBe(2);
      expect(noPrincipal.stderr).toMatch(/PRINCIPAL_REQUIRED: a decision needs the principal/);
      expect(noPrincipal.stderr).toMatch(/hint: pass --as kind:id/);
      const held = await p.run(["workflow", "resume", runId]);
      expect(held.code).toBe(1);
      expect(held.stderr).toMatch(/CONFLICT: run .* is being executed by/);
      expect(held.stderr).toMatch(/hint: another process holds the run/);
    } finally {
      bg.kill();
      await bg.done;
    }
  });
});

describe("airun: the shipped binary honours no test switch", () => {
  it("runs to completion with crash and bench variables set: they reach the store only through a test harness", async () => {
    const p = project(root.path);
    p.write("wf.yaml", WRITE_THEN_READ);
    const r = await p.run(["run", "wf.yaml"], {
      AIRUN_CRASH_AT: "before:1",
      AIRUN_TEST_CRASH_AT: "before:1",
      AIRUN_BENCH_UNCHAINED_LEDGER: "1",
    });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect((await p.run(["ledger", "verify"])).code).toBe(0);
  });
});
