/**
 * @module The PostgreSQL server tests run against: `AIRUN_TEST_POSTGRES_URL`, default
 * `postgres://postgres@127.0.0.1:5432/test` (the machine's PostgreSQL 15, trust auth). Probed
 * once per test file; where none answers, the file's PostgreSQL tests are skipped with a loud
 * message (CI starts the server first, `.ci/run`, so there they run). Each test gets a schema of
 * its own, dropped after the file.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, describe } from "vitest";

export const POSTGRES_URL =
  process.env.AIRUN_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Whether the server answers. */
export async function postgresReachable(): Promise<boolean> {
  const probe = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2_000 });
  try {
    await probe.connect();
    return true;
  } catch {
    console.warn(
      `\n!!! PostgreSQL tests SKIPPED: no server at ${POSTGRES_URL.replace(/:[^:@/]*@/, ":***@")}. ` +
        "Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) " +
        "or set AIRUN_TEST_POSTGRES_URL. CI runs them.\n",
    );
    return false;
  } finally {
    await probe.end().catch(() => undefined);
  }
}

/**
 * `describe` when the server answers, else `describe.skip` (after a loud warning), and a maker of
 * fresh schemas that are dropped after the file.
 */
export async function usePostgres(): Promise<{
  readonly describe: typeof describe | typeof describe.skip;
  newSchema(): string;
  /** The server's URL selecting `schema` (Airun's `schema=` parameter). */
  urlFor(schema: string): string;
}> {
  const reachable = await postgresReachable();
  const schemas: string[] = [];
  afterAll(async () => {
    if (!reachable || schemas.length === 0) return;
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    try {
      for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    } finally {
      await admin.end();
    }
  });
  return {
    describe: reachable ? describe : describe.skip,
    newSchema() {
      const name = `airun_t_${randomBytes(6).toString("hex")}`;
      schemas.push(name);
      return name;
    },
    urlFor: (schema) => `${POSTGRES_URL}${POSTGRES_URL.includes("?") ? "&" : "?"}schema=${schema}`,
  };
}
