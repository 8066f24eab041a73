/**
 * Attack family: approval spoofing. The agent (or a colleague of the requester) wants a gated
 * action to run without the approval it needs: by approving it itself under another spelling or
 * through a role, by deciding another run's or step's approval, by deciding an approval that
 * ended (used, rejected, expired, cancelled), twice, or from two processes at once, by an
 * agent's or a forged or absent principal, or by getting a person to approve one action and
 * then changing what runs (the policy, a symlink on the path, the path of the compensation the
 * approval covers). Each case checks the effect on disk and the decisions recorded in the
 * ledger, not only the exit code.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AirunError } from "../../src/core/errors.js";
import { Runtime } from "../../src/sdk/index.js";
import {
  type ApprovalJson,
  background,
  type Project,
  project,
  type RunJson,
  tempRoot,
} from "../e2e/project.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-approval");
afterAll(() => root.cleanup());

const t = tally("approval spoofing", "approval-spoofing");

// Under the built-in policy a delete (HIGH risk) needs a person: any user:*, or the approvers.
const DELETE = (principal: string, path = "victim.txt") => `name: delete_victim
version: 1
principal: ${principal}
steps:
  - id: remove
    capability: io.fs.delete
    inputs: { path: "${path}" }
`;

const CONFIG = `principals:
  user:alice: { roles: [sre] }
  user:bob: { roles: [sre] }
  agent:helper: { roles: [sre] }
`;

type ShownRun = RunJson & { events: { type: string; data: Record<string, unknown> | null }[] };

function open(opts: { policy?: string; config?: string } = {}): Project {
  return project(root.path, {
    files: { "ws/victim.txt": "keep me" },
    config: CONFIG + (opts.config ?? ""),
    ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
  });
}

const victimGone = (p: Project, name = "victim.txt") => !existsSync(join(p.ws, name));

async function decide(
  p: Project,
  ref: string,
  decision: string,
  as?: string,
  extra: string[] = [],
) {
  return p.run([
    "workflow",
    "resume",
    ref,
    "--decision",
    decision,
    ...(as === undefined ? [] : ["--as", as]),
    ...extra,
  ]);
}

/** The run with its events. */
async function shown(p: Project, id: string): Promise<ShownRun> {
  return (await p.json<ShownRun>(["workflow", "show", id, "--events"])).body;
}

const decisions = (run: ShownRun) => run.events.filter((e) => e.type === "approval.decided");

async function start(p: Project, spec: string, as?: string): Promise<RunJson> {
  p.write("wf.yaml", spec);
  const r = await p.json<RunJson>(["run", "wf.yaml", ...(as ? ["--as", as] : [])]);
  expect(r.body.status, JSON.stringify(r.body)).toBe("WAITING_APPROVAL");
  return r.body;
}

/**
 * Tries a decision that must be refused: counts it, asserts it exited non-zero with `code` on
 * stderr, and that nothing was decided and the victim is still there.
 */
async function refusedDecision(
  p: Project,
  runId: string,
  label: string,
  args: { ref?: string; decision?: string; as?: string; extra?: string[] },
  code: RegExp,
) {
  const before = decisions(await shown(p, runId)).length;
  const r = await decide(p, args.ref ?? runId, args.decision ?? "approve", args.as, args.extra);
  const after = decisions(await shown(p, runId)).length;
  const escaped = r.code === 0 || after !== before || victimGone(p);
  t.attempt(label, escaped);
  expect(r.code, `${label}: ${r.stdout}${r.stderr}`).not.toBe(0);
  expect(r.stderr, label).toMatch(code);
  expect(after, `${label}: a decision was recorded`).toBe(before);
  expect(victimGone(p), `${label}: the victim was deleted`).toBe(false);
}

