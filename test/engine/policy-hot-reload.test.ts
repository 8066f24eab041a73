/**
 * Hot reload of the policy file inside a live Runtime: steps not yet started are judged by the
 * new policy, a broken file is refused (the old policy stays, an event is recorded), an atomic
 * editor save is picked up, and pending approvals are checked again (the stricter answer wins).
 */
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/hash.js";
import { Runtime } from "../../src/engine/runtime/runtime.js";
import { type Workspace, workspace } from "./helpers.js";

const ALLOW_ALL = `version: 1
rules:
  - id: allow-work
    principal: "agent:*"
    capabilities: ["sys.*", "io.fs.*"]
    decision: ALLOW
`;

const DENY_WRITES = `version: 1
rules:
  - id: allow-work
    principal: "agent:*"
    capabilities: ["sys.*", "io.fs.*"]
    decision: ALLOW
  - id: freeze-writes
    capability: io.fs.write_file
    decision: DENY
    reason: change freeze
`;

const APPROVE_WRITES = `version: 1
rules:
  - id: allow-sys
    principal: "agent:*"
    capability: "sys.*"
    decision: ALLOW
  - id: approve-writes
    principal: "agent:*"
    capability: io.fs.write_file
    decision: REQUIRE_APPROVAL
    approvers: ["user:bob"]
`;

const SLEEP_THEN_WRITE = `name: sleepy
version: 1
principal: agent:bot
steps:
  - id: hello
    capability: sys.echo
    inputs: { hi: there }
  - id: nap
    capability: sys.sleep
    depends_on: [hello]
    inputs: { ms: 1500 }
  - id: write
    capability: io.fs.write_file
    depends_on: [nap]
    inputs: { path: out.txt, content: hello }
`;

const WRITE_ONLY = `name: gated
version: 1
principal: agent:bot
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: out.txt, content: hello }
`;

interface PolicyEvent {
  type: string;
  run_id: string | null;
  data: Record<string, unknown>;
}

/** Policy events as committed in the database (read with a second, read-only connection). */
function policyEvents(w: Workspace): PolicyEvent[] {
  const file = join(w.home, "airun.db");
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare("SELECT type, run_id, data FROM events WHERE type LIKE 'policy.%' ORDER BY seq")
      .all() as { type: string; run_id: string | null; data: string }[];
    return rows.map((r) => ({ type: r.type, run_id: r.run_id, data: JSON.parse(r.data) }));
  } finally {
    db.close();
  }
}

