/**
 * @module A step's timing: its timeout (`timeout` as a duration, or seed `timeout_seconds`) and
 * its retry policy (`retry` mapping, or seed `max_retries`), fully defaulted.
 */
import { parseDuration } from "./duration.js";
import { isPlainObject } from "./json.js";
import type { RetryPolicy } from "./plan.js";
import type { SpecContext } from "./spec-context.js";
import type { FieldPath } from "./yaml-source.js";

/** Retry policy of a step that declares none: one attempt. */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 1,
  backoff: "exponential",
  initialDelayMs: 200,
  maxDelayMs: 5000,
});

const RETRY_KEYS = ["max_attempts", "backoff", "initial_delay", "max_delay"];

/** A duration (`"30s"`, `"5m"` or milliseconds) in milliseconds, reporting a malformed one. */
function duration(ctx: SpecContext, v: unknown, path: FieldPath, what: string): number | undefined {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.report(path, `${what} must be a duration like "30s", "5m" or milliseconds`);
  }
  return ms;
}

/** The step's timeout in milliseconds (`timeout` or `timeout_seconds`), or null for none. */
export function stepTimeout(
  ctx: SpecContext,
  raw: Record<string, unknown>,
  path: FieldPath,
): number | null {
  if (raw.timeout !== undefined && raw.timeout_seconds !== undefined) {
    ctx.report(
      [...path, "timeout_seconds"],
      "give either `timeout` or `timeout_seconds`, not both",
    );
    return null;
  }
  if (raw.timeout !== undefined && raw.timeout !== null) {
    const ms = duration(ctx, raw.timeout, [...path, "timeout"], "timeout");
    if (ms === 0) ctx.report([...path, "timeout"], "timeout must be greater than zero");
    return ms ?? null;
  }
  if (raw.timeout_seconds !== undefined && raw.timeout_seconds !== null) {
    const s = raw.timeout_seconds;
    if (typeof s !== "number" || !(s > 0) || !Number.isFinite(s)) {
      ctx.report([...path, "timeout_seconds"], "timeout_seconds must be a positive number");
      return null;
    }
    return Math.round(s * 1000);
  }
  return null;
}

/** The step's frozen retry policy: `DEFAULT_RETRY` overridden by `retry` or `max_retries`. */
export function retryPolicy(
  ctx: SpecContext,
  raw: Record<string, unknown>,
  path: FieldPath,
): RetryPolicy {
  const out: { -readonly [K in keyof RetryPolicy]: RetryPolicy[K] } = { ...DEFAULT_RETRY };
  const r = raw.retry;
  if (r !== undefined && r !== null) {
    const rp = [...path, "retry"];
    if (!isPlainObject(r)) ctx.report(rp, "retry must be a mapping");
    else {
      ctx.checkKeys(r, RETRY_KEYS, rp, "retry");
      if (r.max_attempts !== undefined) {
        const n = r.max_attempts;
        if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
          ctx.report(
            [...rp, "max_attempts"],
            "max_attempts must be an integer >= 1 (1 means a single attempt)",
          );
        } else out.maxAttempts = n;
      }
      if (r.backoff !== undefined) {
        if (r.backoff !== "exponential" && r.backoff !== "fixed") {
          ctx.report([...rp, "backoff"], 'backoff must be "exponential" or "fixed"');
        } else out.backoff = r.backoff;
      }
      if (r.initial_delay !== undefined) {
        out.initialDelayMs =
          duration(ctx, r.initial_delay, [...rp, "initial_delay"], "initial_delay") ??
          out.initialDelayMs;
      }
      if (r.max_delay !== undefined) {
        out.maxDelayMs =
          duration(ctx, r.max_delay, [...rp, "max_delay"], "max_delay") ?? out.maxDelayMs;
      }
      if (out.initialDelayMs > out.maxDelayMs) {
        ctx.report(rp, "initial_delay must not exceed max_delay");
      }
    }
  }
  if (raw.max_retries !== undefined) {
    const n = raw.max_retries;
    const mp = [...path, "max_retries"];
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
      ctx.report(mp, "max_retries must be an integer >= 0 (retries after the first attempt)");
    } else if (isPlainObject(r) && r.max_attempts !== undefined) {
      ctx.report(mp, "give either `retry.max_attempts` or `max_retries`, not both");
    } else out.maxAttempts = n + 1;
  }
  return Object.freeze(out);
}