describe("attack: the requester approving its own request", () => {
  it("is refused by name, through a role it holds, with --step, and for an agent among agent approvers", async () => {
    const p = open();
    const run = await start(p, DELETE("user:alice"));
    await refusedDecision(p, run.id, "self, plainly", { as: "user:alice" }, /SELF_APPROVAL/);
    await refusedDecision(
      p,
      run.id,
      "self, naming the step",
      { as: "user:alice", extra: ["--step", "remove"] },
      /SELF_APPROVAL/,
    );
    await refusedDecision(
      p,
      run.id,
      "self, with a comment",
      { as: "user:alice", extra: ["--comment", "approved by bob"] },
      /SELF_APPROVAL/,
    );
    // The rejection side is refused too: the requester decides nothing about its request.
    await refusedDecision(
      p,
      run.id,
      "self, rejecting",
      { as: "user:alice", decision: "reject" },
      /SELF_APPROVAL/,
    );

    // alice holds role sre; approvers role:sre still do not include her own request.
    const q = open({
      policy: `version: 1
default: ALLOW
rules:
  - id: sre-deletes
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
`,
    });
    const run2 = await start(q, DELETE("user:alice"));
    await refusedDecision(
      q,
      run2.id,
      "self through role:sre",
      { as: "user:alice" },
      /SELF_APPROVAL/,
    );

    // Agents may approve where a pattern names agents, but never their own request.
    const a = open({
      policy: `version: 1
default: ALLOW
rules:
  - id: agents-review-agents
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["agent:*"]
`,
    });
    const run3 = await start(a, DELETE("agent:bot"));
    await refusedDecision(
      a,
      run3.id,
      "an agent approving itself",
      { as: "agent:bot" },
      /SELF_APPROVAL/,
    );
  }, 180_000);
});

describe("attack: a principal that may not decide", () => {
  it("refuses agents (even holding the approvers' role), forged, reserved and absent principals", async () => {
    const p = open();
    const run = await start(p, DELETE("agent:planner"));
    const cases: [string, string | undefined, RegExp][] = [
      ["another agent, default approvers (any user:*)", "agent:reviewer", /NOT_ELIGIBLE/],
      ["a service", "service:ci", /NOT_ELIGIBLE/],
      ["the timeout's own name", "system:timeout", /INVALID_PRINCIPAL/],
      ["Airun's cli principal", "system:cli", /INVALID_PRINCIPAL/],
      ["a role, not a principal", "role:sre", /INVALID_PRINCIPAL/],
      ["a wildcard", "user:*", /INVALID_PRINCIPAL/],
      ["a glob id", "user:?lice", /INVALID_PRINCIPAL/],
      ["no --as at all", undefined, /PRINCIPAL_REQUIRED|--as/],
      ["an empty --as", "", /INVALID_PRINCIPAL|--as/],
    ];
    for (const [label, as, code] of cases) {
      await refusedDecision(p, run.id, label, { ...(as !== undefined ? { as } : {}) }, code);
    }

    const q = open({
      policy: `version: 1
default: ALLOW
rules:
  - id: sre-deletes
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
`,
    });
    const run2 = await start(q, DELETE("agent:planner"));
    await refusedDecision(
      q,
      run2.id,
      "an agent holding role sre, approvers role:sre",
      { as: "agent:helper" },
      /NOT_ELIGIBLE/,
    );
    await refusedDecision(
      q,
      run2.id,
      "a user without the role",
      { as: "user:carol" },
      /NOT_ELIGIBLE/,
    );

    // Someone eligible, spelled right, approves: the gate was the only thing in the way.
    const bob = await decide(q, run2.id, "approve", "user:bob");
    expect(bob.code, bob.stderr).toBe(0);
    expect(victimGone(q)).toBe(true);
  }, 180_000);
});

