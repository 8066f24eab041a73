/**
 * Attack: a principal spelled so that it is not quite the one it reads as (issue 13, finding
 * 7). `--as "user:alice "` (trailing space) used to approve alice's own request, `--as user:`
 * approved anything any user may approve, and `run --as nobody` ran as `nobody`. A principal
 * is `kind:id` in one grammar (README, `core/principal.ts`); every other spelling is refused
 * with exit 2, naming the flag or field, and nothing is decided or recorded.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { project, type RunJson, tempRoot } from "../e2e/project.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-principal");
afterAll(() => root.cleanup());

const t = tally("principal spellings", "principal-spelling");

// Under the built-in policy a delete (HIGH risk) needs a person; any user:* may approve.
const DELETE = `name: delete_victim
version: 1
steps:
  - id: remove
    capability: io.fs.delete
    inputs: { path: victim.txt }
`;

/** Spellings that read as alice (or as nobody in particular) and are not `user:alice`. */
const ALICE_LOOKALIKES: readonly [string, string][] = [
  ["trailing space", "user:alice "],
  ["trailing tab", "user:alice\t"],
  ["leading space", " user:alice"],
  ["space after the colon", "user: alice"],
  ["capital id", "user:Alice"],
  ["capital kind", "User:alice"],
  ["all capitals", "USER:ALICE"],
  ["Cyrillic a", "user:\u0430lice"],
  ["fullwidth a", "user:\uff41lice"],
  ["zero-width space", "user:alice\u200b"],
  ["combining accent", "user:alice\u0301"],
  ["non-breaking space", "user:alice\u00a0"],
  ["newline", "user:alice\n"],
  ["empty id", "user:"],
  ["empty kind", ":alice"],
  ["no kind", "alice"],
  ["two colons", "user:alice:x"],
  ["the timeout's own name", "system:timeout"],
  ["a role, not a principal", "role:sre"],
];

describe("attack: principal spellings that are not the principal they read as", () => {
  it(
    "refuses every lookalike of the requester as an approver: the run keeps waiting, the file stays",
    async () =>
      t.guard(
        "refuses every lookalike of the requester as an approver: the run keeps waiting, the file stays",
        async () => {
          const p = project(root.path, { files: { "ws/victim.txt": "keep me" } });
          p.write("del.yaml", DELETE);
          const run = await p.json<RunJson>(["run", "del.yaml", "--as", "user:alice"]);
          expect(run.code).toBe(5);
          expect(run.body.principal).toBe("user:alice");

          let refused = 0;
          for (const [what, as] of ALICE_LOOKALIKES) {
            const r = await p.run([
              "workflow",
              "resume",
              run.body.id,
              "--decision",
              "approve",
              "--as",
              as,
            ]);
            expect(r.code, `${what}: ${r.stdout}${r.stderr}`).toBe(2);
            expect(r.stderr, what).toContain("--as");
            expect(r.stderr, what).toContain("INVALID_PRINCIPAL");
            refused += 1;
          }
          expect(refused).toBe(ALICE_LOOKALIKES.length);
          expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("keep me");

          // Nothing was decided: no approval.decided entry, the approval still pending.
          const shown = await p.json<RunJson & { events: { type: string }[] }>([
            "workflow",
            "show",
            run.body.id,
            "--events",
          ]);
          expect(shown.body.status).toBe("WAITING_APPROVAL");
          expect(shown.body.events.filter((e) => e.type === "approval.decided")).toEqual([]);

          // alice herself is refused as the requester; bob, spelled right, approves.
          const self = await p.run([
            "workflow",
            "resume",
            run.body.id,
            "--decision",
            "approve",
            "--as",
            "user:alice",
          ]);
          expect(self.code).toBe(2);
          expect(self.stderr).toContain("SELF_APPROVAL");
          const bob = await p.json<RunJson>([
            "workflow",
            "resume",
            run.body.id,
            "--decision",
            "approve",
            "--as",
            "user:bob",
          ]);
          expect(bob.code).toBe(0);
          expect(bob.body.status).toBe("COMPLETED");
          expect(existsSync(join(p.ws, "victim.txt"))).toBe(false);
        },
      ),
    120_000,
  );

  it(
    "refuses run --as with anything but kind:id, recording no run",
    async () =>
      t.guard("refuses run --as with anything but kind:id, recording no run", async () => {
        const p = project(root.path, { files: { "ws/victim.txt": "keep me" } });
        p.write("del.yaml", DELETE);
        for (const as of [
          "nobody",
          "user:",
          "user:alice ",
          "User:alice",
          "user:\u0430lice",
          "system:cli",
        ]) {
          const r = await p.run(["run", "del.yaml", "--as", as]);
          expect(r.code, `${JSON.stringify(as)}: ${r.stdout}${r.stderr}`).toBe(2);
          expect(r.stderr, as).toContain("--as");
        }
        for (const as of ["nobody", "user:"]) {
          const r = await p.run(["workflow", "cancel", "no-such-run", "--as", as]);
          expect(r.code, as).toBe(2);
          expect(r.stderr, as).toContain("INVALID_PRINCIPAL");
        }
        const checked = await p.run([
          "policy",
          "check",
          "--as",
          "nobody",
          "--capability",
          "sys.echo",
        ]);
        expect(checked.code).toBe(2);
        expect(checked.stderr).toContain("--as");
        const list = await p.json<{ runs: unknown[] }>(["workflow", "list"]);
        expect(list.body.runs).toEqual([]);
        expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("keep me");
      }),
    60_000,
  );
});

