/**
 * Webhooks from the built `airun` binary, in separate processes, to a real local receiver: the
 * run that asks for approval and the one that decides it each send a signed event that
 * `verifyWebhook` accepts; the command exits promptly even when the receiver is unreachable.
 */
import { afterAll, describe, expect, it } from "vitest";
import { verifyWebhook } from "../../src/sdk/index.js";
import { eventually, receiver } from "../engine/webhook-receiver.js";
import { project, tempRoot } from "./project.js";

const root = tempRoot("webhooks");
afterAll(() => root.cleanup());

const SECRET = "e2e-secret";

const POLICY = `version: 1
default: DENY
rules:
  - id: deletes-need-sre
    principal: "*"
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
`;

const SPEC = `name: cleanup
version: 1
principal: agent:janitor
steps:
  - id: remove
    capability: io.fs.delete
    inputs: { path: victim.txt }
`;

function gated(url: string) {
  return project(root.path, {
    policy: POLICY,
    config: `principals:\n  user:alice: { roles: [sre] }\napprovals:\n  webhook: { url: "${url}", secret_env: HOOK_SECRET, backoff: 10ms, max_attempts: 2 }\n`,
    files: { "ws/victim.txt": "v", "cleanup.yaml": SPEC },
  });
}

describe("webhooks from the CLI", () => {
  it("sends signed approval.requested (from `run`) and approval.decided (from `workflow resume`) events that verify", async () => {
    const r = await receiver();
    try {
      const p = gated(r.url);
      const env = { HOOK_SECRET: SECRET };
      const run = await p.run(["run", "cleanup.yaml", "--json"], env);
      expect(run.code).toBe(5);
      const runId = (JSON.parse(run.stdout) as { id: string }).id;
      // The process exits only after its delivery finished (or the grace period ran out).
      expect(r.bodies().map((b) => b.type)).toEqual(["approval.requested"]);
      const resumed = await p.run(
        ["workflow", "resume", runId, "--decision", "approve", "--as", "user:alice"],
        env,
      );
      expect(resumed.code).toBe(0);
      await eventually("the decided event", () => (r.received.length >= 2 ? true : undefined));
      expect(r.bodies().map((b) => [b.type, b.run_id])).toEqual([
        ["approval.requested", runId],
        ["approval.decided", runId],
      ]);
      for (const q of r.received) {
        expect(verifyWebhook(q.raw, String(q.headers["airun-signature"]), SECRET)).toBe(true);
        expect(verifyWebhook(q.raw, String(q.headers["airun-signature"]), "forged")).toBe(false);
      }
      const shown = await p.json<{ approval: { deliveries: { outcome: string }[] } }>([
        "approvals",
        "show",
        `${runId}/remove/1`,
      ]);
      expect(shown.body.approval.deliveries.map((d) => d.outcome)).toEqual([
        "delivered",
        "delivered",
      ]);
    } finally {
      await r.close();
    }
  });

  it("does not fail the run nor hold the command long when the receiver is unreachable", async () => {
    const r = await receiver();
    await r.close();
    const p = gated(r.url);
    const started = Date.now();
    const run = await p.run(["run", "cleanup.yaml"], { HOOK_SECRET: SECRET });
    expect(run.code).toBe(5);
    expect(Date.now() - started).toBeLessThan(6_000);
    const runId = /run (\S+)/.exec(run.stdout)?.[1] ?? "";
    const shown = await p.json<{ approval: { deliveries: { outcome: string }[] } }>([
      "approvals",
      "show",
      runId,
    ]);
    expect(shown.body.approval.deliveries.map((d) => d.outcome)).toEqual(["retrying", "failed"]);
  });

  it("says on stderr, at run time, that a hook was not sent because its signing secret is missing", async () => {
    const r = await receiver();
    try {
      const run = await gated(r.url).run(["run", "cleanup.yaml"], { HOOK_SECRET: "" });
      expect(run.code).toBe(5);
      expect(run.stderr).toMatch(
        /warning: webhook approval\.requested to http:\/\/127\.0\.0\.1:\d+\/\S* not sent: the signing secret environment variable HOOK_SECRET is not set/,
      );
      expect(r.received).toHaveLength(0);
    } finally {
      await r.close();
    }
  });
});
