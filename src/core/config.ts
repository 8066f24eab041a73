/**
 * @module The `airun.yaml` configuration (SPEC §12): validated with zod at the boundary, every
 * problem named by file, line and field, and compiled into a frozen, fully defaulted
 * `AirunConfig` (durations in milliseconds, paths absolute). Pure: the caller reads the file.
 * One file for the whole schema (hence its length): every key of SPEC §12 and its default is
 * found in one place.
 */
import path from "node:path";
import { z } from "zod";
import type { SandboxConfig } from "./capability.js";
import { type CapabilityDeclaration, compileDeclarationMap } from "./capability-decl.js";
import {
  compileDatabases,
  type DatabaseConfig,
  type DatabasesSource,
  databasesSchema,
} from "./database-config.js";
import { parseDuration } from "./duration.js";
import { type Problem, ValidationError } from "./errors.js";
import { compileGovernance } from "./governance.js";
import { isPlainObject, type JsonObject } from "./json.js";
import { DEFAULT_LIMITS, LIMIT_CEILINGS, type Limits } from "./limits.js";
import { compileLlmConfig, type LlmConfig, llmConfigSchema } from "./llm-config.js";
import { principalPatternProblem, principalProblem, roleNameProblem } from "./principal.js";
import { AuditLevel } from "./status.js";
import { parseYamlSource } from "./yaml-source.js";

/** Name of the state directory under the working directory when nothing else is set. */
export const DEFAULT_HOME_DIR = ".airun";
/** Default worker concurrency: steps of one run executing at the same time. */
export const DEFAULT_CONCURRENCY = 4;
/** Interrupted runs prepared at once by a recovery sweep. */
export const DEFAULT_RECOVERY_CONCURRENCY = 32;
/** How often a process holding runs reads the cancel requests made on them elsewhere. */
export const DEFAULT_CANCEL_POLL_MS = 100;
/** Default per-attempt step timeout (5 minutes). */
export const DEFAULT_STEP_TIMEOUT_MS = 5 * 60_000;
/** Default run lease time-to-live (15 seconds). */
export const DEFAULT_LEASE_TTL_MS = 15_000;
/** Default lease heartbeat interval (5 seconds). */
export const DEFAULT_HEARTBEAT_MS = 5_000;
/** Default approval expiry (24 hours). */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 24 * 3_600_000;
/** Largest before-image a file undo keeps by default (64 MiB). */
export const DEFAULT_MAX_BEFORE_IMAGE_BYTES = 64 * 1024 * 1024;
/** Input/output field names redacted by default before anything is persisted. */
export const DEFAULT_REDACT: readonly string[] = Object.freeze([
  "password",
  "token",
  "secret",
  "api_key",
  "authorization",
]);

/** Where state lives: the embedded SQLite database, or a PostgreSQL server. */
export type StoreConfig =
  | { readonly kind: "sqlite"; readonly synchronous: "FULL" | "NORMAL" }
  | { readonly kind: "postgres"; readonly url: string };

/** Roles of a principal and, for the HTTP API, the SHA-256 (hex) of its bearer token. */
export interface PrincipalConfig {
  readonly roles: readonly string[];
  readonly tokenSha256: string | null;
}

