/**
 * Sessions are persisted runs (SPEC §1, §9): a session opened by an agent process that is then
 * SIGKILLed is reopened by id in another process, called on, committed, shown by the built
 * `airun workflow list|show`, and undone after the fact by `airun workflow rollback`; a call in
 * flight when the agent died is reconciled like a workflow step; a call waiting for approval is
 * decided from the CLI and its result reaches the agent that reopens the session.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ApprovalPendingError, SessionClosedError } from "../../src/core/errors.js";
import { Runtime } from "../../src/engine/runtime/runtime.js";
import { type Project, project, type RunJson, tempRoot } from "./project.js";

const root = tempRoot("session");
afterAll(() => root.cleanup());

const SDK = pathToFileURL(resolve("dist/sdk/index.js")).href;
const SLOW_MARK = resolve("test/fixtures/plugins-engine/slow-mark.mjs");

/** Runs an agent script (ESM, importing the built SDK as `sdk`) in the project; lines it prints. */
function agent(
  p: Project,
  body: string,
  /** `killWhen`: SIGKILL the agent `killAfterMs` after its output first satisfies this. */
  opts: { killWhen?: (out: string) => boolean; killAfterMs?: number } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  const file = p.write(
    `agent-${Math.random().toString(36).slice(2)}.mjs`,
    `import * as sdk from ${JSON.stringify(SDK)};\nconst rt = await sdk.Runtime.open({ cwd: ${JSON.stringify(p.dir)} });\n${body}\n`,
  );
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [file], {
      cwd: p.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    let armed = false;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!armed && opts.killWhen?.(out)) {
        armed = true;
        setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs ?? 0);
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", fail);
    child.on("close", (code, signal) => done({ code, signal, out, err }));
  });
}

const line = (out: string, key: string) => {
  const m = new RegExp(`^${key}=(.*)$`, "m").exec(out);
  if (!m?.[1]) throw new Error(`no ${key}= line in:\n${out}`);
  return m[1];
};

