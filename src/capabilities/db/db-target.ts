/**
 * @module The target databases the `db.*` capabilities change, behind one small structural
 * interface (Kysely's driver habit): a transaction runs SQL with bound parameters and returns
 * rows as JSON objects. PostgreSQL (`pg`, imported on first use, one pool per configured
 * database) and SQLite (better-sqlite3, one connection per file, its writers serialized).
 * Passwords are read from the environment when a pool opens, and never appear in a message.
 * One file (~400 lines): the two dialects side by side behind the one interface they implement.
 */
import { realpathSync } from "node:fs";
import { importModule } from "../../core/bundle-launch.js";
import type { DatabaseConfig } from "../../core/database-config.js";
import { CapabilityError } from "../../core/errors.js";
import type { JsonObject } from "../../core/json.js";
import { isWithin } from "../../core/path-within.js";

/** SQL dialect of a target: decides placeholders, quoting and the row-image expression. */
export type Dialect = "postgres" | "sqlite";

/** One open transaction on a target. */
export interface TargetTxn {
  /** Runs `sql` with bound `params`; returns its rows. */
  query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** Runs a statement that returns no rows; returns how many rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/** A configured target database. */
export interface TargetDb {
  readonly name: string;
  readonly dialect: Dialect;
  readonly maxRows: number;
  /** Opens a transaction: read-only, or a write transaction that takes the write lock. */
  begin(mode: "read" | "write"): Promise<TargetTxn>;
  close(): Promise<void>;
}

/** A database error as a capability failure (the statement is never in the message: it may carry values). */
export function dbError(name: string, err: unknown): CapabilityError {
  if (err instanceof CapabilityError) return err;
  const e = err as { message?: unknown; code?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : undefined;
  // PostgreSQL serialization failure / deadlock, SQLite busy: trying again may work.
  const retryable = code === "40001" || code === "40P01" || code === "SQLITE_BUSY";
  return new CapabilityError(
    "DB_ERROR",
    `database ${name}: ${typeof e?.message === "string" ? e.message : String(err)}`,
    { retryable, context: { database: name, ...(code ? { sqlstate: code } : {}) }, cause: err },
  );
}

interface PgClient {
  query(
    sql: string,
    params?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  release(destroy?: boolean): void;
}
interface PgPool {
  connect(): Promise<PgClient>;
  end(): Promise<void>;
  on(event: "error", listener: (err: Error) => void): void;
}

/** PostgreSQL target: a pool opened on first use. */
function postgresTarget(
  name: string,
  cfg: Extract<DatabaseConfig, { kind: "postgres" }>,
  env: Readonly<Record<string, string | undefined>>,
): TargetDb {
  let pool: Promise<PgPool> | undefined;
  const open = async (): Promise<PgPool> => {
    const mod = await importModule("pg");
    const pg = (mod.default ?? mod) as { Pool: new (c: Record<string, unknown>) => PgPool };
    const password = cfg.passwordEnv === null ? undefined : env[cfg.passwordEnv];
    if (cfg.passwordEnv !== null && password === undefined) {
      throw new CapabilityError(
        "DB_ERROR",
        `database ${name}: the environment variable ${cfg.passwordEnv} (password_env) is not set`,
        { context: { database: name } },
      );
    }
    const p = new pg.Pool({
      connectionString: cfg.url,
      ...(password === undefined ? {} : { password }),
      max: 5,
      ...(cfg.schema === null ? {} : { options: `-c search_path=${cfg.schema}` }),
    });
    p.on("error", () => undefined);
    return p;
  };
  return {
    name,
    dialect: "postgres",
    maxRows: cfg.maxRows,
    async begin(mode) {
      pool ??= open();
      let client: PgClient;
      try {
        client = await (await pool).connect();
      } catch (err) {
        pool = undefined;
        throw dbError(name, err);
      }
      try {
        await client.query(
          mode === "read" ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN",
        );
      } catch (err) {
        client.release(true);
        throw dbError(name, err);
      }
      let done = false;
      const finish = async (sql: string) => {
        if (done) return;
        done = true;
        try {
          await client.query(sql);
          client.release();
        } catch (err) {
          client.release(true);
          throw dbError(name, err);
        }
      };
      return {
        async query(sql, params = []) {
          try {
            return (await client.query(sql, [...params])).rows;
          } catch (err) {
            throw dbError(name, err);
          }
        },
        async run(sql, params = []) {
          try {
            return (await client.query(sql, [...params])).rowCount ?? 0;
          } catch (err) {
            throw dbError(name, err);
          }
        },
        commit: () => finish("COMMIT"),
        rollback: () => finish("ROLLBACK"),
      };
    },
    async close() {
      const p = pool;
      pool = undefined;
      if (p) await (await p).end().catch(() => undefined);
    },
  };
}

interface SqliteDb {
  prepare(sql: string): {
    all(...params: unknown[]): unknown[];
    run(...params: unknown[]): { changes: number };
    readonly reader: boolean;
  };
  exec(sql: string): unknown;
  pragma(source: string): unknown;
  close(): unknown;
}

/**
 * The SQLite target's file with every symlink resolved, refused unless it still lies inside one
 * of the sandbox roots (also resolved): the config's check reads the path as written, and a link
 * inside a root may point anywhere.
 */
function canonicalSqliteFile(
  name: string,
  cfg: Extract<DatabaseConfig, { kind: "sqlite" }>,
): string {
  let file: string;
  try {
    file = realpathSync(cfg.file);
  } catch (err) {
    throw dbError(name, err);
  }
  const inside = cfg.roots.some((root) => {
    try {
      return isWithin(realpathSync(root), file);
    } catch {
      return false;
    }
  });
  if (!inside) {
    throw new CapabilityError(
      "SANDBOX_VIOLATION",
      `database ${name}: ${cfg.file} resolves to ${file}, outside every sandbox root`,
      { context: { database: name } },
    );
  }
  return file;
}

/** A connection and the queue its transactions take turns in. */
interface SqliteLane {
  db: SqliteDb | undefined;
  tail: Promise<void>;
}

/**
 * SQLite target: two connections opened on first use, one for writes and one read-only (a
 * preview or a reconcile never waits behind a write held open between prepare and execute);
 * on each, transactions take turns.
 */
function sqliteTarget(name: string, cfg: Extract<DatabaseConfig, { kind: "sqlite" }>): TargetDb {
  const lanes: Record<"read" | "write", SqliteLane> = {
    read: { db: undefined, tail: Promise.resolve() },
    write: { db: undefined, tail: Promise.resolve() },
  };
  const open = async (mode: "read" | "write"): Promise<SqliteDb> => {
    const lane = lanes[mode];
    if (lane.db) return lane.db;
    const mod = await importModule("better-sqlite3");
    const Database = (mod.default ?? mod) as new (file: string, o?: object) => SqliteDb;
    try {
      const file = canonicalSqliteFile(name, cfg);
      lane.db = new Database(file, { fileMustExist: true, readonly: mode === "read" });
      lane.db.pragma("busy_timeout = 5000");
    } catch (err) {
      throw dbError(name, err);
    }
    return lane.db;
  };
  return {
    name,
    dialect: "sqlite",
    maxRows: cfg.maxRows,
    async begin(mode) {
      const lane = lanes[mode];
      // Transactions on one connection take turns: the next starts when this one ends.
      let release!: () => void;
      const turn = lane.tail;
      lane.tail = new Promise<void>((r) => {
        release = r;
      });
      await turn;
      let conn: SqliteDb;
      try {
        conn = await open(mode);
        conn.exec(mode === "read" ? "BEGIN" : "BEGIN IMMEDIATE");
      } catch (err) {
        release();
        throw dbError(name, err);
      }
      let done = false;
      const finish = async (sql: string) => {
        if (done) return;
        done = true;
        try {
          conn.exec(sql);
        } catch (err) {
          throw dbError(name, err);
        } finally {
          release();
        }
      };
      return {
        async query(sql, params = []) {
          try {
            const stmt = conn.prepare(sql);
            const bound = params.map(toSqlite);
            if (stmt.reader) {
              return (stmt.all(...bound) as Record<string, unknown>[]).map(fromSqlite);
            }
            stmt.run(...bound);
            return [];
          } catch (err) {
            throw dbError(name, err);
          }
        },
        async run(sql, params = []) {
          try {
            return conn.prepare(sql).run(...params.map(toSqlite)).changes;
          } catch (err) {
            throw dbError(name, err);
          }
        },
        commit: () => finish("COMMIT"),
        rollback: () => finish("ROLLBACK"),
      };
    },
    async close() {
      for (const lane of Object.values(lanes)) {
        await lane.tail;
        lane.db?.close();
        lane.db = undefined;
      }
    },
  };
}

/** Bytes in a row image: SQLite BLOBs travel through JSON as `{ "$base64": "..." }`. */
const BYTES_KEY = "$base64";

function toSqlite(v: unknown): unknown {
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (typeof o[BYTES_KEY] === "string" && Object.keys(o).length === 1) {
      return Buffer.from(o[BYTES_KEY] as string, "base64");
    }
    return JSON.stringify(v);
  }
  return v;
}

function fromSqlite(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    out[k] = Buffer.isBuffer(v)
      ? { [BYTES_KEY]: v.toString("base64") }
      : typeof v === "bigint"
        ? v.toString()
        : v;
  }
  return out;
}

/**
 * The configured target databases by name, each opened on first use; `close` ends them all
 * (the runtime's close).
 */
export class TargetDatabases {
  readonly #configs: Readonly<Record<string, DatabaseConfig>>;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #open = new Map<string, TargetDb>();
  readonly #held = new Map<string, { txn: TargetTxn; value: unknown; timer: NodeJS.Timeout }>();

