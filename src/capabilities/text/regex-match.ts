/**
 * @module `text.regex.match`: finds a regular expression in a text with RE2 semantics (the
 * `re2js` engine), which matches in time linear in the text: no pattern can backtrack
 * catastrophically (`(a+)+$` against a long run of `a`s returns as fast as any other). Patterns
 * RE2 cannot run in linear time (backreferences, lookaround) are refused with `REGEX_INVALID`.
 * Pattern and text are size-limited and the number of matches returned is capped. Pure: no
 * effect, nothing to undo.
 */
import { RE2JS } from "re2js";
import { z } from "zod";
import type { CapabilityDefinition } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";

/** Longest pattern (characters). */
export const MAX_PATTERN_LENGTH = 4096;
/** Longest text searched (characters, 1 Mi). */
export const MAX_TEXT_LENGTH = 1024 * 1024;
/** Most matches `all: true` may return. */
export const MAX_MATCHES = 10_000;

const NAME = "text.regex.match";

const input = z.strictObject({
  pattern: z.string().max(MAX_PATTERN_LENGTH, `pattern longer than ${MAX_PATTERN_LENGTH}`),
  text: z.string().max(MAX_TEXT_LENGTH, `text longer than ${MAX_TEXT_LENGTH} characters`),
  /** `i` case-insensitive, `m` ^/$ at line breaks, `s` dot matches newlines. */
  flags: z
    .string()
    .regex(/^[ims]*$/, "flags may only be i, m and s")
    .default(""),
  /** Return every match (up to `max_matches`), not only the first. */
  all: z.boolean().default(false),
  max_matches: z.number().int().min(1).max(MAX_MATCHES).default(1000),
});
type Input = z.output<typeof input>;

/** One match: its text, position, numbered groups (1…n) and named groups. */
export interface RegexMatch {
  readonly match: string;
  readonly start: number;
  readonly end: number;
  readonly groups: (string | null)[];
  readonly named_groups: Record<string, string | null>;
}

/** Output of `text.regex.match`: the first match's fields, plus every match when `all`. */
export interface RegexMatchOutput {
  readonly matched: boolean;
  readonly match: string | null;
  readonly groups: (string | null)[];
  readonly named_groups: Record<string, string | null>;
  readonly count: number;
  readonly matches: RegexMatch[];
  /** True when `all` stopped at `max_matches`. */
  readonly truncated: boolean;
}

function compile(pattern: string, flags: string): RE2JS {
  let bits = 0;
  if (flags.includes("i")) bits |= RE2JS.CASE_INSENSITIVE;
  if (flags.includes("m")) bits |= RE2JS.MULTILINE;
  if (flags.includes("s")) bits |= RE2JS.DOTALL;
  try {
    return RE2JS.compile(pattern, bits);
  } catch (err) {
    throw new CapabilityError(
      "REGEX_INVALID",
      `pattern ${JSON.stringify(pattern.slice(0, 200))} is not a valid RE2 expression (no backreferences or lookaround): ${(err as Error).message}`,
      { context: { capability: NAME }, cause: err },
    );
  }
}

/** `text.regex.match {pattern, text, flags?, all?}` → `{matched, match, groups, named_groups, count, matches}`. */
export const regexMatch: CapabilityDefinition<Input, RegexMatchOutput> = Object.freeze({
  name: NAME,
  description:
    "Finds a regular expression (RE2 syntax, linear time) in a text; returns the match and its groups (no effect).",
  input,
  output: z.object({
    matched: z.boolean(),
    match: z.string().nullable(),
    groups: z.array(z.string().nullable()),
    named_groups: z.record(z.string(), z.string().nullable()),
    count: z.number().int(),
    matches: z.array(
      z.object({
        match: z.string(),
        start: z.number().int(),
        end: z.number().int(),
        groups: z.array(z.string().nullable()),
        named_groups: z.record(z.string(), z.string().nullable()),
      }),
    ),
    truncated: z.boolean(),
  }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  pure: true,
  async execute(i: Input) {
    const re = compile(i.pattern, i.flags);
    const names = Object.entries(re.namedGroups());
    const m = re.matcher(i.text);
    const limit = i.all ? i.max_matches : 1;
    const matches: RegexMatch[] = [];
    let truncated = false;
    while (m.find()) {
      if (matches.length >= limit) {
        truncated = i.all;
        break;
      }
      const groups: (string | null)[] = [];
      for (let g = 1; g <= m.groupCount(); g++) groups.push(m.group(g));
      const named: Record<string, string | null> = {};
      for (const [name, idx] of names) named[name] = m.group(idx);
      matches.push({
        match: m.group(0) ?? "",
        start: m.start(),
        end: m.end(),
        groups,
        named_groups: named,
      });
    }
    const first = matches[0];
    return {
      matched: first !== undefined,
      match: first?.match ?? null,
      groups: first?.groups ?? [],
      named_groups: first?.named_groups ?? {},
      count: matches.length,
      matches,
      truncated,
    };
  },
});
