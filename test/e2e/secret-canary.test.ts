/**
 * The canary proof through the built CLI: a random secret passed with `${{ secrets.CANARY }}`
 * reaches a file write, an HTTP header (and back, in a loopback server's response), `sys.echo`
 * inputs under sensitive keys, an approval message, a command's argv and stdout, a declared
 * compensation, a failing step's and a failing compensation's error messages; across a
 * completed run, an after-the-fact rollback, a failed run whose rollback fails in part, an
 * approval-gated run, and a run in flight (its live WAL) cancelled from another process.
 * Then every byte of every
 * file under the project (database, WAL, anything else; the sandbox folder excepted, where the
 * user asked for the secret to be written) and of every command's stdout and stderr holds the
 * canary in no form: raw, hex, base64 at every alignment, UTF-16.
 *
 * A file a step overwrites while it holds the secret gives a before-image holding it: that blob
 * is sealed at rest (AES-256-GCM, key under `<home>/keys/blobs/`), so the database does not
 * hold the secret, and the undo still restores the exact bytes.
 *
 * A secret inside an `io.fs.*` path, and a secret read back by value from where a step wrote
 * it, are covered by test/attacks/secret-by-value.test.ts.
 */

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, sep } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AIRUN_BIN, type CliResult } from "../support/cli.js";
import { assertNoCanary, assertNoCanaryUnder, CANARY, filesUnder, findCanary } from "./canary.js";
import {
  type ApprovalJson,
  type Background,
  type Project,
  project,
  type RunJson,
  tempRoot,
  waitFor,
} from "./project.js";

const root = tempRoot("canary");
afterAll(() => root.cleanup());