/** Default webhook delivery attempts (the first try included). */
export const DEFAULT_WEBHOOK_MAX_ATTEMPTS = 5;
/** Default delay before the first webhook retry; doubled each time, with jitter. */
export const DEFAULT_WEBHOOK_BACKOFF_MS = 500;
/** Default cap on the delay between webhook retries. */
export const DEFAULT_WEBHOOK_MAX_BACKOFF_MS = 30_000;
/** Default timeout of one webhook delivery attempt. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

/** Events a webhook can be sent for. */
export const WEBHOOK_EVENT_TYPES = [
  "approval.requested",
  "approval.decided",
  "approval.expired",
  "approval.voided",
  "run.finished",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
/** Events sent when the config does not list any: every approval event, not `run.finished`. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = Object.freeze([
  "approval.requested",
  "approval.decided",
  "approval.expired",
  "approval.voided",
]);

/** The approvals webhook (SPEC §8): where, how it is signed, which events, how it retries. */
export interface WebhookConfig {
  readonly url: string;
  /** Environment variable holding the HMAC secret; null: the engine's default name. */
  readonly secretEnv: string | null;
  readonly events: readonly WebhookEventType[];
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly timeoutMs: number;
}

/** Default approval settings (a step's or rule's own settings win). */
export interface ApprovalsConfig {
  readonly timeoutMs: number;
  readonly onTimeout: "reject" | "approve";
  /** Eligible approvers when neither the step nor the rule names any; empty: any `user:*`. */
  readonly approvers: readonly string[];
  /** Webhook notified of new approvals; the HMAC secret is read from `secretEnv`. */
  readonly webhook: WebhookConfig | null;
}

/** Default idle time of an MCP session whose client went away without committing (5 minutes). */
export const DEFAULT_MCP_IDLE_TIMEOUT_MS = 5 * 60_000;

/** The `mcp:` section: the session each connection of `airun mcp` opens. */
export interface McpConfig {
  /** The agent principal the sessions act as (`agent:<id>`); null: `--as` must name one. */
  readonly principal: string | null;
  /** Session name (drift baselines group sessions by name). */
  readonly sessionName: string;
  /**
   * The governance envelope: an absolute path to a YAML file (a `governance:` block, or the
   * block itself), the block given inline, or null (no envelope: policy only).
   */
  readonly governance: string | JsonObject | null;
  /** How long a session stays open after its client went away without committing. */
  readonly idleTimeoutMs: number;
  /** MCP servers Airun stands in front of (the gateway), by name. */
  readonly upstreams: readonly McpUpstreamConfig[];
}

/**
 * How an upstream tool's effect is undone with the upstream's own tools: `capture` reads the
 * target (named by the call's `path` argument) before the call, `restore` writes it back on
 * undo, passing the captured text as its `content` argument; `result` is the field of the
 * capture's structured result that holds the text.
 */
export interface McpUndoConfig {
  readonly capture: string;
  readonly restore: string;
  readonly path: string;
  readonly content: string;
  readonly result: string;
}

/** How Airun governs one upstream tool (defaults for a tool the config does not map). */
export interface McpUpstreamToolConfig {
  readonly risk: "LOW" | "MEDIUM" | "HIGH" | "CRITICAL";
  readonly effect: "read" | "write" | "delete" | "network" | "exec";
  readonly idempotent: boolean;
  /** Replaces the upstream's description in what the model is shown; null keeps it. */
  readonly description: string | null;
  readonly undo: "none" | "irreversible" | McpUndoConfig;
}

/** An upstream MCP server: a command Airun starts (stdio) or a Streamable HTTP URL. */
export interface McpUpstreamConfig {
  /** Its name: its tools become the capabilities `mcp.<name>.<tool>`. */
  readonly name: string;
  readonly command: string | null;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly url: string | null;
  /** Mapped tools, by the upstream's tool name. */
  readonly tools: Readonly<Record<string, McpUpstreamToolConfig>>;
}

/** What an upstream tool the config does not map is taken to be: the worst case. */
export const UNMAPPED_UPSTREAM_TOOL: McpUpstreamToolConfig = Object.freeze({
  risk: "HIGH",
  effect: "write",
  idempotent: false,
  description: null,
  undo: "irreversible",
});

/** Engine tuning. */
export interface EngineConfig {
  readonly concurrency: number;
  readonly defaultTimeoutMs: number;
  readonly leaseTtlMs: number;
  readonly heartbeatMs: number;
  /** Interrupted runs `recover` prepares at once (claim, reconcile) before driving each on. */
  readonly recoveryConcurrency: number;
  /** How often a process holding runs looks for cancel requests made elsewhere. */
  readonly cancelPollMs: number;
}

/** The compiled configuration: frozen, fully defaulted, durations in ms, paths absolute. */
export interface AirunConfig {
  /** Absolute path of the config file used, or null when none. */
  readonly file: string | null;
  /** Folder relative paths were resolved against (the config file's folder, else cwd). */
  readonly baseDir: string;
  /** State directory: database, keys, blobs. */
  readonly home: string;
  readonly store: StoreConfig;
  /** Absolute path of the policy file, or null for the built-in default policy. */
  readonly policy: string | null;
  /** External decision hook asked after the policy (may only make decisions stricter). */
  readonly policyHook: PolicyHookConfig | null;
  readonly principals: Readonly<Record<string, PrincipalConfig>>;
  /**
   * Who acts from this machine's command line when `--as` is absent (`principal: user:alice`):
   * the decider of `workflow resume --decision`, the canceller of `workflow cancel`. The
   * `AIRUN_PRINCIPAL` environment variable wins over it. Null when not set.
   */
  readonly principal: string | null;
  /** OpenTelemetry export of the run spans over OTLP/HTTP (`telemetry:`); null: off. */
  readonly telemetry: TelemetryConfig | null;
  readonly sandbox: SandboxConfig;
  readonly approvals: ApprovalsConfig;
  readonly audit: { readonly level: AuditLevel; readonly redact: readonly string[] };
  /** LLM providers and prices for `llm.chat`; null when the file has no `llm` section. */
  readonly llm: LlmConfig | null;
  /** Target databases of the `db.*` capabilities, by name (`databases:`); empty when none. */
  readonly databases: Readonly<Record<string, DatabaseConfig>>;
  /** Absolute paths of plugin modules. */
  readonly plugins: readonly string[];
  /**
   * Capabilities declared in config (`capabilities:` here, then `capabilities/*.yaml` next to
   * the config file, added by the loader), compiled and located.
   */
  readonly capabilities: readonly CapabilityDeclaration[];
  readonly engine: EngineConfig;
  /** How much Airun reads before it refuses (`limits.ts`). */
  readonly limits: Limits;
  /** `airun mcp` (the MCP server surface). */
  readonly mcp: McpConfig;
}

/**
 * OpenTelemetry export (`telemetry: { endpoint, headers, service_name }`): the spans of every
 * run this process drives are sent over OTLP/HTTP (JSON encoding) to `endpoint`, the traces URL
 * (e.g. `http://collector:4318/v1/traces`). Off unless configured.
 */
export interface TelemetryConfig {
  readonly endpoint: string;
  /** Extra HTTP headers (an API key); values may be `${ENV_VAR}` read from the environment. */
  readonly headers: Readonly<Record<string, string>>;
  /** `service.name` of the exported resource (default `airun`). */
  readonly serviceName: string;
}

/** Default timeout of the external policy decision hook (2 seconds). */
export const DEFAULT_POLICY_HOOK_TIMEOUT_MS = 2_000;

/**
 * The external decision hook (`policy_hook: { url, timeout }`): a loopback URL, or one whose host
 * is in `sandbox.http.allow_hosts`. It may only make a decision stricter and fails closed.
 */
export interface PolicyHookConfig {
  readonly url: string;
  readonly timeoutMs: number;
}

/** Whether a decision hook URL may be called: loopback, or a host in the HTTP allowlist. */
function hookHostAllowed(url: string, allowHosts: readonly string[]): boolean {
  let host: string;
  try {
    host = new URL(url).hostname
      .toLowerCase()
      .replace(/^\[|\]$/g, "")
      .replace(/\.$/, "");
  } catch {
    return false;
  }
  if (host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host)) return true;
  return allowHosts.some((entry) => {
    const e = entry.trim().toLowerCase().replace(/\.$/, "");
    if (e === "*") return true;
    if (e.startsWith("*.")) return host.endsWith(e.slice(1));
    return e === host;
  });
}

