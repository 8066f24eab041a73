/**
 * @module Opens the Store named by a URL: `sqlite` (the file `<home>/airun.db`),
 * `sqlite:<path>` for another file, or `postgres://…` (`postgresql://…`) for PostgreSQL, whose
 * optional `schema=` query parameter names the schema holding Airun's tables.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { AirunError } from "../core/errors.js";
import { redactedUrl } from "./postgres/postgres-driver.js";
import { PostgresStore } from "./postgres/postgres-store.js";
import { MEMORY_FILE, SqliteStore } from "./sqlite/sqlite-store.js";
import type { Store, StoreOptions } from "./store.js";

/** Name of the SQLite database file inside the home directory. */
export const SQLITE_FILE_NAME = "airun.db";

/** Options of `openStore`. */
export interface OpenStoreOptions {
  /** `"sqlite"` (default database under `home`), `"sqlite:<path>"`, or a `postgres://` URL. */
  readonly url: "sqlite" | string;
  /** The Airun home directory; created (mode 0700) if missing. */
  readonly home: string;
  /** SQLite `synchronous` pragma: `FULL` (default) or `NORMAL`. */
  readonly synchronous?: "FULL" | "NORMAL";
  /**
   * Test and benchmark options (commit hooks, an unchained ledger), handed over by the
   * composition root; the shipped binary reads none of them from its environment.
   */
  readonly storeOptions?: StoreOptions;
  /**
   * Only reads: when the SQLite database does not exist yet, nothing is created (no home, no
   * file) and an empty in-memory store answers. An existing database is opened as usual.
   */
  readonly readOnly?: boolean;
}

/**
 * Opens (creating and migrating as needed) the store named by `opts.url`. Throws `AirunError`
 * `INVALID_STORE_URL` for anything it does not understand.
 *
 * @example
 * const store = await openStore({ url: "sqlite", home: ".airun" });
 * try { console.log(await store.listActiveRuns()); } finally { await store.close(); }
 */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const url = opts.url.trim();
  if (/^postgres(ql)?:\/\//i.test(url)) return openPostgres(url, opts.storeOptions);
  let file: string;
  if (url === "sqlite") {
    file = join(opts.home, SQLITE_FILE_NAME);
  } else if (url.startsWith("sqlite:") && url.length > "sqlite:".length) {
    file = resolve(url.slice("sqlite:".length));
  } else {
    throw new AirunError(
      "INVALID_STORE_URL",
      `unknown store URL ${JSON.stringify(redactedUrl(url))}: expected "sqlite", "sqlite:<path>" or "postgres://…"`,
      { url: redactedUrl(url) },
    );
  }
  if (opts.readOnly && !existsSync(file)) {
    return SqliteStore.open({ ...opts.storeOptions, file: MEMORY_FILE });
  }
  mkdirSync(opts.home, { recursive: true, mode: 0o700 });
  return SqliteStore.open({
    ...opts.storeOptions,
    file,
    ...(opts.synchronous !== undefined ? { synchronous: opts.synchronous } : {}),
  });
}

/** A PostgreSQL store: the URL as libpq reads it, minus Airun's own `schema=` parameter. */
function openPostgres(url: string, options: StoreOptions | undefined): Promise<Store> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AirunError("INVALID_STORE_URL", `${redactedUrl(url)} is not a valid URL`, {
      url: redactedUrl(url),
    });
  }
  const schema = parsed.searchParams.get("schema") ?? undefined;
  parsed.searchParams.delete("schema");
  return PostgresStore.open({
    ...options,
    url: parsed.toString(),
    ...(schema !== undefined ? { schema } : {}),
  });
}
