// What the PostgreSQL benches share: whether the server at a URL answers (they skip, loudly,
// when it does not).
import pg from "pg";

/** Whether a PostgreSQL server answers at `url` within two seconds. */
export async function reachable(url) {
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await probe.connect();
    return true;
  } catch {
    return false;
  } finally {
    await probe.end().catch(() => undefined);
  }
}
