/**
 * Audit levels are enforced on the ledger: BASIC keeps only hashes of a step's inputs and
 * outputs, DETAILED keeps them (redacted), FORENSIC adds the undo data captured before the
 * effect. Checked on the entries a real run appended to a real SQLite file.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hashJson } from "../../src/core/hash.js";
import type { ProgressEvent } from "../../src/engine/context.js";
import { type Workspace, workspace } from "./helpers.js";

const SPEC = `name: audited
version: 1
principal: agent:auditor
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: report.txt, content: "quarterly numbers" }
  - id: echo
    capability: sys.echo
    depends_on: [write]
    inputs: { note: "done", password: "hunter2" }
`;

let w: Workspace | undefined;
afterEach(async () => {
  await w?.cleanup();
  w = undefined;
});

async function runAt(level: string): Promise<{ events: ProgressEvent[]; dbBytes: Buffer }> {
  w = await workspace({ config: `audit: { level: ${level} }\n` });
  const rt = await w.open();
  try {
    const view = await rt.startRun({ specFile: await w.spec("wf.yaml", SPEC) });
    expect(view.status).toBe("COMPLETED");
    const events = await rt.events(view.id);
    expect((await rt.verifyLedger()).ok).toBe(true);
    return { events, dbBytes: await readFile(join(w.home, "airun.db")) };
  } finally {
    await rt.close();
  }
}

const entry = (events: ProgressEvent[], type: string, step: string) => {
  const e = events.find((x) => x.type === type && x.stepId === step);
  expect(e, `${type} of ${step}`).toBeDefined();
  return e!.data as Record<string, unknown>;
};

describe("audit levels", () => {
  it("DETAILED (the default level) keeps the redacted inputs on the intent and the outputs on success", async () => {
    const { events } = await runAt("DETAILED");
    expect(entry(events, "step.intent", "write").inputs).toEqual({
      path: "report.txt",
      content: "quarterly numbers",
    });
    expect(entry(events, "step.intent", "write").undo).toBeUndefined();
    const echo = entry(events, "step.succeeded", "echo");
    expect(echo.inputs).toEqual({ note: "done", password: "***" });
    expect(echo.outputs).toEqual({ note: "done", password: "***" });
  });

  it("BASIC keeps only the SHA-256 of the recorded inputs and outputs, nothing readable", async () => {
    const { events } = await runAt("BASIC");
    const intent = entry(events, "step.intent", "write");
    expect(intent.inputs).toBeUndefined();
    expect(intent.inputs_sha256).toBe(
      hashJson({ path: "report.txt", content: "quarterly numbers" }),
    );
    const echo = entry(events, "step.succeeded", "echo");
    expect(echo.outputs).toBeUndefined();
    expect(echo.outputs_sha256).toBe(hashJson({ note: "done", password: "***" }));
    const texts = events.map((e) => JSON.stringify(e.data)).join("\n");
    expect(texts).not.toContain("quarterly numbers");
  });

  it("FORENSIC adds the undo data and before-image ids captured before the side effect", async () => {
    const { events } = await runAt("FORENSIC");
    const intent = entry(events, "step.intent", "write");
    expect(intent.inputs).toEqual({ path: "report.txt", content: "quarterly numbers" });
    expect(intent.undo).toBeTruthy();
    expect(intent.before_images).toBeTypeOf("object");
  });

  it("never records the redacted password at any level, in the ledger or the database file", async () => {
    for (const level of ["BASIC", "DETAILED", "FORENSIC"]) {
      const { events, dbBytes } = await runAt(level);
      expect(JSON.stringify(events)).not.toContain("hunter2");
      expect(dbBytes.includes("hunter2")).toBe(false);
      await w?.cleanup();
      w = undefined;
    }
  });

  it("stamps the step's context hash on every entry of the step (decision, intent, attempt, success)", async () => {
    const { events } = await runAt("DETAILED");
    const rt = await w!.open();
    try {
      const [run] = await rt.listRuns();
      const view = await rt.getRun(run!.id);
      for (const step of ["write", "echo"]) {
        const hash = view.steps.find((s) => s.id === step)?.context_hash;
        expect(hash).toMatch(/^[0-9a-f]{64}$/);
        const mine = events.filter((e) => e.stepId === step);
        expect(mine.length).toBeGreaterThanOrEqual(2);
        for (const e of mine)
          expect((e.data as { context_hash?: string }).context_hash, e.type).toBe(hash);
      }
    } finally {
      await rt.close();
    }
  });
});
