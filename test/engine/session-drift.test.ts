/**
 * Drift (SPEC §7) on sessions: sessions of one name form a baseline; a session whose running
 * totals drift beyond it is governed like a workflow run — abstain (rolled back, DRIFT) or ask
 * a person, then go on.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ApprovalPendingError, SessionClosedError } from "../../src/core/errors.js";
import type { Runtime } from "../../src/engine/runtime/runtime.js";
import type { GovernanceInput } from "../../src/engine/sessions/session-plan.js";
import type { Workspace } from "./helpers.js";
import { sessionWorkspace } from "./session-kit.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

/** Commits `n` sessions named `name` of `calls` echo calls each (the baseline). */
async function baseline(rt: Runtime, governance: GovernanceInput, n: number, calls: number) {
  for (let i = 0; i < n; i++) {
    const s = await rt.openSession({ principal: "agent:x", name: "triage", governance });
    for (let c = 0; c < calls; c++) await s.call("sys.echo", { c });
    expect((await s.commit()).status).toBe("COMPLETED");
  }
}

describe("session drift", () => {
  it("abstains and rolls back a session whose tool calls drift beyond the baseline of its name", async () => {
    w = await sessionWorkspace();
    const rt = await w.open();
    try {
      const governance: GovernanceInput = {
        drift: { metrics: ["tool_calls"], factor: 2, min_samples: 3, action: "abstain" },
      };
      await baseline(rt, governance, 3, 1);
      const s = await rt.openSession({ principal: "agent:x", name: "triage", governance });
      await s.call("io.fs.write_file", { path: "d.txt", content: "d" });
      await s.call("sys.echo", {});
      const err = await s.call("sys.echo", {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SessionClosedError);
      expect((err as SessionClosedError).end).toMatchObject({
        status: "ROLLED_BACK",
        outcome: "ABSTAIN",
        reason: "DRIFT",
      });
      expect(existsSync(join(w.ws, "d.txt"))).toBe(false);
    } finally {
      await rt.close();
    }
  });

  it("asks a person when drift requires approval; once approved the call is made and the session commits", async () => {
    w = await sessionWorkspace();
    const rt = await w.open();
    try {
      const governance: GovernanceInput = {
        drift: { metrics: ["tool_calls"], factor: 2, min_samples: 3, action: "require_approval" },
      };
      await baseline(rt, governance, 3, 1);
      const s = await rt.openSession({ principal: "agent:x", name: "triage", governance });
      await s.call("sys.echo", { n: 1 });
      await s.call("sys.echo", { n: 2 });
      const err = await s.call("sys.echo", { n: 3 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApprovalPendingError);
      const handle = (err as ApprovalPendingError).approval;
      expect(handle.message).toContain("drift");
      const waited = handle.wait({ pollMs: 20 });
      await rt.decideApproval(handle.approvalId, { decision: "approve", principal: "user:lead" });
      expect(await waited).toEqual({ n: 3 });
      const view = await s.commit();
      expect(view).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT" });
    } finally {
      await rt.close();
    }
  });
});
