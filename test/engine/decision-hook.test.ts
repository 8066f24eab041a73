/**
 * The external decision hook against a real local HTTP server: it may only make a decision
 * stricter, and any failure (timeout, garbage, bad status, connection refused) fails closed.
 */

import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PolicyRequest } from "../../src/core/policy.js";
import { compilePolicy } from "../../src/core/policy-compile.js";
import { createDecisionHook } from "../../src/engine/policy/decision-hook.js";
import type { Runtime } from "../../src/engine/runtime/runtime.js";
import { type Workspace, workspace } from "./helpers.js";

type Handler = (body: Record<string, unknown>, res: ServerResponse) => void;

let server: Server;
let url: string;
let handler: Handler;
let calls: Record<string, unknown>[];

beforeEach(async () => {
  calls = [];
  handler = (_b, res) => res.end(JSON.stringify({ decision: "ALLOW" }));
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      calls.push(body);
      handler(body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/decide`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const POLICY = compilePolicy(
  "p.yaml",
  `version: 1
rules:
  - { id: allow-echo, capability: sys.echo, decision: ALLOW }
  - { id: approve-write, capability: io.fs.write_file, decision: REQUIRE_APPROVAL, approvers: ["user:bob"] }
  - { id: deny-delete, capability: io.fs.delete, decision: DENY }
`,
);

function req(capability: string, inputs: Record<string, unknown> = {}): PolicyRequest {
  return {
    principal: "agent:a",
    roles: ["ops"],
    capability,
    risk: "LOW",
    effect: "write",
    undo: "builtin",
    hasCompensation: false,
    inputs: inputs as PolicyRequest["inputs"],
  };
}

async function decide(capability: string, timeoutMs = 2_000) {
  const hook = createDecisionHook({ url, timeoutMs });
  const r = req(capability, { path: "a.txt" });
  return hook(r, POLICY.evaluate(r));
}

describe("decision hook", () => {
  it("applies a stricter answer (ALLOW → DENY) and records what the hook said", async () => {
    handler = (_b, res) => res.end(JSON.stringify({ decision: "DENY", reason: "outside hours" }));
    const d = await decide("sys.echo");
    expect(d.decision).toBe("DENY");
    expect(d.reason).toContain("outside hours");
    expect(d.ruleIds).toEqual(["allow-echo"]);
    expect(d.hook).toEqual({
      url,
      decision: "DENY",
      reason: "outside hours",
      applied: true,
      error: null,
    });
  });

  it("turns ALLOW into REQUIRE_APPROVAL when the hook asks for a human", async () => {
    handler = (_b, res) => res.end(JSON.stringify({ decision: "REQUIRE_APPROVAL" }));
    const d = await decide("sys.echo");
    expect(d.decision).toBe("REQUIRE_APPROVAL");
    expect(d.hook?.applied).toBe(true);
  });

  it("ignores a looser answer: REQUIRE_APPROVAL stays, approvers kept, the answer recorded as not applied", async () => {
    handler = (_b, res) => res.end(JSON.stringify({ decision: "ALLOW", reason: "trust me" }));
    const d = await decide("io.fs.write_file");
    expect(d.decision).toBe("REQUIRE_APPROVAL");
    expect(d.approvers).toEqual(["user:bob"]);
    expect(d.hook).toMatchObject({ decision: "ALLOW", applied: false });
  });

  it("sends the request and the policy's answer, and is not asked at all when the policy denies", async () => {
    await decide("sys.echo");
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      principal: "agent:a",
      roles: ["ops"],
      capability: "sys.echo",
      inputs: { path: "a.txt" },
      policy: { decision: "ALLOW", rule_ids: ["allow-echo"], policy_hash: POLICY.hash },
    });
    const denied = await decide("io.fs.delete");
    expect(denied.decision).toBe("DENY");
    expect(denied.hook).toBeUndefined();
    expect(calls).toHaveLength(1);
  });

  it("fails closed on a timeout: DENY naming the hook", async () => {
    handler = () => undefined; // never answers
    const t0 = Date.now();
    const d = await decide("sys.echo", 200);
    expect(Date.now() - t0).toBeLessThan(1_500);
    expect(d.decision).toBe("DENY");
    expect(d.reason).toMatch(/decision hook .* failed.*timeout/);
    expect(d.hook).toMatchObject({ decision: null, applied: true });
  });

  it.each([
    ["a body that is not JSON", (res: ServerResponse) => res.end("<html>ok</html>")],
    ["an unknown decision", (res: ServerResponse) => res.end('{"decision":"MAYBE"}')],
    ["a lowercase decision", (res: ServerResponse) => res.end('{"decision":"allow"}')],
    ["a JSON array", (res: ServerResponse) => res.end("[]")],
    [
      "a 500 status with a valid body",
      (res: ServerResponse) => {
        res.statusCode = 500;
        res.end('{"decision":"ALLOW"}');
      },
    ],
  ])("fails closed on %s", async (_name, respond) => {
    handler = (_b, res) => respond(res);
    const d = await decide("sys.echo");
    expect(d.decision).toBe("DENY");
    expect(d.hook?.error).toBeTruthy();
  });

  it("fails closed when nothing listens", async () => {
    const hook = createDecisionHook({ url: "http://127.0.0.1:1/decide", timeoutMs: 1_000 });
    const r = req("sys.echo");
    const d = await hook(r, POLICY.evaluate(r));
    expect(d.decision).toBe("DENY");
    expect(d.hook?.error).toMatch(/ECONNREFUSED/);
  });
});

describe("decision hook in a run", () => {
  let w: Workspace;
  let rt: Runtime | undefined;

  afterEach(async () => {
    await rt?.close();
    rt = undefined;
    await w.cleanup();
  });

  it("sees the recorded inputs with secrets masked, and its stricter answer stops the step before any effect", async () => {
    handler = (_b, res) => res.end(JSON.stringify({ decision: "DENY", reason: "not today" }));
    w = await workspace({ config: `policy_hook: { url: "${url}", timeout: 2s }\n` });
    const spec = await w.spec(
      "wf.yaml",
      `name: hooked
version: 1
principal: agent:bot
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: out.txt, content: "key=\${{ secrets.API_KEY }}" }
`,
    );
    rt = await w.open({ API_KEY: "s3cr3t-value" });
    const view = await rt.startRun({ specFile: spec });

    expect(view.reason).toBe("POLICY_DENIED");
    expect(existsSync(join(w.ws, "out.txt"))).toBe(false);
    expect(JSON.stringify(calls)).not.toContain("s3cr3t-value");
    expect(calls[0]).toMatchObject({ inputs: { content: expect.stringMatching(/^key=\*+$/) } });
    expect(view.steps[0]?.decision).toMatchObject({
      decision: "DENY",
      policy_source: "builtin",
      hook: { url, decision: "DENY", reason: "not today", applied: true },
    });
  });
});
