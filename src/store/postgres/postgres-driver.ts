/**
 * @module The `pg` driver as the PostgreSQL store uses it: imported on first use (the default
 * install never loads it), a pool whose connections pipeline their statements and run with
 * `synchronous_commit = on` and the store's schema on their search path, BIGINT read back as numbers (epoch milliseconds and
 * ledger seqs fit in 2^53), the migration runner's connection, and the driver's errors.
 */

import { importModule } from "../../core/bundle-launch.js";
import { AirunError } from "../../core/errors.js";
import type { AppliedMigration, MigrationConnection } from "../migrations.js";
import type { EventRow } from "../rows.js";

/** The part of a `pg` query result the store reads. */
export interface PgResult {
  readonly rows: Record<string, unknown>[];
  readonly rowCount: number | null;
}

/** A pooled connection. */
export interface PgClient {
  query(sql: string, params?: unknown[]): Promise<PgResult>;
  release(): void;
}

/** A `pg` pool. */
export interface PgPool {
  connect(): Promise<PgClient>;
  query(sql: string, params?: unknown[]): Promise<PgResult>;
  end(): Promise<void>;
  on(event: "error", listener: (err: Error) => void): void;
}

/** PostgreSQL's OID of BIGINT (int8). */
const INT8_OID = 20;

/** A schema name Airun accepts: it is written into SQL and the connection's options. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Opens a pool on `url` (nothing is connected until first use). Throws `INVALID_STORE_URL` for
 * a schema name that is not a plain lower-case identifier.
 */
export async function connectPool(
  opts: { readonly url: string; readonly schema?: string; readonly poolSize?: number },
  where: string,
): Promise<PgPool> {
  if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema)) {
    throw new AirunError(
      "INVALID_STORE_URL",
      `${where}: schema ${JSON.stringify(opts.schema)} must be a lower-case identifier ([a-z_][a-z0-9_]*)`,
      { schema: opts.schema },
    );
  }
  const mod = await importModule("pg");
  const pg = (mod.default ?? mod) as {
    Pool: new (config: Record<string, unknown>) => PgPool;
  };
  const options = ["-c synchronous_commit=on"];
  if (opts.schema !== undefined) options.push(`-c search_path=${opts.schema}`);
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: Math.max(1, opts.poolSize ?? 10),
    // A statement goes out without waiting for the answers of those before it: a transaction
    // costs a round trip per answer it waits for, not one per statement (`postgres-pipeline.ts`).
    pipeline: true,
    options: options.join(" "),
    types: {
      getTypeParser: (oid: number, format: string) =>
        oid === INT8_OID ? (v: string) => Number(v) : pgTypeParser(mod, oid, format),
    },
  });
  // An idle connection that dies (server restart) must not crash the process: the next query
  // gets a fresh one or fails with its own error.
  pool.on("error", () => undefined);
  return pool;
}

function pgTypeParser(mod: Record<string, unknown>, oid: number, format: string): unknown {
  const pg = (mod.default ?? mod) as {
    types: { getTypeParser(oid: number, format?: string): unknown };
  };
  return pg.types.getTypeParser(oid, format);
}

/** True for an integrity constraint violation (SQLSTATE class 23). */
export function isPgConstraint(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("23");
}

/** A URL with any password replaced, safe for error messages. */
export function redactedUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*:)[^@/]*@/i, "$1***@");
}

/**
 * `client` as the migration runner sees it. The caller holds the advisory lock that makes one
 * process at a time migrate (PostgreSQL has no `BEGIN IMMEDIATE`).
 */
export function postgresMigrationConnection(client: PgClient): MigrationConnection {
  return {
    dialect: "postgres",
    async exec(sql) {
      if (sql.trim() !== "") await client.query(sql);
    },
    async begin() {
      await client.query("BEGIN");
    },
    async commit() {
      await client.query("COMMIT");
    },
    async rollback() {
      await client.query("ROLLBACK");
    },
    async appliedMigrations() {
      const { rows } = await client.query("SELECT id, name FROM migrations ORDER BY id");
      return rows as unknown as AppliedMigration[];
    },
    async recordMigration(m, appliedAt) {
      await client.query("INSERT INTO migrations (id, name, applied_at) VALUES ($1, $2, $3)", [
        m.id,
        m.name,
        appliedAt,
      ]);
    },
    async readEvents() {
      const { rows } = await client.query(
        "SELECT seq, at, type, run_id, step_id, data FROM events ORDER BY seq",
      );
      return rows as unknown as EventRow[];
    },
    async readEntries() {
      const { rows } = await client.query(
        "SELECT seq, at, type, run_id, step_id, data, hash FROM events ORDER BY seq",
      );
      return rows as unknown as (EventRow & { hash: string })[];
    },
    async linkEvent(seq, runSeq, runHash) {
      await client.query("UPDATE events SET run_seq = $1, run_hash = $2 WHERE seq = $3", [
        runSeq,
        runHash,
        seq,
      ]);
    },
    async rewriteEvent(seq, entry) {
      await client.query("UPDATE events SET seq = $1, data = $2, hash = $3 WHERE seq = $4", [
        entry.seq,
        entry.data,
        entry.hash,
        seq,
      ]);
    },
  };
}
