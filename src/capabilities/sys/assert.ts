/**
 * @module `sys.assert`: fails unless `that` is exactly `true`. The engine resolves templates
 * before the call, so `that: "${{ inputs.x > 3 }}"` arrives as a boolean; a string, a number or
 * any other truthy value does not pass.
 */
import { z } from "zod";
import type { CapabilityDefinition } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import type { JsonValue } from "../../core/json.js";

/** Input of `sys.assert`. */
export const sysAssertInput = z.object({
  that: z.json() as z.ZodType<JsonValue>,
  message: z.string().optional(),
});
/** Parsed input of `sys.assert`. */
export type SysAssertInput = z.output<typeof sysAssertInput>;

/** Output of `sys.assert` when it holds. */
export interface SysAssertOutput {
  readonly ok: true;
}

/** `sys.assert`: passes when `that === true`, else fails with `ASSERTION_FAILED` (not retryable). */
export const sysAssert: CapabilityDefinition<SysAssertInput, SysAssertOutput> = Object.freeze({
  name: "sys.assert",
  description: "Fails unless `that` (an already evaluated expression) is true.",
  input: sysAssertInput,
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  pure: true,
  async execute({ that, message }: SysAssertInput): Promise<SysAssertOutput> {
    if (that === true) return { ok: true };
    const shown = JSON.stringify(that) ?? String(that);
    throw new CapabilityError(
      "ASSERTION_FAILED",
      message ?? `assertion failed: expected true, got ${shown.slice(0, 200)}`,
      {
        retryable: false,
        context: {
          capability: "sys.assert",
          actual: shown.length <= 200 ? that : `${shown.slice(0, 200)}…`,
        },
      },
    );
  },
});
