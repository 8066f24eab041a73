/**
 * @module Matching primitives of the policy engine: globs over dotted or colon-separated names
 * (capabilities, principals, roles), lexical POSIX normalization of path-like input values, and
 * path globs. Everything here is compiled once, when a policy is loaded, and then only tested.
 */
import picomatch from "picomatch";

/** A compiled test of a name or a normalized path. */
export type Matcher = (value: string) => boolean;

const MATCH_ANY: Matcher = () => true;
const GLOB_CHARS = /[*?]/;
const REGEXP_SPECIALS = /[\\^$+.()|{}[\]]/;

/** True when a name pattern contains a glob character (`*` or `?`). */
export function hasGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern);
}

/**
 * Compiles a name glob where `separator` splits segments (`.` for capabilities, `:` for
 * principals): `*` matches within one segment, `**` across segments, `?` one character of a
 * segment. A bare `*` (or `**`) matches anything. A pattern without glob characters is compared
 * exactly.
 *
 * @example
 * compileNameGlob("io.fs.read_*", ".")("io.fs.read_file") // true
 * compileNameGlob("io.*", ".")("io.fs.read_file")         // false: `*` stays in its segment
 * compileNameGlob("io.**", ".")("io.fs.read_file")        // true
 */
export function compileNameGlob(pattern: string, separator: "." | ":"): Matcher {
  if (pattern === "*" || pattern === "**") return MATCH_ANY;
  if (!hasGlob(pattern)) return (value) => value === pattern;
  // `.` and `:` are literal inside a character class.
  const sep = separator;
  let source = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        while (pattern[i + 1] === "*") i++;
        source += ".*";
      } else {
        source += `[^${sep}]*`;
      }
    } else if (ch === "?") {
      source += `[^${sep}]`;
    } else {
      source += REGEXP_SPECIALS.test(ch) ? `\\${ch}` : ch;
    }
  }
  const re = new RegExp(`${source}$`, "u");
  return (value) => re.test(value);
}

/** The result of normalizing a path-like input value. */
export type NormalizedPath =
  | { readonly ok: true; readonly path: string }
  /** The value cannot be proven safe (it climbs above its start, or holds a NUL byte). */
  | { readonly ok: false; readonly why: string };

/** Anything that may change under normalization: non-printable-ASCII, `//`, `.`/`..` segments,
 * a trailing slash. Values without any of these are already normal (the common, cheap case). */
const NEEDS_NORMALIZATION = /[^\x20-\x7e]|\/\/|(?:^|\/)\.\.?(?:\/|$)|.\/$/;

/**
 * Normalizes a path-like value lexically, as POSIX would read it, without touching any
 * filesystem: Unicode NFC, duplicate slashes collapsed, `.` removed, `..` resolved, trailing
 * slash dropped. `..` at the root of an absolute path stays at the root (`/..` is `/`); a `..`
 * that climbs above the start of a relative path makes the value unprovable (`ok: false`), as
 * does a NUL byte. Symlinks are not resolved: that is the sandbox's job.
 *
 * @example
 * normalizePolicyPath("reports//../secrets/./x") // { ok: true, path: "secrets/x" }
 * normalizePolicyPath("../etc/passwd")           // { ok: false, ... }
 */
export function normalizePolicyPath(value: string): NormalizedPath {
  if (!NEEDS_NORMALIZATION.test(value)) return { ok: true, path: value };
  if (value.includes("\0")) return { ok: false, why: "it contains a NUL byte" };
  const nfc = value.normalize("NFC");
  const absolute = nfc.startsWith("/");
  const out: string[] = [];
  for (const seg of nfc.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0) out.pop();
      else if (!absolute) return { ok: false, why: "a '..' climbs above where it starts" };
      continue;
    }
    out.push(seg);
  }
  const joined = out.join("/");
  return { ok: true, path: absolute ? `/${joined}` : joined || "." };
}

/**
 * Normalizes a path glob the way values are normalized (NFC, `//` collapsed, `./` segments and
 * a trailing slash dropped), or returns a message when it cannot be used (empty, or with a
 * `..` segment, which no normalized value ever contains).
 */
export function normalizePathGlob(
  pattern: string,
): { ok: true; glob: string } | { ok: false; message: string } {
  if (pattern === "") return { ok: false, message: "a path pattern may not be empty" };
  const nfc = pattern.normalize("NFC");
  const absolute = nfc.startsWith("/");
  const segs = nfc.split("/").filter((s) => s !== "" && s !== ".");
  if (segs.includes("..")) {
    return { ok: false, message: `path pattern "${pattern}" may not contain a '..' segment` };
  }
  const joined = segs.join("/");
  return { ok: true, glob: absolute ? `/${joined}` : joined || "." };
}

/**
 * Compiles a (normalized) path glob: `*` and `?` stay within one path segment, `**` crosses
 * segments and also matches dotfiles, braces and character classes work as in picomatch.
 * Matching is case-sensitive (POSIX semantics); compare against `normalizePolicyPath` output.
 */
export function compilePathGlob(glob: string): Matcher {
  if (glob === "**") return MATCH_ANY;
  if (!/[*?[\]{}()!+@]/.test(glob)) return (value) => value === glob;
  const re = picomatch.makeRe(glob, { dot: true, windows: false });
  return (value) => re.test(value);
}
