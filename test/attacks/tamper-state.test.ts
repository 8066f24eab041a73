/**
 * Attack: state the ledger contradicts, edited behind airun's back (issue 13, finding 5). The
 * ledger's chain stays intact — only the runs and steps tables are edited — so the hash chain
 * cannot see it; what must see it is the state ↔ ledger check. Before the fix `ledger verify`
 * compared only statuses: a run's principal or inputs, a step's outputs or policy decision could
 * be rewritten unseen, and `ledger export` signed a pack of a run whose row said COMPLETED by
 * user:alice while its entries said ROLLED_BACK by agent:bot. Every field an entry records must
 * be compared with its row (hashes at audit level BASIC), each mismatch named (run, step,
 * field, what the row says, the entry and what it records), exit 7; export must refuse.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entryHash, entryText, GENESIS_HASH, runEntryText } from "../../src/core/ledger.js";
import { type RunJson, tempRoot } from "../e2e/project.js";
import { tally } from "./tally.js";
import { copyOf, editDb, query, type Reference, referenceRun, sql } from "./tamper-kit.js";

const root = tempRoot("attack-state");
afterAll(() => root.cleanup());

const t = tally("tamper", "tamper-state");

/** What `ledger verify --json` prints (snake_case, as every JSON output), as far as read here. */
interface VerifyJson {
  ok: boolean;
  problems: string[];
  notes: string[];
  state: { run_id: string; step_id: string | null; field: string; message: string }[];
}

let detailed: Reference;
let basic: Reference;

beforeAll(async () => {
  [detailed, basic] = await Promise.all([
    referenceRun(root.path, "DETAILED"),
    referenceRun(root.path, "BASIC"),
  ]);
});

async function verifyJson(c: ReturnType<typeof copyOf>) {
  const r = await c.run(["ledger", "verify", "--json"]);
  return { code: r.code, report: JSON.parse(r.stdout) as VerifyJson, stderr: r.stderr };
}

describe("attack: the runs table rewritten to tell another story than the ledger", () => {
  it("the finding: a ROLLED_BACK run set to COMPLETED / ACCEPT by user:alice is refused by export (exit 7, no pack) and named field by field by verify", async () =>
    t.guard(
      "the finding: a ROLLED_BACK run set to COMPLETED / ACCEPT by user:alice is refused by export (exit 7, no pack) and named field by field by verify",
      async () => {
        const c = copyOf(detailed);
        sql(
          c.home,
          "UPDATE runs SET status = 'COMPLETED', outcome = 'ACCEPT', reason = 'COMPLETED', reason_detail = NULL, principal = 'user:alice' WHERE id = ?",
          c.runId,
        );
        const exported = await c.run(["ledger", "export", c.runId, "--out", "pack.json"]);
        expect(exported.code, exported.stderr).toBe(7);
        expect(exported.stderr).toContain("LEDGER_STATE_MISMATCH");
        expect(exported.stderr).toContain(`run ${c.runId}`);
        for (const field of ["status", "outcome", "reason", "principal"]) {
          expect(exported.stderr).toContain(field);
        }
        expect(existsSync(join(c.p.dir, "pack.json"))).toBe(false);

        const { code, report } = await verifyJson(c);
        expect(code).toBe(7);
        expect(report.ok).toBe(false);
        const fields = report.state.filter((s) => s.run_id === c.runId).map((s) => s.field);
        expect(fields.sort()).toEqual([
          "outcome",
          "principal",
          "reason",
          "reason_detail",
          "status",
        ]);
        expect(report.state.find((s) => s.field === "principal")?.message).toBe(
          `run ${c.runId}: principal is "user:alice" in the runs table, but entry 1 (run.created) records "agent:bot"`,
        );
        const text = await c.run(["ledger", "verify"]);
        expect(text.code).toBe(7);
        expect(text.stdout).toContain(`✗ run ${c.runId}: principal is "user:alice"`);
      },
    ));

  it.each([
    ["principal", "UPDATE runs SET principal = 'user:alice' WHERE id = ?"],
    ["inputs", `UPDATE runs SET inputs = '{"greeting":"goodbye"}' WHERE id = ?`],
    ["name", "UPDATE runs SET name = 'harmless' WHERE id = ?"],
    ["version", "UPDATE runs SET spec_version = '9' WHERE id = ?"],
    ["kind", "UPDATE runs SET kind = 'session' WHERE id = ?"],
    ["spec_hash", "UPDATE runs SET spec_hash = '0000' || substr(spec_hash, 5) WHERE id = ?"],
    [
      "spec_text",
      "UPDATE runs SET spec_text = replace(spec_text, 'old.txt', 'new.txt') WHERE id = ?",
    ],
    ["plan", "UPDATE runs SET plan = replace(plan, 'old.txt', 'new.txt') WHERE id = ?"],
    ["created_at", "UPDATE runs SET created_at = created_at - 86400000 WHERE id = ?"],
    ["reason_detail", `UPDATE runs SET reason_detail = '{"step":"mk"}' WHERE id = ?`],
  ])(
    "an edited run %s (the chain intact) fails verify (exit 7) and is named",
    async (field, statement) =>
      t.guard(
        "an edited run %s (the chain intact) fails verify (exit 7) and is named",
        async () => {
          const c = copyOf(detailed);
          sql(c.home, statement, c.runId);
          const { code, report } = await verifyJson(c);
          expect(code, JSON.stringify(report)).toBe(7);
          expect(report.state).toContainEqual(
            expect.objectContaining({ run_id: c.runId, step_id: null, field }),
          );
          const exported = await c.run(["ledger", "export", c.runId, "--out", "pack.json"]);
          expect(exported.code).toBe(7);
          expect(exported.stderr).toContain(field);
        },
      ),
  );
});

