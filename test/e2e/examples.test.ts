/**
 * The examples run as a user runs them from the README, offline: each example folder is copied
 * into a temp directory next to a `node_modules` that holds the built package (`airun`, as an
 * installed dependency would) and zod; the workflow runs through the built `airun` binary and
 * the agents run with `node`. Exit codes, files and recorded outcomes are checked.
 */
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { airun, type CliResult } from "../support/cli.js";
import type { RunJson } from "./project.js";

const root = realpathSync(mkdtempSync(join(tmpdir(), "airun-examples-")));
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(() => {
  mkdirSync(join(root, "node_modules"));
  symlinkSync(resolve("."), join(root, "node_modules", "airun"), "dir");
  const zod = dirname(createRequire(import.meta.url).resolve("zod/package.json"));
  symlinkSync(zod, join(root, "node_modules", "zod"), "dir");
  for (const name of ["incident", "runaway-agent"]) {
    cpSync(resolve("examples", name), join(root, name), {
      recursive: true,
      filter: (src) => ![".airun", "out", "research-notes.md"].includes(basename(src)),
    });
  }
});

const env = { AIRUN_HOME: "" };

/** `node <script> ...args` in the temp root. */
function node(args: readonly string[]): Promise<CliResult> {
  return new Promise((done, fail) => {
    const { AIRUN_HOME: _ignored, ...rest } = process.env;
    const child = spawn(process.execPath, args, {
      cwd: root,
      env: rest,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", fail);
    child.on("close", (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

async function cliJson<T>(args: readonly string[]): Promise<{ code: number | null; body: T }> {
  const r = await airun([...args, "--json"], { cwd: root, env });
  try {
    return { code: r.code, body: JSON.parse(r.stdout) as T };
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
}

const ticket = (id: string) => join(root, "incident", "out", "tickets", `${id}.md`);
const INCIDENT = ["--config", "incident/airun.yaml"];

describe("examples", () => {
  it("incident workflow: files a ticket citing its sources (ACCEPT), and abstains without evidence (exit 4, ticket undone)", async () => {
    const ok = await cliJson<RunJson>(["run", "incident/workflow.yaml", ...INCIDENT]);
    expect(ok.code).toBe(0);
    expect(ok.body).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
    const text = readFileSync(ticket("INC-1042"), "utf8");
    expect(text).toContain("Restore pool.max to 20");
    expect(text).toContain("incidents/INC-1042/deploy.log:1");

    const none = await cliJson<RunJson>([
      "run",
      "incident/workflow.yaml",
      ...INCIDENT,
      "--input",
      "incident=INC-0000",
    ]);
    expect(none.code).toBe(4);
    expect(none.body).toMatchObject({
      status: "ROLLED_BACK",
      outcome: "ABSTAIN",
      reason: "EVIDENCE_UNMET",
    });
    expect(none.body.steps.find((s) => s.id === "write_ticket")?.status).toBe("COMPENSATED");
    expect(existsSync(ticket("INC-0000"))).toBe(false);
  }, 60_000);

  it("incident agent loop: a refused call does not stop it, the session commits with evidence (exit 0), and abstains without (exit 4)", async () => {
    const ok = await node(["incident/agent.mjs"]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toContain("cleanup    io.fs.delete refused by policy");
    expect(ok.stdout).toContain("COMPLETED ACCEPT");
    expect(ok.stdout).toContain("verify: ok");
    expect(readFileSync(ticket("INC-1042"), "utf8")).toContain("## Proposed fix");

    const none = await node(["incident/agent.mjs", "INC-0000"]);
    expect(none.code, none.stdout + none.stderr).toBe(4);
    expect(none.stdout).toContain(
      'len(evidence.source_refs) >= 2   read {"evidence.source_refs":[]}',
    );
    expect(existsSync(ticket("INC-0000"))).toBe(false);

    const list = await cliJson<{ runs: (RunJson & { kind: string })[] }>([
      "workflow",
      "list",
      ...INCIDENT,
    ]);
    const sessions = list.body.runs.filter((r) => r.kind === "session");
    expect(sessions.map((r) => [r.name, r.status, r.outcome])).toEqual([
      ["incident-agent", "ROLLED_BACK", "ABSTAIN"],
      ["incident-agent", "COMPLETED", "ACCEPT"],
    ]);
    const shown = await cliJson<RunJson>(["workflow", "show", sessions[1]!.id, ...INCIDENT]);
    expect(shown.body.steps.map((s) => [s.id, s.status])).toEqual([
      ["retrieve", "SUCCEEDED"],
      ["cleanup", "FAILED"],
      ["summarize", "SUCCEEDED"],
      ["validate", "SUCCEEDED"],
      ["ticket", "SUCCEEDED"],
    ]);
    expect(shown.body.steps[1]?.error?.code).toBe("POLICY_DENIED");
  }, 60_000);

  it("runaway agent: the breaching call is never made, the session abstains, everything is undone, the ledger says why (exit 4)", async () => {
    const r = await node(["runaway-agent/agent.mjs"]);
    expect(r.code, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toContain(
      "call 11 (research.web.search) refused before it ran: max_tool_calls used 10 + 1 > limit 10",
    );
    expect(r.stdout).toContain("the search tool really ran 5 times");
    expect(r.stdout).toContain("ledger verify: ok");
    expect(existsSync(join(root, "runaway-agent", "research-notes.md"))).toBe(false);
    const list = await cliJson<{ runs: RunJson[] }>([
      "workflow",
      "list",
      "--config",
      "runaway-agent/airun.yaml",
    ]);
    const [run] = list.body.runs;
    const shown = await cliJson<RunJson>([
      "workflow",
      "show",
      run!.id,
      "--config",
      "runaway-agent/airun.yaml",
    ]);
    expect(shown.code).toBe(4);
    expect(shown.body).toMatchObject({
      status: "ROLLED_BACK",
      outcome: "ABSTAIN",
      reason: "BUDGET_EXCEEDED",
      reason_detail: { budget: "max_tool_calls", used: 10, limit: 10, requested: 1 },
    });
    expect(shown.body.steps.filter((s) => s.status === "COMPENSATED")).toHaveLength(5);
    const verify = await airun(["ledger", "verify", "--config", "runaway-agent/airun.yaml"], {
      cwd: root,
      env,
    });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 60_000);
});
