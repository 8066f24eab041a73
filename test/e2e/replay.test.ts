/**
 * `airun replay` through the built binary in a temp project: an unchanged run exits 0 and
 * reports identical, a run replayed against an edited spec or policy exits 7 naming exactly
 * the steps that diverge, `--json` prints the report, and an unknown run exits 2.
 */
import { afterAll, describe, expect, it } from "vitest";
import { project, snapshot, tempRoot } from "./project.js";

/** The replay report as \`--json\` prints it (snake_case, like every JSON output). */
interface ReplayReport {
  run_id: string;
  identical: boolean;
  spec: { recorded_hash: string; replayed_hash: string };
  policy: { replayed_hash: string | null };
  steps: { id: string; divergences: { kind: string }[] }[];
}

const root = tempRoot("replay");
afterAll(() => root.cleanup());

const POLICY = `version: 1
default: DENY
rules:
  - id: allow-all
    principal: "*"
    capability: "**"
    decision: ALLOW
`;

const SPEC = `name: notes
version: 1
principal: agent:planner
steps:
  - id: draft
    capability: sys.echo
    inputs: { text: "first draft" }
  - id: save
    capability: io.fs.write_file
    inputs: { path: notes.txt, content: "\${{ steps.draft.outputs.text }}" }
  - id: confirm
    capability: sys.assert
    depends_on: [save]
    inputs: { that: true }
`;

/** A project with one completed run of SPEC; returns the project and the run id. */
async function recorded() {
  const p = project(root.path, { policy: POLICY, files: { "notes.yaml": SPEC } });
  const run = await p.json(["run", "notes.yaml"]);
  expect(run.code).toBe(0);
  return { p, runId: run.body.id };
}

describe("airun replay", () => {
  it("exits 0 for an unchanged run, one ✓ line per step, and leaves the workspace as it was", async () => {
    const { p, runId } = await recorded();
    const before = snapshot(p.ws);

    const r = await p.run(["replay", runId]);

    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✓ draft\s+sys\.echo\s+SUCCEEDED \(executed\)/);
    expect(r.stdout).toMatch(/✓ save\s+io\.fs\.write_file\s+SUCCEEDED \(recorded result served\)/);
    expect(r.stdout).toContain("identical: 3 steps replayed, no divergence");
    expect(snapshot(p.ws)).toEqual(before);
  });

  it("exits 7 against an edited spec and names exactly the steps that diverge", async () => {
    const { p, runId } = await recorded();
    p.write("edited.yaml", SPEC.replace("first draft", "second draft"));

    const r = await p.run(["replay", runId, "--spec", "edited.yaml"]);

    expect(r.code).toBe(7);
    expect(r.stdout).toMatch(/✗ draft/);
    expect(r.stdout).toMatch(/✗ save/);
    expect(r.stdout).toMatch(/✓ confirm/);
    expect(r.stdout).toContain("context_hash: the action changed: inputs differ at content");
    expect(r.stdout).toContain("diverged: 2 of 3 steps");
  });

  it("prints the report with --json: a denied step diverges by decision, the next is not reached", async () => {
    const { p, runId } = await recorded();
    p.write(
      "stricter.yaml",
      `${POLICY}  - id: no-writes\n    principal: "*"\n    capability: io.fs.write_file\n    decision: DENY\n`,
    );

    const r = await p.json<ReplayReport>(["replay", runId, "--policy", "stricter.yaml"]);

    expect(r.code).toBe(7);
    expect(r.body.identical).toBe(false);
    expect(r.body.run_id).toBe(runId);
    const kinds = Object.fromEntries(
      r.body.steps.map((s) => [s.id, s.divergences.map((d) => d.kind)]),
    );
    expect(kinds).toEqual({ draft: [], save: ["decision"], confirm: ["not_reached"] });
    expect(r.body.policy.replayed_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("exits 0 with --json for an unchanged run", async () => {
    const { p, runId } = await recorded();
    const r = await p.json<ReplayReport>(["replay", runId]);
    expect(r.code).toBe(0);
    expect(r.body.identical).toBe(true);
    expect(r.body.spec.replayed_hash).toBe(r.body.spec.recorded_hash);
  });

  it("exits 2 with a clear message for an unknown run", async () => {
    const { p } = await recorded();
    const r = await p.run(["replay", "no-such-run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("run no-such-run not found");
  });
});
