/**
 * @module Durations: `"250ms"`, `"30s"`, `"5m"`, `"24h"`, `"7d"` or a number of milliseconds.
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration into milliseconds. Returns `undefined` for anything that is not a
 * non-negative finite duration, so callers can report the field that holds it.
 *
 * @example parseDuration("5m") // 300000
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]) * (UNIT_MS[m[2] ?? "ms"] ?? 1);
  return Number.isFinite(n) ? Math.round(n) : undefined;
}
