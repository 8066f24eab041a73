/**
 * @module `llm.chat`: one chat completion from an OpenAI-compatible (Chat Completions) or
 * Anthropic (Messages API) provider configured under `llm.providers`, over plain HTTP (no SDK).
 *
 * Budgets (SPEC §7): `estimateUsage` reserves the prompt estimate plus the request's `max_tokens`
 * and their price before the call; `actualUsage` settles with the provider's token counts and
 * their price from `llm.prices`. A model missing from the price table costs 0 and its output
 * says `priced: false` (a `max_tokens` budget still bounds it; a `max_cost_usd` budget cannot).
 *
 * The API key is read from the environment variable the provider names, at call time; it never
 * enters inputs, outputs or errors (it is masked out of provider messages and answers). The
 * output is the whole answer the run needs, recorded with the step (redacted like any output),
 * so that replay serves it instead of calling the provider again.
 */
import { z } from "zod";
import type { CapabilityDefinition, Usage } from "../../core/capability.js";
import { CapabilityError } from "../../core/errors.js";
import { isPlainObject } from "../../core/json.js";
import type { LlmConfig, LlmProviderKind } from "../../core/llm-config.js";
import { redact } from "../../core/redact.js";
import { anthropicWire } from "./anthropic-wire.js";
import { postJson, scrub } from "./llm-http.js";
import {
  type ChatTarget,
  costUsd,
  estimatePromptTokens,
  isProblem,
  resolveTarget,
} from "./llm-target.js";
import type { WireFormat, WireReply } from "./llm-wire.js";
import { openaiWire } from "./openai-wire.js";

const WIRES: Readonly<Record<LlmProviderKind, WireFormat>> = {
  openai: openaiWire,
  anthropic: anthropicWire,
};

/** The input fields of `llm.chat`, before the checks that depend on the `llm:` config. */
export const llmChatInputShape = z.object({
  /** A name under `llm.providers`; default `llm.default_provider`, else the only provider. */
  provider: z.string().min(1).optional(),
  /** Default: the provider's `default_model`. */
  model: z.string().min(1).optional(),
  messages: z
    .array(
      z.strictObject({
        role: z.enum(["system", "user", "assistant"]),
        content: z.string(),
      }),
    )
    .min(1),
  /** Upper bound on the answer's tokens: what the budget reserves. */
  max_tokens: z.number().int().positive(),
  temperature: z.number().min(0).max(2).optional(),
  /** A system prompt, sent before the messages. */
  system: z.string().optional(),
});
/** Parsed input of `llm.chat`. */
export type LlmChatInput = z.output<typeof llmChatInputShape>;

/** Output of `llm.chat`. */
export const llmChatOutput = z.object({
  provider: z.string(),
  /** The model asked for (the price table is keyed by it). */
  model: z.string(),
  /** The model the provider says answered, when it says (often a dated version). */
  response_model: z.string().nullable(),
  content: z.string(),
  /** `finish_reason` (OpenAI) or `stop_reason` (Anthropic), as the provider said it. */
  stop_reason: z.string().nullable(),
  usage: z.object({
    input_tokens: z.number(),
    output_tokens: z.number(),
    total_tokens: z.number(),
  }),
  /** False when the provider reported no usage: the counts are the pre-call estimate. */
  usage_reported: z.boolean(),
  cost_usd: z.number(),
  /** False when `llm.prices` has no entry for the model: `cost_usd` is 0. */
  priced: z.boolean(),
  response_id: z.string().nullable(),
});
/** Output of `llm.chat`. */
export type LlmChatOutput = z.output<typeof llmChatOutput>;

