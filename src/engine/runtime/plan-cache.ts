/**
 * @module Compiled plans by spec file and text hash, least recently used first: a worker
 * running one workflow many times compiles it once. Plans are frozen, so sharing them is safe.
 */
import type { CapabilityCatalog } from "../../core/capability.js";
import { sha256Hex } from "../../core/hash.js";
import { DEFAULT_LIMITS } from "../../core/limits.js";
import type { Plan } from "../../core/plan.js";
import { compileSpec } from "../../core/spec-compile.js";
import type { YamlLimits } from "../../core/yaml-source.js";

/** A bounded cache of compiled plans. */
export class PlanCache {
  readonly #plans = new Map<string, Plan>();
  readonly #catalog: CapabilityCatalog;
  readonly #size: number;
  readonly #limits: YamlLimits;

  constructor(catalog: CapabilityCatalog, limits: YamlLimits = DEFAULT_LIMITS, size = 64) {
    this.#catalog = catalog;
    this.#limits = limits;
    this.#size = size;
  }

  /** The plan of `text` (from `file`), compiled once. Throws ValidationError for a bad spec. */
  compile(file: string, text: string): Plan {
    const key = `${file}\0${sha256Hex(text)}`;
    let plan = this.#plans.get(key);
    if (plan) {
      this.#plans.delete(key);
    } else {
      plan = compileSpec({ file, text }, this.#catalog, this.#limits);
      if (this.#plans.size >= this.#size) {
        this.#plans.delete(this.#plans.keys().next().value as string);
      }
    }
    this.#plans.set(key, plan);
    return plan;
  }
}
