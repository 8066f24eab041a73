/**
 * Hot reload as a user meets it: `airun run` is executing a workflow (a sys.sleep between two
 * steps) when someone edits the policy file; the step that starts afterwards is judged by the new
 * policy, in the same process, and the reload is in the ledger. A broken edit is refused.
 */
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/hash.js";
import { background, type Project, project, tempRoot, waitFor } from "./project.js";

const root = tempRoot("policy-reload");
afterAll(() => root.cleanup());

const ALLOW = `version: 1
rules:
  - { id: work, principal: "agent:*", capabilities: ["sys.*", "io.fs.*"], decision: ALLOW }
`;
const FREEZE = `${ALLOW}  - { id: freeze, capability: io.fs.write_file, decision: DENY, reason: release freeze }
`;
const SPEC = `name: nap-then-write
version: 1
principal: agent:bot
steps:
  - id: first
    capability: io.fs.write_file
    inputs: { path: first.txt, content: one }
  - id: nap
    capability: sys.sleep
    depends_on: [first]
    inputs: { ms: 2500 }
  - id: second
    capability: io.fs.write_file
    depends_on: [nap]
    inputs: { path: second.txt, content: two }
`;

function rows<T>(p: Project, sql: string): T[] {
  const file = join(p.dir, "home", "airun.db");
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    // The child may have created the file but not yet committed its schema.
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'events'").get()) return [];
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

/** Saves like an editor: a temp file renamed over the policy. */
function atomicSave(p: Project, text: string): void {
  const tmp = join(p.dir, ".policies.yaml.tmp");
  writeFileSync(tmp, text);
  renameSync(tmp, join(p.dir, "policies.yaml"));
}

describe("policy hot reload in a running airun process", () => {
  it("judges the step after the edit by the new policy: exit 4, the first write undone, the reload recorded", async () => {
    const p = project(root.path, { policy: ALLOW, files: { "wf.yaml": SPEC } });
    const run = background(["run", "wf.yaml", "--json"], p.dir);
    // Wait until the first step is done and the nap is under way.
    await waitFor("the first step", async () =>
      rows(p, "SELECT 1 FROM events WHERE type = 'step.succeeded'").length > 0 ? true : undefined,
    );
    atomicSave(p, FREEZE);
    const done = await run.done;

    expect(done.code).toBe(4);
    const view = JSON.parse(done.stdout) as {
      reason: string;
      steps: { id: string; decision: Record<string, unknown> | null }[];
    };
    expect(view.reason).toBe("POLICY_DENIED");
    const first = view.steps.find((s) => s.id === "first");
    const second = view.steps.find((s) => s.id === "second");
    expect(first?.decision).toMatchObject({ decision: "ALLOW", policy_hash: sha256Hex(ALLOW) });
    expect(second?.decision).toMatchObject({
      decision: "DENY",
      rule_ids: ["work", "freeze"],
      policy_hash: sha256Hex(FREEZE),
    });
    expect(existsSync(join(p.ws, "first.txt"))).toBe(false);
    expect(existsSync(join(p.ws, "second.txt"))).toBe(false);
    const events = rows<{ run_id: string | null; data: string }>(
      p,
      "SELECT run_id, data FROM events WHERE type = 'policy.loaded'",
    );
    expect(events).toHaveLength(1);
    expect(events[0]?.run_id).toBeNull();
    expect(JSON.parse(events[0]?.data ?? "{}")).toMatchObject({
      hash: sha256Hex(FREEZE),
      previous_hash: sha256Hex(ALLOW),
    });
  });

  it("refuses a broken edit mid-run: the old policy stays in force and the refusal is recorded", async () => {
    const p = project(root.path, { policy: ALLOW, files: { "wf.yaml": SPEC } });
    const run = background(["run", "wf.yaml", "--json"], p.dir);
    await waitFor("the first step", async () =>
      rows(p, "SELECT 1 FROM events WHERE type = 'step.succeeded'").length > 0 ? true : undefined,
    );
    atomicSave(
      p,
      "version: 1\nrules:\n  - { id: x, capability: io.fs.write_file, decision: DENYY }\n",
    );
    const done = await run.done;

    expect(done.code).toBe(0);
    expect(existsSync(join(p.ws, "second.txt"))).toBe(true);
    const refused = rows<{ data: string }>(
      p,
      "SELECT data FROM events WHERE type = 'policy.reload_refused'",
    );
    expect(refused).toHaveLength(1);
    const data = JSON.parse(refused[0]?.data ?? "{}") as { error: string; kept_hash: string };
    expect(data.kept_hash).toBe(sha256Hex(ALLOW));
    expect(data.error).toMatch(/policies\.yaml:3:\d+: rules\[0\]\.decision: .*DENYY/);
  });
});
