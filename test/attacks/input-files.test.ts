/**
 * Attack: malformed spec, policy and config files (issue 13, finding 10). Invalid UTF-8 was
 * silently replaced by U+FFFD; `__proto__` / `constructor` / `prototype` keys were dropped or
 * passed on; a YAML document nested thousands deep could crash the process (the parser
 * recurses), an alias bomb ("billion laughs") was refused with a bare `ReferenceError`, and a
 * policy file had no size limit. Each is now a validation error (exit 2) naming the file, the
 * line and the field, in bounded time and memory, before anything is recorded. Limits:
 * `limits.spec_bytes`, `limits.policy_bytes`, `limits.yaml_depth`, `limits.yaml_aliases`.
 */
import { afterAll, describe, expect, it } from "vitest";
import { project, tempRoot } from "../e2e/project.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-files");
afterAll(() => root.cleanup());

const t = tally("malformed input", "input-files");

const SPEC = `name: files
version: 1
steps:
  - id: a
    capability: sys.echo
    inputs: { msg: "caf\u00e9" }
`;
const POLICY = `version: 1
default: DENY
rules:
  - id: echo
    principal: "*"
    capability: sys.echo
    decision: ALLOW
    reason: "caf\u00e9"
`;

/** `text` with its first `é` (UTF-8 C3 A9) replaced by a lone Latin-1 byte E9. */
function latin1(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  const at = bytes.indexOf(Buffer.from("\u00e9", "utf8"));
  return Buffer.concat([bytes.subarray(0, at), Buffer.from([0xe9]), bytes.subarray(at + 2)]);
}

/** Line and 1-based byte offset of the first `é` in `text`. */
function whereIsE(text: string): { line: number; byte: number } {
  const bytes = Buffer.from(text, "utf8");
  const at = bytes.indexOf(Buffer.from("\u00e9", "utf8"));
  return { line: text.slice(0, text.indexOf("\u00e9")).split("\n").length, byte: at };
}

/** Billion laughs: 10 levels of 9 aliases each. */
function laughs(key: string): string {
  let s = `${key}:\n  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`;
  let prev = "a";
  for (let i = 0; i < 9; i++) {
    const n = String.fromCharCode(98 + i);
    s += `  ${n}: &${n} [${Array(9).fill(`*${prev}`).join(",")}]\n`;
    prev = n;
  }
  return s;
}

