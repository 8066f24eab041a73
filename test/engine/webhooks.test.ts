/**
 * Signed webhooks (SPEC §8): the signature scheme and `verifyWebhook`'s refusals, then real
 * deliveries to a local HTTP receiver from a Runtime on a real SQLite file: signed requested and
 * decided events, retries recorded attempt by attempt, a missing secret never sends unsigned,
 * step URLs override the config, and a receiver that never answers delays nothing.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Runtime } from "../../src/engine/runtime/runtime.js";
import { signWebhook, verifyWebhook } from "../../src/sdk/index.js";
import { SRE_APPROVAL_POLICY as POLICY } from "../support/approval-fixtures.js";
import { type Workspace, workspace } from "./helpers.js";
import { eventually, type Receiver, receiver } from "./webhook-receiver.js";

const SECRET = "whsec_test_0123456789";
const ENV = { HOOK_SECRET: SECRET };

describe("signWebhook / verifyWebhook", () => {
  const body = JSON.stringify({ id: "whd_1", type: "approval.requested", at: 1 });
  const now = Date.UTC(2026, 0, 1);

  it("accepts the signature of the exact body within the tolerance, as a string or as bytes", () => {
    const header = signWebhook(body, SECRET, now);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhook(body, header, SECRET, 300, now)).toBe(true);
    expect(verifyWebhook(Buffer.from(body), header, SECRET, 300, now + 299_000)).toBe(true);
    expect(verifyWebhook(new TextEncoder().encode(body), header, SECRET, 300, now)).toBe(true);
  });

  it("refuses a forged signature: another secret, or a made-up hex string", () => {
    const t = Math.floor(now / 1000);
    expect(verifyWebhook(body, signWebhook(body, "other", now), SECRET, 300, now)).toBe(false);
    expect(verifyWebhook(body, `t=${t},v1=${"ab".repeat(32)}`, SECRET, 300, now)).toBe(false);
    expect(verifyWebhook(body, signWebhook(body, SECRET, now), "", 300, now)).toBe(false);
  });

  it("refuses a tampered body, even by one byte or trailing whitespace", () => {
    const header = signWebhook(body, SECRET, now);
    expect(verifyWebhook(body.replace("requested", "requestee"), header, SECRET, 300, now)).toBe(
      false,
    );
    expect(verifyWebhook(`${body} `, header, SECRET, 300, now)).toBe(false);
  });

  it("refuses a stale timestamp and a future-dated one beyond the tolerance", () => {
    const header = signWebhook(body, SECRET, now);
    expect(verifyWebhook(body, header, SECRET, 300, now + 301_000)).toBe(false);
    expect(verifyWebhook(body, header, SECRET, 300, now - 301_000)).toBe(false);
    expect(verifyWebhook(body, header, SECRET, 10, now + 11_000)).toBe(false);
  });

  it("refuses a timestamp moved without re-signing (the timestamp is signed too)", () => {
    const header = signWebhook(body, SECRET, now);
    const moved = header.replace(/t=(\d+)/, (_m, t: string) => `t=${Number(t) + 1}`);
    expect(verifyWebhook(body, moved, SECRET, 300, now)).toBe(false);
  });

  it("refuses malformed headers", () => {
    const sig = signWebhook(body, SECRET, now);
    const v1 = sig.split(",")[1]!;
    const t = sig.split(",")[0]!;
    for (const h of [
      "",
      "garbage",
      v1,
      t,
      `t=abc,${v1}`,
      `${t},v1=xyz`,
      `${t},${t},${v1}`,
      `${t},v1=${v1.slice(3, 40)}`,
    ]) {
      expect(verifyWebhook(body, h, SECRET, 300, now), h).toBe(false);
    }
    expect(verifyWebhook(body, undefined as unknown as string, SECRET, 300, now)).toBe(false);
  });

  it("accepts a header that carries several v1 signatures when one matches (secret rotation)", () => {
    const t = Math.floor(now / 1000);
    const good = signWebhook(body, SECRET, now).split("v1=")[1];
    expect(verifyWebhook(body, `t=${t},v1=${"0".repeat(64)},v1=${good}`, SECRET, 300, now)).toBe(
      true,
    );
  });
});

const PRINCIPALS = `principals:
  user:alice: { roles: [sre] }
`;

const CLEANUP = `name: cleanup
version: 1
principal: agent:janitor
steps:
  - id: remove
    capability: io.fs.delete
    inputs: { path: victim.txt }
`;

let w: Workspace | undefined;
let receivers: Receiver[] = [];
let runtimes: Runtime[] = [];
afterEach(async () => {
  for (const rt of runtimes) await rt.close();
  for (const r of receivers) await r.close();
  await w?.cleanup();
  w = undefined;
  receivers = [];
  runtimes = [];
});

async function setup(
  webhook: string,
  opts: { env?: Record<string, string>; receiver?: Parameters<typeof receiver>[0] } = {},
) {
  const r = await receiver(opts.receiver);
  receivers.push(r);
  w = await workspace({
    policy: POLICY,
    config: `${PRINCIPALS}approvals:\n  webhook: { url: "${r.url}", ${webhook} }\n`,
  });
  writeFileSync(join(w.ws, "victim.txt"), "v");
  const rt = await w.open(opts.env ?? ENV);
  runtimes.push(rt);
  return { r, rt, w };
}

type Delivery = {
  delivery_id: string;
  event: string;
  approval_id?: string;
  attempt: number;
  outcome: string;
  status?: number;
  error?: string;
  url: string;
  duration_ms: number;
};

async function deliveries(rt: Runtime, runId: string): Promise<Delivery[]> {
  return (await rt.events(runId))
    .filter((e) => e.type === "webhook.delivery")
    .map((e) => e.data as unknown as Delivery);
}

const finished = (d: Delivery) => d.outcome !== "retrying";

describe("webhook deliveries", () => {
  it("POSTs signed approval.requested and approval.decided events that verify with verifyWebhook, and a tampered body does not", async () => {
    const { r, rt } = await setup("secret_env: HOOK_SECRET, backoff: 10ms");
    const view = await rt.startRun({ specFile: await w!.spec("wf.yaml", CLEANUP) });
    expect(view.status).toBe("WAITING_APPROVAL");
    await eventually("the requested webhook", () => (r.received.length >= 1 ? true : undefined));

    const decided = await rt.decideApproval(view.id, {
      decision: "approve",
      principal: "user:alice",
      comment: "ok",
    });
    expect(decided.status).toBe("COMPLETED");
    expect(existsSync(join(w!.ws, "victim.txt"))).toBe(false);
    await eventually("the decided webhook", () => (r.received.length >= 2 ? true : undefined));

    const [req1, req2] = r.received;
    for (const req of [req1!, req2!]) {
      expect(req.headers["content-type"]).toBe("application/json");
      const sig = String(req.headers["airun-signature"]);
      expect(verifyWebhook(req.raw, sig, SECRET)).toBe(true);
      expect(verifyWebhook(req.raw.toString("utf8"), sig, SECRET)).toBe(true);
      expect(verifyWebhook(req.raw, sig, "wrong-secret")).toBe(false);
      const tampered = Buffer.from(
        req.raw.toString("utf8").replace('"agent:janitor"', '"user:mallory"'),
      );
      expect(tampered.equals(req.raw)).toBe(false);
      const flipped = Buffer.from(req.raw);
      const i = flipped.length - 2;
      flipped[i] = (flipped[i] ?? 0) ^ 1;
      expect(verifyWebhook(flipped, sig, SECRET)).toBe(false);
      expect(verifyWebhook(tampered, sig, SECRET)).toBe(false);
    }
    const [requested, decidedEvent] = r.bodies();
    expect(requested).toMatchObject({
      type: "approval.requested",
      run_id: view.id,
      step_id: "remove",
      approval: {
        id: `${view.id}/remove/1`,
        status: "PENDING",
        requester: "agent:janitor",
        approvers: ["role:sre"],
      },
    });
    expect(req1!.headers["airun-delivery"]).toBe(requested!.id);
    expect(decidedEvent).toMatchObject({
      type: "approval.decided",
      approval: { status: "APPROVED", decided_by: "user:alice", comment: "ok" },
    });
    expect(decidedEvent!.id).not.toBe(requested!.id);

    const recorded = await eventually("both deliveries recorded", async () => {
      const d = await deliveries(rt, view.id);
      return d.length >= 2 ? d : undefined;
    });
    expect(recorded.map((d) => [d.event, d.attempt, d.outcome, d.status])).toEqual([
      ["approval.requested", 1, "delivered", 204],
      ["approval.decided", 1, "delivered", 204],
    ]);
    expect(recorded[0]).toMatchObject({
      delivery_id: requested!.id,
      approval_id: `${view.id}/remove/1`,
      url: r.url,
    });
  });

  it("retries a receiver that answers 500 twice then 200, and records the 3 attempts", async () => {
    const { r, rt } = await setup(
      "secret_env: HOOK_SECRET, backoff: 20ms, max_backoff: 40ms, events: [approval.requested]",
      { receiver: { statuses: [500, 500, 200] } },
    );
    const view = await rt.startRun({ specFile: await w!.spec("wf.yaml", CLEANUP) });
    const recorded = await eventually("three attempts", async () => {
      const d = await deliveries(rt, view.id);
      return d.some(finished) ? d : undefined;
    });
    expect(recorded.map((d) => [d.attempt, d.status, d.outcome])).toEqual([
      [1, 500, "retrying"],
      [2, 500, "retrying"],
      [3, 200, "delivered"],
    ]);
    expect(new Set(recorded.map((d) => d.delivery_id)).size).toBe(1);
    expect(r.received).toHaveLength(3);
    // Every retry carries the same delivery id and a valid signature of the same body.
    expect(new Set(r.received.map((q) => q.headers["airun-delivery"])).size).toBe(1);
    for (const q of r.received) {
      expect(verifyWebhook(q.raw, String(q.headers["airun-signature"]), SECRET)).toBe(true);
    }
  });

  it("gives up after max_attempts on a receiver that keeps failing, and does not retry a 4xx", async () => {
    const { r, rt } = await setup(
      "secret_env: HOOK_SECRET, backoff: 10ms, max_attempts: 2, events: [approval.requested]",
      { receiver: { statuses: [503] } },
    );
    const view = await rt.startRun({ specFile: await w!.spec("wf.yaml", CLEANUP) });
    const recorded = await eventually("the final attempt", async () => {
      const d = await deliveries(rt, view.id);
      return d.some(finished) ? d : undefined;
    });
    expect(recorded.map((d) => [d.attempt, d.status, d.outcome])).toEqual([
      [1, 503, "retrying"],
      [2, 503, "failed"],
    ]);
    expect(r.received).toHaveLength(2);

    const gone = await receiver({ statuses: [410] });
    receivers.push(gone);
    const w2 = await workspace({
      policy: POLICY,
      config: `${PRINCIPALS}approvals:\n  webhook: { url: "${gone.url}", secret_env: HOOK_SECRET, backoff: 10ms }\n`,
    });
    try {
      const rt2 = await w2.open(ENV);
      runtimes.push(rt2);
      const v2 = await rt2.startRun({ specFile: await w2.spec("wf.yaml", CLEANUP) });
      const d2 = await eventually("the 410", async () => {
        const d = await deliveries(rt2, v2.id);
        return d.some(finished) ? d : undefined;
      });
      expect(d2.map((d) => [d.attempt, d.status, d.outcome])).toEqual([[1, 410, "failed"]]);
    } finally {
      await w2.cleanup();
    }
  });

  it("never sends unsigned: without the secret in the environment the delivery is recorded as failed and nothing is POSTed", async () => {
    const { r, rt } = await setup("secret_env: HOOK_SECRET, backoff: 10ms", { env: {} });
    const view = await rt.startRun({ specFile: await w!.spec("wf.yaml", CLEANUP) });
    expect(view.status).toBe("WAITING_APPROVAL");
    const recorded = await eventually("the failure record", async () => {
      const d = await deliveries(rt, view.id);
      return d.length > 0 ? d : undefined;
    });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ attempt: 1, outcome: "failed" });
    expect(recorded[0]!.error).toMatch(/HOOK_SECRET is not set.*never sent unsigned/);
    await new Promise((res) => setTimeout(res, 100));
    expect(r.received).toHaveLength(0);
  });

  it("does not delay or fail the run when the receiver never answers: close() gives up after its grace period and the abandoned attempt is on record", async () => {
    const { r, rt } = await setup("secret_env: HOOK_SECRET, timeout: 30s", {
      receiver: { hang: true },
    });
    const started = Date.now();
    const view = await rt.startRun({ specFile: await w!.spec("wf.yaml", CLEANUP) });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(view.status).toBe("WAITING_APPROVAL");
    await eventually("the request to arrive", () => (r.received.length > 0 ? true : undefined));

    const closing = Date.now();
    await rt.close();
    runtimes = [];
    expect(Date.now() - closing).toBeLessThan(3_500);

    const again = await w!.open(ENV);
    runtimes.push(again);
    const recorded = await deliveries(again, view.id);
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ attempt: 1, outcome: "abandoned" });
    expect(recorded[0]!.error).toMatch(/runtime closed/);
    expect((await again.getRun(view.id)).status).toBe("WAITING_APPROVAL");
  });

  it("does not delay the run when nothing listens (connection refused): the run completes and the failures are recorded", async () => {
    const { r, rt } = await setup(
      "secret_env: HOOK_SECRET, backoff: 10ms, max_attempts: 2, events: [approval.requested, approval.decided]",
    );
    await r.close();
    receivers = [];
    const view = await rt.startRun({ specFile: await w!.spec("wf.yaml", CLEANUP) });
    const started = Date.now();
    const done = await rt.decideApproval(view.id, { decision: "approve", principal: "user:alice" });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(done.status).toBe("COMPLETED");
    const recorded = await eventually("both deliveries to fail", async () => {
      const d = await deliveries(rt, view.id);
      return d.filter(finished).length >= 2 ? d : undefined;
    });
    expect(recorded.filter(finished).map((d) => d.outcome)).toEqual(["failed", "failed"]);
    expect(recorded.every((d) => typeof d.error === "string" && d.status === undefined)).toBe(true);
  });

  it("sends run.finished only when configured, with the run's terminal status", async () => {
    const { r, rt } = await setup(
      "secret_env: HOOK_SECRET, events: [approval.decided, run.finished]",
    );
    const view = await rt.startRun({ specFile: await w!.spec("wf.yaml", CLEANUP) });
    await rt.decideApproval(view.id, { decision: "reject", principal: "user:alice" });
    await eventually("two webhooks", () => (r.received.length >= 2 ? true : undefined));
    const bodies = r.bodies();
    expect(bodies.map((b) => b.type)).toEqual(["approval.decided", "run.finished"]);
    expect(bodies[1]).toMatchObject({
      run_id: view.id,
      step_id: null,
      run: {
        id: view.id,
        status: "ROLLED_BACK",
        outcome: "REMEDIATE",
        reason: "APPROVAL_REJECTED",
      },
    });
    expect(bodies[0]).toMatchObject({ approval: { status: "REJECTED" } });
  });

  it("sends an approval step's own webhook_url instead of the configured one, resolving its templates", async () => {
    const own = await receiver();
    receivers.push(own);
    const { r, rt } = await setup("secret_env: HOOK_SECRET");
    const spec = `name: ship
version: 1
principal: agent:e2e
inputs:
  hook: { type: string }
steps:
  - id: gate
    type: approval
    inputs:
      message: "Ship it?"
      webhook_url: "\${{ inputs.hook }}"
`;
    const view = await rt.startRun({
      specFile: await w!.spec("ship.yaml", spec),
      inputs: { hook: `${own.url}?token=abc` },
    });
    expect(view.status).toBe("WAITING_APPROVAL");
    await eventually("the step's receiver", () => (own.received.length > 0 ? true : undefined));
    expect(own.received[0]!.path).toBe("/hook?token=abc");
    const recorded = await eventually("the record", async () => {
      const d = await deliveries(rt, view.id);
      return d.length > 0 ? d : undefined;
    });
    // The query string (often a token) is not recorded.
    expect(recorded[0]!.url).toBe(own.url);
    expect(r.received).toHaveLength(0);
  });

  it("refuses a step webhook_url that resolves to a non-http(s) scheme, on record", async () => {
    const { r, rt } = await setup("secret_env: HOOK_SECRET");
    const spec = `name: ship
version: 1
principal: agent:e2e
inputs:
  hook: { type: string }
steps:
  - id: gate
    type: approval
    inputs:
      message: "Ship it?"
      webhook_url: "\${{ inputs.hook }}"
`;
    const view = await rt.startRun({
      specFile: await w!.spec("ship.yaml", spec),
      inputs: { hook: "file:///etc/passwd" },
    });
    const recorded = await eventually("the refusal", async () => {
      const d = await deliveries(rt, view.id);
      return d.length > 0 ? d : undefined;
    });
    expect(recorded[0]).toMatchObject({ attempt: 1, outcome: "failed" });
    expect(recorded[0]!.error).toMatch(/must be http\(s\), got file:/);
    expect(r.received).toHaveLength(0);
  });
});
