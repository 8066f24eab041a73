/**
 * Issue 18, safety through the built CLI on a SQLite target: a policy rule on the number of rows
 * a call would change (`facts.rows`) asks for approval; the approval shows those rows and its
 * action hash binds them (a previewed row changed before the decision voids it); a delete
 * matching more rows than `max_rows` fails before anything changes and nobody is asked.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { type ApprovalJson, project, type RunJson, tempRoot } from "./project.js";

const root = tempRoot("db-approval");
afterAll(() => root.cleanup());

const POLICY = `version: 1
default: DENY
rules:
  - id: small-updates
    principal: "agent:*"
    capability: db.row.update
    decision: ALLOW
  - id: big-updates-need-sre
    principal: "agent:*"
    capability: db.row.update
    when: { "facts.db": app, "facts.table": people, "facts.rows": { gt: 1 } }
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
  - id: deletes
    principal: "agent:*"
    capability: db.row.delete
    decision: REQUIRE_APPROVAL
`;

const CONFIG = `principals:
  user:alice: { roles: [sre] }
databases:
  app: { sqlite: ws/app.db, max_rows: 3 }
`;

const spec = (where: string) => `name: raise
version: 1
principal: agent:e2e
steps:
  - id: raise
    capability: db.row.update
    inputs: { db: app, table: people, where: ${where}, set: { age: 99 } }
`;

function setup() {
  const p = project(root.path, { policy: POLICY, config: CONFIG });
  const db = new Database(join(p.ws, "app.db"));
  db.exec("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)");
  db.exec(
    "INSERT INTO people VALUES (1, 'ada', 36), (2, 'bob', 41), (3, 'cy', 29), (4, 'dee', 52)",
  );
  const rows = () => db.prepare("SELECT * FROM people ORDER BY id").all();
  return { p, db, rows };
}

interface ShowJson {
  approval: ApprovalJson & { action_hash: string };
  preview?: { facts: Record<string, unknown>; rows: Record<string, unknown>[] };
}

describe("airun: row-count policy, approval preview, max_rows", () => {
  it("asks an SRE to approve an update of more than one row and shows the rows; one row runs at once", async () => {
    const { p, db, rows } = setup();
    try {
      p.write("two.yaml", spec("{ age: { gte: 40 } }"));
      const two = await p.json(["run", "two.yaml"]);
      expect(two.body.status).toBe("WAITING_APPROVAL");
      expect(rows()).toContainEqual({ id: 2, name: "bob", age: 41 });
      const shown = await p.json<ShowJson>(["approvals", "show", two.body.id]);
      expect(shown.body.approval.approvers).toEqual(["role:sre"]);
      expect(shown.body.preview?.facts).toEqual({
        db: "app",
        table: "people",
        op: "update",
        rows: 2,
      });
      expect(shown.body.preview?.rows).toEqual([
        { id: 2, name: "bob", age: 41 },
        { id: 4, name: "dee", age: 52 },
      ]);
      const human = await p.run(["approvals", "show", two.body.id]);
      expect(human.stdout).toContain("would change");
      expect(human.stdout).toContain('"name":"dee"');

      const approved = await p.json<RunJson>([
        "workflow",
        "resume",
        two.body.id,
        "--decision",
        "approve",
        "--as",
        "user:alice",
      ]);
      expect(approved.body.status).toBe("COMPLETED");

      p.write("one.yaml", spec("{ id: 1 }"));
      const one = await p.json(["run", "one.yaml"]);
      expect(one.body.status).toBe("COMPLETED");
      expect(p.step(one.body, "raise").decision).toMatchObject({ rule_ids: ["small-updates"] });
      expect(rows()).toEqual([
        { id: 1, name: "ada", age: 99 },
        { id: 2, name: "bob", age: 99 },
        { id: 3, name: "cy", age: 29 },
        { id: 4, name: "dee", age: 99 },
      ]);
    } finally {
      db.close();
    }
  });

  it("voids the approval when a previewed row changed before the decision: the action hash binds the preview", async () => {
    const { p, db, rows } = setup();
    try {
      p.write("two.yaml", spec("{ age: { gte: 40 } }"));
      const two = await p.json(["run", "two.yaml"]);
      expect(two.body.status).toBe("WAITING_APPROVAL");
      const first = await p.json<ShowJson>(["approvals", "show", two.body.id]);
      db.exec("UPDATE people SET name = 'robert' WHERE id = 2");
      const after = await p.json<RunJson>([
        "workflow",
        "resume",
        two.body.id,
        "--decision",
        "approve",
        "--as",
        "user:alice",
      ]);
      // Not executed on the stale approval: asked again, showing the rows as they are now.
      expect(after.body.status).toBe("WAITING_APPROVAL");
      expect(rows()).toContainEqual({ id: 2, name: "robert", age: 41 });
      const again = await p.json<ShowJson>(["approvals", "show", two.body.id]);
      expect(again.body.approval.action_hash).not.toBe(first.body.approval.action_hash);
      expect(again.body.preview?.rows).toContainEqual({ id: 2, name: "robert", age: 41 });
    } finally {
      db.close();
    }
  });

  it("fails a delete matching more rows than max_rows before anything changes or anyone is asked", async () => {
    const { p, db, rows } = setup();
    try {
      const before = rows();
      p.write(
        "wipe.yaml",
        `name: wipe
version: 1
principal: agent:e2e
steps:
  - id: wipe
    capability: db.row.delete
    inputs: { db: app, table: people, where: { age: { gt: 0 } } }
`,
      );
      const run = await p.json(["run", "wipe.yaml"]);
      // The run fails and rolls back what it did: nothing.
      expect(run.body.status).toBe("ROLLED_BACK");
      expect(p.step(run.body, "wipe").error?.code).toBe("DB_TOO_MANY_ROWS");
      expect(
        (await p.json<{ approvals: unknown[] }>(["approvals", "list"])).body.approvals,
      ).toEqual([]);
      expect(rows()).toEqual(before);
    } finally {
      db.close();
    }
  });
});
