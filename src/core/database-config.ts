/**
 * @module The `databases:` section of `airun.yaml`: the PostgreSQL servers and SQLite files the
 * `db.*` capabilities may change (targets users point Airun at, never Airun's own store).
 * Credentials come only from the environment (`password_env`, read when the pool opens): a URL
 * with a password in it is refused, so none is ever stored or logged. The zod schema is part of
 * the config schema (problems carry file, line and field); `compileDatabases` returns frozen,
 * fully defaulted connections.
 */
import { z } from "zod";
import { isWithin } from "./path-within.js";

/** Rows one `db.*` write may change when `max_rows` is not set. */
export const DEFAULT_DB_MAX_ROWS = 1000;

/** One target database, compiled. */
export type DatabaseConfig =
  | {
      readonly kind: "postgres";
      /** Connection URL without a password and without `schema=` (moved to `schema`). */
      readonly url: string;
      /** The schema unqualified table names are looked up in (`?schema=` or `schema:`); null: the server's search_path. */
      readonly schema: string | null;
      /** Environment variable holding the password, read when the pool opens; null: none. */
      readonly passwordEnv: string | null;
      /** Most rows one write step may change; more is refused before anything changes. */
      readonly maxRows: number;
    }
  | {
      readonly kind: "sqlite";
      /** Absolute path of the database file (inside a sandbox root). */
      readonly file: string;
      /**
       * The sandbox roots (absolute) the file must stay inside once symlinks are resolved, which
       * is checked when the file is opened (it may not exist when the config is read).
       */
      readonly roots: readonly string[];
      readonly maxRows: number;
    };

const NAME = /^[a-z][a-z0-9_]*$/;
const SCHEMA = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const ENV = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The `databases:` section as written. */
export const databasesSchema = z.record(
  z.string().regex(NAME, "a database name is lower-case letters, digits and _ (crm, app_db)"),
  z
    .strictObject({
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, "expected a postgres:// URL")
        .refine((u) => !/^[a-z]+:\/\/[^/@]*:[^/@]*@/i.test(u), {
          message: "the URL must not contain a password: name its variable with password_env",
        })
        .optional(),
      sqlite: z.string().min(1).optional(),
      schema: z.string().regex(SCHEMA, "expected a plain identifier").optional(),
      password_env: z.string().regex(ENV, "expected an environment variable name").optional(),
      max_rows: z.number().int().min(1).optional(),
    })
    .refine((d) => (d.url === undefined) !== (d.sqlite === undefined), {
      message: "give exactly one of url (PostgreSQL) or sqlite (a file inside a sandbox root)",
    })
    .refine((d) => d.sqlite === undefined || d.password_env === undefined, {
      message: "password_env applies to PostgreSQL only",
    }),
);

/** The section as parsed. */
export type DatabasesSource = z.infer<typeof databasesSchema>;

/**
 * Compiles the parsed section. `resolve` makes a SQLite path absolute (relative to the config
 * file's folder); `roots` are the sandbox roots (absolute) a SQLite file must lie inside.
 * Returns the connections, or the problems by field path.
 */
export function compileDatabases(
  src: DatabasesSource,
  resolve: (p: string) => string,
  roots: readonly string[],
): { databases: Readonly<Record<string, DatabaseConfig>>; problems: [string[], string][] } {
  const databases: Record<string, DatabaseConfig> = {};
  const problems: [string[], string][] = [];
  for (const [name, d] of Object.entries(src)) {
    const maxRows = d.max_rows ?? DEFAULT_DB_MAX_ROWS;
    if (d.sqlite !== undefined) {
      const file = resolve(d.sqlite);
      if (!roots.some((root) => isWithin(root, file))) {
        problems.push([
          ["databases", name, "sqlite"],
          "the SQLite file must be inside a sandbox root (sandbox.fs.roots)",
        ]);
        continue;
      }
      databases[name] = Object.freeze({ kind: "sqlite", file, roots, maxRows });
      continue;
    }
    const url = new URL(d.url!);
    const fromUrl = url.searchParams.get("schema");
    url.searchParams.delete("schema");
    const schema = d.schema ?? fromUrl ?? null;
    if (schema !== null && !SCHEMA.test(schema)) {
      problems.push([["databases", name, "url"], "schema= must be a plain identifier"]);
      continue;
    }
    databases[name] = Object.freeze({
      kind: "postgres",
      url: url.toString(),
      schema,
      passwordEnv: d.password_env ?? null,
      maxRows,
    });
  }
  return { databases: Object.freeze(databases), problems };
}
