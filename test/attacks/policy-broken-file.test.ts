/**
 * Attack: one broken policy file stops every command (issue 13, finding 8). A bad edit to
 * `policies.yaml` (by mistake, or by someone who wants the operators blind) used to make
 * `ledger verify`, `recover`, `workflow list`, `approvals list`, `capabilities` and `trace` all
 * exit 2. Commands that decide nothing do not need the policy; `run`, `resume` and
 * `policy check` still refuse, naming the broken file; `recover` decides under the last policy
 * that loaded (its text is stored, keyed by its hash) and says so on stderr.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/hash.js";
import { type ApprovalJson, project, type RunJson, tempRoot } from "../e2e/project.js";
import { airunCrashing } from "../support/crash.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-broken-policy");
afterAll(() => root.cleanup());

const t = tally("malformed input", "policy-broken-file");

// Agents may run sys.* and ask for deletes; writes are denied (the built-in policy would
// allow them: a MEDIUM write with an undo), so a recovery that forgot this policy shows.
const POLICY = `version: 1
default: DENY
rules:
  - id: sys-ok
    principal: "agent:*"
    capability: "sys.*"
    decision: ALLOW
  - id: deletes-need-a-person
    principal: "agent:*"
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
`;
const BROKEN = "version: 1\nrules: [\n";

const OK = `name: ok
version: 1
principal: agent:bot
steps:
  - id: hello
    capability: sys.echo
    inputs: { hi: there }
`;
const DELETE = `name: del
version: 1
principal: agent:bot
steps:
  - id: remove
    capability: io.fs.delete
    inputs: { path: victim.txt }
`;
const WRITE_AFTER_ECHO = `name: echo_then_write
version: 1
principal: agent:bot
steps:
  - id: hello
    capability: sys.echo
    inputs: { hi: there }
  - id: write
    capability: io.fs.write_file
    depends_on: [hello]
    inputs: { path: out.txt, content: "should never be written" }
`;

describe("attack: a broken policy file", () => {
  it(
    "does not stop the commands that decide nothing; the ones that decide refuse, naming it; recover decides under the last policy that loaded",
    async () =>
      t.guard(
        "does not stop the commands that decide nothing; the ones that decide refuse, naming it; recover decides under the last policy that loaded",
        async () => {
          const p = project(root.path, { policy: POLICY, files: { "ws/victim.txt": "keep me" } });
          p.write("ok.yaml", OK);
          p.write("del.yaml", DELETE);
          p.write("crash.yaml", WRITE_AFTER_ECHO);
          const done = await p.json<RunJson>(["run", "ok.yaml"]);
          expect(done.code).toBe(0);
          const waiting = await p.json<RunJson>(["run", "del.yaml"]);
          expect(waiting.code).toBe(5);
          // Killed right after the run is recorded: recovery will have to decide both of its steps.
          const crashed = await airunCrashing(["run", "crash.yaml"], {
            cwd: p.dir,
            crashAt: { when: "after", commit: 1 },
          });
          expect(crashed.crashed).toBe(true);

          writeFileSync(join(p.dir, "policies.yaml"), BROKEN);
          const brokenAt = /policies\.yaml:3:1: /;

          // Nothing to decide: these work as before.
          const list = await p.json<{ runs: { id: string; status: string }[] }>([
            "workflow",
            "list",
          ]);
          expect(list.code, JSON.stringify(list.body)).toBe(0);
          expect(list.body.runs).toHaveLength(3);
          const crashedId = list.body.runs.find((r) => r.status === "RUNNING")?.id as string;
          expect(crashedId).toBeDefined();
          expect((await p.run(["workflow", "show", done.body.id])).code).toBe(0);
          const approvals = await p.json<{ approvals: ApprovalJson[] }>(["approvals", "list"]);
          expect(approvals.code).toBe(0);
          expect(approvals.body.approvals.map((a) => a.run_id)).toEqual([waiting.body.id]);
          expect((await p.run(["approvals", "show", waiting.body.id])).code).toBe(0);
          const caps = await p.run(["capabilities"]);
          expect(caps.code, caps.stderr).toBe(0);
          expect(caps.stdout).toContain("io.fs.write_file");
          const trace = await p.run(["trace", done.body.id]);
          expect(trace.code, trace.stderr).toBe(0);
          const verify = await p.run(["ledger", "verify"]);
          expect(verify.code, verify.stderr).toBe(0);
          const validate = await p.run(["validate", "ok.yaml"]);
          expect(validate.code, validate.stderr).toBe(0);
          const drift = await p.run(["drift", "show", "ok.yaml"]);
          expect(drift.code, drift.stderr).toBe(0);

          // Deciding needs the policy: refused, naming the broken file and line, nothing recorded.
          const run = await p.run(["run", "ok.yaml"]);
          expect(run.code).toBe(2);
          expect(run.stderr).toMatch(brokenAt);
          const resume = await p.run([
            "workflow",
            "resume",
            waiting.body.id,
            "--decision",
            "approve",
            "--as",
            "user:bob",
          ]);
          expect(resume.code).toBe(2);
          expect(resume.stderr).toMatch(brokenAt);
          const check = await p.run([
            "policy",
            "check",
            "--as",
            "agent:bot",
            "--capability",
            "sys.echo",
          ]);
          expect(check.code).toBe(2);
          expect(check.stderr).toMatch(brokenAt);
          expect((await p.json<{ runs: unknown[] }>(["workflow", "list"])).body.runs).toHaveLength(
            3,
          );
          expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("keep me");

          // Recovery decides under the policy the run was started under, and says so.
          const good = sha256Hex(POLICY);
          const rec = await p.run(["recover"]);
          expect(rec.code, rec.stderr).toBe(0);
          expect(rec.stderr).toMatch(/policies\.yaml/);
          expect(rec.stderr).toMatch(brokenAt);
          expect(rec.stderr).toContain(good.slice(0, 12));
          const after = await p.json<RunJson>(["workflow", "show", crashedId]);
          expect(after.body).toMatchObject({ status: "ROLLED_BACK", reason: "POLICY_DENIED" });
          expect(p.step(after.body, "hello").status).toBe("SUCCEEDED");
          expect(p.step(after.body, "write").decision).toMatchObject({
            decision: "DENY",
            policy_hash: good,
          });
          expect(existsSync(join(p.ws, "out.txt"))).toBe(false);
          expect((await p.run(["ledger", "verify"])).code).toBe(0);
        },
      ),
    120_000,
  );

  it("recover with nothing to recover needs no policy at all", async () =>
    t.guard("recover with nothing to recover needs no policy at all", async () => {
      const p = project(root.path, { policy: BROKEN });
      p.write("ok.yaml", OK);
      const run = await p.run(["run", "ok.yaml"]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/policies\.yaml:3:1: /);
      const rec = await p.run(["recover"]);
      expect(rec.code, rec.stderr).toBe(0);
      expect(rec.stdout).toContain("nothing to recover");
      expect((await p.json<{ runs: unknown[] }>(["workflow", "list"])).body.runs).toEqual([]);
    }));
});
