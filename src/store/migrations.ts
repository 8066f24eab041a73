/**
 * @module The database schema as numbered, named migrations in code, with SQL per dialect, and
 * the connection a dialect gives the migration runner (`migrate.ts`) to apply them. A store
 * applies, at open and inside one transaction, every migration whose id is above the highest id
 * recorded in its `migrations` table, and refuses to open a database whose schema is newer than
 * the newest migration it knows. Migrations are append-only: never edit a shipped one, add the
 * next number.
 *
 * The schema maps one-to-one onto PostgreSQL (each migration's `postgres` SQL; an empty string
 * where migration 1 already made that dialect's schema final): TEXT stays TEXT, INTEGER epoch milliseconds become BIGINT, BLOB becomes
 * BYTEA, `WITHOUT ROWID` tables are plain tables, the ledger's `seq` (numbered by the store)
 * is a BIGINT primary key, and partial indexes and `ON CONFLICT … DO UPDATE` exist in both. JSON columns are TEXT holding the
 * exact string written (not JSONB), so a later ledger can hash-chain `events.data` verbatim.
 * Foreign keys are immediate (not deferred): a deferred violation would only surface at the
 * physical COMMIT and fail every batch of a group commit instead of the offending one.
 */
import { chainExistingEvents, type EventRewriter, linkExistingRunChains } from "./ledger-chain.js";

/** One schema migration. */
export interface Migration {
  /** Schema version this migration brings the database to; 1, 2, 3, … without gaps. */
  readonly id: number;
  /** Short snake_case name, recorded next to the id. */
  readonly name: string;
  /** The DDL per dialect. Each string may hold several statements. */
  readonly sql: { readonly sqlite: string; readonly postgres?: string };
  /** Rewrites existing rows after the DDL, in the same transaction, in any dialect. */
  readonly backfill?: (db: MigrationConnection) => Promise<void>;
}

/** Dialects a migration may carry SQL for. */
export type MigrationDialect = keyof Migration["sql"];

/** A row of the `migrations` table. */
export interface AppliedMigration {
  readonly id: number;
  readonly name: string;
}

/**
 * What the migration runner needs from a database connection, one implementation per dialect
 * (`sqlite/sqlite-migrations.ts`). Every call runs on one connection, in order.
 */
export interface MigrationConnection extends EventRewriter {
  /** Which SQL of each migration to run. */
  readonly dialect: MigrationDialect;
  /** Runs one or more statements without results. */
  exec(sql: string): Promise<void>;
  /**
   * Opens the transaction every pending migration runs in, holding the database's write lock
   * so that processes opening one database at once migrate it once (SQLite: BEGIN IMMEDIATE).
   */
  begin(): Promise<void>;
  commit(): Promise<void>;
  /** Rolls the transaction back, if one is open. */
  rollback(): Promise<void>;
  /** The rows of the `migrations` table. */
  appliedMigrations(): Promise<AppliedMigration[]>;
  /** Records a migration as applied. */
  recordMigration(migration: AppliedMigration, appliedAt: number): Promise<void>;
}

/**
 * Bookkeeping table, created before any migration runs (same text in both dialects; BIGINT is
 * an INTEGER in SQLite).
 */
