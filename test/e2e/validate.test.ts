/**
 * `airun validate` and the validation `airun run` performs before any step: every problem as
 * `file:line:col: field: message`, exit 2, and nothing executed.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { project, tempRoot } from "./project.js";

const root = tempRoot("validate");
afterAll(() => root.cleanup());

// Line numbers matter: the assertions below name them.
const BROKEN = `name: broken
version: 1
principal: agent:e2e
steps:
  - id: a
    capability: io.fs.writ_file
    inputs: { path: a.txt, content: "A" }
  - id: b
    capability: io.fs.read_file
    depends_on: [ghost]
    inputs: { path: 42 }
  - id: c
    capability: sys.echo
    depends_on: [d]
    inputs: { x: "\${{ steps.nope.outputs.x }}" }
  - id: d
    capability: sys.echo
    depends_on: [c]
    inputs: { y: 1 }
  - id: e
    capabilty: sys.echo
    inputs: { y: 1 }
  - id: f
    capability: io.fs.write_file
    inputs: { path: created-by-f.txt, content: "must never be written" }
`;

const VALID = `name: fine
version: 3
principal: agent:e2e
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: ok.txt, content: "ok" }
  - id: echo
    capability: sys.echo
    inputs: { path: "\${{ steps.write.outputs.path }}" }
`;

/** The problem lines of validate's output. */
function problemLines(stdout: string): string[] {
  return stdout.split("\n").filter((l) => l.startsWith("broken.yaml:"));
}

describe("airun validate", () => {
  const p = project(root.path);
  p.write("broken.yaml", BROKEN);
  p.write("fine.yaml", VALID);

  it("prints every problem of a spec as file:line:col: field: message and exits 2", async () => {
    const r = await p.run(["validate", "broken.yaml"]);
    expect(r.code).toBe(2);
    const lines = problemLines(r.stdout);
    for (const l of lines) expect(l).toMatch(/^broken\.yaml:\d+:\d+: \S+: .+/);
    const expected: [RegExp, string][] = [
      [
        /^broken\.yaml:6:\d+: steps\[0\]\.capability: unknown capability "io\.fs\.writ_file" \(did you mean "io\.fs\.write_file"\?\)$/,
        "unknown capability with a suggestion",
      ],
      [
        /^broken\.yaml:10:\d+: steps\[1\]\.depends_on\[0\]: unknown step "ghost"$/,
        "unknown depends_on",
      ],
      [
        /^broken\.yaml:11:\d+: steps\[1\]\.inputs\.path: .*expected string, received number/,
        "bad input type",
      ],
      [/^broken\.yaml:1[2-9]:\d+: steps\[[23]\].*: dependency cycle: .*c.*d/, "a cycle"],
      [
        /^broken\.yaml:15:\d+: steps\[2\]\.inputs\.x: unresolved reference "steps\.nope\.outputs\.x"/,
        "unresolved template reference",
      ],
      [
        /^broken\.yaml:21:\d+: steps\[4\]\.capabilty: unknown step key "capabilty" \(did you mean "capability"\?\)$/,
        "typo'd step key",
      ],
    ];
    for (const [pattern, what] of expected) {
      expect(
        lines.some((l) => pattern.test(l)),
        `${what} in:\n${lines.join("\n")}`,
      ).toBe(true);
    }
  });

  it("gives the same problems in --json, with line and column numbers", async () => {
    const { code, body } = await p.json<{
      results: { file: string; ok: boolean; problems: { line: number; col: number }[] }[];
    }>(["validate", "broken.yaml"]);
    expect(code).toBe(2);
    expect(body.results).toHaveLength(1);
    expect(body.results[0]?.ok).toBe(false);
    expect(body.results[0]?.problems.length).toBeGreaterThanOrEqual(6);
    for (const prob of body.results[0]?.problems ?? []) expect(prob.line).toBeGreaterThan(0);
  });

  it("prints ✓ with name, version and step count for a valid spec and exits 0", async () => {
    const r = await p.run(["validate", "fine.yaml"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("✓ fine.yaml: fine v3, 2 steps\n");
    expect(r.stderr).toBe("");
  });

  it("checks several specs at once and exits 2 when any one is invalid", async () => {
    const r = await p.run(["validate", "fine.yaml", "broken.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("✓ fine.yaml");
    expect(problemLines(r.stdout).length).toBeGreaterThanOrEqual(6);
  });

  it("points at a YAML syntax error with its line", async () => {
    p.write("syntax.yaml", "name: syntax\nsteps:\n  - id: a\n    inputs: { path: [unclosed\n");
    const r = await p.run(["validate", "syntax.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^syntax\.yaml:[1-9]\d*:\d+: /m);
  });
});

describe("airun run of an invalid spec", () => {
  it("exits 2 with every problem on stderr before any step runs: no file written, no run recorded", async () => {
    const p = project(root.path);
    p.write("broken.yaml", BROKEN);
    const r = await p.run(["run", "broken.yaml"]);
    expect(r.code).toBe(2);
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("broken.yaml:"));
    expect(lines.length).toBeGreaterThanOrEqual(6);
    expect(r.stderr).toContain('unknown capability "io.fs.writ_file"');
    expect(existsSync(join(p.ws, "created-by-f.txt"))).toBe(false);
    const list = await p.json<{ runs: unknown[] }>(["workflow", "list"]);
    expect(list.code).toBe(0);
    expect(list.body.runs).toEqual([]);
  });
});
