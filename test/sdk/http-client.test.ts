/**
 * The SDK's HTTP client against a real `serve` on loopback (in-process server, real HTTP, a real
 * SQLite home and files): an agent's session written and committed, another rolled back, a call
 * waiting for approval surfacing as `APPROVAL_PENDING` with its approval id, and a person's
 * client listing and deciding it; the server's problems arrive as `AirunHttpError` with codes.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Runtime } from "../../src/engine/runtime/runtime.js";
import { AirunHttpClient, AirunHttpError } from "../../src/sdk/http-client.js";
import { type RunningServer, serve } from "../../src/server/serve.js";
import { type Workspace, workspace } from "../engine/helpers.js";

let w: Workspace | undefined;
let rt: Runtime | undefined;
let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  await rt?.close();
  await w?.cleanup();
  server = undefined;
  rt = undefined;
  w = undefined;
});

const POLICY = `version: 1
default: ALLOW
rules:
  - id: deletes-need-a-person
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
`;

async function start(): Promise<{ agent: AirunHttpClient; alice: AirunHttpClient }> {
  w = await workspace({ policy: POLICY });
  rt = await w.open();
  server = await serve(rt, { listen: "127.0.0.1:0", log: () => undefined });
  const agentToken = (await rt.tokens.create({ principal: "agent:bot" })).token;
  const aliceToken = (await rt.tokens.create({ principal: "user:alice" })).token;
  return {
    agent: new AirunHttpClient({ baseUrl: server.url, token: agentToken }),
    alice: new AirunHttpClient({ baseUrl: server.url, token: aliceToken }),
  };
}

describe("AirunHttpClient", () => {
  it("drives a session over HTTP: write and commit; another writes and rolls back (file gone)", async () => {
    const { agent } = await start();
    expect((await agent.me()).principal).toBe("agent:bot");
    const s = await agent.openSession({
      name: "sdk",
      governance: { budgets: { max_tool_calls: 3 } },
    });
    const out = await s.call("io.fs.write_file", { path: "a.txt", content: "kept" });
    expect(out).toMatchObject({ path: expect.stringContaining("a.txt") });
    expect((await s.status()).session.status).toBe("RUNNING");
    expect(await s.commit()).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
    expect(readFileSync(join(w!.ws, "a.txt"), "utf8")).toBe("kept");

    const t = await agent.openSession();
    await t.call("io.fs.write_file", { path: "b.txt", content: "gone soon" });
    expect(await t.rollback("not needed")).toMatchObject({ status: "ROLLED_BACK" });
    expect(existsSync(join(w!.ws, "b.txt"))).toBe(false);
  });

  it("surfaces a call waiting for approval as APPROVAL_PENDING, which a person's client decides", async () => {
    const { agent, alice } = await start();
    writeFileSync(join(w!.ws, "old.txt"), "old");
    const s = await agent.openSession();
    const err = await s.call("io.fs.delete", { path: "old.txt" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AirunHttpError);
    expect(err).toMatchObject({ status: 409, code: "APPROVAL_PENDING" });
    const pending = await alice.listApprovals();
    expect(pending).toHaveLength(1);
    expect((await alice.getApproval(pending[0]!.id)).action).toMatchObject({
      capability: "io.fs.delete",
    });
    const byAgent = await agent.decide(pending[0]!.id, "approve").catch((e: unknown) => e);
    expect(byAgent).toMatchObject({ status: 403, code: "SCOPE_MISSING" });
    await alice.decide(pending[0]!.id, "approve", "fine");
    expect(existsSync(join(w!.ws, "old.txt"))).toBe(false);
    expect(await s.commit()).toMatchObject({ status: "COMPLETED" });
  });
});