describe("attack: the steps table rewritten (outputs, policy decision)", () => {
  it("an edited step output at audit level DETAILED is named with both values", async () =>
    t.guard("an edited step output at audit level DETAILED is named with both values", async () => {
      const c = copyOf(detailed);
      sql(
        c.home,
        `UPDATE steps SET outputs = json_set(outputs, '$.bytes', 4096) WHERE run_id = ? AND step_id = 'write'`,
        c.runId,
      );
      const { code, report } = await verifyJson(c);
      expect(code).toBe(7);
      const m = report.state.find((s) => s.step_id === "write" && s.field === "outputs");
      expect(m?.message).toMatch(
        new RegExp(
          `^step ${c.runId}/write: outputs is \\{"bytes":4096,.*\\} in the steps table, but entry \\d+ \\(step\\.succeeded\\) records \\{"bytes":5,`,
        ),
      );
    }));

  it("an edited step output at audit level BASIC (the ledger keeps only its hash) is named with both hashes", async () =>
    t.guard(
      "an edited step output at audit level BASIC (the ledger keeps only its hash) is named with both hashes",
      async () => {
        const c = copyOf(basic);
        const [entry] = query<{ data: string }>(
          c.home,
          "SELECT data FROM events WHERE run_id = ? AND step_id = 'write' AND type = 'step.succeeded'",
          c.runId,
        );
        const recorded = (JSON.parse(entry!.data) as { outputs_sha256: string }).outputs_sha256;
        expect(recorded).toMatch(/^[0-9a-f]{64}$/);
        expect(entry!.data).not.toContain('"bytes"');
        sql(
          c.home,
          `UPDATE steps SET outputs = json_set(outputs, '$.bytes', 4096) WHERE run_id = ? AND step_id = 'write'`,
          c.runId,
        );
        const { code, report } = await verifyJson(c);
        expect(code).toBe(7);
        const m = report.state.find((s) => s.step_id === "write" && s.field === "outputs");
        expect(m?.message).toContain(`step ${c.runId}/write: outputs`);
        expect(m?.message).toContain(recorded.slice(0, 16));
      },
    ));

  it.each([
    ["the policy's decision", `json_set(decision, '$.decision', 'ALLOW')`, "remove"],
    ["the deciding rules", `json_set(decision, '$.rule_ids', json('["sys-ok"]'))`, "remove"],
    ["who approved", `json_set(decision, '$.approval.decided_by', 'user:mallory')`, "remove"],
    ["the approval's status", `json_set(decision, '$.approval.status', 'REJECTED')`, "remove"],
    ["the risk", `json_set(decision, '$.risk', 'LOW')`, "write"],
  ])("an edited step decision (%s) is named", async (_what, expr, step) =>
    t.guard("an edited step decision (%s) is named", async () => {
      const c = copyOf(detailed);
      sql(
        c.home,
        `UPDATE steps SET decision = ${expr} WHERE run_id = ? AND step_id = ?`,
        c.runId,
        step,
      );
      const { code, report } = await verifyJson(c);
      expect(code).toBe(7);
      expect(report.state).toContainEqual(
        expect.objectContaining({ run_id: c.runId, step_id: step, field: "decision" }),
      );
    }),
  );
});

