/**
 * @module `sys.info.get_time`, `sys.info.get_os` and `sys.info.get_env_var`: facts about the
 * machine a run executes on, with the original project's input and output names. No effect and
 * nothing to undo, but not pure: their outputs depend on when and where they run, so a replay
 * serves the recorded outputs.
 *
 * `get_env_var` reads only variables named in `sandbox.env.allow` (anything else fails with
 * `SANDBOX_VIOLATION`, whether set or not), and its value is treated like a secret: the output
 * carries `***`, never the value, so it is never recorded, logged or passed on. A call that
 * needs the value itself reads it with `${{ secrets.NAME }}` at the moment of the call.
 */
import { arch, hostname, type as osType, platform, release } from "node:os";
import { z } from "zod";
import type { CapabilityContext, CapabilityDefinition } from "../../core/capability.js";
import { SandboxError } from "../../core/errors.js";
import { MASK } from "../../core/redact.js";

const timeInput = z.strictObject({
  /** `iso8601` (default) or `unix` (seconds). */
  format: z.enum(["iso8601", "unix"]).default("iso8601"),
  /** An IANA zone (`Europe/Paris`) or `UTC` (default); ISO times carry the zone's offset. */
  timezone: z
    .string()
    .max(64)
    .refine(validZone, { message: "not a time zone this runtime knows (IANA name or UTC)" })
    .default("UTC"),
});
type TimeInput = z.output<typeof timeInput>;

function validZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** `date` as ISO 8601 in `zone`, with its offset (`2026-12-03T14:05:00.123+01:00`; `Z` in UTC). */
export function isoInZone(date: Date, zone: string): string {
  if (zone.toUpperCase() === "UTC") return date.toISOString();
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  const local = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  const offsetMin = Math.round((local - (date.getTime() - date.getUTCMilliseconds())) / 60_000);
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  const pad = (n: number) => String(n).padStart(2, "0");
  const ms = String(date.getUTCMilliseconds()).padStart(3, "0");
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}.${ms}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** `sys.info.get_time {format?, timezone?}` → `{timestamp, unix_ms, timezone}`. */
export const getTime: CapabilityDefinition<
  TimeInput,
  { timestamp: string | number; unix_ms: number; timezone: string }
> = Object.freeze({
  name: "sys.info.get_time",
  description: "The current time (ISO 8601 or Unix seconds) in a time zone (no effect).",
  input: timeInput,
  output: z.object({
    timestamp: z.union([z.string(), z.number()]),
    unix_ms: z.number().int(),
    timezone: z.string(),
  }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  nondeterministic: true,
  async execute({ format, timezone }: TimeInput) {
    const now = new Date();
    const timestamp =
      format === "unix" ? Math.floor(now.getTime() / 1000) : isoInZone(now, timezone);
    return { timestamp, unix_ms: now.getTime(), timezone };
  },
});

const osInput = z.strictObject({});

/** `sys.info.get_os {}` → `{os, platform, release, arch, hostname, node_version}`. */
export const getOs: CapabilityDefinition<
  Record<string, never>,
  {
    os: string;
    platform: string;
    release: string;
    arch: string;
    hostname: string;
    node_version: string;
  }
> = Object.freeze({
  name: "sys.info.get_os",
  description: "The operating system, architecture and host name the run executes on (no effect).",
  input: osInput,
  output: z.object({
    os: z.string(),
    platform: z.string(),
    release: z.string(),
    arch: z.string(),
    hostname: z.string(),
    node_version: z.string(),
  }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  nondeterministic: true,
  async execute() {
    return {
      os: osType(),
      platform: platform(),
      release: release(),
      arch: arch(),
      hostname: hostname(),
      node_version: process.versions.node,
    };
  },
});

const envInput = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name"),
});

/** Output of `sys.info.get_env_var`: whether it is set; the value is always masked. */
export interface EnvVarOutput {
  readonly name: string;
  readonly found: boolean;
  /** `***` when set (the value is a secret), null when not. */
  readonly value: string | null;
}

/**
 * `sys.info.get_env_var {name}` → `{name, found, value}`. The value is masked (see module doc).
 * Bound to an environment at registry creation (default `process.env`).
 */
export function createGetEnvVar(
  env: Readonly<Record<string, string | undefined>> = process.env,
): CapabilityDefinition<z.output<typeof envInput>, EnvVarOutput> {
  const allowed = (name: string, ctx: CapabilityContext) => {
    if (!(ctx.sandbox.envAllow ?? []).includes(name)) {
      throw new SandboxError(`environment variable "${name}" is not in sandbox.env.allow`, {
        capability: "sys.info.get_env_var",
        variable: name,
      });
    }
  };
  return Object.freeze({
    name: "sys.info.get_env_var",
    description:
      "Whether an allowlisted environment variable is set; its value is masked like a secret.",
    input: envInput,
    output: z.object({ name: z.string(), found: z.boolean(), value: z.string().nullable() }),
    risk: "LOW",
    effect: "read",
    idempotent: true,
    undo: "none",
    nondeterministic: true,
    async preflight({ name }: z.output<typeof envInput>, ctx: CapabilityContext) {
      allowed(name, ctx);
    },
    async execute({ name }: z.output<typeof envInput>, ctx: CapabilityContext) {
      allowed(name, ctx);
      const value = env[name];
      return { name, found: value !== undefined, value: value === undefined ? null : MASK };
    },
  });
}
