/**
 * @module The original project's names, resolved in one table (SPEC §4): capability names
 * (`io.fs.delete_file` → `io.fs.delete`), their input names and values (`file_path` → `path`,
 * `encoding: utf-8`, `source`/`destination`, `command`/`args`/`timeout`) and output names
 * (`checksum_sha256` → `sha256`, `bytes_written` → `bytes`). Used by the spec compiler and by
 * the policy compiler, so a seed policy naming `io.fs.delete_file` matches the delete.
 *
 * An alias applies only where its name is not a capability itself and its target is: a
 * capability a plugin or the standard library registers under the seed's name wins.
 */
import { isPlainObject, type JsonObject, type JsonValue } from "./json.js";

/** One capability alias: the capability it names, and inputs it implies. */
export interface CapabilityAlias {
  readonly target: string;
  /** Inputs the alias sets (`net.http.post` → `method: POST`). */
  readonly implied?: Readonly<JsonObject>;
}

/** Every capability name of the original that Airun spells differently. */
export const CAPABILITY_ALIASES: Readonly<Record<string, CapabilityAlias>> = Object.freeze({
  "io.fs.delete_file": { target: "io.fs.delete" },
  "io.fs.create_directory": { target: "io.fs.make_dir" },
  "io.fs.list_directory": { target: "io.fs.list_dir" },
  "io.fs.write_bytes": { target: "io.fs.write_file", implied: { encoding: "base64" } },
  "sys.run_command": { target: "sys.exec.run" },
  "net.http.get": { target: "net.http.request", implied: { method: "GET" } },
  "net.http.post": { target: "net.http.request", implied: { method: "POST" } },
  "net.http.put": { target: "net.http.request", implied: { method: "PUT" } },
});

/** Output names of the original, by the name Airun's capabilities use. */
export const OUTPUT_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  checksum_sha256: "sha256",
  bytes_written: "bytes",
  file_path: "path",
});

/** Input names of the original, by the name Airun's capabilities use. */
const INPUT_RENAMES: Readonly<Record<string, string>> = Object.freeze({
  file_path: "path",
  directory_path: "path",
  source: "from",
  destination: "to",
  content_base64: "content",
});

/** What a capability name resolves to in `names`: itself, an alias's target, or nothing. */
export function resolveCapabilityName(
  name: string,
  has: (name: string) => boolean,
): { readonly name: string; readonly alias?: CapabilityAlias } | undefined {
  if (has(name)) return { name };
  const alias = Object.hasOwn(CAPABILITY_ALIASES, name) ? CAPABILITY_ALIASES[name] : undefined;
  if (alias && has(alias.target)) return { name: alias.target, alias };
  return undefined;
}

/** What `seedInputs` made of a step's inputs. */
export interface SeedInputs {
  readonly inputs: JsonObject;
  /** A `timeout` input (seconds) the original passed to the call: the step's timeout. */
  readonly timeoutMs?: number;
  /** Input fields that have no equivalent, with why. */
  readonly problems: readonly { readonly field: string; readonly message: string }[];
}

/**
 * The original's inputs for `target` written the way Airun's capability takes them: renamed
 * fields, `encoding: utf-8` → `utf8`, `command` + `args` → `argv`, `content_type` → a header,
 * `timeout` (seconds) → the step's timeout, and `parents`/`exist_ok`/`recursive` where the
 * capability already behaves that way. A field already spelled natively is kept as it is.
 */
export function seedInputs(
  target: string,
  given: JsonObject,
  alias: CapabilityAlias | undefined,
  accepts: (field: string) => boolean,
): SeedInputs {
  const problems: { field: string; message: string }[] = [];
  const out: JsonObject = {};
  for (const [k, v] of Object.entries({ ...(alias?.implied ?? {}), ...given })) {
    const to = !accepts(k) && Object.hasOwn(INPUT_RENAMES, k) ? INPUT_RENAMES[k]! : k;
    if (Object.hasOwn(out, to) && to !== k) {
      problems.push({ field: k, message: `"${k}" and "${to}" name the same input; give one` });
      continue;
    }
    out[to] = v;
  }
  if (typeof out.encoding === "string" && /^utf-?8$/i.test(out.encoding)) out.encoding = "utf8";
  let timeoutMs: number | undefined;
  if (!accepts("timeout") && out.timeout !== undefined) {
    if (typeof out.timeout === "number" && out.timeout > 0) timeoutMs = out.timeout * 1000;
    else problems.push({ field: "timeout", message: "timeout must be a number of seconds" });
    delete out.timeout;
  }
  if (target === "sys.exec.run" && out.command !== undefined && !accepts("command")) {
    const args = out.args ?? [];
    if (typeof out.command !== "string" || !Array.isArray(args)) {
      problems.push({ field: "args", message: "command must be a string and args a list" });
    } else out.argv = [out.command, ...(args as JsonValue[])];
    delete out.command;
    delete out.args;
  }
  if (out.content_type !== undefined && !accepts("content_type") && accepts("headers")) {
    const headers = isPlainObject(out.headers) ? out.headers : {};
    if (out.headers !== undefined && !isPlainObject(out.headers)) {
      problems.push({ field: "headers", message: "headers must be a mapping" });
    }
    out.headers = { ...headers, "Content-Type": out.content_type };
    delete out.content_type;
  }
  // The original's switches, where Airun's capability always behaves that way.
  const always: Record<string, Record<string, string>> = {
    "io.fs.make_dir": {
      parents: "io.fs.make_dir always creates missing parents",
      exist_ok: "io.fs.make_dir always accepts an existing directory",
    },
    "io.fs.list_dir": { recursive: "io.fs.list_dir lists one level" },
  };
  for (const [field, behaviour] of Object.entries(always[target] ?? {})) {
    if (out[field] === undefined || accepts(field)) continue;
    const wanted = field !== "recursive";
    if (out[field] !== wanted && typeof out[field] !== "string") {
      problems.push({
        field,
        message: `${field}: ${String(out[field])} is not supported (${behaviour})`,
      });
    }
    if (typeof out[field] !== "string") delete out[field];
  }
  return { inputs: out, ...(timeoutMs !== undefined ? { timeoutMs } : {}), problems };
}

/** A step output name of the original, as `declared` (the capability's outputs) spells it. */
export function seedOutputName(name: string, declared: readonly string[] | null): string {
  if (declared === null || declared.includes(name)) return name;
  const to = Object.hasOwn(OUTPUT_ALIASES, name) ? OUTPUT_ALIASES[name]! : undefined;
  return to !== undefined && declared.includes(to) ? to : name;
}