/** Options of `compileConfig`: where the process runs, its environment and explicit flags. */
export interface ConfigOptions {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `--home` flag: wins over AIRUN_HOME and the file. */
  readonly home?: string;
}

const duration = z.union([z.string(), z.number()]).refine((v) => parseDuration(v) !== undefined, {
  message: 'expected a duration like "30s", "5m" or milliseconds',
});

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};
function parseSize(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== "string") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$/i.exec(v);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (SIZE_UNITS[(m[2] ?? "b").toLowerCase()] ?? 1));
}
const size = z.union([z.string(), z.number()]).refine((v) => parseSize(v) !== undefined, {
  message: 'expected a size in bytes or like "64MB"',
});
/** A size of at least one byte, for limits. */
const limitSize = size.refine((v) => (parseSize(v) ?? 0) >= 1, {
  message: 'expected a size of at least 1 byte, like "1MiB"',
});

/** A value checked by one of `principal.ts`'s problem functions (its message is the issue). */
const checkedBy = (problemOf: (v: unknown) => string | null) =>
  z.string().superRefine((v, c) => {
    const problem = problemOf(v);
    if (problem !== null) c.addIssue({ code: "custom", message: problem });
  });
const principalName = checkedBy(principalProblem);
/** An agent principal: an MCP client acts for an agent, which may never approve. */
const upstreamTool = z.strictObject({
  risk: z.enum(["LOW", "MEDIUM", "HIGH", "CRITICAL"]).optional(),
  effect: z.enum(["read", "write", "delete", "network", "exec"]).optional(),
  idempotent: z.boolean().optional(),
  description: z.string().min(1).optional(),
  undo: z
    .union([
      z.enum(["none", "irreversible"]),
      z.strictObject({
        capture: z.string().min(1),
        restore: z.string().min(1),
        path: z.string().min(1).optional(),
        content: z.string().min(1).optional(),
        result: z.string().min(1).optional(),
      }),
    ])
    .optional(),
});
const upstream = z
  .strictObject({
    command: z.string().min(1).optional(),
    args: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).optional(),
    url: z
      .string()
      .regex(/^https?:\/\/\S+$/, "expected an http(s) URL")
      .optional(),
    tools: z.record(z.string().min(1), upstreamTool).optional(),
  })
  .refine((u) => (u.command === undefined) !== (u.url === undefined), {
    message: "an upstream has exactly one of command (stdio) or url (Streamable HTTP)",
  });
