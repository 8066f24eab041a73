/**
 * @module What `airun validate` says about the inputs a valid spec will need: the required
 * inputs without a default, and a seed spec's undeclared names (`{{ account_id }}`), which
 * resolve at run time (SPEC §4) instead of failing validation.
 */
import type { Plan } from "../core/plan.js";
import { RUN_NAMES } from "../core/seed-names.js";

/** Inputs a run of `plan` must be given, and undeclared names it resolves as it runs. */
export interface RunTimeNames {
  /** Required inputs without a default (declared, or undeclared names nothing else gives). */
  readonly needed: readonly string[];
  /** Undeclared names an earlier step's outputs (or the run's id or time) may give. */
  readonly resolved: readonly string[];
}

/** The inputs `plan` needs and the undeclared names it resolves at run time. */
export function runTimeNames(plan: Plan): RunTimeNames {
  const needed: string[] = [];
  const resolved: string[] = [];
  for (const [name, input] of Object.entries(plan.inputs)) {
    if (input.required && input.default === undefined) needed.push(name);
    else if (input.undeclared) resolved.push(name);
  }
  return { needed, resolved };
}

/** Human lines for `runTimeNames` (none when there is nothing to say). */
export function describeRunTimeNames(names: RunTimeNames): string[] {
  const lines: string[] = [];
  if (names.needed.length > 0) {
    lines.push(
      `inputs the run will need: ${names.needed.join(", ")} (${names.needed.map((n) => `--input ${n}=…`).join(" ")})`,
    );
  }
  for (const name of names.resolved) {
    const last =
      RUN_NAMES[name] === "id"
        ? ", else the run's id"
        : RUN_NAMES[name]
          ? ", else the run's start time"
          : "";
    lines.push(
      `{{ ${name} }} resolves at run time: --input ${name}=…, else the output of a step listed before${last}`,
    );
  }
  return lines;
}
