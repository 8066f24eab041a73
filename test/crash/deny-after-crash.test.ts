/**
 * Regression: a step interrupted by kill -9 after its effect, whose re-run after recovery is
 * DENIED by a policy changed in between, used to have its write-ahead undo record voided
 * ("a refusal means no effect happened"), leaving the interrupted effect in place. A refusal
 * before any attempt in this process now reconciles the earlier attempt: the effect is found
 * applied and undone.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { airun } from "../support/cli.js";
import { airunCrashing, expectLedgerVerifies } from "../support/crash.js";

const root = mkdtempSync(join(tmpdir(), "airun-deny-crash-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SPEC = `name: overwrite
version: 1
principal: agent:crash
steps:
  - id: overwrite
    capability: io.fs.write_file
    inputs: { path: config.json, content: '{"v":2}' }
`;

const allow = (decision: string) => `version: 1
default: DENY
rules:
  - id: writes
    principal: "agent:*"
    capability: io.fs.write_file
    decision: ${decision}
`;

describe("a step interrupted after its effect and denied when re-run", () => {
  it("is reconciled and undone instead of assumed to have had no effect", async () => {
    const dir = join(root, "p");
    const ws = join(dir, "ws");
    mkdirSync(ws, { recursive: true });
    writeFileSync(
      join(dir, "airun.yaml"),
      "home: home\npolicy: policies.yaml\nsandbox:\n  fs: { roots: [ws] }\n",
    );
    writeFileSync(join(dir, "policies.yaml"), allow("ALLOW"));
    writeFileSync(join(dir, "wf.yaml"), SPEC);
    writeFileSync(join(ws, "config.json"), '{"v":1}');
    // Commit 1 records the run, 2 the write-ahead intent; killing right before the 3rd (the
    // completion) leaves the file written and the step RUNNING.
    const run = await airunCrashing(["run", "wf.yaml"], {
      cwd: dir,
      crashAt: { when: "before", commit: 3 },
    });
    expect(run.crashed).toBe(true);
    expect(readFileSync(join(ws, "config.json"), "utf8")).toBe('{"v":2}');

    writeFileSync(join(dir, "policies.yaml"), allow("DENY"));
    const rec = await airun(["recover", "--json"], { cwd: dir });
    expect(rec.code, rec.stderr).toBe(0);
    const [r] = (
      JSON.parse((await airun(["workflow", "list", "--json"], { cwd: dir })).stdout) as {
        runs: { id: string; status: string; reason: string }[];
      }
    ).runs;
    expect(r).toMatchObject({ status: "ROLLED_BACK", reason: "POLICY_DENIED" });
    expect(readFileSync(join(ws, "config.json"), "utf8")).toBe('{"v":1}');
    await expectLedgerVerifies(dir, "after recovery");
  }, 60_000);
});
