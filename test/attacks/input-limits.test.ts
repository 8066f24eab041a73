/**
 * Attack: malformed run inputs (issue 13, finding 10). A 5,000-deep `--inputs` file used to end
 * in `STORE_WRITE_FAILED … Maximum call stack size exceeded` (exit 1); 30 MB of inputs were
 * read and carried through (about 1 GB of memory); `__proto__`, `constructor` and `prototype`
 * keys were silently dropped; a malformed JSON file was an internal error. Each is now a clear
 * usage or validation error (exit 2) naming the file or flag and the field, with nothing
 * recorded; the limits (`limits.input_depth`, `limits.input_bytes`) are configurable.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Project, project, tempRoot } from "../e2e/project.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-inputs");
afterAll(() => root.cleanup());

const t = tally("malformed input", "input-limits");

const ECHO = `name: echo_inputs
version: 1
inputs:
  x: { type: any, default: 1 }
  o: { type: object, default: {} }
steps:
  - id: a
    capability: sys.echo
    inputs: { x: "\${{ inputs.x }}", o: "\${{ inputs.o }}" }
`;

const nested = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;

/** The project recorded no run and no ledger entry. */
async function nothingRecorded(p: Project): Promise<void> {
  const list = await p.json<{ runs: unknown[] }>(["workflow", "list"]);
  expect(list.body.runs).toEqual([]);
  const verify = await p.json<{ entries: number }>(["ledger", "verify"]);
  expect(verify.body.entries).toBe(0);
}

function echoProject(config?: string): Project {
  const p = project(root.path, config === undefined ? {} : { config });
  p.write("echo.yaml", ECHO);
  return p;
}

describe("attack: malformed run inputs", () => {
  it("refuses inputs nested 5,000 deep (file and --input), naming the file or flag and the limit", async () =>
    t.guard(
      "refuses inputs nested 5,000 deep (file and --input), naming the file or flag and the limit",
      async () => {
        const p = echoProject();
        p.write("deep.json", `{"x": ${nested(5000)}}`);
        const r = await p.run(["run", "echo.yaml", "--inputs", "deep.json"]);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toContain("deep.json");
        expect(r.stderr).toMatch(/x(\[0\])+/);
        expect(r.stderr).toContain("limits.input_depth");
        expect(r.stderr).not.toMatch(/Maximum call stack|STORE_WRITE_FAILED|internal error/);

        const flag = await p.run(["run", "echo.yaml", "--input", `o={"a":${nested(5000)}}`]);
        expect(flag.code, flag.stderr).toBe(2);
        expect(flag.stderr).toMatch(/inputs\.o|--input/);
        expect(flag.stderr).toContain("limits.input_depth");
        await nothingRecorded(p);
      },
    ));

  it("refuses 30 MB of inputs without reading them into a run", async () =>
    t.guard("refuses 30 MB of inputs without reading them into a run", async () => {
      const p = echoProject();
      writeFileSync(join(p.dir, "big.json"), `{"x": "${"a".repeat(30 * 1024 * 1024)}"}`);
      const started = Date.now();
      const r = await p.run(["run", "echo.yaml", "--inputs", "big.json"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain("big.json");
      expect(r.stderr).toContain("limits.input_bytes");
      expect(Date.now() - started).toBeLessThan(10_000);
      // Several --input values (one argument may not exceed 128 KiB on Linux) past 1 MiB together.
      const pairs = Array.from({ length: 9 }, () => [
        "--input",
        `x=${"b".repeat(120 * 1024)}`,
      ]).flat();
      const flag = await p.run(["run", "echo.yaml", ...pairs]);
      expect(flag.code, flag.stderr).toBe(2);
      expect(flag.stderr).toContain("limits.input_bytes");
      await nothingRecorded(p);
    }));

  it("refuses __proto__, constructor and prototype keys anywhere in inputs instead of dropping them", async () =>
    t.guard(
      "refuses __proto__, constructor and prototype keys anywhere in inputs instead of dropping them",
      async () => {
        const p = echoProject();
        const files: [string, string, RegExp][] = [
          ["proto.json", '{"__proto__": {"polluted": true}}', /__proto__/],
          ["nested.json", '{"x": {"a": {"__proto__": {"polluted": true}}}}', /x\.a\.__proto__/],
          ["ctor.json", '{"o": {"constructor": {"prototype": 1}}}', /o\.constructor/],
          ["proto2.json", '{"x": [{"prototype": 1}]}', /x\[0\]\.prototype/],
        ];
        for (const [name, text, field] of files) {
          p.write(name, text);
          const r = await p.run(["run", "echo.yaml", "--inputs", name]);
          expect(r.code, `${name}: ${r.stderr}`).toBe(2);
          expect(r.stderr, name).toContain(name);
          expect(r.stderr, name).toMatch(field);
          expect(r.stderr, name).toMatch(/not allowed/);
        }
        for (const pair of ["__proto__=1", "constructor=1", 'o={"__proto__":{"a":1}}']) {
          const r = await p.run(["run", "echo.yaml", "--input", pair]);
          expect(r.code, `${pair}: ${r.stderr}`).toBe(2);
          expect(r.stderr, pair).toMatch(/__proto__|constructor/);
          expect(r.stderr, pair).toMatch(/not allowed/);
        }
        await nothingRecorded(p);
      },
    ));

  it("refuses a malformed or non-UTF-8 inputs file with its line and column", async () =>
    t.guard("refuses a malformed or non-UTF-8 inputs file with its line and column", async () => {
      const p = echoProject();
      p.write("bad.json", '{\n  "x": 1,\n  "o": {oops}\n}\n');
      const r = await p.run(["run", "echo.yaml", "--inputs", "bad.json"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/bad\.json:3:\d+: /);
      p.write("latin1.json", Buffer.from([0x7b, 0x22, 0x78, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d]));
      const u = await p.run(["run", "echo.yaml", "--inputs", "latin1.json"]);
      expect(u.code, u.stderr).toBe(2);
      expect(u.stderr).toMatch(/latin1\.json:1:7: .*UTF-8.*byte 6/);
      await nothingRecorded(p);
    }));

  it("applies the limits set in airun.yaml", async () =>
    t.guard("applies the limits set in airun.yaml", async () => {
      const p = echoProject("limits: { input_depth: 3, input_bytes: 200 }\n");
      p.write("d3.json", `{"x": ${nested(2)}}`);
      p.write("d4.json", `{"x": ${nested(3)}}`);
      p.write("big.json", `{"x": "${"a".repeat(300)}"}`);
      const ok = await p.run(["run", "echo.yaml", "--inputs", "d3.json"]);
      expect(ok.code, ok.stderr).toBe(0);
      const deep = await p.run(["run", "echo.yaml", "--inputs", "d4.json"]);
      expect(deep.code, deep.stderr).toBe(2);
      expect(deep.stderr).toMatch(/deeper than 3/);
      const big = await p.run(["run", "echo.yaml", "--inputs", "big.json"]);
      expect(big.code, big.stderr).toBe(2);
      expect(big.stderr).toMatch(/200 bytes/);
      expect((await p.json<{ runs: unknown[] }>(["workflow", "list"])).body.runs).toHaveLength(1);
      // Bad limits are themselves refused, naming the field.
      const bad = echoProject("limits: { input_depth: 0, input_bytes: lots }\n");
      const r = await bad.run(["workflow", "list"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/airun\.yaml:\d+:\d+: limits\.input_depth/);
      expect(r.stderr).toMatch(/airun\.yaml:\d+:\d+: limits\.input_bytes/);
    }));
});
