/**
 * @module Helpers for the end-to-end tests: a temp project folder laid out as a user would
 * (`airun.yaml`, a `ws/` sandbox root, spec and policy files), the built `airun` run in it,
 * JSON output parsed, folder snapshots, and a background `airun` that can be killed.
 */
import type { ChildProcess } from "node:child_process";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { airun, type CliResult, startAirun } from "../support/cli.js";

/** The fields of a `--json` run view the tests read. */
export interface RunJson {
  id: string;
  name: string;
  status: string;
  outcome: string | null;
  reason: string | null;
  reason_detail: unknown;
  principal: string;
  steps: {
    id: string;
    status: string;
    attempts: number;
    outputs: Record<string, unknown> | null;
    error: { code: string; message: string } | null;
    decision: Record<string, unknown> | null;
    context_hash: string | null;
    compensation: { kind: string; status: string } | null;
  }[];
}

/** One pending approval as `approvals list --json` prints it. */
export interface ApprovalJson {
  id: string;
  status: string;
  run_id: string;
  step_id: string;
  requester: string;
  approvers: string[];
  message: string;
  /** ISO-8601, as every time in the CLI's JSON. */
  expires_at: string | null;
}

/** A temp project: `dir/airun.yaml`, sandbox root `dir/ws`, state in `dir/home`. */
export interface Project {
  readonly dir: string;
  readonly ws: string;
  /** Writes a file relative to the project folder (parents created). */
  write(name: string, content: string | Buffer): string;
  /** Runs `airun ...args` in the project folder. */
  run(args: readonly string[], env?: Record<string, string>): Promise<CliResult>;
  /** Runs `airun ...args --json` and parses stdout (asserting it is one JSON object). */
  json<T = RunJson>(args: readonly string[]): Promise<{ code: number | null; body: T }>;
  /** The step of a run view by id. */
  step(view: RunJson, id: string): RunJson["steps"][number];
}

/** A parent folder for one test file's projects, removed by `cleanup()`. */
export function tempRoot(prefix: string): { path: string; cleanup(): void } {
  const path = realpathSync(mkdtempSync(join(tmpdir(), `airun-e2e-${prefix}-`)));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

let counter = 0;

/**
 * Creates a project under `root`. `config` is appended to the base `airun.yaml`
 * (`home: home`, sandbox root `ws`); `policy`, when given, is written to `policies.yaml` and
 * named in the config.
 */
export function project(
  root: string,
  opts: { config?: string; policy?: string; files?: Record<string, string | Buffer> } = {},
): Project {
  counter += 1;
  const dir = join(root, `p${counter}`);
  const ws = join(dir, "ws");
  mkdirSync(ws, { recursive: true });
  const policyLine = opts.policy === undefined ? "" : "policy: policies.yaml\n";
  if (opts.policy !== undefined) writeFileSync(join(dir, "policies.yaml"), opts.policy);
  writeFileSync(
    join(dir, "airun.yaml"),
    `home: home\n${policyLine}sandbox:\n  fs: { roots: [ws] }\n${opts.config ?? ""}`,
  );
  const write = (name: string, content: string | Buffer): string => {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    return path;
  };
  for (const [name, content] of Object.entries(opts.files ?? {})) write(name, content);
  const run = (args: readonly string[], env?: Record<string, string>) =>
    airun(args, { cwd: dir, ...(env ? { env } : {}) });
  return {
    dir,
    ws,
    write,
    run,
    async json<T>(args: readonly string[]) {
      const r = await run([...args, "--json"]);
      let body: T;
      try {
        body = JSON.parse(r.stdout) as T;
      } catch {
        throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\nstderr: ${r.stderr}`);
      }
      return { code: r.code, body };
    },
    step(view, id) {
      const s = view.steps.find((x) => x.id === id);
      if (!s) throw new Error(`no step ${id} in ${view.steps.map((x) => x.id).join(", ")}`);
      return s;
    },
  };
}

/**
 * Every entry under `dir` as relative path → content (`<dir>` for folders, `-> target` for
 * symlinks, which are not followed), skipping the names in `skip` at the top level.
 */
export function snapshot(dir: string, skip: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (d === dir && skip.includes(name)) continue;
      const st = lstatSync(p);
      const key = relative(dir, p);
      if (st.isSymbolicLink()) out[key] = `-> ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[key] = "<dir>";
        walk(p);
      } else out[key] = readFileSync(p).toString("base64");
    }
  };
  walk(dir);
  return out;
}

/** A background `airun` process: its result when it ends, and a SIGKILL switch. */
export interface Background {
  readonly child: ChildProcess;
  readonly done: Promise<CliResult>;
  kill(): void;
}

/** Starts `airun ...args` in `cwd` without waiting for it. */
export function background(args: readonly string[], cwd: string): Background {
  const { child, result } = startAirun(args, { cwd });
  return { child, done: result, kill: () => child.kill("SIGKILL") };
}

/** Polls `check` every `everyMs` until it returns a value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 8_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