describe("attack: malformed spec, policy and config files", () => {
  it("refuses invalid UTF-8, naming the file, line and byte offset, instead of replacing it", async () =>
    t.guard(
      "refuses invalid UTF-8, naming the file, line and byte offset, instead of replacing it",
      async () => {
        const p = project(root.path);
        const e = whereIsE(SPEC);
        p.write("spec.yaml", latin1(SPEC));
        for (const cmd of [
          ["validate", "spec.yaml"],
          ["run", "spec.yaml"],
        ]) {
          const r = await p.run(cmd);
          expect(r.code, r.stdout + r.stderr).toBe(2);
          expect(r.stdout + r.stderr).toMatch(
            new RegExp(`spec\\.yaml:${e.line}:\\d+: .*not valid UTF-8.*byte ${e.byte}`),
          );
        }
        const q = project(root.path, { policy: "version: 1\n" });
        q.write("policies.yaml", latin1(POLICY));
        q.write("spec.yaml", SPEC);
        const pe = whereIsE(POLICY);
        for (const cmd of [
          ["run", "spec.yaml"],
          ["policy", "check", "--as", "user:a", "--capability", "sys.echo"],
        ]) {
          const r = await q.run(cmd);
          expect(r.code, r.stdout + r.stderr).toBe(2);
          expect(r.stderr).toMatch(
            new RegExp(`policies\\.yaml:${pe.line}:\\d+: .*not valid UTF-8`),
          );
        }
        const c = project(root.path);
        const config = "home: home\nsandbox:\n  fs: { roots: [ws] }\n# caf\u00e9\n";
        c.write("airun.yaml", latin1(config));
        const r = await c.run(["workflow", "list"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/airun\.yaml:4:\d+: .*not valid UTF-8/);
        expect((await p.json<{ runs: unknown[] }>(["workflow", "list"])).body.runs).toEqual([]);
      },
    ));

  it("refuses __proto__, constructor and prototype keys in specs, policies and configs", async () =>
    t.guard(
      "refuses __proto__, constructor and prototype keys in specs, policies and configs",
      async () => {
        const p = project(root.path);
        const specs: [string, RegExp][] = [
          [
            SPEC.replace('{ msg: "caf\u00e9" }', "{ constructor: 1 }"),
            /:6:\d+: steps\[0\]\.inputs\.constructor: .*not allowed/,
          ],
          [
            SPEC.replace('{ msg: "caf\u00e9" }', "{ __proto__: { polluted: true } }"),
            /:6:\d+: steps\[0\]\.inputs\.__proto__: .*not allowed/,
          ],
          [
            `${SPEC}inputs:\n  prototype: { type: string, default: x }\n`,
            /:8:\d+: inputs\.prototype: .*not allowed/,
          ],
        ];
        for (const [text, message] of specs) {
          p.write("spec.yaml", text);
          const r = await p.run(["validate", "spec.yaml"]);
          expect(r.code, text).toBe(2);
          expect(r.stdout + r.stderr, text).toMatch(message);
        }
        const policies: [string, RegExp][] = [
          [
            `${POLICY}    when: { "inputs.constructor": x }\n`,
            /policies\.yaml:9:\d+: .*constructor.*not allowed/,
          ],
          [
            `${POLICY}    __proto__: { decision: ALLOW }\n`,
            /policies\.yaml:9:\d+: .*__proto__.*not allowed/,
          ],
        ];
        for (const [text, message] of policies) {
          const q = project(root.path, { policy: text });
          const r = await q.run(["policy", "check", "--as", "user:a", "--capability", "sys.echo"]);
          expect(r.code, text).toBe(2);
          expect(r.stderr, text).toMatch(message);
        }
        const c = project(root.path, {
          config: "principals:\n  user:a: { roles: [x], constructor: 1 }\n",
        });
        const r = await c.run(["workflow", "list"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(
          /airun\.yaml:5:\d+: principals\.user:a\.constructor: .*not allowed/,
        );
      },
    ));

  it("refuses YAML nested thousands deep with a clear error, in bounded time, without crashing", async () =>
    t.guard(
      "refuses YAML nested thousands deep with a clear error, in bounded time, without crashing",
      async () => {
        const p = project(root.path);
        const deepFlow = `name: deep\nversion: 1\nsteps:\n  - id: a\n    capability: sys.echo\n    inputs: { v: ${"[".repeat(20000)}${"]".repeat(20000)} }\n`;
        const deepBlock = `name: deep\nversion: 1\nsteps:\n  - id: a\n    capability: sys.echo\n    inputs:\n      v:\n        ${"- ".repeat(20000)}x\n`;
        for (const [text, line] of [
          [deepFlow, 6],
          [deepBlock, 8],
        ] as const) {
          p.write("deep.yaml", text);
          const started = Date.now();
          const r = await p.run(["validate", "deep.yaml"]);
          expect(r.signal).toBeNull();
          expect(r.code, r.stdout + r.stderr).toBe(2);
          expect(r.stdout + r.stderr).toMatch(
            new RegExp(`deep\\.yaml:${line}:\\d+: .*nested deeper than 64.*limits\\.yaml_depth`),
          );
          expect(Date.now() - started).toBeLessThan(10_000);
        }
        const q = project(root.path, {
          policy: `${POLICY}    when: { v: ${"[".repeat(20000)}1${"]".repeat(20000)} }\n`,
        });
        const r = await q.run(["policy", "check", "--as", "user:a", "--capability", "sys.echo"]);
        expect(r.signal).toBeNull();
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/policies\.yaml:9:\d+: .*nested deeper than/);
        const c = project(root.path, {
          config: `plugins: ${"[".repeat(20000)}${"]".repeat(20000)}\n`,
        });
        const cr = await c.run(["workflow", "list"]);
        expect(cr.signal).toBeNull();
        expect(cr.code).toBe(2);
        expect(cr.stderr).toMatch(/airun\.yaml:4:\d+: .*nested deeper than/);
      },
    ));

  it("refuses YAML alias bombs in specs, policies and configs, naming the limit", async () =>
    t.guard(
      "refuses YAML alias bombs in specs, policies and configs, naming the limit",
      async () => {
        const p = project(root.path);
        p.write("bomb.yaml", `${SPEC}${laughs("x-laughs")}`);
        const started = Date.now();
        const r = await p.run(["validate", "bomb.yaml"]);
        expect(r.code).toBe(2);
        expect(r.stdout + r.stderr).toMatch(/bomb\.yaml:\d+:\d+: .*alias.*limits\.yaml_aliases/);
        expect(Date.now() - started).toBeLessThan(10_000);
        const q = project(root.path, { policy: `${POLICY}${laughs("name")}` });
        const qr = await q.run(["policy", "check", "--as", "user:a", "--capability", "sys.echo"]);
        expect(qr.code).toBe(2);
        expect(qr.stderr).toMatch(/policies\.yaml:\d+:\d+: .*alias/);
        const c = project(root.path, { config: laughs("llm") });
        const cr = await c.run(["workflow", "list"]);
        expect(cr.code).toBe(2);
        expect(cr.stderr).toMatch(/airun\.yaml:\d+:\d+: .*alias/);
        // A few aliases are fine.
        p.write(
          "dry.yaml",
          `name: dry\nversion: 1\nsteps:\n  - id: a\n    capability: sys.echo\n    inputs: &same { msg: hi }\n  - id: b\n    capability: sys.echo\n    inputs: *same\n`,
        );
        expect((await p.run(["validate", "dry.yaml"])).code).toBe(0);
      },
    ));

  it("refuses oversized policy and config files, and applies the configured limits", async () =>
    t.guard(
      "refuses oversized policy and config files, and applies the configured limits",
      async () => {
        const big = project(root.path, { policy: `${POLICY}# ${"x".repeat(2 * 1024 * 1024)}\n` });
        big.write("spec.yaml", SPEC);
        const r = await big.run(["run", "spec.yaml"]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/policies\.yaml.*1048576 bytes.*limits\.policy_bytes/);
        const c = project(root.path, { config: `# ${"x".repeat(2 * 1024 * 1024)}\n` });
        const cr = await c.run(["workflow", "list"]);
        expect(cr.code).toBe(2);
        expect(cr.stderr).toMatch(/airun\.yaml.*1048576 bytes/);

        const tight = project(root.path, {
          config: "limits: { spec_bytes: 1KB, yaml_depth: 4, yaml_aliases: 0 }\n",
        });
        tight.write("long.yaml", `${SPEC}# ${"x".repeat(2000)}\n`);
        const long = await tight.run(["validate", "long.yaml"]);
        expect(long.code).toBe(2);
        expect(long.stdout + long.stderr).toMatch(/1024 bytes.*limits\.spec_bytes/);
        tight.write("nest.yaml", SPEC.replace('{ msg: "caf\u00e9" }', "{ a: { b: { c: 1 } } }"));
        const nest = await tight.run(["validate", "nest.yaml"]);
        expect(nest.code).toBe(2);
        expect(nest.stdout + nest.stderr).toMatch(/nested deeper than 4/);
        tight.write(
          "alias.yaml",
          `name: dry\nversion: 1\nsteps:\n  - id: a\n    capability: sys.echo\n    inputs: &same { msg: hi }\n  - id: b\n    capability: sys.echo\n    inputs: *same\n`,
        );
        const alias = await tight.run(["validate", "alias.yaml"]);
        expect(alias.code).toBe(2);
        expect(alias.stdout + alias.stderr).toMatch(/alias/);
        tight.write("ok.yaml", SPEC);
        expect((await tight.run(["validate", "ok.yaml"])).code).toBe(0);
      },
    ));
});