describe("the check's limits", () => {
  it("a ledger written before run.created recorded the inputs' hash still verifies, and says the inputs could not be checked", async () =>
    t.guard(
      "a ledger written before run.created recorded the inputs' hash still verifies, and says the inputs could not be checked",
      async () => {
        const c = copyOf(detailed);
        editDb(c.home, (db) => {
          db.prepare(
            "UPDATE events SET data = json_remove(data, '$.inputs_sha256') WHERE type = 'run.created'",
          ).run();
          // Chained again from the first entry, as the older airun wrote it (and linked into
          // run chains, as the migration that brought them does).
          const rows = db.prepare("SELECT * FROM events ORDER BY seq").all() as {
            seq: number;
            at: number;
            type: string;
            run_id: string | null;
            step_id: string | null;
            data: string;
            run_seq: number;
          }[];
          let prev = GENESIS_HASH;
          const runPrev = new Map<string, string>();
          const put = db.prepare("UPDATE events SET hash = ?, run_hash = ? WHERE seq = ?");
          for (const r of rows) {
            const row = {
              seq: r.seq,
              at: r.at,
              type: r.type,
              runId: r.run_id,
              stepId: r.step_id,
              data: r.data,
            };
            prev = entryHash(entryText(row, prev));
            const runHash = entryHash(
              runEntryText(row, r.run_seq, runPrev.get(r.run_id ?? "") ?? GENESIS_HASH),
            );
            runPrev.set(r.run_id ?? "", runHash);
            put.run(prev, runHash, r.seq);
          }
          return rows.length;
        });
        const { code, report } = await verifyJson(c);
        expect(code, JSON.stringify(report)).toBe(0);
        expect(report.ok).toBe(true);
        expect(report.notes).toEqual([
          // Nothing was signed in this home yet: a verification creates no key.
          `no ledger key in ${join(c.home, "keys", "ledger")}: no signature can be checked (and there is no checkpoint to check)`,
          `1 run was created before its run.created entry recorded a hash of its inputs: its inputs cannot be checked (${c.runId})`,
        ]);
        const text = await c.run(["ledger", "verify"]);
        expect(text.code).toBe(0);
        expect(text.stdout).toContain("its inputs cannot be checked");
      },
    ));

  it("export refuses only the run whose state disagrees: another run of the same home exports and verifies", async () =>
    t.guard(
      "export refuses only the run whose state disagrees: another run of the same home exports and verifies",
      async () => {
        const c = copyOf(detailed);
        const second = await c.run(["run", "wf.yaml", "--input", "greeting=again", "--json"]);
        const other = (JSON.parse(second.stdout) as RunJson).id;
        expect(other).not.toBe(c.runId);
        sql(c.home, "UPDATE runs SET principal = 'user:alice' WHERE id = ?", c.runId);
        expect((await c.run(["ledger", "export", c.runId, "--out", "bad.json"])).code).toBe(7);
        const ok = await c.run(["ledger", "export", other, "--out", "good.json"]);
        expect(ok.code, ok.stderr).toBe(0);
        expect((await c.run(["ledger", "verify-pack", "good.json"])).code).toBe(0);
      },
    ));
});
