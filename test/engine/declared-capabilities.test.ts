/**
 * Capabilities declared in config, through the SDK: a session's call of a capability declared
 * with its own compensation (and naming none) is undone by it on rollback, like a workflow step.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Workspace, workspace } from "./helpers.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

const CONFIG = `home: home
sandbox:
  fs: { roots: [ws] }
  exec: { allow: [touch, rm] }
capabilities:
  demo.marker.create:
    inputs: { name: string }
    risk: MEDIUM
    effect: write
    command: { argv: [touch, "{{ inputs.name }}"] }
    compensation: { capability: demo.marker.remove, inputs: { name: "{{ inputs.name }}" } }
  demo.marker.remove:
    inputs: { name: string }
    risk: MEDIUM
    effect: delete
    command: { argv: [rm, -f, "{{ inputs.name }}"] }
`;

describe("declared capabilities in sessions", () => {
  it("a call naming no compensation is undone by the one its capability declares", async () => {
    w = await workspace();
    writeFileSync(join(w.dir, "airun.yaml"), CONFIG);
    const rt = await w.open();
    try {
      const s = await rt.openSession({ principal: "agent:bot", name: "markers" });
      await s.call("demo.marker.create", { name: "a.mark" }, { id: "mk" });
      expect(existsSync(join(w.ws, "a.mark"))).toBe(true);
      const view = await s.rollback({ reason: "undo it" });
      expect(view.status).toBe("ROLLED_BACK");
      expect(existsSync(join(w.ws, "a.mark"))).toBe(false);
      const run = await rt.getRun(s.id);
      expect(run.steps.find((x) => x.id === "mk")).toMatchObject({ status: "COMPENSATED" });
    } finally {
      await rt.close();
    }
  });
});
