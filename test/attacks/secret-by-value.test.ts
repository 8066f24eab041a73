/**
 * Attack: secrets masked by where they came from, not by value (issue 13, finding 6). A step
 * writes `${{ secrets.CANARY }}` into a file and a later step, which names no secret, reads it
 * back: the value must be masked in its outputs, the ledger, `workflow show`, the run's JSON
 * and the evidence pack. A secret used in a path must not be stored in clear in the
 * compensation record either (the undo still works). Every byte under the home is scanned
 * (raw, hex, base64 at every alignment, UTF-16: see test/e2e/canary.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { assertNoCanary, assertNoCanaryUnder, CANARY } from "../e2e/canary.js";
import { project, type RunJson, tempRoot } from "../e2e/project.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-secret");
afterAll(() => root.cleanup());

const t = tally("secret canaries", "secret-by-value");

const ENV = { CANARY };

const READ_BACK = `name: read_back
version: 1
principal: agent:leaky
steps:
  - id: stash
    capability: io.fs.write_file
    inputs: { path: stash.txt, content: "token=\${{ secrets.CANARY }}" }
  - id: peek
    capability: io.fs.read_file
    depends_on: [stash]
    inputs: { path: stash.txt }
  - id: echo
    capability: sys.echo
    depends_on: [peek]
    inputs: { seen: "\${{ steps.peek.outputs.content }}" }
`;

const SECRET_PATH = `name: secret_path
version: 1
principal: agent:leaky
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: "\${{ secrets.CANARY }}.txt", content: "x" }
  - id: boom
    capability: sys.fail
    depends_on: [write]
    inputs: { message: "undo it" }
`;

describe("attack: a secret that comes back by value", () => {
  it("is masked wherever the run records or shows it, though the reading step names no secret", async () =>
    t.guard(
      "is masked wherever the run records or shows it, though the reading step names no secret",
      async () => {
        const p = project(root.path);
        p.write("wf.yaml", READ_BACK);
        const run = await p.run(["run", "wf.yaml", "--json"], ENV);
        expect(run.code).toBe(0);
        expect(readFileSync(join(p.ws, "stash.txt"), "utf8")).toBe(`token=${CANARY}`);
        assertNoCanary(run.stdout, "run --json");
        const view = JSON.parse(run.stdout) as RunJson;
        expect(p.step(view, "peek").outputs).toMatchObject({ content: "token=***" });
        expect(p.step(view, "echo").outputs).toMatchObject({ seen: "token=***" });
        for (const args of [
          ["workflow", "show", view.id, "--events"],
          ["workflow", "show", view.id, "--json", "--events"],
          ["trace", view.id],
          ["ledger", "export", view.id, "--out", join(p.dir, "pack.json")],
        ]) {
          const r = await p.run(args, ENV);
          expect(r.code, args.join(" ")).toBe(0);
          assertNoCanary(r.stdout + r.stderr, args.join(" "));
        }
        assertNoCanary(readFileSync(join(p.dir, "pack.json")), "evidence pack");
        assertNoCanaryUnder(join(p.dir, "home"));
      },
    ));

  it("is not stored in clear in a compensation record when it is part of a path, and the undo still works", async () =>
    t.guard(
      "is not stored in clear in a compensation record when it is part of a path, and the undo still works",
      async () => {
        const p = project(root.path);
        p.write("wf.yaml", SECRET_PATH);
        const run = await p.run(["run", "wf.yaml", "--json"], ENV);
        const view = JSON.parse(run.stdout) as RunJson;
        expect(view.status).toBe("ROLLED_BACK");
        expect(p.step(view, "write").status).toBe("COMPENSATED");
        expect(() => readFileSync(join(p.ws, `${CANARY}.txt`))).toThrow();
        assertNoCanary(run.stdout, "run --json");
        assertNoCanaryUnder(join(p.dir, "home"));
      },
    ));
});