describe("attack: deciding an approval that is not the pending one", () => {
  it("through the SDK, another run's or step's approval id, or a later number, decides nothing", async () => {
    const p = open();
    writeFileSync(join(p.ws, "other.txt"), "keep me too");
    const a = await start(p, DELETE("agent:planner"));
    p.write("b.yaml", DELETE("agent:planner", "other.txt").replace("id: remove", "id: wipe"));
    const b = (await p.json<RunJson>(["run", "b.yaml"])).body;
    expect(b.status).toBe("WAITING_APPROVAL");
    const rt = await Runtime.open({ cwd: p.dir, env: {} });
    try {
      const refs: [string, string][] = [
        ["run A's id with run B's step", `${a.id}/wipe/1`],
        ["run B's id with run A's step", `${b.id}/remove/1`],
        ["a later request number", `${a.id}/remove/2`],
        ["an earlier request number", `${a.id}/remove/0`],
        ["no such run", `nosuchrun/remove/1`],
        ["a path-like ref", `${a.id}/remove/1/../../${b.id}/wipe/1`],
        ["trailing slash", `${a.id}/remove/1/`],
      ];
      for (const [label, ref] of refs) {
        const err = await rt
          .decideApproval(ref, { decision: "approve", principal: "user:bob" })
          .then(
            () => null,
            (e: unknown) => e,
          );
        const escaped = err === null || victimGone(p) || victimGone(p, "other.txt");
        t.attempt(`approval id: ${label}`, escaped);
        expect(err, label).toBeInstanceOf(AirunError);
      }
      for (const id of [a.id, b.id]) expect(decisions(await shown(p, id))).toEqual([]);
      // The CLI takes a run id; an approval id is not one.
      await refusedDecision(
        p,
        a.id,
        "CLI given an approval id",
        { ref: `${a.id}/remove/1`, as: "user:bob" },
        /NOT_FOUND|not found|no run/i,
      );
      // The right id decides exactly its approval.
      const done = await rt.decideApproval(`${a.id}/remove/1`, {
        decision: "approve",
        principal: "user:bob",
      });
      expect(done.status).toBe("COMPLETED");
      expect(victimGone(p)).toBe(true);
      expect(readFileSync(join(p.ws, "other.txt"), "utf8")).toBe("keep me too");
    } finally {
      await rt.close();
    }
  }, 120_000);
});

describe("attack: deciding again, or after the approval ended", () => {
  it("a replayed approve, an approve after a reject, after a cancel and after expiry decide nothing", async () => {
    // Replayed: approved once (the file is deleted), approved again.
    const p = open();
    const run = await start(p, DELETE("agent:planner"));
    expect((await decide(p, run.id, "approve", "user:bob")).code).toBe(0);
    writeFileSync(join(p.ws, "victim.txt"), "recreated");
    await refusedDecision(
      p,
      run.id,
      "the same approve replayed",
      { as: "user:bob" },
      /NOT_WAITING|RUN_TERMINAL/,
    );
    await refusedDecision(
      p,
      run.id,
      "another approver after the fact",
      { as: "user:alice" },
      /NOT_WAITING|RUN_TERMINAL/,
    );
    expect(decisions(await shown(p, run.id))).toHaveLength(1);

    // Rejected, then approved.
    const q = open();
    const r2 = await start(q, DELETE("agent:planner"));
    expect((await decide(q, r2.id, "reject", "user:bob")).code).toBe(3);
    await refusedDecision(
      q,
      r2.id,
      "approve after a reject",
      { as: "user:alice" },
      /NOT_WAITING|RUN_TERMINAL/,
    );

    // Cancelled, then approved.
    const c = open();
    const r3 = await start(c, DELETE("agent:planner"));
    expect((await c.run(["workflow", "cancel", r3.id])).code).toBe(3);
    await refusedDecision(
      c,
      r3.id,
      "approve after a cancel",
      { as: "user:bob" },
      /NOT_WAITING|RUN_TERMINAL/,
    );
    const cancelled = (
      await c.json<{ approvals: ApprovalJson[] }>(["approvals", "list", "--run", r3.id])
    ).body;
    expect(cancelled.approvals.map((x) => x.status)).toEqual(["CANCELLED"]);

    // Expired (timeout 1ms, on_timeout reject), then approved.
    const e = open({ config: "approvals: { timeout: 1ms, on_timeout: reject }\n" });
    const r4 = await start(e, DELETE("agent:planner"));
    await new Promise((r) => setTimeout(r, 20));
    await refusedDecision(e, r4.id, "approve after expiry", { as: "user:bob" }, /APPROVAL_EXPIRED/);
    await refusedDecision(
      e,
      r4.id,
      "approve again after expiry",
      { as: "user:bob" },
      /NOT_WAITING|RUN_TERMINAL|APPROVAL_EXPIRED/,
    );
    expect((await shown(e, r4.id)).status).toBe("ROLLED_BACK");
  }, 180_000);

  it("two processes deciding at once: exactly one decision is recorded, and the effect follows it", async () => {
    const ROUNDS = 6;
    for (let i = 0; i < ROUNDS; i++) {
      const p = open();
      const run = await start(p, DELETE("agent:planner"));
      const yes = background(
        ["workflow", "resume", run.id, "--decision", "approve", "--as", "user:bob"],
        p.dir,
      );
      const no = background(
        ["workflow", "resume", run.id, "--decision", "reject", "--as", "user:alice"],
        p.dir,
      );
      const [y, n] = await Promise.all([yes.done, no.done]);
      const final = await shown(p, run.id);
      const made = decisions(final);
      const winner = made[0]?.data?.decision;
      // An escape: two decisions, or an effect that does not follow the one recorded.
      const escaped =
        made.length !== 1 ||
        (winner === "approve") !== victimGone(p) ||
        (winner === "approve" ? final.status !== "COMPLETED" : final.status !== "ROLLED_BACK");
      t.attempt(
        `race ${i}: approve (exit ${y.code}) vs reject (exit ${n.code}) → ${winner}`,
        escaped,
      );
      expect(made, `round ${i}`).toHaveLength(1);
      expect(victimGone(p), `round ${i}: ${winner}`).toBe(winner === "approve");
      expect([y.code, n.code].filter((c) => c === 0 || c === 3)).not.toHaveLength(0);
    }
    // Two approvals racing: one decision, one delete.
    for (let i = 0; i < ROUNDS; i++) {
      const p = open();
      const run = await start(p, DELETE("agent:planner"));
      const procs = ["user:bob", "user:alice"].map((as) =>
        background(["workflow", "resume", run.id, "--decision", "approve", "--as", as], p.dir),
      );
      await Promise.all(procs.map((x) => x.done));
      const final = await shown(p, run.id);
      const made = decisions(final);
      const deletes = final.events.filter((e) => e.type === "step.succeeded");
      const escaped = made.length !== 1 || deletes.length !== 1;
      t.attempt(
        `race ${i}: two approvals → ${made.length} decisions, ${deletes.length} deletes`,
        escaped,
      );
      expect(made).toHaveLength(1);
      expect(deletes).toHaveLength(1);
      expect(final.status).toBe("COMPLETED");
    }
  }, 300_000);
});

