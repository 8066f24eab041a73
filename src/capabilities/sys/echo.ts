/**
 * @module `sys.echo`: returns its inputs as its outputs (for gates, tests and demos).
 */
import { z } from "zod";
import type { CapabilityDefinition } from "../../core/capability.js";
import type { JsonObject } from "../../core/json.js";

/** Input of `sys.echo`: any JSON object. */
export const sysEchoInput: z.ZodType<JsonObject> = z.record(
  z.string(),
  z.json(),
) as z.ZodType<JsonObject>;

/**
 * `sys.echo`: outputs exactly the (resolved) inputs it was given.
 *
 * @example
 * // steps: [{ id: greet, capability: sys.echo, inputs: { text: "hi ${{ inputs.who }}" } }]
 * // → steps.greet.outputs.text
 */
export const sysEcho: CapabilityDefinition<JsonObject, JsonObject> = Object.freeze({
  name: "sys.echo",
  description: "Returns its inputs as its outputs.",
  input: sysEchoInput,
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  async execute(input: JsonObject): Promise<JsonObject> {
    return structuredClone(input);
  },
});
