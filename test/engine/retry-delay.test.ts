import { describe, expect, it } from "vitest";
import type { RetryPolicy } from "../../src/core/plan.js";
import { retryDelayMs } from "../../src/engine/retry.js";

const policy = (over: Partial<RetryPolicy> = {}): RetryPolicy => ({
  maxAttempts: 5,
  backoff: "exponential",
  initialDelayMs: 300,
  maxDelayMs: 5_000,
  ...over,
});

describe("retry delays", () => {
  it("the first retry never fires before initial_delay, whatever the jitter", () => {
    expect(retryDelayMs(policy(), 2, () => 0)).toBe(300);
    expect(retryDelayMs(policy(), 2, () => 0.999)).toBeLessThanOrEqual(450);
  });

  it("each delay lies between its nominal backoff and 1.5x of it, never past max_delay", () => {
    expect(retryDelayMs(policy(), 3, () => 0)).toBe(600);
    expect(retryDelayMs(policy(), 5, () => 0)).toBe(2_400);
    expect(retryDelayMs(policy(), 9, () => 0.999)).toBe(5_000);
    expect(retryDelayMs(policy({ backoff: "fixed" }), 6, () => 0)).toBe(300);
    for (let attempt = 2; attempt < 12; attempt++) {
      const nominal = Math.min(5_000, 300 * 2 ** (attempt - 2));
      for (const r of [0, 0.25, 0.5, 0.75, 0.999]) {
        const delay = retryDelayMs(policy(), attempt, () => r);
        expect(delay).toBeGreaterThanOrEqual(nominal);
        expect(delay).toBeLessThanOrEqual(Math.min(5_000, nominal * 1.5));
      }
    }
  });
});
