/**
 * Evidence gates (SPEC §7): steps contribute to an evidence map; the envelope's `required`
 * expressions are evaluated at commit, after the last step and before COMPLETED. Unmet →
 * ABSTAIN / EVIDENCE_UNMET listing each failed expression with its values, and rollback.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { eventData, governedWorkspace } from "./governance-kit.js";
import type { Workspace } from "./helpers.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

const SPEC = `name: summary
principal: agent:summarizer
governance:
  objective: "Summarize incident and propose fix"
  evidence:
    required: ["len(evidence.source_refs) >= 2", "evidence.validator_pass == true"]
inputs:
  refs: { type: array }
  valid: { type: boolean, default: true }
steps:
  - id: search
    capability: sys.echo
    inputs: { refs: "\${{ inputs.refs }}" }
    evidence:
      source_refs: "\${{ steps.search.outputs.refs }}"
  - id: write
    capability: io.fs.write_file
    depends_on: [search]
    inputs: { path: summary.md, content: "summary" }
  - id: validate
    capability: sys.echo
    depends_on: [write]
    inputs: { ok: "\${{ inputs.valid }}" }
    evidence:
      validator_pass: "\${{ steps.validate.outputs.ok }}"
`;

describe("governance evidence", () => {
  it("abstains with EVIDENCE_UNMET when only one source ref was found: the failed expression and its values are recorded, the summary undone", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const run = await rt.startRun({
        specFile: await w.spec("wf.yaml", SPEC),
        inputs: { refs: ["inc-1.log"] },
      });
      expect(run).toMatchObject({
        status: "ROLLED_BACK",
        outcome: "ABSTAIN",
        reason: "EVIDENCE_UNMET",
      });
      expect(run.reason_detail).toMatchObject({
        governance: "evidence",
        failed: [
          {
            expression: "len(evidence.source_refs) >= 2",
            result: false,
            values: { "evidence.source_refs": ["inc-1.log"] },
          },
        ],
        evidence: { source_refs: ["inc-1.log"], validator_pass: true },
      });
      expect(existsSync(join(w.ws, "summary.md"))).toBe(false);
      const [evaluated] = await eventData(rt, run.id, "evidence.evaluated");
      expect(evaluated).toMatchObject({ met: false });
      expect((evaluated!.results as { met: boolean }[]).map((r) => r.met)).toEqual([false, true]);
    } finally {
      await rt.close();
    }
  });

  it("accepts a run with two source refs and a passing validator, recording the evidence", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const run = await rt.startRun({
        specFile: await w.spec("wf.yaml", SPEC),
        inputs: { refs: ["inc-1.log", "inc-2.log"] },
      });
      expect(run).toMatchObject({ status: "COMPLETED", outcome: "ACCEPT", reason: "COMPLETED" });
      expect(readFileSync(join(w.ws, "summary.md"), "utf8")).toBe("summary");
      const [evaluated] = await eventData(rt, run.id, "evidence.evaluated");
      expect(evaluated).toMatchObject({
        met: true,
        evidence: { source_refs: ["inc-1.log", "inc-2.log"], validator_pass: true },
      });
      const [created] = await eventData(rt, run.id, "run.created");
      expect(created).toMatchObject({ objective: "Summarize incident and propose fix" });
    } finally {
      await rt.close();
    }
  });

  it("abstains when the validator fails, and when a contribution does not resolve", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const failed = await rt.startRun({
        specFile: await w.spec("wf.yaml", SPEC),
        inputs: { refs: ["a", "b"], valid: false },
      });
      expect(failed.reason).toBe("EVIDENCE_UNMET");
      expect(failed.reason_detail).toMatchObject({
        failed: [
          {
            expression: "evidence.validator_pass == true",
            values: { "evidence.validator_pass": false },
          },
        ],
      });
      // A contributing step reads an output that is not there: the key is missing, not guessed.
      const missing = SPEC.replace(
        "steps.validate.outputs.ok }}",
        "steps.validate.outputs.nope }}",
      );
      const run = await rt.startRun({
        specFile: await w.spec("wf2.yaml", missing),
        inputs: { refs: ["a", "b"] },
      });
      expect(run.reason).toBe("EVIDENCE_UNMET");
      expect(run.reason_detail).toMatchObject({
        failed: [
          {
            expression: "evidence.validator_pass == true",
            unresolved: ["evidence.validator_pass"],
            error: expect.stringMatching(/does not resolve/),
          },
        ],
      });
    } finally {
      await rt.close();
    }
  });

  it("concatenates list evidence contributed by several steps", async () => {
    w = await governedWorkspace();
    const rt = await w.open();
    try {
      const spec = `name: multi
principal: agent:t
governance:
  evidence: { required: ["len(evidence.refs) == 3"] }
steps:
  - id: a
    capability: sys.echo
    inputs: { refs: [x, y] }
    evidence: { refs: "\${{ steps.a.outputs.refs }}" }
  - id: b
    capability: sys.echo
    inputs: { refs: [z] }
    evidence: { refs: "\${{ steps.b.outputs.refs }}" }
`;
      const run = await rt.startRun({ specFile: await w.spec("wf.yaml", spec) });
      expect(run.status).toBe("COMPLETED");
      const [evaluated] = await eventData(rt, run.id, "evidence.evaluated");
      expect(evaluated).toMatchObject({ evidence: { refs: ["x", "y", "z"] } });
    } finally {
      await rt.close();
    }
  });
});
