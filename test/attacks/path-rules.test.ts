/**
 * Attack: DENY path rules beaten by spelling (issue 13, findings 2 and 3). With ALLOW io.fs.*
 * and DENY `when: { path: "secret/**" }`, every spelling that reaches the secret must be
 * denied: an absolute path, a symlinked folder, a symlinked file, and the `from`/`to` of a copy
 * or a move ("path" in a rule means every path the call touches). The policy sees the canonical
 * path the call will touch, and the approval of an approval-gated path binds that path.
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { project, type RunJson, tempRoot } from "../e2e/project.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-paths");
afterAll(() => root.cleanup());

const t = tally("policy spellings", "path-rules");

const POLICY = `version: 1
default: DENY
rules:
  - id: fs-ok
    principal: "agent:*"
    capability: "io.fs.*"
    decision: ALLOW
  - id: no-secrets
    principal: "*"
    capability: "io.fs.*"
    when: { path: "secret/**" }
    decision: DENY
    reason: secrets stay secret
`;

const SECRET = "s3cr3t-canary";

function setup() {
  const p = project(root.path, { policy: POLICY });
  mkdirSync(join(p.ws, "secret"));
  writeFileSync(join(p.ws, "secret", "x.txt"), SECRET);
  symlinkSync("secret", join(p.ws, "alias")); // a folder link
  symlinkSync("secret/x.txt", join(p.ws, "link.txt")); // a file link
  return p;
}

function step(capability: string, inputs: Record<string, unknown>): string {
  return `name: probe\nversion: 1\nprincipal: agent:thief\nsteps:\n  - id: probe\n    capability: ${capability}\n    inputs: ${JSON.stringify(inputs)}\n`;
}

describe("attack: spellings of a denied path", () => {
  const cases: [string, (ws: string) => [string, Record<string, unknown>]][] = [
    ["relative", () => ["io.fs.read_file", { path: "secret/x.txt" }]],
    ["absolute", (ws) => ["io.fs.read_file", { path: join(ws, "secret", "x.txt") }]],
    ["dot segments", () => ["io.fs.read_file", { path: "./pub/../secret//x.txt" }]],
    ["symlinked folder", () => ["io.fs.read_file", { path: "alias/x.txt" }]],
    ["symlinked file", () => ["io.fs.read_file", { path: "link.txt" }]],
    [
      "append through a folder link",
      () => ["io.fs.append_file", { path: "alias/x.txt", content: "!" }],
    ],
    ["hash through a file link", () => ["io.fs.hash_file", { path: "link.txt" }]],
    ["list a linked folder", () => ["io.fs.list_dir", { path: "alias" }]],
    ["copy from", () => ["io.fs.copy", { from: "secret/x.txt", to: "pub.txt" }]],
    ["copy from a link", () => ["io.fs.copy", { from: "alias/x.txt", to: "pub.txt" }]],
    ["copy to", () => ["io.fs.copy", { from: "pub.txt", to: "secret/y.txt" }]],
    ["move out", () => ["io.fs.move", { from: "secret/x.txt", to: "pub2.txt" }]],
  ];

  it.each(cases)("%s is denied, and the secret neither leaks nor changes", async (_, make) =>
    t.guard("%s is denied, and the secret neither leaks nor changes", async () => {
      const p = setup();
      writeFileSync(join(p.ws, "pub.txt"), "public");
      const [capability, inputs] = make(p.ws);
      p.write("wf.yaml", step(capability, inputs));
      const { code, body } = await p.json<RunJson>(["run", "wf.yaml"]);
      const probe = p.step(body, "probe");
      expect(probe.error?.code).toBe("POLICY_DENIED");
      expect(probe.decision).toMatchObject({ decision: "DENY", rule_ids: ["fs-ok", "no-secrets"] });
      expect(code).toBe(4);
      expect(JSON.stringify(body)).not.toContain(SECRET);
      expect(readFileSync(join(p.ws, "secret", "x.txt"), "utf8")).toBe(SECRET);
      expect(readFileSync(join(p.ws, "pub.txt"), "utf8")).toBe("public");
    }),
  );

  it("records the canonical paths the policy saw, and an ALLOW rule on a path needs every path to match", async () =>
    t.guard(
      "records the canonical paths the policy saw, and an ALLOW rule on a path needs every path to match",
      async () => {
        const p = project(root.path, {
          policy: `version: 1
default: DENY
rules:
  - id: reports-only
    principal: "agent:*"
    capability: "io.fs.*"
    when: { path: "reports/**" }
    decision: ALLOW
`,
        });
        mkdirSync(join(p.ws, "reports"));
        writeFileSync(join(p.ws, "reports", "a.txt"), "report");
        p.write("in.yaml", step("io.fs.copy", { from: "reports/a.txt", to: "reports/b.txt" }));
        const inside = await p.json<RunJson>(["run", "in.yaml"]);
        expect(inside.code).toBe(0);
        expect(p.step(inside.body, "probe").decision).toMatchObject({
          decision: "ALLOW",
          paths: [
            { field: "from", relative: "reports/a.txt", path: join(p.ws, "reports", "a.txt") },
            { field: "to", relative: "reports/b.txt", path: join(p.ws, "reports", "b.txt") },
          ],
        });
        // One end outside reports/: the ALLOW does not cover the call, the default denies it.
        p.write("out.yaml", step("io.fs.copy", { from: "reports/a.txt", to: "leak.txt" }));
        const outside = await p.json<RunJson>(["run", "out.yaml"]);
        expect(p.step(outside.body, "probe").error?.code).toBe("POLICY_DENIED");
      },
    ));
});
