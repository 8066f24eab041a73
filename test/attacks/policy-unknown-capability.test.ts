/**
 * Attack: a policy rule naming a capability that does not exist (issue 13, finding 10). A DENY
 * written `IO.FS.WRITE_FILE` (or `io.fs.wirte_file`, or `io.fz.*`) matches nothing and used to
 * load silently, so the write it meant to stop went through with nobody told. Loading such a
 * policy now warns, on stderr with a did-you-mean, and in the ledger with the `policy.loaded`
 * entry (at the first run decided under it, and at every hot reload).
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/hash.js";
import type { Runtime } from "../../src/engine/runtime/runtime.js";
import { project, tempRoot } from "../e2e/project.js";
import { type Workspace, workspace } from "../engine/helpers.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-unknown-cap");
afterAll(() => root.cleanup());

const t = tally("policy spellings", "policy-unknown-capability");

const POLICY = `version: 1
default: ALLOW
rules:
  - id: no-writes
    capability: IO.FS.WRITE_FILE
    decision: DENY
  - id: no-typos
    capabilities: ["io.fs.wirte_file", "io.fz.*", "sys.*"]
    decision: DENY
`;

const WRITE = `name: write
version: 1
principal: agent:bot
steps:
  - id: w
    capability: io.fs.write_file
    inputs: { path: out.txt, content: hi }
`;

interface PolicyEvent {
  type: string;
  run_id: string | null;
  data: { hash?: string; warnings?: string[] };
}

function policyEvents(home: string): PolicyEvent[] {
  const file = join(home, "airun.db");
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare("SELECT type, run_id, data FROM events WHERE type LIKE 'policy.%' ORDER BY seq")
      .all() as { type: string; run_id: string | null; data: string }[];
    return rows.map((r) => ({ type: r.type, run_id: r.run_id, data: JSON.parse(r.data) }));
  } finally {
    db.close();
  }
}

const EXPECTED: RegExp[] = [
  /policies\.yaml:5:17: rules\[0\]\.capability: no capability is named "IO\.FS\.WRITE_FILE".*did you mean "io\.fs\.write_file"/,
  /policies\.yaml:8:\d+: rules\[1\]\.capabilities\[0\]: no capability is named "io\.fs\.wirte_file".*did you mean "io\.fs\.write_file"/,
  /policies\.yaml:8:\d+: rules\[1\]\.capabilities\[1\]: no capability matches "io\.fz\.\*"/,
];

describe("attack: a policy rule naming a capability that does not exist", () => {
  it("warns on stderr when the CLI loads it (policy check, policy test, run), and records the warnings with policy.loaded", async () =>
    t.guard(
      "warns on stderr when the CLI loads it (policy check, policy test, run), and records the warnings with policy.loaded",
      async () => {
        const p = project(root.path, { policy: POLICY });
        p.write("wf.yaml", WRITE);
        const check = await p.run([
          "policy",
          "check",
          "--as",
          "agent:bot",
          "--capability",
          "io.fs.write_file",
        ]);
        expect(check.code, check.stderr).toBe(0);
        expect(check.stdout).toContain("ALLOW");
        for (const re of EXPECTED) expect(check.stderr).toMatch(re);
        expect(check.stderr).not.toMatch(/capabilities\[2\]/);

        p.write("cases.yaml", "- principal: agent:bot\n  capability: sys.echo\n  expect: DENY\n");
        const test = await p.run(["policy", "test", "cases.yaml"]);
        expect(test.code, test.stderr).toBe(0);
        expect(test.stderr).toMatch(EXPECTED[0] as RegExp);

        // The write the rule meant to deny goes through (the policy says so), but not unnoticed.
        const run = await p.run(["run", "wf.yaml"]);
        expect(run.code, run.stderr).toBe(0);
        for (const re of EXPECTED) expect(run.stderr).toMatch(re);
        const loaded = policyEvents(join(p.dir, "home")).filter((e) => e.type === "policy.loaded");
        expect(loaded).toHaveLength(1);
        expect(loaded[0]?.run_id).toBeNull();
        expect(loaded[0]?.data.hash).toBe(sha256Hex(POLICY));
        expect(loaded[0]?.data.warnings).toHaveLength(3);
        for (const [i, re] of EXPECTED.entries()) expect(loaded[0]?.data.warnings?.[i]).toMatch(re);

        // A clean policy loads without a word.
        writeFileSync(
          join(p.dir, "policies.yaml"),
          POLICY.replace("IO.FS.WRITE_FILE", "io.fs.read_file").replace(
            '"io.fs.wirte_file", "io.fz.*", ',
            "",
          ),
        );
        const clean = await p.run(["run", "wf.yaml"]);
        expect(clean.code, clean.stderr).toBe(0);
        expect(clean.stderr).toBe("");
      },
    ));
});

describe("attack: an unknown capability arriving by hot reload", () => {
  let w: Workspace;
  let rt: Runtime | undefined;
  afterEach(async () => {
    await rt?.close();
    await w?.cleanup();
  });

  it("is recorded with the policy.loaded entry of the reload", async () =>
    t.guard("is recorded with the policy.loaded entry of the reload", async () => {
      w = await workspace({ policy: "version: 1\ndefault: ALLOW\n" });
      const warnings: string[] = [];
      const { Runtime } = await import("../../src/engine/runtime/runtime.js");
      rt = await Runtime.open({ cwd: w.dir, env: {}, onWarning: (m) => warnings.push(m) });
      writeFileSync(join(w.dir, "policies.yaml"), POLICY);
      const deadline = Date.now() + 8_000;
      let event: PolicyEvent | undefined;
      while (event === undefined && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        event = policyEvents(w.home).find((e) => e.type === "policy.loaded");
      }
      expect(event?.data.hash).toBe(sha256Hex(POLICY));
      expect(event?.data.warnings).toHaveLength(3);
      expect(event?.data.warnings?.[0]).toMatch(EXPECTED[0] as RegExp);
      expect(warnings.join("\n")).toMatch(EXPECTED[0] as RegExp);
    }));
});
