/**
 * Plugin capabilities named in `plugins:` of airun.yaml run under the same governance as the
 * standard library: gated, checkpointed, and undone on rollback.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type Workspace, workspace } from "./helpers.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

describe("plugins from config", () => {
  it("registers a plugin capability and undoes it with its own revert on rollback", async () => {
    const plugin = resolve("test/fixtures/plugins-engine/kv.mjs");
    w = await workspace({ config: `plugins: ["${plugin}"]\n` });
    writeFileSync(join(w.ws, "kv.json"), JSON.stringify({ color: "blue" }));
    const rt = await w.open();
    try {
      expect(rt.capabilities("demo.**")).toEqual(["demo.kv.put"]);
      const ok = await rt.startRun({
        specFile: await w.spec(
          "ok.yaml",
          `name: kv\nversion: 1\nsteps:\n  - id: set\n    capability: demo.kv.put\n    inputs: { key: size, value: XL }\n`,
        ),
      });
      expect(ok.status).toBe("COMPLETED");
      expect(JSON.parse(readFileSync(join(w.ws, "kv.json"), "utf8"))).toEqual({
        color: "blue",
        size: "XL",
      });
      const failed = await rt.startRun({
        specFile: await w.spec(
          "fail.yaml",
          `name: kv2\nversion: 1\nsteps:\n  - id: set\n    capability: demo.kv.put\n    inputs: { key: color, value: red }\n  - id: boom\n    capability: sys.fail\n    depends_on: [set]\n    inputs: { message: no }\n`,
        ),
      });
      expect(failed.status).toBe("ROLLED_BACK");
      expect(JSON.parse(readFileSync(join(w.ws, "kv.json"), "utf8"))).toEqual({
        color: "blue",
        size: "XL",
      });
    } finally {
      await rt.close();
    }
  });
});
