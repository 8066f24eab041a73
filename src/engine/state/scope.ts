/**
 * @module What templates of a run see, and how the secrets they read stay out of every record:
 * `templateScope` resolves `secrets.NAME` from the environment at the moment of the call (or
 * as the mask `***` for what is recorded), and `maskError` masks, in an error's message, the
 * value of every secret the run's plan reads.
 */
import type { AirunError } from "../../core/errors.js";
import type { ExprScope } from "../../core/expr.js";
import type { JsonValue } from "../../core/json.js";
import { MASK, redact } from "../../core/redact.js";
import { collectSecretNames } from "../../core/template.js";
import type { RunState } from "./run-state.js";

/**
 * The variables templates see; `secrets.NAME` resolve from the environment at call time (as the
 * mask when `mask`), and each value read is noted in `usedSecrets` so outputs can be masked.
 */
export function templateScope(
  state: RunState,
  usedSecrets: Map<string, string> | null,
  mask = false,
): ExprScope {
  const env = state.ctx.settings.env;
  return {
    vars: state.scopeVars(),
    secret: (name) => {
      const value = env[name];
      if (value === undefined) return undefined;
      usedSecrets?.set(name, value);
      return mask ? MASK : value;
    },
  };
}

/**
 * Masks, in place, the values of the secrets the run's plan reads wherever they occur in an
 * error's message (and stack), before the error is recorded or printed: a capability may
 * quote its inputs in a message (`sys.fail`, a URL, a path).
 */
export function maskError(state: RunState, e: AirunError): AirunError {
  const env = state.ctx.settings.env;
  const values: string[] = [];
  for (const ps of state.plan.steps) {
    const when = ps.when === null || ps.when.includes("{{") ? ps.when : `\${{ ${ps.when} }}`;
    const sources = [
      ps.inputs,
      when,
      ps.compensation?.inputs ?? null,
      ps.approval?.message ?? null,
    ];
    for (const name of collectSecretNames(sources as JsonValue)) {
      const value = env[name];
      if (value) values.push(value);
    }
  }
  if (values.length > 0 && values.some((v) => e.message.includes(v))) {
    e.message = redact(e.message, { secrets: values }) as string;
    if (e.stack) e.stack = redact(e.stack, { secrets: values }) as string;
  }
  return e;
}
