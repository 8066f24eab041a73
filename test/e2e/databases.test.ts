/**
 * Issue 18 through the built CLI: a workflow that inserts, updates and deletes rows of a real
 * PostgreSQL table and of a real SQLite file, then fails — after the rollback each table is
 * identical to before, row by row. Drift: a row changed by someone else after the run is not
 * overwritten by `workflow rollback` (FAILED / COMPENSATION_FAILED) and `--force` restores it.
 * The password named by `password_env` never lands in Airun's state or output.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { POSTGRES_URL, usePostgres } from "../support/postgres.js";
import { type Project, project, type RunJson, tempRoot } from "./project.js";

const root = tempRoot("databases");
afterAll(() => root.cleanup());
const pgSupport = await usePostgres();

const PASSWORD = "pw-canary-7f3a9c";

const WORKFLOW = `name: crm-change
version: 1
principal: agent:e2e
steps:
  - id: add
    capability: db.row.insert
    inputs: { db: app, table: people, rows: [{ id: 10, name: eve, age: 20 }, { id: 11, name: fay }] }
  - id: raise
    capability: db.row.update
    inputs: { db: app, table: people, where: { age: { gte: 40 } }, set: { age: 99, name: old } }
  - id: drop
    capability: db.row.delete
    inputs: { db: app, table: people, where: { id: { in: [1, 3] } } }
  - id: boom
    capability: sys.fail
    inputs: { message: "something went wrong after the changes" }
`;

const UPDATE_ONLY = `name: raise
version: 1
principal: agent:e2e
steps:
  - id: raise
    capability: db.row.update
    inputs: { db: app, table: people, where: { id: 2 }, set: { age: 1 } }
`;

/** A target table `people` and how to read it back. */
interface Target {
  readonly config: string;
  rows(): Promise<unknown[]>;
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

async function sqliteTarget(p: Project): Promise<Target> {
  const db = new Database(join(p.ws, "app.db"));
  db.exec(
    "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER, photo BLOB)",
  );
  db.exec(
    "INSERT INTO people VALUES (1, 'ada', 36, x'00ff10'), (2, 'bob', 41, NULL), (3, 'cy', 29, NULL), (4, 'quinn', 52, NULL)",
  );
  return {
    config: "databases:\n  app: { sqlite: ws/app.db }\n",
    rows: async () => db.prepare("SELECT * FROM people ORDER BY id").all(),
    exec: async (sql) => void db.exec(sql),
    close: async () => void db.close(),
  };
}

async function postgresTarget(): Promise<Target> {
  const schema = pgSupport.newSchema();
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.query(`SET search_path = ${schema}`);
  await c.query(
    "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER, seen TIMESTAMPTZ DEFAULT now(), doc JSONB, photo BYTEA)",
  );
  await c.query(
    `INSERT INTO people (id, name, age, doc, photo) VALUES (1, 'ada', 36, '{"k": [1, "two"]}', '\\x00ff10'), (2, 'bob', 41, NULL, NULL), (3, 'cy', 29, NULL, NULL), (4, 'quinn', 52, NULL, NULL)`,
  );
  return {
    config: `databases:\n  app: { url: "${pgSupport.urlFor(schema)}", password_env: APP_PW }\n`,
    rows: async () => (await c.query("SELECT * FROM people ORDER BY id")).rows,
    exec: async (sql) => void (await c.query(sql)),
    close: () => c.end(),
  };
}

/** Every file under `dir`, read as text (to look for the password). */
function allText(dir: string): string {
  let out = "";
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    out += statSync(path).isDirectory() ? allText(path) : readFileSync(path).toString("latin1");
  }
  return out;
}

const suites: [string, (p: Project) => Promise<Target>, typeof pgSupport.describe][] = [
  ["SQLite", sqliteTarget, describe],
  ["PostgreSQL", () => postgresTarget(), pgSupport.describe],
];

