/**
 * @module The OpenAI Chat Completions wire format, spoken by OpenAI and by the many servers
 * compatible with it (vLLM, Ollama, LiteLLM, OpenRouter…): `POST {base_url}/chat/completions`
 * with `Authorization: Bearer <key>`; the answer's text is `choices[0].message.content` and its
 * usage `usage.prompt_tokens / completion_tokens / total_tokens`.
 */
import type { JsonObject } from "../../core/json.js";
import { count, str, type WireFormat, type WireReply } from "./llm-wire.js";

/** The Chat Completions API. The step's `system` goes first, as a `system` message. */
export const openaiWire = Object.freeze<WireFormat>({
  kind: "openai",
  buildRequest(target, call, apiKey) {
    const messages = [
      ...(call.system ? [{ role: "system", content: call.system }] : []),
      ...call.messages.map((m) => ({ role: m.role, content: m.content })),
    ];
    const body: JsonObject = { model: target.model, messages, max_tokens: call.max_tokens };
    if (call.temperature !== undefined) body.temperature = call.temperature;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
    };
    if (apiKey !== null) headers.authorization = `Bearer ${apiKey}`;
    return { url: `${target.provider.baseUrl}/chat/completions`, headers, body };
  },
  parseReply(json): WireReply {
    const r = json as {
      id?: unknown;
      model?: unknown;
      choices?: { message?: { content?: unknown }; finish_reason?: unknown }[];
      usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown };
    } | null;
    const choice = Array.isArray(r?.choices) ? r.choices[0] : undefined;
    if (typeof choice !== "object" || choice === null) {
      throw new TypeError("the answer has no choices[0]");
    }
    const content = choice.message?.content;
    if (content !== undefined && content !== null && typeof content !== "string") {
      throw new TypeError("choices[0].message.content is not a string");
    }
    return {
      content: content ?? "",
      stopReason: str(choice.finish_reason),
      inputTokens: count(r?.usage?.prompt_tokens),
      outputTokens: count(r?.usage?.completion_tokens),
      totalTokens: count(r?.usage?.total_tokens),
      responseId: str(r?.id),
      model: str(r?.model),
    };
  },
});
