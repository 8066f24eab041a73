/**
 * @module Principals (SPEC §2): who acts, asks or decides. THE grammar, in this one place;
 * every door a principal comes in through checks it here: the CLI's `--as`, a spec's
 * `principal:`, the config's `principals:` and `approvals.approvers`, a policy rule's
 * `principal:` and `approvers:`, an approval step's `approvers`, policy test cases, and the
 * Runtime (`startRun`, `resume`, `decideApproval`, `cancel`, `rollback`, `openSession`).
 *
 * ```
 * principal := kind ":" id
 * kind      := [a-z] [a-z0-9_-]{0,31}         not "role" (patterns) nor "system" (Airun's own)
 * id        := [a-z0-9_] [a-z0-9_.@+-]{0,127}
 * ```
 *
 * A principal has one spelling: lower-case ASCII, nothing around it, one colon. Two strings
 * that look alike are therefore the same string or one of them is refused, so the
 * self-approval and eligibility checks (plain string comparisons) cannot be walked around
 * with a trailing space, a capital, a Cyrillic `а`, a zero-width or combining character, or an
 * empty id. (ASCII text is always in Unicode NFC, so there is no normalization question.)
 * Nothing is trimmed or folded silently: a refusal says which spelling was probably meant.
 *
 * Patterns (who a rule applies to, who may approve) are `*` or `**` (anyone), `role:<name>`
 * (anyone with that role; globs allowed in the name), or `kind:id` with the glob characters
 * `*` and `?` allowed in either part. Role names are `[a-z][a-z0-9_.-]{0,63}`.
 */

import { AirunError } from "./errors.js";

/** The principal grammar as one expression (exported for schemas; prefer `isPrincipal`). */
export const PRINCIPAL_PATTERN =
  /^(?!(?:role|system):)[a-z][a-z0-9_-]{0,31}:[a-z0-9_][a-z0-9_.@+-]{0,127}$/;

/** Kinds a principal may not have: `role:` names a role in patterns, `system:` is Airun's own. */
export const RESERVED_KINDS: readonly string[] = Object.freeze(["role", "system"]);

/** A role name, as in `roles: [sre]` and `role:sre`. */
const ROLE_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;
/** A role glob, as in `role:team-*`. */
const ROLE_GLOB = /^[a-z0-9_.*?-]{1,64}$/;
const KIND_GLOB = /^[a-z0-9_*?-]{1,32}$/;
const ID_GLOB = /^[a-z0-9_.@+*?-]{1,128}$/;

/** What the grammar allows, in words, for messages. */
export const PRINCIPAL_GRAMMAR =
  "kind:id in lower-case ASCII (kind [a-z][a-z0-9_-]*, id [a-z0-9_][a-z0-9_.@+-]*), e.g. user:alice";

/** A parsed principal. */
export interface Principal {
  readonly kind: string;
  readonly id: string;
}

/** True when `value` is a principal exactly as the grammar spells one. */
export function isPrincipal(value: unknown): value is string {
  return typeof value === "string" && PRINCIPAL_PATTERN.test(value);
}

/**
 * Why `value` is not a principal, or null when it is one. The reason names the first
 * offending character (with its code point, so a lookalike is visible) and, when one exists,
 * the spelling that was probably meant.
 *
 * @example
 * principalProblem("user:alice ") // 'has a space ... (did you mean "user:alice"?)'
 * principalProblem("user:alice")  // null
 */
export function principalProblem(value: unknown): string | null {
  if (typeof value !== "string") return `must be a string: ${PRINCIPAL_GRAMMAR}`;
  if (PRINCIPAL_PATTERN.test(value)) return null;
  const hint = didYouMean(value);
  const colon = value.indexOf(":");
  if (colon < 0)
    return `${JSON.stringify(value)} has no kind: expected ${PRINCIPAL_GRAMMAR}${hint}`;
  const kind = value.slice(0, colon);
  const id = value.slice(colon + 1);
  if (kind === "")
    return `${JSON.stringify(value)} has an empty kind: expected ${PRINCIPAL_GRAMMAR}`;
  if (id === "") return `${JSON.stringify(value)} has an empty id: expected ${PRINCIPAL_GRAMMAR}`;
  if (RESERVED_KINDS.includes(kind)) {
    return `${JSON.stringify(value)}: the kind "${kind}" is reserved (${kind === "role" ? "role:NAME is a pattern matching principals with that role, not a principal" : "system: principals are Airun's own"})`;
  }
  const bad = firstBadChar(kind, /[a-z0-9_-]/, 0) ?? firstBadChar(id, /[a-z0-9_.@+-]/, colon + 1);
  if (bad) return `${JSON.stringify(value)} ${bad}: expected ${PRINCIPAL_GRAMMAR}${hint}`;
  if (!/^[a-z]/.test(kind)) return `${JSON.stringify(value)}: the kind must start with a letter`;
  if (id.startsWith(".") || id.startsWith("@") || id.startsWith("+") || id.startsWith("-")) {
    return `${JSON.stringify(value)}: the id must start with a letter, a digit or _`;
  }
  if (kind.length > 32) return `${JSON.stringify(value)}: the kind is longer than 32 characters`;
  if (id.length > 128) return `${JSON.stringify(value)}: the id is longer than 128 characters`;
  return `${JSON.stringify(value)} is not a principal: expected ${PRINCIPAL_GRAMMAR}`;
}