const agentPrincipal = principalName.refine((v) => v.startsWith("agent:"), {
  message: "the MCP principal must be an agent principal (agent:<id>): an agent never approves",
});

const configSchema = z.strictObject({
  home: z.string().min(1).optional(),
  store: z
    .string()
    .refine((s) => s === "sqlite" || /^postgres(ql)?:\/\/\S+$/.test(s), {
      message: 'expected "sqlite" or a postgres://... URL',
    })
    .optional(),
  sqlite: z.strictObject({ synchronous: z.enum(["FULL", "NORMAL"]).optional() }).optional(),
  policy: z.string().min(1).nullable().optional(),
  policy_hook: z
    .strictObject({
      url: z.string().regex(/^https?:\/\/\S+$/, "expected an http(s) URL"),
      timeout: duration
        .refine((v) => (parseDuration(v) ?? 0) > 0, { message: "must be longer than 0" })
        .optional(),
    })
    .optional(),
  principal: principalName.optional(),
  telemetry: z
    .strictObject({
      endpoint: z.string().regex(/^https?:\/\/\S+$/, "expected an http(s) URL"),
      headers: z.record(z.string().min(1), z.string()).optional(),
      service_name: z.string().min(1).optional(),
    })
    .nullable()
    .optional(),
  principals: z
    .record(
      principalName,
      z.strictObject({
        roles: z.array(checkedBy(roleNameProblem)).optional(),
        token_sha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/, "expected the hex SHA-256 of the token")
          .optional(),
      }),
    )
    .optional(),
  sandbox: z
    .strictObject({
      fs: z.strictObject({ roots: z.array(z.string().min(1)).optional() }).optional(),
      http: z
        .strictObject({
          allow_hosts: z.array(z.string().min(1)).optional(),
          allow_private: z.boolean().optional(),
        })
        .optional(),
      exec: z.strictObject({ allow: z.array(z.string().min(1)).optional() }).optional(),
      env: z
        .strictObject({
          allow: z
            .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name"))
            .optional(),
        })
        .optional(),
      max_before_image: size.optional(),
    })
    .optional(),
  approvals: z
    .strictObject({
      timeout: duration.optional(),
      on_timeout: z.enum(["reject", "approve"]).optional(),
      approvers: z.array(checkedBy(principalPatternProblem)).optional(),
      webhook: z
        .strictObject({
          url: z.string().regex(/^https?:\/\/\S+$/, "expected an http(s) URL"),
          secret_env: z.string().min(1).optional(),
          events: z.array(z.enum(WEBHOOK_EVENT_TYPES)).optional(),
          max_attempts: z.number().int().min(1).max(20).optional(),
          backoff: duration.optional(),
          max_backoff: duration.optional(),
          timeout: duration
            .refine((v) => (parseDuration(v) ?? 0) > 0, { message: "must be longer than 0" })
            .optional(),
        })
        .optional(),
    })
    .optional(),
  audit: z
    .strictObject({
      level: z.enum(["BASIC", "DETAILED", "FORENSIC"]).optional(),
      redact: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  llm: llmConfigSchema.nullable().optional(),
  databases: databasesSchema.nullable().optional(),
  plugins: z.array(z.string().min(1)).optional(),
  // Compiled with positions by core/capability-decl.ts.
  capabilities: z.record(z.string(), z.unknown()).nullable().optional(),
  limits: z
    .strictObject({
      input_depth: z.number().int().min(1).max(LIMIT_CEILINGS.inputDepth).optional(),
      input_bytes: limitSize.optional(),
      spec_bytes: limitSize.optional(),
      policy_bytes: limitSize.optional(),
      yaml_depth: z.number().int().min(2).max(LIMIT_CEILINGS.yamlDepth).optional(),
      yaml_aliases: z.number().int().min(0).max(LIMIT_CEILINGS.yamlAliases).optional(),
    })
    .optional(),
  mcp: z
    .strictObject({
      principal: agentPrincipal.optional(),
      session_name: z.string().min(1).max(200).optional(),
      governance: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
      idle_timeout: duration.optional(),
      upstreams: z
        .record(
          z
            .string()
            .regex(/^[a-z][a-z0-9_]*$/, "an upstream name is lower-case letters, digits and _"),
          upstream,
        )
        .optional(),
    })
    .optional(),
  engine: z
    .strictObject({
      concurrency: z.number().int().min(1).max(1024).optional(),
      default_timeout: duration.optional(),
      lease_ttl: duration.optional(),
      heartbeat: duration.optional(),
      recovery_concurrency: z.number().int().min(1).max(4096).optional(),
      cancel_poll: duration.optional(),
    })
    .optional(),
});

/** `airun-plugin-x` or `@scope/plugin`: a package to import by name, not a file path. */
function isPackageName(spec: string): boolean {
  if (spec.startsWith(".") || path.isAbsolute(spec) || /\.[cm]?[jt]s$/.test(spec)) return false;
  return /^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(spec);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** `AIRUN_STORE` when set: "sqlite" or a postgres:// URL; anything else is a usage error. */
function storeFromEnv(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const url = value.trim();
  if (url === "sqlite" || /^postgres(ql)?:\/\/\S+$/.test(url)) return url;
  throw new ValidationError([
    {
      file: "(environment)",
      line: 0,
      col: 0,
      field: "AIRUN_STORE",
      message: 'expected "sqlite" or a postgres://... URL',
    },
  ]);
}

/**
 * Compiles the configuration. `source` is the config file as read by the caller, or null when
 * there is none. Relative paths in the file are resolved against the file's folder; without a
 * file, against `opts.cwd`. Home precedence: `opts.home` (flag) > `AIRUN_HOME` > file > default
 * `<cwd>/.airun`; the store: `AIRUN_STORE` > file > SQLite under the home. Throws
 * `ValidationError` listing every problem (unknown keys included).
 *
 * @example
 * const config = compileConfig({ file: "/srv/airun.yaml", text }, { cwd: process.cwd(), env: process.env });
 */
export function compileConfig(
  source: { readonly file: string; readonly text: string } | null,
  opts: ConfigOptions,
): AirunConfig {
  const cwd = path.resolve(opts.cwd);
  const file = source ? path.resolve(cwd, source.file) : null;
  const baseDir = file ? path.dirname(file) : cwd;
  let raw: unknown = {};
  let declarations: CapabilityDeclaration[] = [];
  if (source) {
    const src = parseYamlSource(source.file, source.text);
    if (src.syntaxProblems.length > 0)
      throw new ValidationError(src.syntaxProblems, { location: source.file });
    raw = src.value ?? {};
    if (!isPlainObject(raw)) {
      throw new ValidationError([src.problem([], "the configuration must be a YAML mapping")]);
    }
    const parsed = configSchema.safeParse(raw);
    const problems: Problem[] = [];
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const p = issue.path.map((s) => (typeof s === "number" ? s : String(s)));
        if (issue.code === "unrecognized_keys") {
          for (const k of issue.keys) problems.push(src.problem([...p, k], `unknown key "${k}"`));
        } else if (issue.code === "invalid_key") {
          problems.push(
            src.problem(p, `invalid key: ${issue.issues[0]?.message ?? issue.message}`),
          );
        } else {
          problems.push(src.problem(p, issue.message));
        }
      }
    }
    const engine = parsed.success ? parsed.data.engine : undefined;
    if (engine) {
      const ttl = parseDuration(engine.lease_ttl ?? DEFAULT_LEASE_TTL_MS)!;
      const hb = parseDuration(engine.heartbeat ?? DEFAULT_HEARTBEAT_MS)!;
      if (hb >= ttl)
        problems.push(
          src.problem(["engine", "heartbeat"], "heartbeat must be shorter than lease_ttl"),
        );
    }
    // Checked whatever else is wrong, so every problem is reported at once.
    const mcpRaw = (raw as Record<string, unknown>).mcp;
    const gov = isPlainObject(mcpRaw) ? mcpRaw.governance : undefined;
    if (isPlainObject(gov)) {
      compileGovernance(gov as JsonObject, (p, message) =>
        problems.push(src.problem(["mcp", "governance", ...p], message)),
      );
    }
    const hook = parsed.success ? parsed.data.policy_hook : undefined;
    if (hook && !hookHostAllowed(hook.url, parsed.data?.sandbox?.http?.allow_hosts ?? [])) {
      problems.push(
        src.problem(
          ["policy_hook", "url"],
          "the decision hook must be on this machine (localhost, 127.x, ::1) or on a host listed in sandbox.http.allow_hosts",
        ),
      );
    }
    // The entries that parse are checked against the sandbox whatever else is wrong.
    const dbRaw = (raw as Record<string, unknown>).databases;
    if (isPlainObject(dbRaw)) {
      const valid = Object.entries(dbRaw).filter(
        ([k, v]) => databasesSchema.safeParse({ [k]: v }).success,
      );
      const sb = (raw as { sandbox?: { fs?: { roots?: unknown } } }).sandbox?.fs?.roots;
      const roots = Array.isArray(sb) && sb.every((r) => typeof r === "string") ? sb : undefined;
      const dbs = databasesIn(Object.fromEntries(valid) as DatabasesSource, baseDir, roots);
      for (const [p, message] of dbs.problems) problems.push(src.problem(p, message));
    }
    if (parsed.success) {
      const decls = compileDeclarationMap(src, parsed.data.capabilities, ["capabilities"]);
      problems.push(...decls.problems);
      declarations = decls.declarations;
    }
    if (problems.length > 0) {
      throw new ValidationError(
        problems.sort((a, b) => a.line - b.line || a.col - b.col),
        { location: source.file },
      );
    }
  }
  const c = configSchema.parse(raw);
  const fromFile = (p: string) => path.resolve(baseDir, p);

  let home = path.resolve(cwd, DEFAULT_HOME_DIR);
  if (opts.home) home = path.resolve(cwd, opts.home);
  else if (opts.env.AIRUN_HOME) home = path.resolve(cwd, opts.env.AIRUN_HOME);
  else if (c.home) home = fromFile(c.home);

  // AIRUN_STORE wins over the file: one config, pointed at another database per environment.
  const storeUrl = storeFromEnv(opts.env.AIRUN_STORE) ?? c.store;
  const store: StoreConfig =
    storeUrl && storeUrl !== "sqlite"
      ? { kind: "postgres", url: storeUrl }
      : { kind: "sqlite", synchronous: c.sqlite?.synchronous ?? "FULL" };

  const principals: Record<string, PrincipalConfig> = {};
  for (const [name, p] of Object.entries(c.principals ?? {})) {
    principals[name] = { roles: [...(p.roles ?? [])], tokenSha256: p.token_sha256 ?? null };
  }

  const sandbox: SandboxConfig = {
    fsRoots: (c.sandbox?.fs?.roots ?? ["."]).map(fromFile),
    httpAllowHosts: [...(c.sandbox?.http?.allow_hosts ?? [])],
    httpAllowPrivate: c.sandbox?.http?.allow_private ?? false,
    execAllow: [...(c.sandbox?.exec?.allow ?? [])],
    envAllow: [...(c.sandbox?.env?.allow ?? [])],
    maxBeforeImageBytes:
      c.sandbox?.max_before_image === undefined
        ? DEFAULT_MAX_BEFORE_IMAGE_BYTES
        : parseSize(c.sandbox.max_before_image)!,
  };

  const webhook = c.approvals?.webhook;
  const config: AirunConfig = {
    file,
    baseDir,
    home,
    store,
    policy: c.policy ? fromFile(c.policy) : null,
    policyHook: c.policy_hook
      ? {
          url: c.policy_hook.url,
          timeoutMs:
            c.policy_hook.timeout === undefined
              ? DEFAULT_POLICY_HOOK_TIMEOUT_MS
              : parseDuration(c.policy_hook.timeout)!,
        }
      : null,
    principals,
    principal: c.principal ?? null,
    telemetry: c.telemetry
      ? {
          endpoint: c.telemetry.endpoint,
          headers: { ...(c.telemetry.headers ?? {}) },
          serviceName: c.telemetry.service_name ?? "airun",
        }
      : null,
    sandbox,
    approvals: {
      timeoutMs:
        c.approvals?.timeout === undefined
          ? DEFAULT_APPROVAL_TIMEOUT_MS
          : parseDuration(c.approvals.timeout)!,
      onTimeout: c.approvals?.on_timeout ?? "reject",
      approvers: [...(c.approvals?.approvers ?? [])],
      webhook: webhook
        ? {
            url: webhook.url,
            secretEnv: webhook.secret_env ?? null,
            events: [...new Set(webhook.events ?? DEFAULT_WEBHOOK_EVENTS)],
            maxAttempts: webhook.max_attempts ?? DEFAULT_WEBHOOK_MAX_ATTEMPTS,
            backoffMs:
              webhook.backoff === undefined
                ? DEFAULT_WEBHOOK_BACKOFF_MS
                : parseDuration(webhook.backoff)!,
            maxBackoffMs:
              webhook.max_backoff === undefined
                ? DEFAULT_WEBHOOK_MAX_BACKOFF_MS
                : parseDuration(webhook.max_backoff)!,
            timeoutMs:
              webhook.timeout === undefined
                ? DEFAULT_WEBHOOK_TIMEOUT_MS
                : parseDuration(webhook.timeout)!,
          }
        : null,
    },
    audit: {
      level: c.audit?.level ?? AuditLevel.DETAILED,
      redact: [...(c.audit?.redact ?? DEFAULT_REDACT)],
    },
    llm: c.llm ? compileLlmConfig(c.llm) : null,
    databases: databasesIn(c.databases ?? {}, baseDir, c.sandbox?.fs?.roots).databases,
    plugins: (c.plugins ?? []).map((p) => (isPackageName(p) ? p : fromFile(p))),
    capabilities: declarations,
    engine: {
      concurrency: c.engine?.concurrency ?? DEFAULT_CONCURRENCY,
      defaultTimeoutMs:
        c.engine?.default_timeout === undefined
          ? DEFAULT_STEP_TIMEOUT_MS
          : parseDuration(c.engine.default_timeout)!,
      leaseTtlMs:
        c.engine?.lease_ttl === undefined
          ? DEFAULT_LEASE_TTL_MS
          : parseDuration(c.engine.lease_ttl)!,
      heartbeatMs:
        c.engine?.heartbeat === undefined
          ? DEFAULT_HEARTBEAT_MS
          : parseDuration(c.engine.heartbeat)!,
      recoveryConcurrency: c.engine?.recovery_concurrency ?? DEFAULT_RECOVERY_CONCURRENCY,
      cancelPollMs:
        c.engine?.cancel_poll === undefined
          ? DEFAULT_CANCEL_POLL_MS
          : parseDuration(c.engine.cancel_poll)!,
    },
    mcp: {
      principal: c.mcp?.principal ?? null,
      sessionName: c.mcp?.session_name ?? "mcp",
      governance:
        c.mcp?.governance === undefined
          ? null
          : typeof c.mcp.governance === "string"
            ? fromFile(c.mcp.governance)
            : (c.mcp.governance as JsonObject),
      idleTimeoutMs:
        c.mcp?.idle_timeout === undefined
          ? DEFAULT_MCP_IDLE_TIMEOUT_MS
          : parseDuration(c.mcp.idle_timeout)!,
      upstreams: Object.entries(c.mcp?.upstreams ?? {}).map(([name, u]) => ({
        name,
        command: u.command ?? null,
        args: [...(u.args ?? [])],
        env: { ...(u.env ?? {}) },
        url: u.url ?? null,
        tools: Object.fromEntries(
          Object.entries(u.tools ?? {}).map(([tool, t]) => [
            tool,
            {
              risk: t.risk ?? "MEDIUM",
              effect: t.effect ?? "write",
              idempotent: t.idempotent ?? false,
              description: t.description ?? null,
              undo:
                t.undo === undefined
                  ? t.effect === "read"
                    ? "none"
                    : "irreversible"
                  : typeof t.undo === "string"
                    ? t.undo
                    : {
                        capture: t.undo.capture,
                        restore: t.undo.restore,
                        path: t.undo.path ?? "path",
                        content: t.undo.content ?? "content",
                        result: t.undo.result ?? "content",
                      },
            } satisfies McpUpstreamToolConfig,
          ]),
        ),
      })),
    },
    limits: {
      inputDepth: c.limits?.input_depth ?? DEFAULT_LIMITS.inputDepth,
      inputBytes:
        c.limits?.input_bytes === undefined
          ? DEFAULT_LIMITS.inputBytes
          : parseSize(c.limits.input_bytes)!,
      specBytes:
        c.limits?.spec_bytes === undefined
          ? DEFAULT_LIMITS.specBytes
          : parseSize(c.limits.spec_bytes)!,
      policyBytes:
        c.limits?.policy_bytes === undefined
          ? DEFAULT_LIMITS.policyBytes
          : parseSize(c.limits.policy_bytes)!,
      yamlDepth: c.limits?.yaml_depth ?? DEFAULT_LIMITS.yamlDepth,
      yamlAliases: c.limits?.yaml_aliases ?? DEFAULT_LIMITS.yamlAliases,
    },
  };
  return deepFreeze(config);
}

/** The `databases:` section compiled against the sandbox roots (SQLite files must lie inside one). */
function databasesIn(
  src: DatabasesSource,
  baseDir: string,
  roots: readonly string[] | undefined,
): ReturnType<typeof compileDatabases> {
  return compileDatabases(
    src,
    (p) => path.resolve(baseDir, p),
    Object.freeze((roots ?? ["."]).map((r) => path.resolve(baseDir, r))),
  );
}
