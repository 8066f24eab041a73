/**
 * @module `sys.fail`: always fails, retryably when asked (to exercise retries and rollback).
 */
import { z } from "zod";
import type { CapabilityDefinition } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";

/** Input of `sys.fail`. */
export const sysFailInput = z.object({
  message: z.string(),
  retryable: z.boolean().default(false),
  /** The error code raised (upper snake case). */
  code: z
    .string()
    .regex(/^[A-Z][A-Z0-9_]*$/, "an error code is UPPER_SNAKE_CASE")
    .default("SYS_FAIL"),
});
/** Parsed input of `sys.fail`. */
export type SysFailInput = z.output<typeof sysFailInput>;

/** `sys.fail`: throws a `CapabilityError` with the given message, code and retryability. */
export const sysFail: CapabilityDefinition<SysFailInput, never> = Object.freeze({
  name: "sys.fail",
  description: "Always fails with the given message (retryably when asked).",
  input: sysFailInput,
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  pure: true,
  async execute({ message, retryable, code }: SysFailInput): Promise<never> {
    throw new CapabilityError(code, message, { retryable, context: { capability: "sys.fail" } });
  },
});
