/**
 * @module The ledger through the built `airun` binary in a temp project: `ledger verify` on an
 * honest and on a tampered database, `ledger checkpoint`, `ledger export` and `ledger
 * verify-pack` run from a folder with no home at all, `trace` and `workflow show --timeline`,
 * and two processes writing one ledger at once.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateLedgerKeyPair } from "../../src/core/checkpoint.js";
import { airun } from "../support/cli.js";
import { background, type Project, project, type RunJson, tempRoot, waitFor } from "./project.js";

const root = tempRoot("ledger");
afterAll(() => root.cleanup());

const POLICY = `version: 1
default: DENY
rules:
  - id: fs-ok
    principal: "agent:*"
    capability: "io.fs.*"
    decision: ALLOW
`;

const WORKFLOW = `name: ledger_e2e
version: 1
principal: agent:e2e
steps:
  - id: mk
    capability: io.fs.make_dir
    inputs: { path: out }
  - id: write
    capability: io.fs.write_file
    depends_on: [mk]
    inputs: { path: out/report.txt, content: "audited" }
  - id: read
    capability: io.fs.read_file
    depends_on: [write]
    inputs: { path: out/report.txt }
`;

interface TimelineJson {
  run: { id: string; status: string };
  timeline: { seq: number | null; type: string; step: string | null; text: string }[];
}

/** Seqs of a run's entries, read from the database. */
function runSeqs(
  home: string,
  runId: string,
): { seq: number; type: string; step_id: string | null }[] {
  const db = new Database(join(home, "airun.db"), { readonly: true });
  try {
    return db
      .prepare("SELECT seq, type, step_id FROM events WHERE run_id = ? ORDER BY seq")
      .all(runId) as { seq: number; type: string; step_id: string | null }[];
  } finally {
    db.close();
  }
}

