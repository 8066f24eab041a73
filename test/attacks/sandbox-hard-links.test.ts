/**
 * Attack: hard links reach past the sandbox (issue 13, finding 4). The sandbox checks PATHS,
 * and a hard link is a second path to the same inode: after `ln outside/secret.txt ws/hl`,
 * `ws/hl` is inside the root by every path rule while its bytes are the outside file's. A
 * read leaks them, an append changes them, a copy or a before-image (captured for undo, then
 * restored by a rollback) brings them into the root. A regular file with more than one link
 * is therefore refused (`FS_HARD_LINK`) for every read of its content and every in-place
 * write, checked on the opened descriptor.
 *
 * A hard link to a file INSIDE the root is refused too: it defeats path-based policy (a rule
 * that denies `secrets/**` cannot see that `reports/hl` is `secrets/key.txt`).
 */
import { linkSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Project, project, snapshot, tempRoot } from "../e2e/project.js";
import { inodeOf, openProject, runToEnd, type StepSpec, workflow } from "./sandbox-support.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-hardlink");
afterAll(() => root.cleanup());

const t = tally("sandbox", "sandbox-hard-links");

const SECRET = "TOP-SECRET-0xC0FFEE outside the root\n";
const KEY = "INSIDE-KEY-7e57 behind a deny rule\n";

/** [what, the attack step's capability and inputs; `HL` stands for the hard link's path]. */
const ATTACKS: Array<[string, string, Record<string, unknown>]> = [
  ["read_file", "io.fs.read_file", { path: "HL" }],
  ["read_file through a symlink to the link", "io.fs.read_file", { path: "via-link" }],
  ["hash_file", "io.fs.hash_file", { path: "HL" }],
  ["append_file", "io.fs.append_file", { path: "HL", content: "PWNED" }],
  ["copy from the link", "io.fs.copy", { from: "HL", to: "copied.txt" }],
  [
    "copy over the link (its before-image)",
    "io.fs.copy",
    { from: "plain.txt", to: "HL", overwrite: true },
  ],
  ["write_file over the link (its before-image)", "io.fs.write_file", { path: "HL", content: "x" }],
  ["move the link (its undo plan hashes the bytes)", "io.fs.move", { from: "HL", to: "moved.txt" }],
  ["delete the link (its before-image)", "io.fs.delete", { path: "HL" }],
];

/** The attack step, then a failing step: a rollback would restore any before-image taken. */
function attackWorkflow(capability: string, inputs: Record<string, unknown>, hl: string): string {
  const replaced = JSON.parse(JSON.stringify(inputs).replaceAll('"HL"', JSON.stringify(hl)));
  const steps: StepSpec[] = [
    { id: "attack", capability, inputs: replaced },
    {
      id: "roll_back",
      capability: "sys.fail",
      inputs: { message: "roll everything back" },
      depends_on: ["attack"],
    },
  ];
  return workflow("hard_link_attack", steps);
}

/** Asserts the attack step was refused for the link and that nothing anywhere changed. */
async function expectRefused(
  p: Project,
  wf: string,
  linkPath: string,
  target: string,
  bytes: string,
): Promise<void> {
  const before = snapshot(p.dir, ["home"]);
  const targetInode = inodeOf(target);
  p.write("wf.json", wf);
  const after = snapshot(p.dir, ["home", "wf.json"]);
  const view = await runToEnd(p, "wf.json");
  const attack = p.step(view, "attack");
  expect(attack.status, JSON.stringify(attack)).toBe("FAILED");
  expect(attack.error?.code).toBe("FS_HARD_LINK");
  expect(attack.error?.message).toContain(linkPath);
  expect(attack.error?.message).toMatch(/\b2 links\b/);
  expect(view.status).toBe("ROLLED_BACK");
  // Nothing read out, nothing written, nothing brought into the root by the rollback.
  expect(JSON.stringify(view)).not.toContain(bytes.trim());
  expect(readFileSync(target, "utf8")).toBe(bytes);
  expect(inodeOf(target)).toBe(targetInode);
  expect(inodeOf(linkPath)).toBe(targetInode);
  expect(snapshot(p.dir, ["home", "wf.json"])).toEqual(after);
  expect(after).toEqual(before);
}

describe.concurrent("attack: a hard link inside the root to a file outside it", () => {
  it.each(ATTACKS)(
    "%s is refused (FS_HARD_LINK) and nothing outside or inside changes",
    async (_what, capability, inputs) =>
      t.guard("%s is refused (FS_HARD_LINK) and nothing outside or inside changes", async () => {
        const p = openProject(root.path, {
          "outside/secret.txt": SECRET,
          "ws/plain.txt": "plain\n",
        });
        const secret = join(p.dir, "outside", "secret.txt");
        const hl = join(p.ws, "hl");
        linkSync(secret, hl);
        symlinkSync("hl", join(p.ws, "via-link"));
        await expectRefused(p, attackWorkflow(capability, inputs, "hl"), hl, secret, SECRET);
      }),
  );
});

// Reads and copies are denied under secrets/**; everything else is allowed.
const DENY_SECRETS = `version: 1
default: ALLOW
rules:
  - id: no-secrets-path
    principal: "*"
    capability: "io.fs.*"
    when: { "inputs.path": "secrets/**" }
    decision: DENY
  - id: no-secrets-from
    principal: "*"
    capability: "io.fs.*"
    when: { "inputs.from": "secrets/**" }
    decision: DENY
  - id: no-secrets-to
    principal: "*"
    capability: "io.fs.*"
    when: { "inputs.to": "secrets/**" }
    decision: DENY
`;

describe.concurrent("attack: a hard link inside the root to a file a path rule protects", () => {
  it("the deny rule holds for the file's own path (the control)", async () =>
    t.guard("the deny rule holds for the file's own path (the control)", async () => {
      const p = project(root.path, { policy: DENY_SECRETS, files: { "ws/secrets/key.txt": KEY } });
      p.write(
        "wf.json",
        workflow("control", [
          { id: "attack", capability: "io.fs.read_file", inputs: { path: "secrets/key.txt" } },
        ]),
      );
      const view = await runToEnd(p, "wf.json");
      expect(p.step(view, "attack").error?.code).toBe("POLICY_DENIED");
      expect(JSON.stringify(view)).not.toContain(KEY.trim());
    }));

  it.each(ATTACKS)(
    "%s through reports/hl is refused (FS_HARD_LINK): the policy cannot see the second name",
    async (_what, capability, inputs) =>
      t.guard(
        "%s through reports/hl is refused (FS_HARD_LINK): the policy cannot see the second name",
        async () => {
          const p = project(root.path, {
            policy: DENY_SECRETS,
            files: { "ws/secrets/key.txt": KEY, "ws/plain.txt": "plain\n", "ws/reports/.keep": "" },
          });
          const key = join(p.ws, "secrets", "key.txt");
          const hl = join(p.ws, "reports", "hl");
          linkSync(key, hl);
          symlinkSync("reports/hl", join(p.ws, "via-link"));
          await expectRefused(p, attackWorkflow(capability, inputs, "reports/hl"), hl, key, KEY);
        },
      ),
  );
});