for (const [label, makeTarget, suite] of suites) {
  suite(`airun run: db.row.* on a ${label} target`, () => {
    it("rolls back inserts, updates and deletes of a failed run: the table is identical row by row", async () => {
      const p = project(root.path);
      const target = await makeTarget(p);
      try {
        // Audit level BASIC: counts and hashes, no row in clear anywhere in Airun's state.
        p.write(
          "airun.yaml",
          `${readFileSync(join(p.dir, "airun.yaml"), "utf8")}${target.config}audit: { level: BASIC }\n`,
        );
        p.write("wf.yaml", WORKFLOW);
        const before = await target.rows();
        const env = { APP_PW: PASSWORD };
        const started = await p.run(["run", "wf.yaml", "--json"], env);
        const waiting = JSON.parse(started.stdout) as RunJson;
        // The delete is HIGH risk: a person approves it.
        expect(waiting.status).toBe("WAITING_APPROVAL");
        expect(p.step(waiting, "add").status).toBe("SUCCEEDED");
        expect(p.step(waiting, "raise").outputs).toMatchObject({ count: 2 });
        const resumed = await p.run(
          ["workflow", "resume", waiting.id, "--decision", "approve", "--as", "user:bob", "--json"],
          env,
        );
        const done = JSON.parse(resumed.stdout) as RunJson;
        expect(done.status).toBe("ROLLED_BACK");
        expect(p.step(done, "drop").outputs).toMatchObject({ count: 2 });
        for (const id of ["add", "raise", "drop"]) {
          expect(p.step(done, id).compensation).toMatchObject({ kind: "builtin", status: "DONE" });
        }
        expect(await target.rows()).toEqual(before);
        expect(allText(join(p.dir, "home"))).not.toContain(PASSWORD);
        expect(started.stdout + started.stderr + resumed.stdout + resumed.stderr).not.toContain(
          PASSWORD,
        );
        // The before-images are sealed at rest: no value of a changed row is in Airun's state
        // (a name no hex digest can contain: the state holds many).
        expect(allText(join(p.dir, "home"))).not.toContain("quinn");
      } finally {
        await target.close();
      }
    });

    it("does not overwrite a row changed after the run (COMPENSATION_FAILED); rollback --force restores it", async () => {
      const p = project(root.path);
      const target = await makeTarget(p);
      try {
        p.write("airun.yaml", `${readFileSync(join(p.dir, "airun.yaml"), "utf8")}${target.config}`);
        p.write("wf.yaml", UPDATE_ONLY);
        const before = await target.rows();
        const env = { APP_PW: PASSWORD };
        const run = JSON.parse((await p.run(["run", "wf.yaml", "--json"], env)).stdout) as RunJson;
        expect(run.status).toBe("COMPLETED");
        await target.exec("UPDATE people SET age = 77 WHERE id = 2");
        const refused = await p.run(["workflow", "rollback", run.id, "--json"], env);
        expect(refused.code).toBe(6);
        const rb = JSON.parse(refused.stdout) as RunJson;
        expect(rb).toMatchObject({ status: "FAILED", reason: "COMPENSATION_FAILED" });
        expect(p.step(rb, "raise").compensation?.status).toBe("REFUSED");
        expect((await target.rows()).map((r) => (r as { age: number }).age)).toEqual([
          36, 77, 29, 52,
        ]);
        const forced = await p.run(["workflow", "rollback", run.id, "--force", "--json"], env);
        expect(JSON.parse(forced.stdout).status).toBe("ROLLED_BACK");
        expect(await target.rows()).toEqual(before);
      } finally {
        await target.close();
      }
    });
  });
}

describe("airun run: db.sql.execute under the built-in policy", () => {
  it("is denied as irreversible (no declared compensation) and changes nothing", async () => {
    const p = project(root.path);
    const target = await sqliteTarget(p);
    try {
      p.write("airun.yaml", `${readFileSync(join(p.dir, "airun.yaml"), "utf8")}${target.config}`);
      p.write(
        "wf.yaml",
        `name: raw
version: 1
principal: agent:e2e
steps:
  - id: wipe
    capability: db.sql.execute
    inputs: { db: app, sql: "DELETE FROM people" }
`,
      );
      const before = await target.rows();
      const run = await p.json(["run", "wf.yaml"]);
      expect(p.step(run.body, "wipe").error?.code).toBe("POLICY_DENIED");
      expect(p.step(run.body, "wipe").decision).toMatchObject({
        rule_ids: ["builtin:deny-irreversible"],
      });
      expect(await target.rows()).toEqual(before);
    } finally {
      await target.close();
    }
  });
});