/** `a/x.txt` (scratch), `b/x.txt` (precious) and `link -> a` in `p`'s root. */
function twoFolders(p: Project): void {
  mkdirSync(join(p.ws, "a"));
  mkdirSync(join(p.ws, "b"));
  writeFileSync(join(p.ws, "a", "x.txt"), "scratch");
  writeFileSync(join(p.ws, "b", "x.txt"), "precious");
  symlinkSync("a", join(p.ws, "link"));
}

/** Re-points `link` to `b`. */
function repoint(p: Project): void {
  rmSync(join(p.ws, "link"));
  symlinkSync("b", join(p.ws, "link"));
}

/** A MEDIUM write whose compensation deletes `link/x.txt` (HIGH: the step needs a person). */
const WRITE_UNDONE_THROUGH_LINK = `principal: agent:planner
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: pub.txt, content: "hello" }
    compensation:
      capability: io.fs.delete
      inputs: { path: link/x.txt }
`;

describe("attack: approve one action, then change what runs", () => {
  const GATED = `version: 1
default: ALLOW
rules:
  - id: deletes-need-a-person
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
`;

  it("a policy edited after the request voids the approval (asked again); a DENY added then wins", async () => {
    const p = open({ policy: GATED });
    const run = await start(p, DELETE("agent:planner"));
    writeFileSync(join(p.dir, "policies.yaml"), `${GATED}# edited after the request\n`);
    const r = await p.json<RunJson>([
      "workflow",
      "resume",
      run.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    const voided = (await shown(p, run.id)).events.filter((e) => e.type === "approval.voided");
    t.attempt("approval carried over a policy edit", victimGone(p) || voided.length !== 1);
    expect(r.body.status).toBe("WAITING_APPROVAL");
    expect(voided).toHaveLength(1);
    expect(victimGone(p)).toBe(false);
    // Now the policy denies deletes: the second approval does not bypass the DENY.
    writeFileSync(
      join(p.dir, "policies.yaml"),
      `${GATED}  - id: no-deletes\n    capability: io.fs.delete\n    decision: DENY\n`,
    );
    const again = await p.json<RunJson>([
      "workflow",
      "resume",
      run.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    t.attempt(
      "an approval against a DENY added later",
      victimGone(p) || again.body.status === "COMPLETED",
    );
    expect(p.step(again.body, "remove").error?.code).toBe("POLICY_DENIED");
    expect(victimGone(p)).toBe(false);
  });

  it("a symlink on the path re-pointed after the request voids the approval: the other file survives", async () => {
    const p = open({ policy: GATED });
    twoFolders(p);
    const run = await start(p, DELETE("agent:planner", "link/x.txt"));
    repoint(p);
    const r = await p.json<RunJson>([
      "workflow",
      "resume",
      run.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    const precious = existsSync(join(p.ws, "b", "x.txt"));
    t.attempt(
      "approval carried over a re-pointed symlink",
      !precious || r.body.status !== "WAITING_APPROVAL",
    );
    expect(precious).toBe(true);
    expect(r.body.status).toBe("WAITING_APPROVAL");
    const approvals = (
      await p.json<{ approvals: ApprovalJson[] }>(["approvals", "list", "--run", run.id])
    ).body;
    expect(approvals.approvals.map((x) => x.status)).toEqual(["VOID", "PENDING"]);
  });

  it("a compensation whose path is re-pointed after the approval never touches the other file", async () => {
    const p = open({
      policy: `version: 1
default: ALLOW
`,
    });
    twoFolders(p);
    // The write is MEDIUM; its compensation, a delete (HIGH), makes the step need a person.
    const run = await start(
      p,
      `name: undo_elsewhere
version: 1
${WRITE_UNDONE_THROUGH_LINK}  - id: boom
    capability: sys.fail
    depends_on: [write]
    inputs: { message: "roll back" }
`,
    );
    repoint(p);
    let r = await p.json<RunJson>([
      "workflow",
      "resume",
      run.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    // Asked again (the approval named a/x.txt): a careless reviewer approves once more, then
    // the action really deletes b/x.txt on rollback, which that second approval showed.
    const askedAgain = r.body.status === "WAITING_APPROVAL";
    const precious = existsSync(join(p.ws, "b", "x.txt"));
    t.attempt("a compensation re-pointed after its approval", !precious || !askedAgain);
    expect(precious, "b/x.txt deleted under an approval that named a/x.txt").toBe(true);
    expect(askedAgain, `status ${r.body.status}`).toBe(true);
    const approval = (
      await p.json<{ approval: { message: string } & Record<string, unknown> }>([
        "approvals",
        "show",
        run.id,
      ])
    ).body.approval;
    expect(JSON.stringify(approval)).toContain("io.fs.delete");
    r = await p.json<RunJson>([
      "workflow",
      "resume",
      run.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    expect(r.body.status).toBe("ROLLED_BACK");
  }, 120_000);

  it("a compensation re-pointed between its approval and the rollback is refused: a person looks", async () => {
    const q = open({ policy: "version: 1\ndefault: ALLOW\n" });
    twoFolders(q);
    const run2 = await start(
      q,
      `name: undo_later
version: 1
${WRITE_UNDONE_THROUGH_LINK}  - id: ask
    type: approval
    depends_on: [write]
    message: "go on?"
  - id: boom
    capability: sys.fail
    depends_on: [ask]
    inputs: { message: "roll back" }
`,
    );
    // The first approval covers the write and its undo of a/x.txt.
    const first = await q.json<RunJson>([
      "workflow",
      "resume",
      run2.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    expect(first.body.status).toBe("WAITING_APPROVAL");
    expect(q.step(first.body, "write").status).toBe("SUCCEEDED");
    repoint(q);
    const end = await q.json<RunJson>([
      "workflow",
      "resume",
      run2.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    const kept = existsSync(join(q.ws, "b", "x.txt"));
    t.attempt("a compensation re-pointed between its approval and the rollback", !kept);
    expect(kept, "b/x.txt deleted by an undo authorized for a/x.txt").toBe(true);
    expect(end.body).toMatchObject({ status: "FAILED", reason: "COMPENSATION_FAILED" });
    expect((await q.run(["ledger", "verify"])).code).toBe(0);
  }, 120_000);
});
