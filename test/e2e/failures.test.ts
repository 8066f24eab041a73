/**
 * Capability failures through the built CLI: the failing step is FAILED with its typed error,
 * retries are exact against a real local HTTP server, timeouts are enforced, a non-zero exit of
 * an approved command fails its step, and every sandbox escape is refused with nothing outside
 * the root changed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { project, type RunJson, snapshot, tempRoot } from "./project.js";

const root = tempRoot("failures");
afterAll(() => root.cleanup());

/** A workflow: write pre.txt, then run `step` (YAML lines of one step with id `x`). */
const afterWrite = (step: string) => `name: fails
version: 1
principal: agent:e2e
steps:
  - id: pre
    capability: io.fs.write_file
    inputs: { path: pre.txt, content: "pre" }
  - id: x
    depends_on: [pre]
${step}`;

describe("a failing capability fails its step and rolls the run back", () => {
  it("io.fs.read_file of a missing file: exit 3, step FAILED with FS_NOT_FOUND, earlier write undone", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      afterWrite("    capability: io.fs.read_file\n    inputs: { path: missing.txt }\n"),
    );
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(3);
    expect(body).toMatchObject({ status: "ROLLED_BACK", reason: "STEP_FAILED" });
    expect(p.step(body, "x")).toMatchObject({
      status: "FAILED",
      attempts: 1,
      error: { code: "FS_NOT_FOUND" },
    });
    expect(existsSync(join(p.ws, "pre.txt"))).toBe(false);
  });

  it("records the policy decision and context hash of a read-only step that fails (missing file)", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      afterWrite("    capability: io.fs.read_file\n    inputs: { path: missing.txt }\n"),
    );
    const { body } = await p.json(["run", "wf.yaml"]);
    const shown = await p.json<RunJson & { events: { type: string; step_id: string | null }[] }>([
      "workflow",
      "show",
      body.id,
      "--events",
    ]);
    const x = p.step(shown.body, "x");
    expect(x.decision).toMatchObject({ decision: "ALLOW" });
    expect(x.context_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(shown.body.events.some((e) => e.type === "step.decision" && e.step_id === "x")).toBe(
      true,
    );
  });

  describe("HTTP errors from a real local server", () => {
    let server: Server;
    let requests: string[] = [];
    let port = 0;
    // Appended to the base config, these lines continue its `sandbox:` mapping.
    const HTTP = `  http: { allow_hosts: ["127.0.0.1"], allow_private: true }\n`;
    const get = (path: string) => `    capability: net.http.request
    inputs: { url: "http://127.0.0.1:${port}${path}", method: GET }
    retry: { max_attempts: 3, initial_delay: 10ms }
`;

    beforeAll(async () => {
      server = createServer((req, res) => {
        requests.push(`${req.method} ${req.url}`);
        res.statusCode = req.url === "/missing" ? 404 : 503;
        res.end("down");
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise((r) => server.close(r));
    });

    it("retries an HTTP 503 exactly max_attempts times: 3 requests reach the server, attempts = 3, then the run rolls back", async () => {
      const p = project(root.path, { config: HTTP });
      p.write("wf.yaml", afterWrite(get("/flaky")));
      requests = [];
      const { code, body } = await p.json(["run", "wf.yaml"]);
      expect(code).toBe(3);
      expect(requests).toEqual(["GET /flaky", "GET /flaky", "GET /flaky"]);
      expect(p.step(body, "x")).toMatchObject({
        status: "FAILED",
        attempts: 3,
        error: { code: "HTTP_STATUS" },
      });
      expect(existsSync(join(p.ws, "pre.txt"))).toBe(false);
    });

    it("does not retry an HTTP 404: exactly 1 request, attempts = 1", async () => {
      const p = project(root.path, { config: HTTP });
      p.write("wf.yaml", afterWrite(get("/missing")));
      requests = [];
      const { code, body } = await p.json(["run", "wf.yaml"]);
      expect(code).toBe(3);
      expect(requests).toEqual(["GET /missing"]);
      expect(p.step(body, "x")).toMatchObject({ status: "FAILED", attempts: 1 });
    });
  });

  it("stops a step over its timeout: sys.sleep 10000 with timeout 200ms fails with TIMEOUT in well under 10 s", async () => {
    const p = project(root.path);
    p.write(
      "wf.yaml",
      afterWrite("    capability: sys.sleep\n    inputs: { ms: 10000 }\n    timeout: 200ms\n"),
    );
    const started = Date.now();
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(code).toBe(3);
    expect(p.step(body, "x")).toMatchObject({ status: "FAILED", error: { code: "TIMEOUT" } });
    expect(existsSync(join(p.ws, "pre.txt"))).toBe(false);
  });
});