describe("attack: principal lookalikes in files", () => {
  it("a spec's principal must be kind:id exactly: validate names the field", async () =>
    t.guard("a spec's principal must be kind:id exactly: validate names the field", async () => {
      const p = project(root.path);
      for (const principal of [
        "user:Alice",
        "agent:\u0430gent",
        "user:",
        "agent:a b",
        "system:timeout",
      ]) {
        p.write(
          "wf.yaml",
          DELETE.replace("steps:", `principal: ${JSON.stringify(principal)}\nsteps:`),
        );
        const r = await p.run(["validate", "wf.yaml"]);
        expect(r.code, principal).toBe(2);
        expect(r.stdout + r.stderr, principal).toMatch(/wf\.yaml:\d+:\d+: principal: /);
      }
    }));

  it("config principals and approvers must be kind:id (or a pattern): the config error names the field", async () =>
    t.guard(
      "config principals and approvers must be kind:id (or a pattern): the config error names the field",
      async () => {
        const cases: [string, RegExp][] = [
          ['principals:\n  "user:Alice": { roles: [sre] }\n', /principals/],
          ['principals:\n  "user:\u0430lice": { roles: [sre] }\n', /principals/],
          ['principals:\n  "user:alice ": { roles: [sre] }\n', /principals/],
          ["principals:\n  user:alice: { roles: [SRE ops] }\n", /principals\.user:alice\.roles/],
          ['approvals:\n  approvers: ["user:Bob"]\n', /approvals\.approvers/],
          ['approvals:\n  approvers: ["user:"]\n', /approvals\.approvers/],
        ];
        for (const [config, field] of cases) {
          const p = project(root.path, { config });
          const r = await p.run(["workflow", "list"]);
          expect(r.code, config).toBe(2);
          expect(r.stderr, config).toMatch(/airun\.yaml:\d+:\d+: /);
          expect(r.stderr, config).toMatch(field);
        }
      },
    ));

  it("policy principal patterns and approvers follow the grammar (globs allowed): policy check names the rule's field", async () =>
    t.guard(
      "policy principal patterns and approvers follow the grammar (globs allowed): policy check names the rule's field",
      async () => {
        const rule = (principal: string, approvers = '["role:sre"]') => `version: 1
default: DENY
rules:
  - id: r
    principal: ${JSON.stringify(principal)}
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ${approvers}
`;
        const bad: [string, RegExp][] = [
          [rule("user:\u0430lice"), /rules\[0\]\.principal/],
          [rule("User:*"), /rules\[0\]\.principal/],
          [rule("user:alice "), /rules\[0\]\.principal/],
          [rule("agent:"), /rules\[0\]\.principal/],
          [rule("agent:*", '["user:Bob"]'), /rules\[0\]\.approvers\[0\]/],
          [rule("agent:*", '["user:bob\\t"]'), /rules\[0\]\.approvers\[0\]/],
        ];
        for (const [policy, field] of bad) {
          const p = project(root.path, { policy });
          const r = await p.run([
            "policy",
            "check",
            "--as",
            "agent:x",
            "--capability",
            "io.fs.delete",
          ]);
          expect(r.code, policy).toBe(2);
          expect(r.stderr, policy).toMatch(/policies\.yaml:\d+:\d+: /);
          expect(r.stderr, policy).toMatch(field);
        }
        // Globs are patterns, and allowed.
        const ok = project(root.path, {
          policy: rule("agent:incident-*", '["user:*", "role:team-*"]'),
        });
        const r = await ok.run([
          "policy",
          "check",
          "--as",
          "agent:incident-bot",
          "--capability",
          "io.fs.delete",
        ]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain("REQUIRE_APPROVAL");
      },
    ));

  it("a policy test case's principal must be kind:id", async () =>
    t.guard("a policy test case's principal must be kind:id", async () => {
      const p = project(root.path, { policy: "version: 1\ndefault: ALLOW\n" });
      p.write(
        "cases.yaml",
        [
          '- principal: "user:alice "',
          "  capability: sys.echo",
          "  expect: ALLOW",
          '- principal: "user:Alice"',
          "  capability: sys.echo",
          "  expect: ALLOW",
          "",
        ].join("\n"),
      );
      const r = await p.run(["policy", "test", "cases.yaml"]);
      expect(r.code).toBe(2);
      expect(r.stderr + r.stdout).toMatch(/cases\.yaml:1:\d+: \[0\]\.principal: /);
      expect(r.stderr + r.stdout).toMatch(/cases\.yaml:4:\d+: \[1\]\.principal: /);
    }));
});
