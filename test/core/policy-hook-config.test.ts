/** @module Tests of the `policy_hook` config key (src/core/config.ts). */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { compileConfig, DEFAULT_POLICY_HOOK_TIMEOUT_MS } from "../../src/core/config.js";
import { ValidationError } from "../../src/core/errors.js";

const cwd = path.resolve("/work/project");

function compile(text: string) {
  return compileConfig({ file: "airun.yaml", text }, { cwd, env: {} });
}

function problemsOf(text: string) {
  try {
    compile(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).problems;
  }
  throw new Error("expected a ValidationError");
}

describe("policy_hook in airun.yaml", () => {
  it("is null when absent, and defaults its timeout to 2 seconds", () => {
    expect(compile("home: h\n").policyHook).toBeNull();
    expect(compile('policy_hook: { url: "http://127.0.0.1:9000/decide" }\n').policyHook).toEqual({
      url: "http://127.0.0.1:9000/decide",
      timeoutMs: DEFAULT_POLICY_HOOK_TIMEOUT_MS,
    });
    expect(DEFAULT_POLICY_HOOK_TIMEOUT_MS).toBe(2_000);
  });

  it("accepts a duration or milliseconds as timeout, and loopback names in every spelling", () => {
    expect(
      compile('policy_hook: { url: "http://localhost:1/x", timeout: 500ms }\n').policyHook,
    ).toMatchObject({ timeoutMs: 500 });
    expect(
      compile('policy_hook: { url: "http://[::1]:1/x", timeout: 750 }\n').policyHook,
    ).toMatchObject({ timeoutMs: 750 });
    expect(compile('policy_hook: { url: "https://127.9.9.9/x" }\n').policyHook).not.toBeNull();
  });

  it("accepts a remote host only when sandbox.http.allow_hosts lists it (exactly or by *.domain)", () => {
    const allowed = compile(
      'sandbox:\n  http: { allow_hosts: ["*.corp.example"] }\npolicy_hook: { url: "https://opa.corp.example/v1" }\n',
    );
    expect(allowed.policyHook?.url).toBe("https://opa.corp.example/v1");
    const ps = problemsOf(
      'sandbox:\n  http: { allow_hosts: ["api.example.com"] }\npolicy_hook:\n  url: "https://evil.example.net/decide"\n',
    );
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ line: 4, field: "policy_hook.url" });
    expect(ps[0]?.message).toMatch(/allow_hosts/);
  });

  it("rejects a non-http URL, a zero timeout and unknown keys, each with its line", () => {
    const ps = problemsOf('policy_hook:\n  url: "ftp://127.0.0.1/x"\n  timeout: 0\n  retries: 3\n');
    expect(ps.map((p) => [p.line, p.field])).toEqual([
      [2, "policy_hook.url"],
      [3, "policy_hook.timeout"],
      [4, "policy_hook.retries"],
    ]);
  });
});
