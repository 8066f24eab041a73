/** @module Tests of the configuration compiler (src/core/config.ts). */
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  compileConfig,
  DEFAULT_CANCEL_POLL_MS,
  DEFAULT_CONCURRENCY,
  DEFAULT_MAX_BEFORE_IMAGE_BYTES,
  DEFAULT_RECOVERY_CONCURRENCY,
  DEFAULT_REDACT,
} from "../../src/core/config.js";
import { ValidationError } from "../../src/core/errors.js";
import { DEFAULT_LIMITS } from "../../src/core/limits.js";

const cwd = path.resolve("/work/project");
const noEnv = {};

function problemsOf(text: string) {
  try {
    compileConfig({ file: "airun.yaml", text }, { cwd, env: noEnv });
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return (err as ValidationError).problems;
  }
  throw new Error("expected a ValidationError");
}

describe("compileConfig", () => {
  it("fills every default when there is no config file", () => {
    const c = compileConfig(null, { cwd, env: noEnv });
    expect(c).toEqual({
      file: null,
      baseDir: cwd,
      home: path.join(cwd, ".airun"),
      store: { kind: "sqlite", synchronous: "FULL" },
      policy: null,
      policyHook: null,
      principals: {},
      principal: null,
      telemetry: null,
      sandbox: {
        fsRoots: [cwd],
        httpAllowHosts: [],
        httpAllowPrivate: false,
        execAllow: [],
        envAllow: [],
        maxBeforeImageBytes: DEFAULT_MAX_BEFORE_IMAGE_BYTES,
      },
      approvals: { timeoutMs: 86_400_000, onTimeout: "reject", approvers: [], webhook: null },
      audit: { level: "DETAILED", redact: [...DEFAULT_REDACT] },
      llm: null,
      databases: {},
      plugins: [],
      capabilities: [],
      engine: {
        concurrency: DEFAULT_CONCURRENCY,
        defaultTimeoutMs: 300_000,
        leaseTtlMs: 15_000,
        heartbeatMs: 5_000,
        recoveryConcurrency: DEFAULT_RECOVERY_CONCURRENCY,
        cancelPollMs: DEFAULT_CANCEL_POLL_MS,
      },
      limits: DEFAULT_LIMITS,
      mcp: {
        principal: null,
        sessionName: "mcp",
        governance: null,
        idleTimeoutMs: 300_000,
        upstreams: [],
      },
    });
    expect(Object.isFrozen(c.sandbox.fsRoots)).toBe(true);
  });

  it("compiles the mcp section: an agent principal, a governance file, upstreams with their tools' defaults", () => {
    const c = compileConfig(
      {
        file: "/p/airun.yaml",
        text: `mcp:
  principal: agent:claude
  governance: gov.yaml
  idle_timeout: 30s
  upstreams:
    fs:
      command: npx
      args: [-y, "@modelcontextprotocol/server-filesystem", ws]
      tools:
        read_text_file: { risk: LOW, effect: read, idempotent: true }
        write_file: { undo: { capture: read_text_file, restore: write_file } }
`,
      },
      { cwd: "/p", env: {} },
    );
    expect(c.mcp).toMatchObject({
      principal: "agent:claude",
      governance: path.resolve("/p/gov.yaml"),
      idleTimeoutMs: 30_000,
    });
    expect(c.mcp.upstreams[0]).toMatchObject({
      name: "fs",
      command: "npx",
      url: null,
      tools: {
        read_text_file: { risk: "LOW", effect: "read", idempotent: true, undo: "none" },
        write_file: {
          risk: "MEDIUM",
          effect: "write",
          undo: {
            capture: "read_text_file",
            restore: "write_file",
            path: "path",
            content: "content",
            result: "content",
          },
        },
      },
    });
  });

  it("refuses a non-agent MCP principal, an upstream with both command and url, and a bad inline envelope, naming each line", () => {
    let err: unknown;
    try {
      compileConfig(
        {
          file: "/p/airun.yaml",
          text: `mcp:
  principal: user:alice
  governance: { budgets: { max_tool_calls: -1 } }
  upstreams:
    both: { command: x, url: "http://127.0.0.1:1/mcp" }
`,
        },
        { cwd: "/p", env: {} },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    const problems = (err as ValidationError).problems;
    expect(problems.map((p) => [p.line, p.field])).toEqual([
      [2, "mcp.principal"],
      [3, "mcp.governance.budgets.max_tool_calls"],
      [5, "mcp.upstreams.both"],
    ]);
    expect(problems[0]?.message).toContain("agent principal");
  });

  it("resolves relative paths against the config file's folder", () => {
    const text = `home: state
store: sqlite
sqlite: { synchronous: NORMAL }
policy: policies.yaml
principals:
  user:alice: { roles: [sre] }
  service:ci: { roles: [], token_sha256: "${"a".repeat(64)}" }
sandbox:
  fs: { roots: [".", "../shared", "/abs"] }
  http: { allow_hosts: ["api.example.com"], allow_private: true }
  exec: { allow: [git] }
  max_before_image: 10MB
approvals: { timeout: 2h, on_timeout: approve, approvers: ["role:sre"], webhook: { url: "https://hooks.example.com/x", secret_env: HOOK_SECRET } }
audit: { level: FORENSIC, redact: [password] }
llm: { providers: { openai: { base_url: "https://api.openai.com/v1", api_key_env: OPENAI_API_KEY } } }
plugins: ["./capabilities/cloud.js", "airun-plugin-aws"]
engine: { concurrency: 8, default_timeout: 1m, lease_ttl: 30s, heartbeat: 10s, recovery_concurrency: 100 }
`;
    const c = compileConfig({ file: "conf/airun.yaml", text }, { cwd, env: noEnv });
    const dir = path.join(cwd, "conf");
    expect(c.file).toBe(path.join(dir, "airun.yaml"));
    expect(c.home).toBe(path.join(dir, "state"));
    expect(c.store).toEqual({ kind: "sqlite", synchronous: "NORMAL" });
    expect(c.policy).toBe(path.join(dir, "policies.yaml"));
    expect(c.principals).toEqual({
      "user:alice": { roles: ["sre"], tokenSha256: null },
      "service:ci": { roles: [], tokenSha256: "a".repeat(64) },
    });
    expect(c.sandbox).toEqual({
      fsRoots: [dir, path.join(cwd, "shared"), path.resolve("/abs")],
      httpAllowHosts: ["api.example.com"],
      httpAllowPrivate: true,
      execAllow: ["git"],
      envAllow: [],
      maxBeforeImageBytes: 10 * 1024 * 1024,
    });
    expect(c.approvals).toEqual({
      timeoutMs: 7_200_000,
      onTimeout: "approve",
      approvers: ["role:sre"],
      webhook: {
        url: "https://hooks.example.com/x",
        secretEnv: "HOOK_SECRET",
        events: ["approval.requested", "approval.decided", "approval.expired", "approval.voided"],
        maxAttempts: 5,
        backoffMs: 500,
        maxBackoffMs: 30_000,
        timeoutMs: 10_000,
      },
    });
    expect(c.audit).toEqual({ level: "FORENSIC", redact: ["password"] });
    expect(c.llm).toMatchObject({ providers: { openai: { apiKeyEnv: "OPENAI_API_KEY" } } });
    expect(c.plugins).toEqual([path.join(dir, "capabilities/cloud.js"), "airun-plugin-aws"]);
    expect(c.engine).toEqual({
      concurrency: 8,
      defaultTimeoutMs: 60_000,
      leaseTtlMs: 30_000,
      heartbeatMs: 10_000,
      recoveryConcurrency: 100,
      cancelPollMs: 100,
    });
  });

  it("uses the config file's folder as the default sandbox root", () => {
    const c = compileConfig(
      { file: "/srv/app/airun.yaml", text: "store: sqlite\n" },
      { cwd, env: noEnv },
    );
    expect(c.sandbox.fsRoots).toEqual([path.resolve("/srv/app")]);
  });

  it("takes home from the flag, then AIRUN_HOME, then the file", () => {
    const source = { file: "airun.yaml", text: "home: from-file\n" };
    const env = { AIRUN_HOME: "/env/home" };
    expect(compileConfig(source, { cwd, env, home: "flag-home" }).home).toBe(
      path.join(cwd, "flag-home"),
    );
    expect(compileConfig(source, { cwd, env }).home).toBe(path.resolve("/env/home"));
    expect(compileConfig(source, { cwd, env: noEnv }).home).toBe(path.join(cwd, "from-file"));
  });

  it("accepts a postgres URL as the store", () => {
    const c = compileConfig(
      { file: "airun.yaml", text: "store: postgres://u@db/airun\n" },
      { cwd, env: noEnv },
    );
    expect(c.store).toEqual({ kind: "postgres", url: "postgres://u@db/airun" });
  });

  it("takes the store from AIRUN_STORE over the file, and refuses anything but sqlite or postgres://", () => {
    const source = { file: "airun.yaml", text: "store: sqlite\n" };
    const env = { AIRUN_STORE: "postgresql://u@db/other?schema=s" };
    expect(compileConfig(source, { cwd, env }).store).toEqual({
      kind: "postgres",
      url: "postgresql://u@db/other?schema=s",
    });
    expect(compileConfig(null, { cwd, env: { AIRUN_STORE: "sqlite" } }).store.kind).toBe("sqlite");
    expect(() => compileConfig(null, { cwd, env: { AIRUN_STORE: "mysql://x" } })).toThrow(
      /AIRUN_STORE.*expected "sqlite" or a postgres/,
    );
  });

  it("treats an empty file as all defaults", () => {
    expect(
      compileConfig({ file: "airun.yaml", text: "" }, { cwd, env: noEnv }).engine.concurrency,
    ).toBe(4);
  });

  it("reports every problem with its line and field, unknown keys included", () => {
    const text = `home: .airun
stroe: sqlite
sandbox:
  fs: { roots: "." }
  htp: {}
approvals:
  timeout: soon
principals:
  alice: { roles: [sre] }
engine:
  concurrency: 0
  lease_ttl: 5s
  heartbeat: 5s
`;
    const ps = problemsOf(text);
    expect(ps.map((p) => [p.line, p.field])).toEqual([
      [2, "stroe"],
      [4, "sandbox.fs.roots"],
      [5, "sandbox.htp"],
      [7, "approvals.timeout"],
      [9, "principals.alice"],
      [11, "engine.concurrency"],
    ]);
    expect(ps[0]!.message).toMatch(/unknown key "stroe"/);
    expect(ps.every((p) => p.file === "airun.yaml")).toBe(true);
  });

  it("rejects a heartbeat not shorter than the lease", () => {
    const ps = problemsOf("engine:\n  lease_ttl: 5s\n  heartbeat: 5s\n");
    expect(ps).toMatchObject([
      {
        line: 3,
        field: "engine.heartbeat",
        message: expect.stringMatching(/shorter than lease_ttl/),
      },
    ]);
  });

  it("compiles the webhook's events, retries and timeout, and rejects unknown events and a zero timeout", () => {
    const c = compileConfig(
      {
        file: "airun.yaml",
        text: `approvals:
  webhook:
    url: http://127.0.0.1:9/hook
    events: [approval.requested, run.finished, run.finished]
    max_attempts: 3
    backoff: 10ms
    max_backoff: 1s
    timeout: 2s
`,
      },
      { cwd, env: noEnv },
    );
    expect(c.approvals.webhook).toEqual({
      url: "http://127.0.0.1:9/hook",
      secretEnv: null,
      events: ["approval.requested", "run.finished"],
      maxAttempts: 3,
      backoffMs: 10,
      maxBackoffMs: 1_000,
      timeoutMs: 2_000,
    });
    const ps = problemsOf(
      "approvals:\n  webhook:\n    url: https://h.example/x\n    events: [run.started]\n    timeout: 0\n",
    );
    expect(ps.map((p) => [p.line, p.field])).toEqual([
      [4, "approvals.webhook.events[0]"],
      [5, "approvals.webhook.timeout"],
    ]);
    expect(problemsOf("approvals: { webhook: { url: 'ftp://h/x' } }\n")[0]!.message).toMatch(
      /http\(s\) URL/,
    );
  });

  it("reports YAML syntax errors and a non-mapping document", () => {
    expect(problemsOf("home: [\n").length).toBeGreaterThan(0);
    expect(problemsOf("- a\n- b\n")[0]!.message).toMatch(/must be a YAML mapping/);
  });
});