let server: Server;
let port = 0;
/** The header values the loopback server received. */
const received: IncomingMessage["headers"][] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    received.push(req.headers);
    const seen = String(req.headers["x-canary"] ?? "");
    res.writeHead(200, { "content-type": "application/json", "x-echo": seen });
    res.end(JSON.stringify({ echo: seen, auth: req.headers.authorization ?? null }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const POLICY = `version: 1
default: DENY
rules:
  - id: everything-used-here
    principal: "*"
    capability: ["io.fs.*", "sys.*", "sys.exec.run", "net.http.request"]
    decision: ALLOW
    approvers: ["role:sre"]
`;

const CONFIG = `  http: { allow_hosts: ["127.0.0.1"], allow_private: true }
  exec: { allow: ["echo"] }
principals:
  user:alice: { roles: [sre] }
audit: { redact: ["password", "token"] }
engine: { heartbeat: 200ms, lease_ttl: 2s }
`;

/** Completes: the secret goes to a file, an HTTP header (and comes back), and echo inputs. */
const KEEP = () => `name: keep
version: 1
principal: agent:canary
steps:
  - id: call
    capability: net.http.request
    inputs:
      url: "http://127.0.0.1:${port}/hook"
      method: GET
      headers: { authorization: "Bearer \${{ secrets.CANARY }}", x-canary: "\${{ secrets.CANARY }}" }
  - id: write
    capability: io.fs.write_file
    depends_on: [call]
    inputs: { path: creds.txt, content: "token=\${{ secrets.CANARY }}\\n" }
  - id: echo
    capability: sys.echo
    depends_on: [write]
    inputs:
      note: "uses \${{ secrets.CANARY }} inside"
      password: "\${{ secrets.CANARY }}"
      nested: { api_token: "\${{ secrets.CANARY }}", list: ["\${{ secrets.CANARY }}"] }
      upstream: "\${{ steps.call.outputs.body }}"
`;

/**
 * Fails (retried), then rolls back with one compensation failing: the secret is in the error
 * message of every attempt and of the failed compensation.
 */
const FAIL = `name: fail
version: 1
principal: agent:canary
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: doomed.txt, content: "\${{ secrets.CANARY }}" }
  - id: noted
    capability: sys.echo
    depends_on: [write]
    inputs: { password: "\${{ secrets.CANARY }}" }
    compensation:
      capability: sys.echo
      inputs: { undo_note: "\${{ secrets.CANARY }}" }
  - id: stuck
    capability: sys.echo
    depends_on: [noted]
    inputs: {}
    compensation:
      capability: sys.fail
      inputs: { message: "cannot undo with \${{ secrets.CANARY }}" }
  - id: boom
    capability: sys.fail
    depends_on: [stuck]
    retry: { max_attempts: 2, initial_delay: 1ms }
    inputs: { message: "upstream refused \${{ secrets.CANARY }} (bad credential)", retryable: true }
`;

/** Waits twice: an approval step whose message holds the secret, then a HIGH-risk command. */
const GATED = `name: gated
version: 1
principal: agent:canary
steps:
  - id: ask
    type: approval
    message: "Ship with \${{ secrets.CANARY }}?"
    approvers: ["role:sre"]
  - id: shout
    capability: sys.exec.run
    depends_on: [ask]
    inputs: { argv: ["echo", "key", "\${{ secrets.CANARY }}"] }
`;

/** Holds a run open (its database WAL alive) after the secret went through two steps. */
const LIVE = `name: live
version: 1
principal: agent:canary
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: live.txt, content: "\${{ secrets.CANARY }}" }
  - id: echo
    capability: sys.echo
    depends_on: [write]
    inputs: { note: "\${{ secrets.CANARY }}", password: "\${{ secrets.CANARY }}" }
  - id: hold
    capability: sys.sleep
    depends_on: [echo]
    inputs: { ms: 60000 }
`;

/** Every command run, with its output, for the final scan. */
const outputs: { args: readonly string[]; result: CliResult }[] = [];

/** Runs `airun ...args` with the canary in the environment; keeps its output for the scan. */
async function cli(p: Project, args: readonly string[]): Promise<CliResult> {
  const result = await p.run(args, { CANARY });
  outputs.push({ args, result });
  return result;
}

async function cliJson<T = RunJson>(p: Project, args: readonly string[]): Promise<T> {
  const r = await cli(p, [...args, "--json"]);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** Scans every file of the project except the sandbox folder; returns the files read. */
function scanProject(p: Project): string[] {
  return assertNoCanaryUnder(p.dir, (f) => f.startsWith(p.ws + sep));
}

function scanOutputs(): void {
  for (const { args, result } of outputs) {
    assertNoCanary(result.stdout, `stdout of airun ${args.join(" ")}`);
    assertNoCanary(result.stderr, `stderr of airun ${args.join(" ")}`);
  }
}

/** Starts `airun ...args` with the canary in the environment, without waiting for it. */
function start(p: Project, args: readonly string[]): Background {
  const child = spawn(process.execPath, [AIRUN_BIN, ...args], {
    cwd: p.dir,
    env: { ...process.env, CANARY },
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
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const result = { code, signal, stdout, stderr };
      outputs.push({ args, result });
      resolve(result);
    });
  });
  return { child, done, kill: () => child.kill("SIGKILL") };
}

describe("the canary checks themselves", () => {
  it("find the canary raw, hex, and inside base64 at every alignment, and nothing in its absence", () => {
    expect(findCanary(`x${CANARY}y`)?.label).toBe("raw");
    expect(findCanary(Buffer.from(CANARY).toString("hex"))?.label).toBe("hex");
    for (const pad of ["", "a", "ab", "abc"]) {
      const b64 = Buffer.from(`${pad}${CANARY}tail`).toString("base64");
      expect(findCanary(`{"blob":"${b64}"}`), `prefix ${pad.length}`).not.toBeNull();
    }
    expect(findCanary(Buffer.from(CANARY, "utf16le"))).not.toBeNull();
    expect(findCanary(`canary-${randomBytes(16).toString("hex")}`)).toBeNull();
    expect(() => assertNoCanary(Buffer.from(`..${CANARY}..`), "a test buffer")).toThrow(
      /a test buffer/,
    );
  });
});

// One project for the whole sequence: each case adds runs to the same database, and each
// scan reads everything accumulated so far.
describe("a canary secret through ${{ secrets.CANARY }} and sensitive fields", () => {
  let p: Project;
  beforeAll(() => {
    p = project(root.path, { policy: POLICY, config: CONFIG });
    p.write("keep.yaml", KEEP());
    p.write("fail.yaml", FAIL);
    p.write("gated.yaml", GATED);
    p.write("live.yaml", LIVE);
  });

  it("a completed run uses it for real (file, HTTP header) and records it nowhere, also once shown and rolled back", async () => {
    const kept = await cliJson(p, ["run", "keep.yaml"]);
    expect(kept.status).toBe("COMPLETED");
    expect(readFileSync(join(p.ws, "creds.txt"), "utf8")).toBe(`token=${CANARY}\n`);
    expect(received.at(-1)?.authorization).toBe(`Bearer ${CANARY}`);
    expect(received.at(-1)?.["x-canary"]).toBe(CANARY);
    // The response carried the canary back; the recorded outputs show it masked.
    expect(p.step(kept, "call").outputs).toMatchObject({
      headers: { "x-echo": "***" },
      json: { echo: "***", auth: "Bearer ***" },
    });
    expect(p.step(kept, "echo").outputs).toMatchObject({
      note: "uses *** inside",
      password: "***",
      nested: { api_token: "***", list: ["***"] },
    });
    scanProject(p);
    await cli(p, ["workflow", "show", kept.id]);
    await cli(p, ["workflow", "show", kept.id, "--events"]);
    await cliJson(p, ["workflow", "show", kept.id, "--events"]);
    await cli(p, ["workflow", "list"]);
    await cliJson(p, ["workflow", "list"]);
    const undone = await cliJson(p, ["workflow", "rollback", kept.id]);
    expect(undone.status).toBe("ROLLED_BACK");
    expect(existsSync(join(p.ws, "creds.txt"))).toBe(false);
    // The same workflow with human output. The file does not exist any more, so its write
    // keeps no before-image.
    expect((await cli(p, ["run", "keep.yaml"])).code).toBe(0);
    expect(readFileSync(join(p.ws, "creds.txt"), "utf8")).toBe(`token=${CANARY}\n`);
    // Once more: now it overwrites a file that holds the secret, so its before-image (kept for
    // the undo) holds it too, sealed at rest (engine/blob-seal.ts); the undo still restores it.
    const again = await cliJson(p, ["run", "keep.yaml"]);
    expect(again.status).toBe("COMPLETED");
    scanProject(p);
    expect((await cliJson(p, ["workflow", "rollback", again.id])).status).toBe("ROLLED_BACK");
    expect(readFileSync(join(p.ws, "creds.txt"), "utf8")).toBe(`token=${CANARY}\n`);
    scanProject(p);
  });

  it("a run failing with it in its error messages (a step's, twice; a compensation's) records them masked", async () => {
    const failed = await cliJson(p, ["run", "fail.yaml"]);
    expect(failed).toMatchObject({ status: "FAILED", reason: "COMPENSATION_FAILED" });
    expect(p.step(failed, "boom")).toMatchObject({ status: "FAILED", attempts: 2 });
    expect(p.step(failed, "boom").error?.message).toBe("upstream refused *** (bad credential)");
    expect(failed.reason_detail).toMatchObject({
      original_detail: { message: "upstream refused *** (bad credential)" },
      problems: [{ step: "stuck", message: "cannot undo with ***" }],
    });
    expect(p.step(failed, "stuck").compensation).toMatchObject({ status: "FAILED" });
    expect(p.step(failed, "noted").compensation).toMatchObject({ status: "DONE" });
    expect(existsSync(join(p.ws, "doomed.txt"))).toBe(false);
    await cli(p, ["run", "fail.yaml"]);
    await cli(p, ["workflow", "show", failed.id, "--events"]);
    // The permanent record: the ledger, its story, and an evidence pack exported from it.
    await cli(p, ["trace", failed.id]);
    await cliJson(p, ["trace", failed.id]);
    expect((await cli(p, ["ledger", "verify"])).code).toBe(0);
    const pack = join(p.dir, "evidence", "fail.pack.json");
    mkdirSync(dirname(pack), { recursive: true });
    expect((await cli(p, ["ledger", "export", failed.id, "--out", pack])).code).toBe(0);
    assertNoCanary(readFileSync(pack), "the evidence pack of the failed run");
    expect((await cli(p, ["ledger", "verify-pack", pack])).code).toBe(0);
    await cliJson(p, ["workflow", "show", failed.id, "--events"]);
    scanProject(p);
  });

  it("an approval-gated run shows it masked in the approval message, listings and the command's stdout", async () => {
    const waiting = await cliJson(p, ["run", "gated.yaml"]);
    expect(waiting.status).toBe("WAITING_APPROVAL");
    await cli(p, ["approvals", "list"]);
    const listed = await cliJson<{ approvals: ApprovalJson[] }>(p, ["approvals", "list"]);
    expect(listed.approvals.map((a) => a.message)).toEqual(["Ship with ***?"]);
    await cli(p, ["approvals", "show", waiting.id]);
    await cliJson(p, ["approvals", "show", waiting.id]);
    const approve = [
      "workflow",
      "resume",
      waiting.id,
      "--decision",
      "approve",
      "--as",
      "user:alice",
    ];
    const asked = await cliJson(p, approve);
    expect(p.step(asked, "shout").status).toBe("WAITING_APPROVAL");
    await cli(p, ["approvals", "list", "--run", waiting.id]);
    await cliJson(p, ["approvals", "list", "--run", waiting.id]);
    const done = await cliJson(p, [...approve, "--comment", "ok"]);
    expect(done.status).toBe("COMPLETED");
    expect(p.step(done, "shout").outputs).toMatchObject({ stdout: "key ***\n" });
    await cli(p, ["workflow", "show", waiting.id, "--events"]);
    await cliJson(p, ["workflow", "show", waiting.id, "--events"]);
    scanProject(p);
  });

  it("a run in flight keeps it out of the live WAL too, and out of its cancellation", async () => {
    const live = start(p, ["run", "live.yaml"]);
    try {
      const id = await waitFor("the live run's echo step to commit", async () => {
        const list = ["workflow", "list", "--status", "RUNNING"];
        const runId = (await cliJson<{ runs: RunJson[] }>(p, list)).runs[0]?.id;
        if (!runId) return undefined;
        const view = await cliJson(p, ["workflow", "show", runId]);
        return p.step(view, "echo").status === "SUCCEEDED" ? runId : undefined;
      });
      expect(readFileSync(join(p.ws, "live.txt"), "utf8")).toBe(CANARY);
      // The holder still has the database open: its latest commits are in the WAL.
      expect(statSync(join(p.dir, "home", "airun.db-wal")).size).toBeGreaterThan(0);
      const files = scanProject(p).map((f) => f.slice(p.dir.length + 1));
      expect(files).toEqual(expect.arrayContaining([join("home", "airun.db-wal")]));
      const cancelled = await cliJson(p, ["workflow", "cancel", id]);
      expect(cancelled.status).toBe("ROLLED_BACK");
      expect((await live.done).code).toBe(3);
      expect(existsSync(join(p.ws, "live.txt"))).toBe(false);
    } finally {
      live.kill();
      await live.done;
    }
    scanProject(p);
  });

  it("appears in no file under the project but the sandbox, and in no command's stdout or stderr", () => {
    const scanned = scanProject(p).map((f) => f.slice(p.dir.length + 1));
    expect(scanned).toEqual(expect.arrayContaining([join("home", "airun.db"), "keep.yaml"]));
    // The only place it is meant to be: the file the user asked to write.
    expect(filesUnder(p.ws)).toEqual([join(p.ws, "creds.txt")]);
    expect(outputs.length).toBeGreaterThan(25);
    scanOutputs();
  });
});
