/**
 * @module Retry delays: exponential (or fixed) backoff, capped, with jitter that only lengthens.
 */
import type { RetryPolicy } from "../core/plan.js";

/**
 * Delay before attempt `nextAttempt` (2 for the first retry): the nominal backoff
 * (`initial_delay`, doubled per retry when exponential, capped at `max_delay`) plus up to half of
 * it again at random, so retries of many runs do not stampede together. Jitter only lengthens a
 * delay, never past `max_delay`: no retry fires before the delay its policy promises.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  nextAttempt: number,
  random: () => number = Math.random,
): number {
  const n = Math.max(0, nextAttempt - 2);
  const base = policy.backoff === "fixed" ? policy.initialDelayMs : policy.initialDelayMs * 2 ** n;
  const capped = Math.min(policy.maxDelayMs, base);
  const ceiling = Math.max(capped, Math.min(policy.maxDelayMs, capped * 1.5));
  return Math.round(capped + random() * (ceiling - capped));
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
