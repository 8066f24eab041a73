/**
 * @module Tests of `llm.chat` (src/capabilities/llm/) end to end against a real loopback server
 * speaking the OpenAI Chat Completions and Anthropic Messages wire formats.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createLlmChat,
  type LlmChatInput,
  type LlmChatOutput,
} from "../../../src/capabilities/llm/llm-chat.js";
import { CapabilityError } from "../../../src/core/errors.js";
import { compileLlmConfig, type LlmConfig } from "../../../src/core/llm-config.js";
import { type LlmServer, startLlmServer } from "../../support/llm-server.js";
import { makeCtx } from "../helpers.js";

const OPENAI_KEY = "sk-test-0123456789abcdef-openai";
const ANTHROPIC_KEY = "sk-ant-test-9876543210-anthropic";
const env = { OPENAI_KEY, ANTHROPIC_KEY };

let srv: LlmServer;
let config: LlmConfig;
beforeAll(async () => {
  srv = await startLlmServer();
  config = compileLlmConfig({
    providers: {
      openai: { base_url: `${srv.origin}/v1/`, api_key_env: "OPENAI_KEY", default_model: "gpt-x" },
      anthropic: { base_url: `${srv.origin}/v1`, api_key_env: "ANTHROPIC_KEY" },
      local: { base_url: `${srv.origin}/v1`, timeout: "150ms" },
      nokey: { base_url: `${srv.origin}/v1`, api_key_env: "NOT_SET_ANYWHERE" },
    },
    prices: {
      "gpt-x": { input_per_mtok: 2, output_per_mtok: 8 },
      "anthropic/claude-y": { input_per_mtok: 3, output_per_mtok: 15 },
      "claude-y": { input_per_mtok: 1000, output_per_mtok: 1000 },
    },
    default_provider: "openai",
  });
});
afterAll(async () => {
  await srv.close();
});
beforeEach(() => srv.reset());

const chat = () => createLlmChat(config, { env });

function call(raw: Record<string, unknown>, signal?: AbortSignal): Promise<LlmChatOutput> {
  const cap = chat();
  const input = cap.input.parse(raw) as LlmChatInput;
  return cap.execute(input, makeCtx(signal ? { signal } : {}));
}

async function failure(p: Promise<unknown>): Promise<CapabilityError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CapabilityError);
  return err as CapabilityError;
}

const hello = [{ role: "user", content: "Say hello." }];

describe("llm.chat over the OpenAI Chat Completions wire format", () => {
  it("POSTs /chat/completions with a bearer key and the body as specified, and reads content and usage", async () => {
    srv.reply({ content: "Hello!", usage: { input: 120, output: 30 }, id: "chatcmpl-42" });
    const out = await call({
      model: "gpt-x",
      system: "Be brief.",
      messages: hello,
      max_tokens: 64,
      temperature: 0.2,
    });
    const [req] = srv.requests;
    expect(req?.method).toBe("POST");
    expect(req?.path).toBe("/v1/chat/completions");
    expect(req?.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(req?.headers["content-type"]).toBe("application/json");
    expect(req?.body).toEqual({
      model: "gpt-x",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Say hello." },
      ],
      max_tokens: 64,
      temperature: 0.2,
    });
    expect(out).toEqual({
      provider: "openai",
      model: "gpt-x",
      response_model: "gpt-x",
      content: "Hello!",
      stop_reason: "stop",
      usage: { input_tokens: 120, output_tokens: 30, total_tokens: 150 },
      usage_reported: true,
      // 120 * $2/M + 30 * $8/M
      cost_usd: 0.00048,
      priced: true,
      response_id: "chatcmpl-42",
    });
  });

  it("uses the default provider and its default model when the step names neither, and leaves temperature out", async () => {
    const out = await call({ messages: hello, max_tokens: 5 });
    expect(out.provider).toBe("openai");
    expect(out.model).toBe("gpt-x");
    expect(srv.requests[0]?.body).toEqual({ model: "gpt-x", messages: hello, max_tokens: 5 });
  });

  it("sends no Authorization header to a provider without api_key_env", async () => {
    await call({ provider: "local", model: "llama", messages: hello, max_tokens: 5 });
    expect(srv.requests[0]?.headers.authorization).toBeUndefined();
  });
});

describe("llm.chat over the Anthropic Messages wire format", () => {
  it("POSTs /messages with x-api-key and anthropic-version, lifts system messages, joins text blocks", async () => {
    srv.reply({
      content: "Bonjour tout le monde",
      usage: { input: 1000, output: 200 },
      id: "msg_9",
    });
    const out = await call({
      provider: "anthropic",
      model: "claude-y",
      system: "You are terse.",
      messages: [
        { role: "system", content: "Answer in French." },
        { role: "user", content: "Greet everyone." },
        { role: "assistant", content: "Bon" },
        { role: "user", content: "More." },
      ],
      max_tokens: 300,
    });
    const [req] = srv.requests;
    expect(req?.path).toBe("/v1/messages");
    expect(req?.headers["x-api-key"]).toBe(ANTHROPIC_KEY);
    expect(req?.headers["anthropic-version"]).toBe("2023-06-01");
    expect(req?.headers.authorization).toBeUndefined();
    expect(req?.body).toEqual({
      model: "claude-y",
      max_tokens: 300,
      system: "You are terse.\n\nAnswer in French.",
      messages: [
        { role: "user", content: "Greet everyone." },
        { role: "assistant", content: "Bon" },
        { role: "user", content: "More." },
      ],
    });
    // The provider-qualified price wins over the bare model's: 1000 * $3/M + 200 * $15/M.
    expect(out).toMatchObject({
      provider: "anthropic",
      content: "Bonjour tout le monde",
      stop_reason: "end_turn",
      usage: { input_tokens: 1000, output_tokens: 200, total_tokens: 1200 },
      cost_usd: 0.006,
      priced: true,
      response_id: "msg_9",
    });
  });
});

describe("llm.chat usage, cost and budgets", () => {
  it("reserves the prompt estimate plus max_tokens, and settles with the tokens and cost the provider reported", async () => {
    const cap = chat();
    const input = cap.input.parse({
      model: "gpt-x",
      messages: [{ role: "user", content: "x".repeat(400) }],
      max_tokens: 1000,
    }) as LlmChatInput;
    // 400 chars / 4 + 4 framing tokens = 104 prompt tokens, plus 1000 reserved for the answer.
    const reserved = cap.estimateUsage!(input);
    expect(reserved.tokens).toBe(1104);
    expect(reserved.costUsd).toBeCloseTo((104 * 2 + 1000 * 8) / 1e6, 12);
    srv.reply({ usage: { input: 90, output: 12 } });
    const out = await cap.execute(input, makeCtx());
    const settled = cap.actualUsage!(out, input);
    expect(settled).toEqual({ tokens: 102, costUsd: (90 * 2 + 12 * 8) / 1e6 });
    expect(settled.tokens!).toBeLessThan(reserved.tokens!);
  });

  it("settles at the reservation when the recorded usage is not a number (a redacted record)", () => {
    const cap = chat();
    const input = cap.input.parse({ messages: hello, max_tokens: 10 }) as LlmChatInput;
    const masked = { usage: { total_tokens: "***" }, cost_usd: 0 } as unknown as LlmChatOutput;
    expect(cap.actualUsage!(masked, input)).toEqual(cap.estimateUsage!(input));
  });

  it("prices an unknown model at 0 and says priced: false", async () => {
    const out = await call({ provider: "local", model: "mystery", messages: hello, max_tokens: 9 });
    expect(out).toMatchObject({ cost_usd: 0, priced: false, usage: { total_tokens: 18 } });
    const cap = chat();
    const input = cap.input.parse({
      provider: "local",
      model: "mystery",
      messages: hello,
      max_tokens: 9,
    });
    expect(cap.estimateUsage!(input as LlmChatInput).costUsd).toBe(0);
  });

  it("falls back to the estimate (usage_reported: false) when the provider reports no usage", async () => {
    srv.reply({ usage: null });
    const out = await call({
      model: "gpt-x",
      messages: [{ role: "user", content: "abcdefgh" }],
      max_tokens: 50,
    });
    // 8 chars / 4 + 4 = 6 prompt tokens; the whole max_tokens is assumed for the answer.
    expect(out.usage).toEqual({ input_tokens: 6, output_tokens: 50, total_tokens: 56 });
    expect(out.usage_reported).toBe(false);
    expect(out.cost_usd).toBeCloseTo((6 * 2 + 50 * 8) / 1e6, 12);
  });
});

describe("llm.chat failures", () => {
  it("fails retryably on 429 and succeeds when the next attempt gets 200", async () => {
    srv.reply(
      { status: 429, errorMessage: "slow down", headers: { "retry-after": "2" } },
      { content: "ok now" },
    );
    const input = { messages: hello, max_tokens: 5 };
    const err = await failure(call(input));
    expect(err.code).toBe("LLM_HTTP_STATUS");
    expect(err.retryable).toBe(true);
    expect(err.context).toMatchObject({ status: 429, retry_after_ms: 2000, provider: "openai" });
    expect(err.message).toContain("slow down");
    expect((await call(input)).content).toBe("ok now");
    expect(srv.requests).toHaveLength(2);
  });

  it("fails retryably on a 5xx", async () => {
    srv.reply({ status: 529, errorMessage: "Overloaded" });
    const err = await failure(
      call({ provider: "anthropic", model: "claude-y", messages: hello, max_tokens: 5 }),
    );
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("api_error: Overloaded");
  });

  it("fails without retry on a 400 and carries the provider's message", async () => {
    srv.reply({ status: 400, errorMessage: "max_tokens is too large for this model" });
    const err = await failure(call({ messages: hello, max_tokens: 5 }));
    expect(err.code).toBe("LLM_HTTP_STATUS");
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(
      'LLM provider "openai" answered HTTP 400: invalid_request_error: max_tokens is too large for this model',
    );
  });

  it("refuses a call whose API key variable is unset, naming the variable, without sending anything", async () => {
    const err = await failure(
      call({ provider: "nokey", model: "m", messages: hello, max_tokens: 5 }),
    );
    expect(err.code).toBe("LLM_API_KEY_MISSING");
    expect(err.retryable).toBe(false);
    expect(err.message).toContain("NOT_SET_ANYWHERE");
    expect(srv.requests).toHaveLength(0);
  });

  it("stops waiting when the step's signal aborts, with a retryable TIMEOUT", async () => {
    srv.reply({ delayMs: 3000 });
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(new Error("step timeout")), 50);
    const err = await failure(call({ messages: hello, max_tokens: 5 }, ac.signal));
    expect(Date.now() - started).toBeLessThan(1500);
    expect(err.code).toBe("TIMEOUT");
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("step timed out or was cancelled");
  });

  it("stops waiting at the provider's own timeout", async () => {
    srv.reply({ delayMs: 3000 });
    const err = await failure(
      call({ provider: "local", model: "m", messages: hello, max_tokens: 5 }),
    );
    expect(err.code).toBe("TIMEOUT");
    expect(err.message).toContain("150 ms");
  });

  it("does not follow a redirect", async () => {
    srv.reply({ status: 307, headers: { location: "http://127.0.0.1:1/elsewhere" }, rawBody: "" });
    const err = await failure(call({ messages: hello, max_tokens: 5 }));
    expect(err.code).toBe("LLM_REDIRECT");
    expect(err.retryable).toBe(false);
    expect(srv.requests).toHaveLength(1);
  });

  it("fails without retry on a 200 whose body is not a chat answer", async () => {
    srv.reply({ rawBody: "<html>proxy login</html>" }, { rawBody: '{"choices":[]}' });
    expect((await failure(call({ messages: hello, max_tokens: 5 }))).code).toBe("LLM_BAD_RESPONSE");
    const err = await failure(call({ messages: hello, max_tokens: 5 }));
    expect(err.code).toBe("LLM_BAD_RESPONSE");
    expect(err.message).toContain("choices[0]");
  });

  it("fails retryably when nothing listens at the base URL", async () => {
    const dead = compileLlmConfig({ providers: { openai: { base_url: "http://127.0.0.1:1/v1" } } });
    const cap = createLlmChat(dead, { env });
    const input = cap.input.parse({ model: "m", messages: hello, max_tokens: 5 }) as LlmChatInput;
    const err = await failure(cap.execute(input, makeCtx()));
    expect(err.code).toBe("NETWORK_ERROR");
    expect(err.retryable).toBe(true);
  });
});

describe("llm.chat keeps the API key secret", () => {
  it("masks the key in outputs and error messages even when the provider echoes it", async () => {
    srv.reply(
      { content: `your key is ${OPENAI_KEY}`, id: OPENAI_KEY },
      { status: 401, errorMessage: `Incorrect API key provided: ${OPENAI_KEY}` },
      { status: 500, rawBody: `upstream rejected ${OPENAI_KEY}` },
    );
    const out = await call({ messages: hello, max_tokens: 5 });
    const errors = [
      await failure(call({ messages: hello, max_tokens: 5 })),
      await failure(call({ messages: hello, max_tokens: 5 })),
    ];
    expect(srv.requests).toHaveLength(3);
    expect(out.content).toBe("your key is ***");
    const everything = JSON.stringify([out, errors.map((e) => [e.message, e.context])]);
    expect(everything).not.toContain(OPENAI_KEY);
    expect(errors[0]?.message).toContain("Incorrect API key provided: ***");
    expect(errors[1]?.message).toContain("upstream rejected ***");
  });

  it("refuses a key that cannot be an HTTP header value without printing it", async () => {
    const cap = createLlmChat(config, { env: { OPENAI_KEY: "sk-bad\u0001key" } });
    const input = cap.input.parse({ messages: hello, max_tokens: 5 }) as LlmChatInput;
    const err = await failure(cap.execute(input, makeCtx()));
    expect(err.code).toBe("LLM_API_KEY_INVALID");
    expect(err.message).not.toContain("sk-bad");
  });
});

describe("llm.chat input validation against the llm config", () => {
  const problems = (raw: Record<string, unknown>, cfg: LlmConfig | null = config) => {
    const r = createLlmChat(cfg, { env }).input.safeParse(raw);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };

  it("accepts a complete input and requires max_tokens as a positive integer", () => {
    expect(problems({ model: "gpt-x", messages: hello, max_tokens: 1 })).toEqual([]);
    expect(problems({ messages: hello }).join()).toContain("max_tokens");
    expect(problems({ messages: hello, max_tokens: 0 }).join()).toContain("max_tokens");
    expect(problems({ messages: hello, max_tokens: 1.5 }).join()).toContain("max_tokens");
  });

  it("names an unknown provider and the configured ones", () => {
    expect(problems({ provider: "mistral", messages: hello, max_tokens: 5 })).toEqual([
      'provider: unknown LLM provider "mistral" (configured: openai, anthropic, local, nokey)',
    ]);
  });

  it("requires a model when the provider has no default_model", () => {
    expect(problems({ provider: "anthropic", messages: hello, max_tokens: 5 })).toEqual([
      'model: model is required: provider "anthropic" has no default_model',
    ]);
  });

  it("refuses every call when no provider is configured", () => {
    expect(problems({ model: "m", messages: hello, max_tokens: 5 }, null)).toEqual([
      ": no LLM provider is configured (llm.providers in airun.yaml)",
    ]);
  });

  it("requires a provider when several are configured without a default", () => {
    const two = compileLlmConfig({
      providers: { a: { base_url: "http://a.test" }, b: { base_url: "http://b.test" } },
    });
    expect(problems({ model: "m", messages: hello, max_tokens: 5 }, two).join()).toContain(
      "provider is required",
    );
  });

  it("refuses a conversation made only of system messages", () => {
    expect(
      problems({ messages: [{ role: "system", content: "s" }], max_tokens: 5 }).join(),
    ).toContain("at least one user or assistant message");
  });
});
