/**
 * Attack: an evidence pack whose summary contradicts its own signed entries (issue 13, finding
 * 5). The pack's `run` summary (status, outcome, reason, principal, name, …) was copied from the
 * runs table: edit the table, export, and the pack said COMPLETED / ACCEPT / user:alice while
 * its entries end in `run.rolled_back` of a run `agent:bot` started — and `verify-pack --key`
 * said ✓. Here the lying pack is made as such an exporter made it: the honest pack with its
 * summary changed, signed again with the home's own ledger key. An offline verifier must refuse
 * it, naming the field. (A pack forged with a stolen key down to its entries is out of scope: no
 * offline check can tell it from a true one.)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempRoot } from "../e2e/project.js";
import { airun } from "../support/cli.js";
import { tally } from "./tally.js";
import { ledgerKeyFiles, type Reference, referenceRun, resignedPack } from "./tamper-kit.js";

const root = tempRoot("attack-pack-summary");
afterAll(() => root.cleanup());

const t = tally("tamper", "tamper-pack-summary");

let ref: Reference;
let honest: string;
let publicKey: string;

beforeAll(async () => {
  ref = await referenceRun(root.path);
  const exported = await ref.p.run(["ledger", "export", ref.runId, "--out", "pack.json"]);
  expect(exported.code, exported.stderr).toBe(0);
  honest = readFileSync(join(ref.p.dir, "pack.json"), "utf8");
  publicKey = ledgerKeyFiles(ref.home).publicKey;
});

/** Writes a pack into the project folder and runs `verify-pack --key` on it. */
async function verifyPack(name: string, text: string) {
  writeFileSync(join(ref.p.dir, name), text);
  return airun(["ledger", "verify-pack", name, "--key", publicKey], { cwd: ref.p.dir });
}

describe("attack: an evidence pack whose summary contradicts its signed entries", () => {
  it("the honest pack verifies against the trusted key (the entries end in run.rolled_back by agent:bot)", async () =>
    t.guard(
      "the honest pack verifies against the trusted key (the entries end in run.rolled_back by agent:bot)",
      async () => {
        const r = await verifyPack("honest.json", honest);
        expect(r.code, r.stdout).toBe(0);
        expect(r.stdout).toContain("(the trusted key)");
        const pack = JSON.parse(honest) as {
          run: Record<string, unknown>;
          entries: { entry: string }[];
        };
        expect(pack.run).toMatchObject({ status: "ROLLED_BACK", principal: "agent:bot" });
        expect(JSON.parse(pack.entries.at(-1)!.entry)).toMatchObject({ type: "run.rolled_back" });
      },
    ));

  it("the finding: a summary saying COMPLETED / ACCEPT / COMPLETED by user:alice is refused (exit 7), each false field named with what the entries say", async () =>
    t.guard(
      "the finding: a summary saying COMPLETED / ACCEPT / COMPLETED by user:alice is refused (exit 7), each false field named with what the entries say",
      async () => {
        const forged = resignedPack(honest, ref.home, (b) => {
          b.run.status = "COMPLETED";
          b.run.outcome = "ACCEPT";
          b.run.reason = "COMPLETED";
          b.run.principal = "user:alice";
        });
        const r = await verifyPack("finding.json", forged);
        expect(r.code, r.stdout + r.stderr).toBe(7);
        expect(r.stdout).toContain("does NOT verify");
        expect(r.stdout).toMatch(
          /run\.status: the pack says "COMPLETED", its entries say "ROLLED_BACK"/,
        );
        expect(r.stdout).toMatch(
          /run\.outcome: the pack says "ACCEPT", its entries say "REMEDIATE"/,
        );
        expect(r.stdout).toMatch(
          /run\.reason: the pack says "COMPLETED", its entries say "STEP_FAILED"/,
        );
        expect(r.stdout).toMatch(
          /run\.principal: the pack says "user:alice", its entries say "agent:bot"/,
        );
        // Nothing but the summary is wrong: the signature and every proof still check out.
        expect(r.stdout).not.toContain("signature");
        expect(r.stdout).not.toContain("inclusion proof");
      },
    ));

  it.each([
    ["status", "FAILED"],
    ["outcome", "ABSTAIN"],
    ["outcome", null],
    ["reason", "CANCELLED"],
    ["principal", "agent:other"],
    ["name", "another_workflow"],
    ["version", "2"],
    ["kind", "session"],
  ] as const)("a summary whose %s is %j is refused, naming the field", async (field, value) =>
    t.guard("a summary whose %s is %j is refused, naming the field", async () => {
      const forged = resignedPack(honest, ref.home, (b) => {
        (b.run as Record<string, unknown>)[field] = value;
      });
      const r = await verifyPack(`forged-${field}.json`, forged);
      expect(r.code, r.stdout + r.stderr).toBe(7);
      expect(r.stdout).toContain(`run.${field}: the pack says ${JSON.stringify(value)}`);
    }),
  );

  it("the --json report lists the contradiction as a problem", async () =>
    t.guard("the --json report lists the contradiction as a problem", async () => {
      writeFileSync(
        join(ref.p.dir, "json.json"),
        resignedPack(honest, ref.home, (b) => {
          b.run.principal = "user:alice";
        }),
      );
      const r = await airun(["ledger", "verify-pack", "json.json", "--key", publicKey, "--json"], {
        cwd: ref.p.dir,
      });
      expect(r.code).toBe(7);
      const report = JSON.parse(r.stdout) as { ok: boolean; problems: string[] };
      expect(report.ok).toBe(false);
      expect(report.problems).toEqual([
        'run.principal: the pack says "user:alice", its entries say "agent:bot" (entry 1, run.created)',
      ]);
    }));
});
