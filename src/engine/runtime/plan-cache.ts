/**
 * @module Compiled plans by spec file and text hash, least recently used first: a worker
 * running one workflow many times compiles it once. Plans are frozen, so sharing them is safe.
 */
import type { CapabilityCatalog } from "../../core/capability.js";
import { formatProblem, ValidationError } from "../../core/errors.js";
import { sha256Hex } from "../../core/hash.js";
import { DEFAULT_LIMITS } from "../../core/limits.js";
import type { Plan } from "../../core/plan.js";
import { validateSpec } from "../../core/spec-compile.js";
import type { YamlLimits } from "../../core/yaml-source.js";

/** A bounded cache of compiled plans. */
export class PlanCache {
  readonly #plans = new Map<string, Plan>();
  readonly #catalog: CapabilityCatalog;
  readonly #size: number;
  readonly #limits: YamlLimits;
  readonly #onWarning: (message: string) => void;

  /** `onWarning` hears a spec's warnings (`file:line:col: field: message`) when it is compiled. */
  constructor(
    catalog: CapabilityCatalog,
    limits: YamlLimits = DEFAULT_LIMITS,
    size = 64,
    onWarning: (message: string) => void = () => {},
  ) {
    this.#catalog = catalog;
    this.#limits = limits;
    this.#size = size;
    this.#onWarning = onWarning;
  }

  /** The plan of `text` (from `file`), compiled once. Throws ValidationError for a bad spec. */
  compile(file: string, text: string): Plan {
    const key = `${file}\0${sha256Hex(text)}`;
    let plan = this.#plans.get(key);
    if (plan) {
      this.#plans.delete(key);
    } else {
      const compiled = validateSpec({ file, text }, this.#catalog, this.#limits);
      for (const w of compiled.warnings) this.#onWarning(formatProblem(w));
      if (!compiled.plan) throw new ValidationError(compiled.problems, { location: file });
      plan = compiled.plan;
      if (this.#plans.size >= this.#size) {
        this.#plans.delete(this.#plans.keys().next().value as string);
      }
    }
    this.#plans.set(key, plan);
    return plan;
  }
}