describe("airun ledger", () => {
  let p: Project;
  let home: string;
  let runId: string;

  beforeAll(async () => {
    p = project(root.path, { policy: POLICY });
    home = join(p.dir, "home");
    p.write("wf.yaml", WORKFLOW);
    const { code, body } = await p.json<RunJson>(["run", "wf.yaml"]);
    expect(code).toBe(0);
    expect(body.status).toBe("COMPLETED");
    runId = body.id;
  });

  it("verify exits 0 on an honest ledger and says it verifies, with the entry count", async () => {
    const r = await p.run(["ledger", "verify"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const total = runSeqs(home, runId).length;
    expect(r.stdout).toMatch(
      new RegExp(`^✓ ledger verifies: ${total} entries, root [0-9a-f]{64}\\n`),
    );
    const json = await p.json<{ ok: boolean; entries: number; problems: string[] }>([
      "ledger",
      "verify",
    ]);
    expect(json.code).toBe(0);
    expect(json.body).toMatchObject({ ok: true, entries: total, problems: [] });
  });

  it("trace and workflow show --timeline print one #seq line per entry, in words; --json gives {run, timeline}", async () => {
    const entries = runSeqs(home, runId);
    for (const args of [
      ["trace", runId],
      ["workflow", "show", runId, "--timeline"],
    ]) {
      const r = await p.run(args);
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines[0]).toContain(`run ${runId}`);
      expect(lines[0]).toContain("COMPLETED");
      const entryLines = lines.slice(1);
      expect(entryLines).toHaveLength(entries.length);
      entryLines.forEach((line, i) => {
        expect(line).toMatch(new RegExp(`^\\s*#${entries[i]!.seq}\\s`));
      });
      expect(r.stdout).toContain("gatekeeper: ALLOW");
      expect(r.stdout).toContain("rules fs-ok");
      expect(r.stdout).toMatch(/intent recorded before the effect: io\.fs\.write_file/);
      expect(r.stdout).toContain("run completed: ACCEPT COMPLETED");
    }
    const { code, body } = await p.json<TimelineJson>(["trace", runId]);
    expect(code).toBe(0);
    expect(body.run.id).toBe(runId);
    expect(body.timeline.map((t) => [t.seq, t.type])).toEqual(entries.map((e) => [e.seq, e.type]));
    expect(body.timeline.filter((t) => t.type === "step.decision").map((t) => t.step)).toEqual([
      "mk",
      "write",
      "read",
    ]);
    const shown = await p.json<TimelineJson>(["workflow", "show", runId, "--timeline"]);
    expect(shown.body.timeline).toEqual(body.timeline);
  });

  it("exits 2 for an unknown run (trace, workflow show --timeline, ledger export)", async () => {
    for (const args of [
      ["trace", "no-such-run"],
      ["workflow", "show", "no-such-run", "--timeline"],
      ["ledger", "export", "no-such-run", "--out", "x.json"],
    ]) {
      const r = await p.run(args);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain("no-such-run");
    }
    expect(existsSync(join(p.dir, "x.json"))).toBe(false);
  });

  it("export writes a pack that verify-pack accepts from another folder with no home, also with --key; an edited pack exits 7", async () => {
    const exp = await p.run(["ledger", "export", runId, "--out", "pack.json"]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stdout).toMatch(/^wrote pack\.json \(signed by SHA256:[A-Za-z0-9+/]+\)\n$/);

    const elsewhere = join(root.path, "another-machine");
    mkdirSync(elsewhere);
    const pack = readFileSync(join(p.dir, "pack.json"));
    writeFileSync(join(elsewhere, "pack.json"), pack);
    const pub = join(home, "keys", "ledger", "ledger.ed25519.pub");

    const ok = await airun(["ledger", "verify-pack", "pack.json"], { cwd: elsewhere });
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(
      `✓ evidence pack verifies: run ${runId}, ${runSeqs(home, runId).length} entries`,
    );
    const trusted = await airun(["ledger", "verify-pack", "pack.json", "--key", pub], {
      cwd: elsewhere,
    });
    expect(trusted.code).toBe(0);
    expect(trusted.stdout).toContain("(the trusted key)");
    // Nothing was created there: verify-pack needs no home and no database.
    expect(readdirSync(elsewhere).sort()).toEqual(["pack.json"]);

    writeFileSync(join(elsewhere, "other.pub"), generateLedgerKeyPair().publicKeyPem);
    const wrongKey = await airun(["ledger", "verify-pack", "pack.json", "--key", "other.pub"], {
      cwd: elsewhere,
    });
    expect(wrongKey.code).toBe(7);
    expect(wrongKey.stdout).toContain("not by the trusted key");

    const text = pack.toString("utf8");
    const at = text.indexOf("audited");
    expect(at).toBeGreaterThan(0);
    writeFileSync(
      join(elsewhere, "edited.json"),
      `${text.slice(0, at)}AUDITED${text.slice(at + 7)}`,
    );
    const edited = await airun(["ledger", "verify-pack", "edited.json", "--json"], {
      cwd: elsewhere,
    });
    expect(edited.code).toBe(7);
    expect(JSON.parse(edited.stdout)).toMatchObject({ ok: false });
  });

  it("verify-pack exits 7 with a report (not a crash) for a pack whose entry lost its proof", async () => {
    const dir = join(root.path, "damaged-pack");
    mkdirSync(dir);
    if (!existsSync(join(p.dir, "pack.json"))) {
      expect((await p.run(["ledger", "export", runId, "--out", "pack.json"])).code).toBe(0);
    }
    const text = readFileSync(join(p.dir, "pack.json"), "utf8");
    writeFileSync(join(dir, "pack.json"), text.replace('"proof":[', '"proog":['));
    const r = await airun(["ledger", "verify-pack", "pack.json"], { cwd: dir });
    expect(r.code, r.stderr).toBe(7);
    expect(r.stdout).toContain("does NOT verify");
  });

  it("checkpoint --out writes a signed checkpoint; after a payload edit, verify --checkpoint exits 7 naming the entry", async () => {
    const cp = await p.run(["ledger", "checkpoint", "--out", "cp.txt"]);
    expect(cp.code, cp.stderr).toBe(0);
    const cpText = readFileSync(join(p.dir, "cp.txt"), "utf8");
    expect(cp.stdout).toBe(cpText);
    const lines = cpText.split("\n");
    expect(lines[0]).toMatch(/^airun ledger SHA256:/);
    const total = Number(lines[1]);
    expect(total).toBeGreaterThanOrEqual(runSeqs(home, runId).length);
    expect(lines[4]).toBe("");
    expect(lines[5]).toMatch(/^— airun-ledger [A-Za-z0-9+/=]+$/);

    const honest = await p.run(["ledger", "verify", "--checkpoint", "cp.txt"]);
    expect(honest.code).toBe(0);
    expect(honest.stdout).toContain("✓ cp.txt: the first");

    const k = runSeqs(home, runId).find(
      (e) => e.type === "step.intent" && e.step_id === "write",
    )!.seq;
    const db = new Database(join(home, "airun.db"));
    try {
      db.prepare(
        "UPDATE events SET data = replace(data, 'io.fs.write_file', 'io.fs.read_file') WHERE seq = ?",
      ).run(k);
      const { data } = db.prepare("SELECT data FROM events WHERE seq = ?").get(k) as {
        data: string;
      };
      expect(data).toContain('"capability":"io.fs.read_file"');
    } finally {
      db.close();
    }
    const r = await p.run(["ledger", "verify", "--checkpoint", "cp.txt"]);
    expect(r.code).toBe(7);
    expect(r.stdout).toMatch(/^✗ ledger does NOT verify/);
    expect(r.stdout).toContain(`✗ entry ${k} (step.intent): its content`);
    expect(r.stdout).toContain("cp.txt");
    const json = await p.json<{ ok: boolean; chain: { seq: number; kind: string } }>([
      "ledger",
      "verify",
      "--checkpoint",
      "cp.txt",
    ]);
    expect(json.code).toBe(7);
    expect(json.body).toMatchObject({ ok: false, chain: { seq: k, kind: "content_mismatch" } });

    // Export refuses to vouch for a tampered ledger.
    const exp = await p.run(["ledger", "export", runId, "--out", "after.json"]);
    expect(exp.code).not.toBe(0);
    expect(exp.stderr).toContain("LEDGER_INVALID");
    expect(exp.stderr).toContain(`entry ${k} (step.intent)`);
    expect(existsSync(join(p.dir, "after.json"))).toBe(false);
  });
});

describe("verifying a ledger another process is writing", () => {
  it("ledger verify and ledger export during a run in another process exit 0: the run's own progress is not mistaken for tampering", async () => {
    const p = project(root.path, {
      policy: `${POLICY}  - id: sys-ok\n    principal: "agent:*"\n    capability: "sys.*"\n    decision: ALLOW\n`,
    });
    const steps = Array.from(
      { length: 12 },
      (_, i) =>
        `  - id: w${i}\n    capability: io.fs.write_file\n${i ? `    depends_on: [s${i - 1}]\n` : ""}    inputs: { path: "f${i}.txt", content: "x" }\n` +
        `  - id: s${i}\n    capability: sys.sleep\n    depends_on: [w${i}]\n    inputs: { ms: 120 }\n`,
    ).join("");
    p.write("wf.yaml", `name: busy\nversion: 1\nprincipal: agent:e2e\nsteps:\n${steps}`);
    const running = background(["run", "wf.yaml", "--json"], p.dir);
    const home = join(p.dir, "home");
    try {
      const runId = await waitFor("the run's first entries", async () => {
        if (!existsSync(join(home, "airun.db"))) return undefined;
        const db = new Database(join(home, "airun.db"), { readonly: true });
        try {
          const row = db.prepare("SELECT id FROM runs LIMIT 1").get() as { id: string } | undefined;
          return row?.id;
        } catch {
          return undefined;
        } finally {
          db.close();
        }
      });
      let checked = 0;
      while (running.child.exitCode === null && checked < 6) {
        const v = await p.run(["ledger", "verify"]);
        expect(v.code, v.stdout + v.stderr).toBe(0);
        const e = await p.run(["ledger", "export", runId, "--out", `live-${checked}.json`]);
        expect(e.code, e.stderr).toBe(0);
        const vp = await p.run(["ledger", "verify-pack", `live-${checked}.json`]);
        expect(vp.code, vp.stdout).toBe(0);
        checked += 1;
      }
      expect(checked).toBeGreaterThan(0);
    } finally {
      const done = await running.done;
      expect(done.code, done.stderr).toBe(0);
    }
  });
});

describe("two processes, one ledger", () => {
  it("three airun processes running workflows at once on one home interleave their entries in one chain that verifies", async () => {
    const p = project(root.path, {
      policy: `${POLICY}  - id: sys-ok\n    principal: "agent:*"\n    capability: "sys.*"\n    decision: ALLOW\n`,
    });
    // Eight write + sleep pairs: each run writes entries for over a second.
    const steps = Array.from(
      { length: 8 },
      (_, i) =>
        `  - id: w${i}\n    capability: io.fs.write_file\n${i ? `    depends_on: [s${i - 1}]\n` : ""}    inputs: { path: "\${{ inputs.n }}-${i}.txt", content: "x" }\n` +
        `  - id: s${i}\n    capability: sys.sleep\n    depends_on: [w${i}]\n    inputs: { ms: 150 }\n`,
    ).join("");
    p.write(
      "wf.yaml",
      `name: many\nversion: 1\nprincipal: agent:e2e\ninputs:\n  n: { type: string }\nsteps:\n${steps}`,
    );
    const runs = await Promise.all(
      ["a", "b", "c"].map((n) => p.json<RunJson>(["run", "wf.yaml", "--input", `n=${n}`])),
    );
    for (const r of runs) expect(r.body.status, JSON.stringify(r.body)).toBe("COMPLETED");
    const home = join(p.dir, "home");
    const ranges = runs.map((r) => {
      const seqs = runSeqs(home, r.body.id).map((e) => e.seq);
      return [Math.min(...seqs), Math.max(...seqs)] as const;
    });
    // The processes really wrote at the same time: some two runs' entries interleave.
    const interleaved = ranges.some(([lo, hi], i) =>
      ranges.some(([lo2], j) => i !== j && lo < lo2 && lo2 < hi),
    );
    expect(interleaved, JSON.stringify(ranges)).toBe(true);

    const v = await p.json<{ ok: boolean; entries: number; state: unknown[] }>([
      "ledger",
      "verify",
    ]);
    expect(v.code).toBe(0);
    expect(v.body).toMatchObject({ ok: true, state: [] });
    const total = runs.reduce((n, r) => n + runSeqs(home, r.body.id).length, 0);
    expect(v.body.entries).toBe(total);
  });
});
