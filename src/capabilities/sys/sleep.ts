/**
 * @module `sys.sleep`: waits `ms` milliseconds, or until the call's signal aborts.
 */
import { z } from "zod";
import type { CapabilityDefinition } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";

/** Input of `sys.sleep`. */
export const sysSleepInput = z.object({
  ms: z
    .number()
    .int()
    .nonnegative()
    .max(2 ** 31 - 1),
});
/** Parsed input of `sys.sleep`. */
export type SysSleepInput = z.output<typeof sysSleepInput>;

/** Output of `sys.sleep`: how long it actually slept. */
export interface SysSleepOutput {
  readonly slept_ms: number;
}

/**
 * `sys.sleep`: resolves after `ms` milliseconds; when the step times out or the run is cancelled
 * first, fails with `TIMEOUT` (retryable).
 */
export const sysSleep: CapabilityDefinition<SysSleepInput, SysSleepOutput> = Object.freeze({
  name: "sys.sleep",
  description: "Waits the given number of milliseconds (honours the step timeout).",
  input: sysSleepInput,
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  execute({ ms }: SysSleepInput, ctx: { readonly signal: AbortSignal }): Promise<SysSleepOutput> {
    const started = Date.now();
    const aborted = (cause: unknown) =>
      new CapabilityError(
        "TIMEOUT",
        `sys.sleep aborted after ${Date.now() - started}ms of ${ms}ms`,
        {
          retryable: true,
          context: { capability: "sys.sleep" },
          cause,
        },
      );
    return new Promise((resolve, reject) => {
      if (ctx.signal.aborted) {
        reject(aborted(ctx.signal.reason));
        return;
      }
      const onAbort = () => {
        clearTimeout(timer);
        reject(aborted(ctx.signal.reason));
      };
      const timer = setTimeout(() => {
        ctx.signal.removeEventListener("abort", onAbort);
        resolve({ slept_ms: Date.now() - started });
      }, ms);
      ctx.signal.addEventListener("abort", onAbort, { once: true });
    });
  },
});