describe("sessions across processes", () => {
  it("reopens a session whose agent was SIGKILLed, commits it, and `airun workflow rollback` undoes it all", async () => {
    const p = project(root.path, { files: { "ws/config.json": '{"v":1}' } });
    const child = await agent(
      p,
      `const s = await rt.openSession({ principal: "agent:ops", name: "tune", governance: { budgets: { max_tool_calls: 10 } } });
await s.call("io.fs.write_file", { path: "config.json", content: '{"v":2}' });
await s.call("io.fs.append_file", { path: "journal.log", content: "tuned\\n" });
console.log("SESSION=" + s.id);
process.kill(process.pid, "SIGKILL");`,
    );
    expect(child.signal, child.err).toBe("SIGKILL");
    const id = line(child.out, "SESSION");

    const listed = await p.json<{ runs: (RunJson & { kind: string })[] }>(["workflow", "list"]);
    expect(listed.body.runs).toEqual([
      expect.objectContaining({ id, kind: "session", name: "tune", status: "RUNNING" }),
    ]);
    const human = await p.run(["workflow", "list"]);
    expect(human.stdout).toContain(`session:tune`);
    // Recovery leaves an idle open session open (resumable), never guessing it is done.
    // (--json keys are snake_case, as in every JSON output.)
    const rec = await p.json<{ runs: { run_id: string; action: string }[] }>(["recover"]);
    expect(rec.body.runs).toEqual([
      expect.objectContaining({ run_id: id, action: "skipped_open_session" }),
    ]);

    const rt = await Runtime.open({ cwd: p.dir, env: {} });
    try {
      const s = await rt.resumeSession(id);
      await s.call("io.fs.write_file", { path: "report.txt", content: "done" });
      const view = await s.commit();
      expect(view).toMatchObject({ kind: "session", status: "COMPLETED", outcome: "ACCEPT" });
    } finally {
      await rt.close();
    }
    expect(readFileSync(join(p.ws, "config.json"), "utf8")).toBe('{"v":2}');

    const shown = await p.json(["workflow", "show", id]);
    expect(shown.code).toBe(0);
    expect(shown.body).toMatchObject({ id, kind: "session", status: "COMPLETED" });
    expect(shown.body.steps.map((x) => [x.id, x.status])).toEqual([
      ["call_1", "SUCCEEDED"],
      ["call_2", "SUCCEEDED"],
      ["call_3", "SUCCEEDED"],
    ]);
    const showHuman = await p.run(["workflow", "show", id]);
    expect(showHuman.stdout).toMatch(
      new RegExp(`^COMPLETED ACCEPT  session ${id}  tune  as agent:ops`),
    );

    const undo = await p.json(["workflow", "rollback", id, "--as", "user:ops"]);
    expect(undo.code).toBe(3);
    expect(undo.body).toMatchObject({ status: "ROLLED_BACK", reason: "ROLLBACK_REQUESTED" });
    expect(readFileSync(join(p.ws, "config.json"), "utf8")).toBe('{"v":1}');
    expect(existsSync(join(p.ws, "journal.log"))).toBe(false);
    expect(existsSync(join(p.ws, "report.txt"))).toBe(false);

    const verify = await p.run(["ledger", "verify"]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 60_000);

  it("reconciles a call in flight when the agent died like a workflow step: unknowable → FAILED/IN_DOUBT after undoing the rest", async () => {
    const p = project(root.path, { config: `plugins: ["${SLOW_MARK}"]\n` });
    const child = await agent(
      p,
      `const s = await rt.openSession({ principal: "agent:ops" });
await s.call("io.fs.write_file", { path: "note.txt", content: "written" });
console.log("SESSION=" + s.id);
await s.call("demo.marks.add", { mark: "X", pause_ms: 10000 });`,
      // The mark pauses 10 s: half a second in, its intent is committed and the call in flight.
      { killWhen: (out) => out.includes("SESSION="), killAfterMs: 500 },
    );
    expect(child.signal).toBe("SIGKILL");
    const id = line(child.out, "SESSION");
    expect(existsSync(join(p.ws, "note.txt"))).toBe(true);

    const rt = await Runtime.open({ cwd: p.dir, env: {} });
    try {
      expect((await rt.getRun(id)).steps.map((x) => x.status)).toEqual(["SUCCEEDED", "RUNNING"]);
      const err = await rt.resumeSession(id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SessionClosedError);
      expect((err as SessionClosedError).end).toMatchObject({
        status: "FAILED",
        reason: "IN_DOUBT",
      });
      expect(existsSync(join(p.ws, "note.txt"))).toBe(false);
      const view = await rt.getRun(id);
      expect(view.steps.find((x) => x.id === "call_2")?.status).toBe("FAILED");
      expect((await rt.verifyLedger()).ok).toBe(true);
    } finally {
      await rt.close();
    }
  }, 60_000);

  it("delivers a call approved from the CLI to the agent that reopens the session, which then commits", async () => {
    const p = project(root.path, {
      policy: `version: 1
default: ALLOW
rules:
  - id: deletes-need-a-person
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["user:*"]
`,
      files: { "ws/stale.txt": "stale" },
    });
    const child = await agent(
      p,
      `const s = await rt.openSession({ principal: "agent:janitor" });
await s.call("io.fs.write_file", { path: "fresh.txt", content: "fresh" });
try {
  await s.call("io.fs.delete", { path: "stale.txt" }, { id: "purge" });
} catch (err) {
  if (!(err instanceof sdk.ApprovalPendingError)) throw err;
  console.log("SESSION=" + s.id);
  console.log("APPROVAL=" + err.approval.approvalId);
}
await rt.close();`,
    );
    expect(child.code, child.err).toBe(0);
    const id = line(child.out, "SESSION");
    expect(line(child.out, "APPROVAL")).toBe(`${id}/purge/1`);
    const pending = await p.json<{ approvals: { id: string }[] }>(["approvals", "list"]);
    expect(pending.body.approvals.map((a) => a.id)).toEqual([`${id}/purge/1`]);

    const rt = await Runtime.open({ cwd: p.dir, env: {} });
    try {
      const s = await rt.resumeSession(id);
      expect(s.status).toBe("WAITING_APPROVAL");
      await expect(s.call("sys.echo", {})).rejects.toBeInstanceOf(ApprovalPendingError);
      const handle = await s.pendingApproval();
      expect(handle?.stepId).toBe("purge");
      const outputs = handle!.wait({ pollMs: 50 });
      const decided = await p.json([
        "workflow",
        "resume",
        id,
        "--decision",
        "approve",
        "--as",
        "user:bob",
      ]);
      expect(decided.code).toBe(0);
      expect(decided.body.status).toBe("RUNNING");
      expect(await outputs).toMatchObject({ path: join(p.ws, "stale.txt") });
      expect(existsSync(join(p.ws, "stale.txt"))).toBe(false);
      const view = await s.commit();
      expect(view.status).toBe("COMPLETED");
      expect(view.steps.map((x) => x.status)).toEqual(["SUCCEEDED", "SUCCEEDED"]);
    } finally {
      await rt.close();
    }
  }, 60_000);
});
