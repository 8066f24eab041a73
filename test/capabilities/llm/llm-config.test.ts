/**
 * @module Tests of the `llm:` config section (src/core/llm-config.ts through `compileConfig`):
 * the compiled, frozen shape, and problems named by file, line and field.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createStandardRegistry } from "../../../src/capabilities/registry.js";
import { compileConfig } from "../../../src/core/config.js";
import { ValidationError } from "../../../src/core/errors.js";

const cwd = path.resolve("/work/project");

function compile(text: string) {
  return compileConfig({ file: "airun.yaml", text }, { cwd, env: {} });
}

function problemsOf(text: string) {
  try {
    compile(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).problems.map((p) => ({
      where: `${p.file}:${p.line}:${p.field}`,
      message: p.message,
    }));
  }
  throw new Error("expected a ValidationError");
}

describe("the llm config section", () => {
  it("compiles providers, prices and the default provider into a frozen typed object", () => {
    const c = compile(`llm:
  default_provider: claude
  providers:
    openai: { base_url: "https://api.openai.com/v1/", api_key_env: OPENAI_API_KEY, default_model: gpt-4o-mini }
    anthropic: { base_url: "https://api.anthropic.com/v1", api_key_env: ANTHROPIC_API_KEY }
    claude: { kind: anthropic, base_url: "https://proxy.example.com/anthropic/v1", api_key_env: PROXY_KEY, timeout: 90s }
    ollama: { base_url: "http://127.0.0.1:11434/v1" }
  prices:
    gpt-4o-mini: { input_per_mtok: 0.15, output_per_mtok: 0.6 }
    "claude/claude-sonnet-4-5": { input_per_mtok: 3, output_per_mtok: 15 }
`);
    expect(c.llm).toEqual({
      defaultProvider: "claude",
      providers: {
        openai: {
          kind: "openai",
          baseUrl: "https://api.openai.com/v1",
          apiKeyEnv: "OPENAI_API_KEY",
          defaultModel: "gpt-4o-mini",
          timeoutMs: null,
        },
        anthropic: {
          kind: "anthropic",
          baseUrl: "https://api.anthropic.com/v1",
          apiKeyEnv: "ANTHROPIC_API_KEY",
          defaultModel: null,
          timeoutMs: null,
        },
        claude: {
          kind: "anthropic",
          baseUrl: "https://proxy.example.com/anthropic/v1",
          apiKeyEnv: "PROXY_KEY",
          defaultModel: null,
          timeoutMs: 90_000,
        },
        ollama: {
          kind: "openai",
          baseUrl: "http://127.0.0.1:11434/v1",
          apiKeyEnv: null,
          defaultModel: null,
          timeoutMs: null,
        },
      },
      prices: {
        "gpt-4o-mini": { inputPerMtok: 0.15, outputPerMtok: 0.6 },
        "claude/claude-sonnet-4-5": { inputPerMtok: 3, outputPerMtok: 15 },
      },
    });
    expect(Object.isFrozen(c.llm?.providers.openai)).toBe(true);
    expect(Object.isFrozen(c.llm?.prices)).toBe(true);
  });

  it("is null without an llm section", () => {
    expect(compile("store: sqlite\n").llm).toBeNull();
  });

  it("names the file, line and field of every problem", () => {
    const ps = problemsOf(`store: sqlite
llm:
  default_provider: nobody
  providers:
    openai:
      base_url: api.openai.com
      api_key_env: "not a var"
      api_key: sk-literal-keys-are-not-accepted
      timeout: 0s
    anthropic: { kind: gemini, base_url: "https://api.anthropic.com/v1" }
  prices:
    gpt-4o: { input_per_mtok: -1 }
`);
    expect(ps.map((p) => p.where)).toEqual([
      "airun.yaml:3:llm.default_provider",
      "airun.yaml:6:llm.providers.openai.base_url",
      "airun.yaml:7:llm.providers.openai.api_key_env",
      "airun.yaml:8:llm.providers.openai.api_key",
      "airun.yaml:9:llm.providers.openai.timeout",
      "airun.yaml:10:llm.providers.anthropic.kind",
      "airun.yaml:12:llm.prices.gpt-4o.output_per_mtok",
      "airun.yaml:12:llm.prices.gpt-4o.input_per_mtok",
    ]);
    expect(ps[0]?.message).toBe('default_provider "nobody" is not one of llm.providers');
    expect(ps[1]?.message).toBe("expected an http(s) URL");
    expect(ps[3]?.message).toBe('unknown key "api_key"');
  });

  it("gives llm.chat the compiled settings through the standard registry", () => {
    const c = compile(`llm:
  providers:
    openai: { base_url: "https://api.openai.com/v1", default_model: gpt-4o-mini }
`);
    const chat = createStandardRegistry({ llm: c.llm, env: {} }).get("llm.chat");
    expect(chat).toMatchObject({ risk: "LOW", effect: "network", undo: "none", idempotent: false });
    expect(chat?.nondeterministic).toBe(true);
    const ask = { messages: [{ role: "user", content: "hi" }], max_tokens: 5 };
    expect(chat?.input.safeParse(ask).success).toBe(true);
    const unconfigured = createStandardRegistry().get("llm.chat");
    expect(unconfigured?.input.safeParse(ask).success).toBe(false);
  });
});