async function until<T>(what: string, check: () => T | undefined, timeoutMs = 8_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function waitForEvent(w: Workspace, type: string, count = 1): Promise<PolicyEvent> {
  return until(`${count} ${type} event(s)`, () => {
    const found = policyEvents(w).filter((e) => e.type === type);
    return found.length >= count ? found[count - 1] : undefined;
  });
}

let w: Workspace;
let rt: Runtime | undefined;

afterEach(async () => {
  await rt?.close();
  rt = undefined;
  await w.cleanup();
});

describe("policy hot reload in a running Runtime", () => {
  it("judges a step that starts after the policy file changed mid-run by the new policy", async () => {
    w = await workspace({ policy: ALLOW_ALL });
    const spec = await w.spec("wf.yaml", SLEEP_THEN_WRITE);
    let helloDone: () => void = () => undefined;
    const hello = new Promise<void>((r) => {
      helloDone = r;
    });
    rt = await Runtime.open({
      cwd: w.dir,
      env: {},
      onProgress: (e) => {
        if (e.type === "step.succeeded" && e.stepId === "hello") helloDone();
      },
    });
    const running = rt.startRun({ specFile: spec });
    await hello; // the run is under way, the nap next
    writeFileSync(join(w.dir, "policies.yaml"), DENY_WRITES);
    const view = await running;

    expect(view.status).toBe("ROLLED_BACK");
    expect(view.outcome).toBe("ABSTAIN");
    expect(view.reason).toBe("POLICY_DENIED");
    const first = view.steps.find((s) => s.id === "hello");
    const write = view.steps.find((s) => s.id === "write");
    expect(first?.decision).toMatchObject({ policy_hash: sha256Hex(ALLOW_ALL) });
    expect(write?.decision).toMatchObject({
      decision: "DENY",
      rule_ids: ["allow-work", "freeze-writes"],
      policy_hash: sha256Hex(DENY_WRITES),
    });
    expect(existsSync(join(w.ws, "out.txt"))).toBe(false);
    const loaded = await waitForEvent(w, "policy.loaded");
    expect(loaded).toMatchObject({
      run_id: null,
      data: { hash: sha256Hex(DENY_WRITES), previous_hash: sha256Hex(ALLOW_ALL), rules: 2 },
    });
  });

  it("refuses a broken policy file: the old policy stays in force and policy.reload_refused names file:line:col", async () => {
    w = await workspace({ policy: ALLOW_ALL });
    const spec = await w.spec("wf.yaml", WRITE_ONLY);
    rt = await w.open();
    writeFileSync(
      join(w.dir, "policies.yaml"),
      "version: 1\nrules:\n  - id: oops\n    capability: io.fs.write_file\n    decision: MAYBE\n",
    );
    const refused = await waitForEvent(w, "policy.reload_refused");
    expect(refused.run_id).toBeNull();
    expect(refused.data.kept_hash).toBe(sha256Hex(ALLOW_ALL));
    expect(String(refused.data.error)).toMatch(
      /policies\.yaml:5:15: rules\[0\]\.decision: .*MAYBE/,
    );

    const view = await rt.startRun({ specFile: spec });
    expect(view.status).toBe("COMPLETED");
    expect(view.steps[0]?.decision).toMatchObject({
      decision: "ALLOW",
      policy_hash: sha256Hex(ALLOW_ALL),
    });
    expect(policyEvents(w).filter((e) => e.type === "policy.loaded")).toHaveLength(0);
  });

  it("picks up an atomic editor save (a new file renamed over the policy)", async () => {
    w = await workspace({ policy: ALLOW_ALL });
    const spec = await w.spec("wf.yaml", WRITE_ONLY);
    rt = await w.open();
    const tmp = join(w.dir, ".policies.yaml.swp");
    writeFileSync(tmp, DENY_WRITES);
    renameSync(tmp, join(w.dir, "policies.yaml"));
    const loaded = await waitForEvent(w, "policy.loaded");
    expect(loaded.data.hash).toBe(sha256Hex(DENY_WRITES));

    const view = await rt.startRun({ specFile: spec });
    expect(view.reason).toBe("POLICY_DENIED");
    expect(existsSync(join(w.ws, "out.txt"))).toBe(false);
  });

  it("records nothing after close: the watcher is gone", async () => {
    w = await workspace({ policy: ALLOW_ALL });
    rt = await w.open();
    await rt.close();
    rt = undefined;
    writeFileSync(join(w.dir, "policies.yaml"), DENY_WRITES);
    await new Promise((r) => setTimeout(r, 400));
    expect(policyEvents(w)).toEqual([]);
  });
});

describe("pending approvals are checked again against a reloaded policy", () => {
  it("denies a step approved under the old policy when the new policy says DENY", async () => {
    w = await workspace({ policy: APPROVE_WRITES });
    const spec = await w.spec("wf.yaml", WRITE_ONLY);
    rt = await w.open();
    const waiting = await rt.startRun({ specFile: spec });
    expect(waiting.status).toBe("WAITING_APPROVAL");

    writeFileSync(join(w.dir, "policies.yaml"), DENY_WRITES);
    await waitForEvent(w, "policy.loaded");
    const view = await rt.resume(waiting.id, { decision: "approve", principal: "user:bob" });

    expect(view.status).toBe("ROLLED_BACK");
    expect(view.reason).toBe("POLICY_DENIED");
    expect(existsSync(join(w.ws, "out.txt"))).toBe(false);
  });

  it("keeps a rejection even when the new policy says ALLOW: the step never runs", async () => {
    w = await workspace({ policy: APPROVE_WRITES });
    const spec = await w.spec("wf.yaml", WRITE_ONLY);
    rt = await w.open();
    const waiting = await rt.startRun({ specFile: spec });
    expect(waiting.status).toBe("WAITING_APPROVAL");

    writeFileSync(join(w.dir, "policies.yaml"), ALLOW_ALL);
    await waitForEvent(w, "policy.loaded");
    const view = await rt.resume(waiting.id, { decision: "reject", principal: "user:bob" });

    expect(view.status).toBe("ROLLED_BACK");
    expect(view.reason).toBe("APPROVAL_REJECTED");
    expect(existsSync(join(w.ws, "out.txt"))).toBe(false);
  });

  it("asks again when the new policy says ALLOW for an approved step: an approval is bound to the policy it was granted under", async () => {
    w = await workspace({ policy: APPROVE_WRITES });
    const spec = await w.spec("wf.yaml", WRITE_ONLY);
    rt = await w.open();
    const waiting = await rt.startRun({ specFile: spec });

    writeFileSync(join(w.dir, "policies.yaml"), ALLOW_ALL);
    await waitForEvent(w, "policy.loaded");
    const again = await rt.resume(waiting.id, { decision: "approve", principal: "user:bob" });
    expect(again.status).toBe("WAITING_APPROVAL");
    expect(existsSync(join(w.ws, "out.txt"))).toBe(false);
    expect(again.steps[0]?.decision).toMatchObject({
      approval: { id: `${waiting.id}/write/2`, status: "PENDING" },
    });

    const done = await rt.resume(waiting.id, { decision: "approve", principal: "user:bob" });
    expect(done.status).toBe("COMPLETED");
    expect(done.steps[0]?.decision).toMatchObject({ policy_hash: sha256Hex(ALLOW_ALL) });
    expect(existsSync(join(w.ws, "out.txt"))).toBe(true);
  });
});
