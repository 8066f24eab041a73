/**
 * @module Which provider and model an `llm.chat` call goes to, what it is priced at, and how many
 * tokens it is estimated to use before it is made (the budget reservation, SPEC §7).
 */
import type { LlmConfig, LlmPrice, LlmProviderConfig } from "../../core/llm-config.js";

/** A chat message as `llm.chat` takes it. */
export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

/** The fields of an `llm.chat` input that choose the target and size the prompt. */
export interface ChatRequest {
  readonly provider?: string | undefined;
  readonly model?: string | undefined;
  readonly messages: readonly ChatMessage[];
  readonly system?: string | undefined;
  readonly max_tokens: number;
}

/** A resolved call target. */
export interface ChatTarget {
  readonly providerName: string;
  readonly provider: LlmProviderConfig;
  readonly model: string;
  /** Null when the price table has neither `<provider>/<model>` nor `<model>`. */
  readonly price: LlmPrice | null;
}

/** Why a target cannot be resolved, and the input field at fault (`[]`: the whole input). */
export interface TargetProblem {
  readonly path: readonly string[];
  readonly message: string;
}

/** Per-message framing tokens added to the character estimate (role markers, separators). */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/**
 * Resolves provider (named, else `default_provider`, else the only provider) and model (named,
 * else the provider's `default_model`), and looks the price up.
 */
export function resolveTarget(
  config: LlmConfig | null,
  req: Pick<ChatRequest, "provider" | "model">,
): ChatTarget | TargetProblem {
  const names = Object.keys(config?.providers ?? {});
  if (!config || names.length === 0) {
    return { path: [], message: "no LLM provider is configured (llm.providers in airun.yaml)" };
  }
  const providerName =
    req.provider ?? config.defaultProvider ?? (names.length === 1 ? names[0] : undefined);
  if (providerName === undefined) {
    return {
      path: ["provider"],
      message: `provider is required: several are configured (${names.join(", ")}) and llm.default_provider is not set`,
    };
  }
  const provider = config.providers[providerName];
  if (!provider) {
    return {
      path: ["provider"],
      message: `unknown LLM provider "${providerName}" (configured: ${names.join(", ")})`,
    };
  }
  const model = req.model ?? provider.defaultModel;
  if (model === null) {
    return {
      path: ["model"],
      message: `model is required: provider "${providerName}" has no default_model`,
    };
  }
  const price = config.prices[`${providerName}/${model}`] ?? config.prices[model] ?? null;
  return { providerName, provider, model, price };
}

/** True when `resolveTarget` failed. */
export function isProblem(t: ChatTarget | TargetProblem): t is TargetProblem {
  return "message" in t;
}

/**
 * Estimated prompt tokens: one token per 4 characters of every message and the system prompt,
 * plus `MESSAGE_OVERHEAD_TOKENS` per message. An estimate, not a tokenizer: the call settles
 * with the provider's own count.
 */
export function estimatePromptTokens(req: Pick<ChatRequest, "messages" | "system">): number {
  let chars = req.system?.length ?? 0;
  for (const m of req.messages) chars += m.content.length;
  const framed = req.messages.length + (req.system ? 1 : 0);
  return Math.ceil(chars / 4) + framed * MESSAGE_OVERHEAD_TOKENS;
}

/** Cost in USD of the given token counts at `price` (0 without a price), rounded to 1e-10. */
export function costUsd(price: LlmPrice | null, inputTokens: number, outputTokens: number): number {
  if (!price) return 0;
  const usd = (inputTokens * price.inputPerMtok + outputTokens * price.outputPerMtok) / 1_000_000;
  return Math.round(usd * 1e10) / 1e10;
}
