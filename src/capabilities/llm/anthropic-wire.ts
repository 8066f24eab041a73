/**
 * @module The Anthropic Messages API wire format: `POST {base_url}/messages` (base URL like
 * `https://api.anthropic.com/v1`) with `x-api-key` and `anthropic-version`. The API has no
 * `system` role inside `messages`: the step's `system` and every system message are lifted into
 * the top-level `system` field, joined by a blank line. The answer's text is the concatenation of
 * its `text` content blocks; usage is `usage.input_tokens / output_tokens` (prompt-cache reads
 * and writes, when reported, are counted as input).
 */
import type { JsonObject } from "../../core/json.js";
import { count, str, type WireFormat, type WireReply } from "./llm-wire.js";

/** The API version sent in `anthropic-version`. */
export const ANTHROPIC_VERSION = "2023-06-01";

/** The Messages API. */
export const anthropicWire = Object.freeze<WireFormat>({
  kind: "anthropic",
  buildRequest(target, call, apiKey) {
    const system = [
      ...(call.system ? [call.system] : []),
      ...call.messages.filter((m) => m.role === "system").map((m) => m.content),
    ].join("\n\n");
    const messages = call.messages
      .filter((m) => m.role !== "system")
      .map((m) => ({ role: m.role, content: m.content }));
    const body: JsonObject = { model: target.model, max_tokens: call.max_tokens };
    if (system !== "") body.system = system;
    body.messages = messages;
    if (call.temperature !== undefined) body.temperature = call.temperature;
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json",
      "anthropic-version": ANTHROPIC_VERSION,
    };
    if (apiKey !== null) headers["x-api-key"] = apiKey;
    return { url: `${target.provider.baseUrl}/messages`, headers, body };
  },
  parseReply(json): WireReply {
    const r = json as {
      id?: unknown;
      model?: unknown;
      content?: unknown;
      stop_reason?: unknown;
      usage?: Record<string, unknown>;
    } | null;
    if (!Array.isArray(r?.content)) throw new TypeError("the answer has no content array");
    let content = "";
    for (const block of r.content as { type?: unknown; text?: unknown }[]) {
      if (block?.type === "text" && typeof block.text === "string") content += block.text;
    }
    const usage = r.usage ?? {};
    const base = count(usage.input_tokens);
    const input =
      base === null
        ? null
        : base +
          (count(usage.cache_creation_input_tokens) ?? 0) +
          (count(usage.cache_read_input_tokens) ?? 0);
    const output = count(usage.output_tokens);
    return {
      content,
      stopReason: str(r.stop_reason),
      inputTokens: input,
      outputTokens: output,
      totalTokens: input !== null && output !== null ? input + output : null,
      responseId: str(r.id),
      model: str(r.model),
    };
  },
});