/**
 * Parses a principal, or returns why it is not one (see `principalProblem`).
 *
 * @example
 * parsePrincipal("agent:planner") // { ok: true, principal: { kind: "agent", id: "planner" } }
 */
export function parsePrincipal(
  value: unknown,
): { ok: true; principal: Principal } | { ok: false; problem: string } {
  const problem = principalProblem(value);
  if (problem !== null) return { ok: false, problem };
  const s = value as string;
  const colon = s.indexOf(":");
  return { ok: true, principal: { kind: s.slice(0, colon), id: s.slice(colon + 1) } };
}

/**
 * Returns `value` when it is a principal; otherwise throws `INVALID_PRINCIPAL` (a usage error)
 * whose message starts with `field` (the flag or option the value came in through).
 *
 * @example
 * requirePrincipal(opts.as, "--as");
 */
export function requirePrincipal(value: unknown, field: string): string {
  const problem = principalProblem(value);
  if (problem === null) return value as string;
  throw new AirunError("INVALID_PRINCIPAL", `${field}: ${problem}`, { field });
}

/** True when `value` is a role name (`sre`, `team-web`). */
export function isRoleName(value: unknown): value is string {
  return typeof value === "string" && ROLE_NAME.test(value);
}

/** Why `value` is not a role name, or null. */
export function roleNameProblem(value: unknown): string | null {
  if (isRoleName(value)) return null;
  if (typeof value !== "string") return "a role name must be a string";
  const bad = firstBadChar(value, /[a-z0-9_.-]/, 0);
  return `role name ${JSON.stringify(value)}${bad ? ` ${bad}` : ""}: expected a letter, then lower-case letters, digits, _, . or - (at most 64)${didYouMeanRole(value)}`;
}

/**
 * Why `value` is not a principal pattern (`*`, `**`, `role:NAME-GLOB`, `KIND-GLOB:ID-GLOB`),
 * or null when it is one. Globs: `*` (within the kind or the id), `**`, `?`.
 */
export function principalPatternProblem(value: unknown): string | null {
  if (typeof value !== "string") return "a principal pattern must be a string";
  if (value === "*" || value === "**") return null;
  const colon = value.indexOf(":");
  const kind = colon < 0 ? value : value.slice(0, colon);
  const rest = colon < 0 ? "" : value.slice(colon + 1);
  const expected =
    "expected kind:id (globs * and ? allowed, e.g. agent:*, user:alice), role:name or *";
  if (colon < 0 || kind === "" || rest === "") {
    return `principal pattern ${JSON.stringify(value)}: ${expected}${didYouMean(value)}`;
  }
  if (kind === "role") {
    if (ROLE_GLOB.test(rest)) return null;
    const bad = firstBadChar(rest, /[a-z0-9_.*?-]/, colon + 1);
    return `role pattern ${JSON.stringify(value)}${bad ? ` ${bad}` : ""}: expected role:name (lower-case letters, digits, _ . -; globs * and ?)${didYouMean(value)}`;
  }
  if (kind === "system") {
    return `principal pattern ${JSON.stringify(value)}: system: principals are Airun's own`;
  }
  if (KIND_GLOB.test(kind) && ID_GLOB.test(rest)) return null;
  const bad =
    firstBadChar(kind, /[a-z0-9_*?-]/, 0) ?? firstBadChar(rest, /[a-z0-9_.@+*?-]/, colon + 1);
  return `principal pattern ${JSON.stringify(value)}${bad ? ` ${bad}` : ""}: ${expected}${didYouMean(value)}`;
}

/** True when `value` is a principal pattern. */
export function isPrincipalPattern(value: unknown): value is string {
  return principalPatternProblem(value) === null;
}

/** `has "X" (U+XXXX, a space) at 5` for the first character of `s` not matching `allowed`. */
function firstBadChar(s: string, allowed: RegExp, offset: number): string | undefined {
  let i = 0;
  for (const ch of s) {
    if (!allowed.test(ch)) {
      const cp = ch.codePointAt(0) as number;
      const code = `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
      const what = describeChar(ch, cp);
      return `has ${what} (${code}) at position ${offset + i + 1}`;
    }
    i += ch.length;
  }
  return undefined;
}

function describeChar(ch: string, cp: number): string {
  if (ch === " ") return "a space";
  if (ch === "\t") return "a tab";
  if (ch === "\n" || ch === "\r") return "a line break";
  if (/\s/u.test(ch)) return "a space character";
  if (/\p{Cf}|\p{Mn}|\p{Cc}/u.test(ch)) return "an invisible or combining character";
  if (/[A-Z]/.test(ch)) return `a capital "${ch}"`;
  if (cp > 0x7f) return `the non-ASCII character "${ch}"`;
  return `"${ch}"`;
}

/** ` (did you mean "user:alice"?)` when a plain clean-up of `value` is a principal. */
function didYouMean(value: string): string {
  const guess = value
    .normalize("NFKC")
    .replace(/[\p{Cf}\p{Mn}]/gu, "")
    .replace(/\s+/gu, "")
    .toLowerCase();
  if (guess === value) return "";
  return PRINCIPAL_PATTERN.test(guess) ||
    (principalPatternProblem(guess) === null && guess.includes(":"))
    ? ` (did you mean "${guess}"?)`
    : "";
}

function didYouMeanRole(value: string): string {
  const guess = value.normalize("NFKC").trim().toLowerCase();
  return guess !== value && isRoleName(guess) ? ` (did you mean "${guess}"?)` : "";
}
