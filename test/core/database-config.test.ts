/** The `databases:` config section: compiled connections, and the mistakes it refuses by line. */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { compileConfig } from "../../src/core/config.js";
import { ValidationError } from "../../src/core/errors.js";

const cwd = path.resolve("/tmp/airun-dbcfg");
const compile = (text: string) => compileConfig({ file: "airun.yaml", text }, { cwd, env: {} });

function problemsOf(text: string) {
  try {
    compile(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).problems.map((p) => [p.line, p.field, p.message]);
  }
  throw new Error("expected a ValidationError");
}

describe("databases: config", () => {
  it("compiles a PostgreSQL URL (schema= moved out) and a SQLite file inside a sandbox root", () => {
    const c = compile(`sandbox: { fs: { roots: [ws] } }
databases:
  crm: { url: "postgres://app@db.internal:5432/crm?schema=sales&sslmode=disable", password_env: CRM_PW }
  local: { sqlite: ws/app.db, max_rows: 10 }
`);
    expect(c.databases).toEqual({
      crm: {
        kind: "postgres",
        url: "postgres://app@db.internal:5432/crm?sslmode=disable",
        schema: "sales",
        passwordEnv: "CRM_PW",
        maxRows: 1000,
      },
      local: {
        kind: "sqlite",
        file: path.join(cwd, "ws/app.db"),
        roots: [path.join(cwd, "ws")],
        maxRows: 10,
      },
    });
  });

  it("refuses a password in the URL, a SQLite file outside the sandbox and a half-given entry, by line", () => {
    const problems = problemsOf(`sandbox: { fs: { roots: [ws] } }
databases:
  crm: { url: "postgres://app:hunter2@db/crm" }
  outside: { sqlite: ../elsewhere.db }
  none: { max_rows: 5 }
`);
    expect(problems.map(([line]) => line)).toEqual([3, 4, 5]);
    expect(String(problems[0]?.[2])).toContain("password_env");
    expect(String(problems[1]?.[2])).toContain("sandbox root");
    expect(String(problems[2]?.[2])).toContain("exactly one of url");
    expect(JSON.stringify(problems)).not.toContain("hunter2");
  });
});
