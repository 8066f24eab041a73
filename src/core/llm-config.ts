/**
 * @module The `llm:` section of `airun.yaml` (SPEC §12): LLM providers (wire format, base URL,
 * the environment variable holding the API key), a price table and the default provider. The zod
 * schema is part of the config schema (so problems carry file, line and field); `compileLlmConfig`
 * turns the parsed section into a frozen, typed `LlmConfig` for `llm.chat`.
 */
import { z } from "zod";
import { parseDuration } from "./duration.js";
import { isPlainObject } from "./json.js";

/** The wire format a provider speaks. */
export type LlmProviderKind = "openai" | "anthropic";

/** One LLM endpoint, compiled. */
export interface LlmProviderConfig {
  /** `openai`: Chat Completions (OpenAI and compatible servers); `anthropic`: Messages API. */
  readonly kind: LlmProviderKind;
  /** Base URL without a trailing slash (`https://api.openai.com/v1`). */
  readonly baseUrl: string;
  /** Environment variable read at call time for the API key; null: no key is sent. */
  readonly apiKeyEnv: string | null;
  /** Model used when a step names none; null: steps must name one. */
  readonly defaultModel: string | null;
  /** Time limit of one request in ms; null: only the step's timeout applies. */
  readonly timeoutMs: number | null;
}

/** The price of a model, in US dollars per million tokens. */
export interface LlmPrice {
  readonly inputPerMtok: number;
  readonly outputPerMtok: number;
}

/** The compiled `llm:` section. */
export interface LlmConfig {
  readonly providers: Readonly<Record<string, LlmProviderConfig>>;
  /** By `"<provider>/<model>"` or `"<model>"`; the provider-qualified entry wins. */
  readonly prices: Readonly<Record<string, LlmPrice>>;
  /** Provider used when a step names none; null: the only provider, if there is exactly one. */
  readonly defaultProvider: string | null;
}

const positiveDuration = z
  .union([z.string(), z.number()])
  .refine((v) => (parseDuration(v) ?? 0) > 0, {
    message: 'expected a duration longer than 0, like "30s", "2m" or milliseconds',
  });

const price = z.number().finite().nonnegative();

/** The schema of the `llm:` section as written in `airun.yaml`. */
export const llmConfigSchema = z
  .strictObject({
    providers: z
      .record(
        z.string().regex(/^[a-z][a-z0-9_-]*$/, "expected a lower-case provider name"),
        z.strictObject({
          kind: z.enum(["openai", "anthropic"]).optional(),
          base_url: z.string().regex(/^https?:\/\/[^\s/?#]+[^\s?#]*$/, "expected an http(s) URL"),
          api_key_env: z
            .string()
            .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name")
            .optional(),
          default_model: z.string().min(1).optional(),
          timeout: positiveDuration.optional(),
        }),
      )
      .optional(),
    prices: z
      .record(z.string().min(1), z.strictObject({ input_per_mtok: price, output_per_mtok: price }))
      .optional(),
    default_provider: z.string().min(1).optional(),
  })
  .superRefine(
    (v, issues) => {
      // Runs even when other fields are broken (see `when`), so `v` is only loosely typed here.
      const providers = isPlainObject(v.providers) ? v.providers : {};
      if (typeof v.default_provider === "string" && !Object.hasOwn(providers, v.default_provider)) {
        issues.addIssue({
          code: "custom",
          path: ["default_provider"],
          message: `default_provider "${v.default_provider}" is not one of llm.providers`,
        });
      }
    },
    { when: (payload) => isPlainObject(payload.value) },
  );

/** The `llm:` section as parsed by `llmConfigSchema`. */
export type LlmConfigInput = z.output<typeof llmConfigSchema>;

/** A provider named `anthropic…` speaks the Messages API unless `kind` says otherwise. */
function kindFromName(name: string): LlmProviderKind {
  return name.startsWith("anthropic") ? "anthropic" : "openai";
}

/**
 * Compiles a parsed `llm:` section into a frozen `LlmConfig`.
 *
 * @example
 * compileLlmConfig({ providers: { anthropic: { base_url: "https://api.anthropic.com/v1", api_key_env: "ANTHROPIC_API_KEY" } } })
 * // providers.anthropic.kind === "anthropic"
 */
export function compileLlmConfig(raw: LlmConfigInput): LlmConfig {
  const providers: Record<string, LlmProviderConfig> = {};
  for (const [name, p] of Object.entries(raw.providers ?? {})) {
    providers[name] = Object.freeze({
      kind: p.kind ?? kindFromName(name),
      baseUrl: p.base_url.replace(/\/+$/, ""),
      apiKeyEnv: p.api_key_env ?? null,
      defaultModel: p.default_model ?? null,
      timeoutMs: p.timeout === undefined ? null : parseDuration(p.timeout)!,
    });
  }
  const prices: Record<string, LlmPrice> = {};
  for (const [key, p] of Object.entries(raw.prices ?? {})) {
    prices[key] = Object.freeze({
      inputPerMtok: p.input_per_mtok,
      outputPerMtok: p.output_per_mtok,
    });
  }
  return Object.freeze({
    providers: Object.freeze(providers),
    prices: Object.freeze(prices),
    defaultProvider: raw.default_provider ?? null,
  });
}
