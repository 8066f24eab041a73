/**
 * @module Retry delays: exponential (or fixed) backoff with equal jitter, capped.
 */
import type { RetryPolicy } from "../core/plan.js";

/**
 * Delay before attempt `nextAttempt` (2 for the first retry). Equal jitter: half the computed
 * delay is fixed, half random, so retries of many runs do not stampede together.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  nextAttempt: number,
  random: () => number = Math.random,
): number {
  const n = Math.max(0, nextAttempt - 2);
  const base = policy.backoff === "fixed" ? policy.initialDelayMs : policy.initialDelayMs * 2 ** n;
  const capped = Math.min(policy.maxDelayMs, base);
  return Math.round(capped / 2 + random() * (capped / 2));
}

/** Resolves after `ms`, or rejects early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