describe("sys.exec.run", () => {
  const EXEC = `name: exec
version: 1
principal: agent:e2e
steps:
  - id: x
    capability: sys.exec.run
    inputs: { argv: ["false"] }
`;
  const CONFIG = `  exec: { allow: ["false"] }\nprincipals:\n  user:alice: { roles: [sre] }\n`;

  it("is denied by the default policy (irreversible, no compensation): exit 4 POLICY_DENIED", async () => {
    const p = project(root.path, { config: CONFIG });
    p.write("wf.yaml", EXEC);
    const { code, body } = await p.json(["run", "wf.yaml"]);
    expect(code).toBe(4);
    expect(body).toMatchObject({ outcome: "ABSTAIN", reason: "POLICY_DENIED" });
  });

  it("with an explicit policy rule still needs approval (HIGH risk); once approved, a non-zero exit fails the step with EXEC_EXIT", async () => {
    const p = project(root.path, {
      config: CONFIG,
      policy: `version: 1
default: DENY
rules:
  - id: allow-false
    principal: "agent:*"
    capability: sys.exec.run
    decision: ALLOW
    approvers: ["role:sre"]
`,
    });
    p.write("wf.yaml", EXEC);
    const run = await p.json(["run", "wf.yaml"]);
    expect(run.code).toBe(5);
    expect(p.step(run.body, "x")).toMatchObject({ status: "WAITING_APPROVAL", attempts: 0 });
    const approved = await p.json([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "approve",
      "--as",
      "user:alice",
    ]);
    expect(approved.code).toBe(3);
    expect(approved.body).toMatchObject({ status: "ROLLED_BACK", reason: "STEP_FAILED" });
    expect(p.step(approved.body, "x")).toMatchObject({
      status: "FAILED",
      attempts: 1,
      error: { code: "EXEC_EXIT" },
    });
  });
});

describe("sandbox escapes through the CLI", () => {
  const write = (path: string) =>
    `    capability: io.fs.write_file\n    inputs: { path: "${path}", content: "pwned" }\n`;
  const cases: [string, (dir: string) => string][] = [
    ["write ../outside.txt", () => write("../outside.txt")],
    ["write ../../escape.txt", () => write("../../escape.txt")],
    ["write into a sibling-prefix folder ../ws_evil/x", () => write("../ws_evil/x")],
    ["write an absolute path in the sibling-prefix folder", (d) => write(`${d}/ws_evil/abs.txt`)],
    ["write an absolute path outside", (d) => write(`${d}/outside.txt`)],
    ["write through a symlink to an outside file", () => write("link")],
    ["write through a dangling symlink pointing outside", () => write("dangling")],
    ["write under a symlinked folder pointing outside", () => write("dirlink/x")],
    [
      "append through a dangling symlink pointing outside",
      () => `    capability: io.fs.append_file\n    inputs: { path: dangling, content: "x" }\n`,
    ],
    [
      "read an outside file through a symlink",
      () => "    capability: io.fs.read_file\n    inputs: { path: link }\n",
    ],
    [
      "copy an outside file in",
      () => `    capability: io.fs.copy\n    inputs: { from: ../outside.txt, to: stolen.txt }\n`,
    ],
    [
      "move a file out",
      () => "    capability: io.fs.move\n    inputs: { from: pre.txt, to: ../moved.txt }\n",
    ],
    [
      "make a folder outside",
      () => "    capability: io.fs.make_dir\n    inputs: { path: ../../newdir/sub }\n",
    ],
  ];

  it.each(cases)(
    "refuses to %s: exit 3, SANDBOX_VIOLATION, nothing outside the root changed",
    async (_, step) => {
      const p = project(root.path, { files: { "outside.txt": "outside", "ws_evil/keep": "k" } });
      symlinkSync(join(p.dir, "outside.txt"), join(p.ws, "link"));
      symlinkSync(join(p.dir, "nothere.txt"), join(p.ws, "dangling"));
      symlinkSync(join(p.dir, "ws_evil"), join(p.ws, "dirlink"));
      mkdirSync(join(p.dir, "ws_evilness"));
      p.write("wf.yaml", afterWrite(step(p.dir)));
      const before = snapshot(p.dir, ["home"]);
      const parentBefore = readdirSync(root.path).sort();

      const { code, body } = await p.json(["run", "wf.yaml"]);
      expect(code).toBe(3);
      expect(p.step(body, "x")).toMatchObject({
        status: "FAILED",
        error: { code: "SANDBOX_VIOLATION" },
      });
      expect(p.step(body, "x").outputs).toBeNull();
      expect(snapshot(p.dir, ["home"])).toEqual(before);
      expect(existsSync(join(root.path, "escape.txt"))).toBe(false);
      expect(existsSync(join(root.path, "newdir"))).toBe(false);
      expect(readFileSync(join(p.dir, "outside.txt"), "utf8")).toBe("outside");
      expect(readdirSync(root.path).sort()).toEqual(parentBefore);
    },
  );
});