  constructor(
    configs: Readonly<Record<string, DatabaseConfig>>,
    env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.#configs = configs;
    this.#env = env;
  }

  /** Names of the configured databases. */
  names(): string[] {
    return Object.keys(this.#configs).sort();
  }

  /** The database `name`; throws `DB_UNKNOWN` when none is configured under that name. */
  get(name: string): TargetDb {
    const open = this.#open.get(name);
    if (open) return open;
    const cfg = Object.hasOwn(this.#configs, name) ? this.#configs[name] : undefined;
    if (!cfg) {
      const known = this.names();
      throw new CapabilityError(
        "DB_UNKNOWN",
        `no database "${name}" is configured (databases: ${known.length ? known.join(", ") : "none"})`,
        { context: { database: name } },
      );
    }
    const db =
      cfg.kind === "postgres" ? postgresTarget(name, cfg, this.#env) : sqliteTarget(name, cfg);
    this.#open.set(name, db);
    return db;
  }

  /**
   * Keeps `txn` open under `key` between a write's `prepare` (which changed the rows inside it)
   * and its `execute` (which commits it), with the value `execute` returns. A transaction
   * nobody takes within `ttlMs` (the engine failed to record the intent) is rolled back.
   */
  hold(key: string, txn: TargetTxn, value: unknown, ttlMs = HOLD_TTL_MS): void {
    const old = this.#held.get(key);
    if (old) {
      clearTimeout(old.timer);
      void old.txn.rollback().catch(() => undefined);
    }
    const timer = setTimeout(() => {
      if (this.#held.get(key)?.txn !== txn) return;
      this.#held.delete(key);
      void txn.rollback().catch(() => undefined);
    }, ttlMs);
    timer.unref();
    this.#held.set(key, { txn, value, timer });
  }

  /** Takes the transaction held under `key` (undefined when none is). */
  take(key: string): { txn: TargetTxn; value: unknown } | undefined {
    const held = this.#held.get(key);
    if (!held) return undefined;
    this.#held.delete(key);
    clearTimeout(held.timer);
    return { txn: held.txn, value: held.value };
  }

  async close(): Promise<void> {
    for (const [key, held] of [...this.#held]) {
      this.#held.delete(key);
      clearTimeout(held.timer);
      await held.txn.rollback().catch(() => undefined);
    }
    const all = [...this.#open.values()];
    this.#open.clear();
    for (const db of all) await db.close();
  }
}

/** How long a prepared change waits for its commit before it is rolled back. */
const HOLD_TTL_MS = 120_000;

/** A row image: the row's columns as JSON. */
export type RowImage = JsonObject;
