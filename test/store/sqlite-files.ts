/**
 * @module Real SQLite files for store tests: a temporary folder per test file (removed after
 * it), and reads through a connection of their own, as another process would read.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { openSqliteFile, type SqliteConnection } from "../../src/store/sqlite/sqlite-driver.js";

/** A temporary folder and fresh places inside it. */
export interface TempFolder {
  readonly root: string;
  /** A new Airun home (not created yet). */
  home(): string;
}

/** Creates a temporary folder for this test file, removed after its tests. */
export function useTempFolder(prefix: string): TempFolder {
  const root = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let homes = 0;
  return {
    root,
    home() {
      homes += 1;
      return join(root, `home-${homes}`, ".airun");
    },
  };
}

/** Reads the file from a separate connection, as another process would. */
export function withSecondConnection<T>(file: string, read: (db: SqliteConnection) => T): T {
  const db = openSqliteFile(file);
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** How many runs the file holds. */
export function countRuns(file: string): number {
  return withSecondConnection(
    file,
    (db) => (db.prepare("SELECT count(*) AS n FROM runs").get() as { n: number }).n,
  );
}
