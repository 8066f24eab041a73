/**
 * @module How much Airun reads before it refuses: the size and nesting of run inputs and of the
 * YAML files it is given (specs, policies, its own config), and the YAML aliases a document may
 * expand. Every limit has a safe default and, except the config file's own, can be set under
 * `limits:` in `airun.yaml` (README, "Configuration"). Keys that could reach an object's
 * prototype (`__proto__`, `constructor`, `prototype`) are refused wherever data comes in.
 */

/** The limits in force (compiled from `limits:` in `airun.yaml`). */
export interface Limits {
  /** Deepest nesting of a run's inputs (objects and arrays). */
  readonly inputDepth: number;
  /** Largest run inputs, as JSON (an `--inputs` file, `--input` values, SDK inputs). */
  readonly inputBytes: number;
  /** Largest workflow spec file. */
  readonly specBytes: number;
  /** Largest policy file (and policy test-case file). */
  readonly policyBytes: number;
  /** Deepest nesting of a YAML spec or policy (collections; the top-level mapping is 1). */
  readonly yamlDepth: number;
  /**
   * How far a YAML document's aliases may expand (the `yaml` library's `maxAliasCount`: 0
   * forbids aliases). Billion-laughs documents are refused long before they grow.
   */
  readonly yamlAliases: number;
}

/** The limits when `airun.yaml` sets none. */
export const DEFAULT_LIMITS: Limits = Object.freeze({
  inputDepth: 64,
  inputBytes: 1024 * 1024,
  specBytes: 4 * 1024 * 1024,
  policyBytes: 1024 * 1024,
  yamlDepth: 64,
  yamlAliases: 100,
});

/**
 * The config file is read before its `limits:` are known, so it has fixed ones: at most 1 MiB,
 * and the default YAML depth and alias limits.
 */
export const CONFIG_FILE_BYTES = 1024 * 1024;

/** The `airun.yaml` key of each limit, for messages (`limits.input_depth`). */
export const LIMIT_KEYS: Readonly<Record<keyof Limits, string>> = Object.freeze({
  inputDepth: "limits.input_depth",
  inputBytes: "limits.input_bytes",
  specBytes: "limits.spec_bytes",
  policyBytes: "limits.policy_bytes",
  yamlDepth: "limits.yaml_depth",
  yamlAliases: "limits.yaml_aliases",
});

/** Upper bounds of the configurable limits (a deeper YAML document would make the parser recurse too far). */
export const LIMIT_CEILINGS = Object.freeze({
  inputDepth: 1024,
  yamlDepth: 256,
  yamlAliases: 100_000,
});

/** Keys refused in every object that comes in: they could reach or replace a prototype. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  "__proto__",
  "constructor",
  "prototype",
]);

/** The message for a forbidden key. */
export function forbiddenKeyMessage(key: string): string {
  return `the key "${key}" is not allowed (it could reach an object's prototype)`;
}