/** Options of `createLlmChat`. */
export interface LlmChatOptions {
  /** Where API keys are read at call time. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * `llm.chat` bound to an `llm:` config. The input schema checks the provider and model against
 * that config, so a workflow naming an unknown provider fails validation, not mid-run.
 *
 * @example
 * const chat = createLlmChat(config.llm, { env: process.env });
 * registry.register(chat);
 */
export function createLlmChat(
  config: LlmConfig | null,
  options: LlmChatOptions = {},
): CapabilityDefinition<LlmChatInput, LlmChatOutput> {
  const env = options.env ?? process.env;
  // Runs even when other fields are broken (a templated `messages`, say), so that an unknown
  // provider is still reported when a workflow is validated; `v` is only loosely typed here.
  const input = llmChatInputShape.superRefine(
    (v, issues) => {
      const name = (x: unknown) => (typeof x === "string" ? x : undefined);
      const target = resolveTarget(config, { provider: name(v.provider), model: name(v.model) });
      if (isProblem(target)) {
        issues.addIssue({ code: "custom", path: [...target.path], message: target.message });
      }
      const messages: unknown = v.messages;
      if (
        Array.isArray(messages) &&
        messages.length > 0 &&
        messages.every((m) => (m as { role?: unknown } | null)?.role === "system")
      ) {
        issues.addIssue({
          code: "custom",
          path: ["messages"],
          message: "at least one user or assistant message is required",
        });
      }
    },
    { when: (payload) => isPlainObject(payload.value) },
  );
  const targetOf = (v: LlmChatInput): ChatTarget => {
    const target = resolveTarget(config, v);
    if (isProblem(target)) {
      throw new CapabilityError("LLM_UNKNOWN_TARGET", target.message, {
        retryable: false,
        context: { capability: "llm.chat" },
      });
    }
    return target;
  };
  const estimate = (v: LlmChatInput): Usage => {
    const prompt = estimatePromptTokens(v);
    const target = resolveTarget(config, v);
    const price = isProblem(target) ? null : target.price;
    return { tokens: prompt + v.max_tokens, costUsd: costUsd(price, prompt, v.max_tokens) };
  };

  return Object.freeze({
    name: "llm.chat",
    description:
      "Chat completion from a configured LLM provider (OpenAI-compatible or Anthropic); " +
      "reports token usage and cost; the answer is recorded for replay.",
    input,
    output: llmChatOutput,
    risk: "LOW",
    effect: "network",
    // Each call is billed and answers differently: a timed-out call is not silently re-sent.
    idempotent: false,
    undo: "none",
    nondeterministic: true,
    estimateUsage: estimate,
    actualUsage(output: LlmChatOutput, v: LlmChatInput): Usage {
      const tokens = output?.usage?.total_tokens;
      const cost = output?.cost_usd;
      // Recorded outputs may have been redacted; settle at the reservation rather than at 0.
      if (typeof tokens !== "number" || typeof cost !== "number") return estimate(v);
      return { tokens, costUsd: cost };
    },
    async execute(v: LlmChatInput, ctx): Promise<LlmChatOutput> {
      const target = targetOf(v);
      const key = apiKey(target, env);
      const wire = WIRES[target.provider.kind];
      const json = await postJson(wire.buildRequest(target, v, key), {
        providerName: target.providerName,
        signal: ctx.signal,
        timeoutMs: target.provider.timeoutMs,
        secret: key,
      });
      const out = toOutput(wire, json, target, v, key);
      return key === null ? out : (redact(out, { secrets: [key] }) as LlmChatOutput);
    },
  } satisfies CapabilityDefinition<LlmChatInput, LlmChatOutput>);
}

/** Characters an HTTP header value may hold (visible ASCII): anything else is refused early. */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

/** The provider's API key from the environment, read now; null when it needs none. */
function apiKey(
  target: ChatTarget,
  env: Readonly<Record<string, string | undefined>>,
): string | null {
  const name = target.provider.apiKeyEnv;
  if (name === null) return null;
  const context = { capability: "llm.chat", provider: target.providerName, env: name };
  const value = env[name]?.trim();
  if (!value) {
    throw new CapabilityError(
      "LLM_API_KEY_MISSING",
      `environment variable ${name} (API key of LLM provider "${target.providerName}") is not set`,
      { retryable: false, context },
    );
  }
  if (!HEADER_SAFE.test(value)) {
    throw new CapabilityError(
      "LLM_API_KEY_INVALID",
      `environment variable ${name} holds characters an HTTP header cannot carry`,
      { retryable: false, context },
    );
  }
  return value;
}

/** The capability's output from a 2xx answer; missing usage falls back to the estimate. */
function toOutput(
  wire: WireFormat,
  json: unknown,
  target: ChatTarget,
  v: LlmChatInput,
  key: string | null,
): LlmChatOutput {
  let reply: WireReply;
  try {
    reply = wire.parseReply(json);
  } catch (err) {
    throw new CapabilityError(
      "LLM_BAD_RESPONSE",
      scrub(
        `LLM provider "${target.providerName}" answered with an unexpected body: ${(err as Error).message}`,
        key,
      ),
      { retryable: false, context: { capability: "llm.chat", provider: target.providerName } },
    );
  }
  const reported = reply.inputTokens !== null && reply.outputTokens !== null;
  const inputTokens = reply.inputTokens ?? estimatePromptTokens(v);
  const outputTokens = reply.outputTokens ?? v.max_tokens;
  return {
    provider: target.providerName,
    model: target.model,
    response_model: reply.model,
    content: reply.content,
    stop_reason: reply.stopReason,
    usage: {
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      total_tokens: (reported ? reply.totalTokens : null) ?? inputTokens + outputTokens,
    },
    usage_reported: reported,
    cost_usd: costUsd(target.price, inputTokens, outputTokens),
    priced: target.price !== null,
    response_id: reply.responseId,
  };
}