export const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS migrations (
  id BIGINT PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    id: 1,
    name: "initial_schema",
    sql: {
      sqlite: `
CREATE TABLE runs (
  -- Small, hot columns first: SQLite reads a row's columns in order, so a lease check or a
  -- status update never walks the overflow pages of the large spec and plan at the end.
  id               TEXT PRIMARY KEY,
  status           TEXT NOT NULL,
  lease_owner      TEXT,
  lease_expires_at INTEGER,
  kind             TEXT NOT NULL CHECK (kind IN ('workflow', 'session')),
  name             TEXT NOT NULL,
  spec_version     TEXT NOT NULL,
  spec_hash        TEXT NOT NULL,
  principal        TEXT NOT NULL,
  outcome          TEXT,
  reason           TEXT,
  idempotency_key  TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  reason_detail    TEXT,
  meta             TEXT NOT NULL,
  inputs           TEXT NOT NULL,
  spec_text        TEXT NOT NULL,
  plan             TEXT NOT NULL
);
CREATE UNIQUE INDEX runs_idempotency_key ON runs (idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_status ON runs (status, created_at);
CREATE INDEX runs_created_at ON runs (created_at);
CREATE INDEX runs_lease_owner ON runs (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE steps (
  run_id       TEXT NOT NULL REFERENCES runs (id),
  step_id      TEXT NOT NULL,
  status       TEXT NOT NULL,
  attempts     INTEGER NOT NULL,
  inputs       TEXT,
  outputs      TEXT,
  error        TEXT,
  decision     TEXT,
  context_hash TEXT,
  seq          INTEGER,
  started_at   INTEGER,
  finished_at  INTEGER,
  PRIMARY KEY (run_id, step_id)
);

CREATE TABLE compensations (
  run_id     TEXT NOT NULL REFERENCES runs (id),
  seq        INTEGER NOT NULL,
  step_id    TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('builtin', 'declared')),
  capability TEXT NOT NULL,
  inputs     TEXT,
  undo       TEXT,
  blobs      TEXT NOT NULL,
  status     TEXT NOT NULL,
  attempts   INTEGER NOT NULL,
  error      TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX compensations_step ON compensations (run_id, step_id);

CREATE TABLE blobs (
  id    TEXT PRIMARY KEY,
  bytes BLOB NOT NULL
);

CREATE TABLE events (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id  TEXT,
  step_id TEXT,
  type    TEXT NOT NULL,
  at      INTEGER NOT NULL,
  data    TEXT NOT NULL
);
CREATE INDEX events_run ON events (run_id, seq);
`,
      // No PostgreSQL database predates the PostgreSQL store: its first migration creates the
      // schema as SQLite has it after migration 4, and migrations 2–4 have nothing to do there.
      postgres: `
CREATE TABLE runs (
  id                  TEXT PRIMARY KEY,
  status              TEXT NOT NULL,
  lease_owner         TEXT,
  lease_expires_at    BIGINT,
  kind                TEXT NOT NULL CHECK (kind IN ('workflow', 'session')),
  name                TEXT NOT NULL,
  spec_version        TEXT NOT NULL,
  spec_hash           TEXT NOT NULL,
  principal           TEXT NOT NULL,
  outcome             TEXT,
  reason              TEXT,
  idempotency_key     TEXT,
  created_at          BIGINT NOT NULL,
  updated_at          BIGINT NOT NULL,
  reason_detail       TEXT,
  meta                TEXT NOT NULL,
  inputs              TEXT NOT NULL,
  spec_text           TEXT NOT NULL,
  plan                TEXT NOT NULL,
  cancel_requested_by TEXT
);
CREATE UNIQUE INDEX runs_idempotency_key ON runs (idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_status ON runs (status, created_at);
CREATE INDEX runs_created_at ON runs (created_at);
CREATE INDEX runs_lease_owner ON runs (lease_owner) WHERE lease_owner IS NOT NULL;

CREATE TABLE steps (
  run_id       TEXT NOT NULL REFERENCES runs (id),
  step_id      TEXT NOT NULL,
  status       TEXT NOT NULL,
  attempts     INTEGER NOT NULL,
  inputs       TEXT,
  outputs      TEXT,
  error        TEXT,
  decision     TEXT,
  context_hash TEXT,
  seq          BIGINT,
  started_at   BIGINT,
  finished_at  BIGINT,
  PRIMARY KEY (run_id, step_id)
);

CREATE TABLE compensations (
  run_id     TEXT NOT NULL REFERENCES runs (id),
  seq        BIGINT NOT NULL,
  step_id    TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('builtin', 'declared')),
  capability TEXT NOT NULL,
  inputs     TEXT,
  undo       TEXT,
  blobs      TEXT NOT NULL,
  status     TEXT NOT NULL,
  attempts   INTEGER NOT NULL,
  error      TEXT,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (run_id, seq)
);

CREATE TABLE blobs (
  id    TEXT PRIMARY KEY,
  bytes BYTEA NOT NULL
);

CREATE TABLE events (
  seq     BIGINT PRIMARY KEY,
  run_id  TEXT,
  step_id TEXT,
  type    TEXT NOT NULL,
  at      BIGINT NOT NULL,
  data    TEXT NOT NULL,
  hash    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_run ON events (run_id, seq);
`,
    },
  },
  {
    id: 2,
    name: "ledger_hash_chain",
    // Events become ledger entries: each row carries its chain hash (core/ledger.ts). Rows
    // written before this migration get theirs in the same transaction.
    sql: { sqlite: "ALTER TABLE events ADD COLUMN hash TEXT NOT NULL DEFAULT '';", postgres: "" },
    backfill: chainExistingEvents,
  },
  {
    id: 3,
    name: "compact_hot_tables",
    // Fewer B-tree pages written per step (each costs a WAL frame, ~12 µs of fsync at FULL):
    // steps and compensations keep their rows in their primary key (WITHOUT ROWID: no second
    // tree), compensations lose an index no query used, and events drop AUTOINCREMENT (the
    // store numbers entries itself, so its sqlite_sequence row was rewritten for nothing).
    // Rows are copied as they are: seqs, data and chain hashes are unchanged.
    sql: {
      sqlite: `
CREATE TABLE steps_v3 (
  run_id       TEXT NOT NULL REFERENCES runs (id),
  step_id      TEXT NOT NULL,
  status       TEXT NOT NULL,
  attempts     INTEGER NOT NULL,
  inputs       TEXT,
  outputs      TEXT,
  error        TEXT,
  decision     TEXT,
  context_hash TEXT,
  seq          INTEGER,
  started_at   INTEGER,
  finished_at  INTEGER,
  PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
INSERT INTO steps_v3 (run_id, step_id, status, attempts, inputs, outputs, error, decision,
    context_hash, seq, started_at, finished_at)
  SELECT run_id, step_id, status, attempts, inputs, outputs, error, decision, context_hash, seq,
    started_at, finished_at FROM steps;
DROP TABLE steps;
ALTER TABLE steps_v3 RENAME TO steps;

CREATE TABLE compensations_v3 (
  run_id     TEXT NOT NULL REFERENCES runs (id),
  seq        INTEGER NOT NULL,
  step_id    TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('builtin', 'declared')),
  capability TEXT NOT NULL,
  inputs     TEXT,
  undo       TEXT,
  blobs      TEXT NOT NULL,
  status     TEXT NOT NULL,
  attempts   INTEGER NOT NULL,
  error      TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
INSERT INTO compensations_v3 (run_id, seq, step_id, kind, capability, inputs, undo, blobs,
    status, attempts, error, updated_at)
  SELECT run_id, seq, step_id, kind, capability, inputs, undo, blobs, status, attempts, error,
    updated_at FROM compensations;
DROP TABLE compensations;
ALTER TABLE compensations_v3 RENAME TO compensations;

CREATE TABLE events_v3 (
  seq     INTEGER PRIMARY KEY,
  run_id  TEXT,
  step_id TEXT,
  type    TEXT NOT NULL,
  at      INTEGER NOT NULL,
  data    TEXT NOT NULL,
  hash    TEXT NOT NULL DEFAULT ''
);
INSERT INTO events_v3 (seq, run_id, step_id, type, at, data, hash)
  SELECT seq, run_id, step_id, type, at, data, hash FROM events;
DROP TABLE events;
ALTER TABLE events_v3 RENAME TO events;
CREATE INDEX events_run ON events (run_id, seq);
DELETE FROM sqlite_sequence WHERE name = 'events';
`,
      postgres: "",
    },
  },
  {
    id: 4,
    name: "runs_cancel_request",
    // A cancel request lives on the run's row, so the process holding the run learns it with
    // the lease renewal it makes anyway (one statement a heartbeat, not a query a run).
    sql: { sqlite: "ALTER TABLE runs ADD COLUMN cancel_requested_by TEXT;", postgres: "" },
  },
  {
    id: 5,
    name: "runs_lease_epoch",
    // Workers (`airun worker`): each lease carries a fencing token, bumped whenever the run
    // passes to another holder; every commit of the holder names it, so a process paused past
    // its lease cannot write for a run taken over meanwhile. Runs already leased start at 1.
    // The partial index is what claiming scans: unfinished workflow runs, oldest first.
    sql: {
      sqlite: `
ALTER TABLE runs ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET lease_epoch = 1 WHERE lease_owner IS NOT NULL;
CREATE INDEX runs_claimable ON runs (created_at, id)
  WHERE kind = 'workflow' AND status IN ('PENDING', 'RUNNING', 'COMPENSATING');
`,
      postgres: `
ALTER TABLE runs ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;
UPDATE runs SET lease_epoch = 1 WHERE lease_owner IS NOT NULL;
CREATE INDEX runs_claimable ON runs (created_at, id)
  WHERE kind = 'workflow' AND status IN ('PENDING', 'RUNNING', 'COMPENSATING');
`,
    },
  },
  {
    id: 6,
    name: "ledger_run_chains",
    // The ledger scales with writers (core/ledger.ts, store/ledger-chain.ts): each entry also
    // links into its run's chain (run_seq, run_hash), written with the entry, and gets its
    // global number and hash (seq, hash) from the integrator. The same columns in both
    // dialects; PostgreSQL, where integration follows the commit, numbers rows by an `id` of
    // their own until then (seq and hash NULL: pending). Existing entries keep their seq, data
    // and hash (so the root and every checkpoint signed before), and get their run links here.
    sql: {
      sqlite: `ALTER TABLE events ADD COLUMN run_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN run_hash TEXT NOT NULL DEFAULT '';`,
      postgres: `
ALTER TABLE events ADD COLUMN id BIGINT;
UPDATE events SET id = seq;
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ALTER COLUMN id SET NOT NULL;
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE SEQUENCE events_id_seq OWNED BY events.id;
SELECT setval('events_id_seq', COALESCE((SELECT MAX(id) FROM events), 0) + 1, false);
ALTER TABLE events ALTER COLUMN id SET DEFAULT nextval('events_id_seq');
ALTER TABLE events ALTER COLUMN seq DROP NOT NULL;
ALTER TABLE events ALTER COLUMN hash DROP NOT NULL;
ALTER TABLE events ALTER COLUMN hash DROP DEFAULT;
CREATE UNIQUE INDEX events_seq ON events (seq);
CREATE INDEX events_pending ON events (id) WHERE seq IS NULL;
ALTER TABLE events ADD COLUMN run_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN run_hash TEXT NOT NULL DEFAULT '';
`,
    },
    async backfill(db: MigrationConnection) {
      await linkExistingRunChains(db);
      // Where writers of different runs append at once, the database itself keeps a chain's
      // numbers unique (SQLite has one writer).
      if (db.dialect === "postgres") {
        await db.exec(
          "CREATE UNIQUE INDEX events_run_chain ON events ((COALESCE(run_id, '')), run_seq)",
        );
      }
    },
  },
]);

/** The schema version the code knows: the id of the last migration. */
export const LATEST_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.id ?? 0;
