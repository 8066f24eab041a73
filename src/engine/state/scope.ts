/**
 * @module What templates of a run see, and how the secrets they read stay out of every record:
 * `templateScope` resolves `secrets.NAME` from the environment at the moment of the call (or
 * as the mask `***` for what is recorded), and the value of every secret the run's plan reads
 * is masked wherever it appears in what is recorded — an output that read it back from a file,
 * an error message, a path — whatever brought it there (as CI systems mask secrets in logs).
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
 * `templateScope` with the step `stepId`'s own outputs visible as `steps.<stepId>.outputs`
 * (and to the seed names it reads): what its compensation resolves against.
 */
export function scopeWithOwnOutputs(
  state: RunState,
  usedSecrets: Map<string, string> | null,
  mask: boolean,
  stepId: string,
  outputs: JsonValue,
): ExprScope {
  const base = templateScope(state, usedSecrets, mask);
  const steps = { ...state.stepScope, [stepId]: { outputs } };
  return { ...base, vars: state.scopeVarsWith(steps) };
}

/**
 * Secrets shorter than this are not masked by value: masking `a` everywhere would garble every
 * output without protecting anything (they are still never resolved into a record).
 */
export const MIN_MASKED_SECRET = 4;

/** The values of the secrets a plan reads, computed once per plan (a session's grows). */
const planSecrets = new WeakMap<object, readonly string[]>();

/**
 * The value of every secret the run's plan reads (`secrets.NAME` in any step's inputs,
 * condition, compensation or approval message), as the environment holds them now.
 */
export function secretValues(state: RunState): readonly string[] {
  const plan = state.plan;
  let values = planSecrets.get(plan);
  if (values === undefined) {
    const env = state.ctx.settings.env;
    const found = new Set<string>();
    for (const ps of plan.steps) {
      const when = ps.when === null || ps.when.includes("{{") ? ps.when : `\${{ ${ps.when} }}`;
      const sources = [
        ps.inputs,
        when,
        ps.compensation?.inputs ?? null,
        ps.approval?.message ?? null,
      ];
      for (const name of collectSecretNames(sources as JsonValue)) {
        const value = env[name];
        if (value && value.length >= MIN_MASKED_SECRET) found.add(value);
      }
    }
    values = Object.freeze([...found]);
    planSecrets.set(plan, values);
  }
  return values;
}

/** `value` with every secret of the run's plan masked (`***`) wherever it occurs. */
export function maskSecrets<T extends JsonValue>(state: RunState, value: T): T {
  const values = secretValues(state);
  return values.length === 0 ? value : (redact(value, { secrets: values }) as T);
}

/**
 * Masks, in place, the values of the secrets the run's plan reads wherever they occur in an
 * error's message (and stack), before the error is recorded or printed: a capability may
 * quote its inputs in a message (`sys.fail`, a URL, a path).
 */
export function maskError(state: RunState, e: AirunError): AirunError {
  const values = secretValues(state);
  if (values.length > 0 && values.some((v) => e.message.includes(v))) {
    e.message = redact(e.message, { secrets: values }) as string;
    if (e.stack) e.stack = redact(e.stack, { secrets: values }) as string;
  }
  return e;
}
