/**
 * `airun worker` processes on one PostgreSQL store (issue 17): real processes, real SIGKILL and
 * SIGSTOP. (a) Four workers drain N queued runs of a workflow whose steps append to a file of
 * their run (appends prove exactly-once) while one worker is killed every few seconds and
 * started again: every run ends, every effect happened exactly once, the ledger verifies.
 * N is 60 by default and 500 with AIRUN_CRASH_SWEEP=full (`npm run test:crash`). (b) A worker
 * paused (SIGSTOP) mid-step past its lease: another takes the run over and finishes it; resumed
 * (SIGCONT), the first one's late commit is refused by the fencing token and nothing is done
 * twice. (c) An approval decided from another home on the same database, with `--detach`, is
 * continued by whichever worker is free. Skipped loudly where no server answers.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { isTerminal, type RunStatus } from "../../src/core/status.js";
import { Runtime } from "../../src/engine/runtime/runtime.js";
import { airun, startAirun } from "../support/cli.js";
import { withProjectStore } from "../support/crash.js";
import { usePostgres } from "../support/postgres.js";

const server = await usePostgres();
const root = mkdtempSync(join(tmpdir(), "airun-workers-"));
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) {
    c.kill("SIGCONT");
    c.kill("SIGKILL");
  }
  rmSync(root, { recursive: true, force: true });
});

const FULL = process.env.AIRUN_CRASH_SWEEP === "full";
const RUNS = FULL ? 500 : 60;

/** Three steps, each appending one line to the run's own file. */
const APPENDS = `name: appends
version: 1
principal: agent:worker-test
inputs:
  n: { type: string }
steps:
  - id: one
    capability: io.fs.append_file
    inputs: { path: "e-\${{ inputs.n }}.log", content: "one\\n" }
  - id: two
    capability: io.fs.append_file
    depends_on: [one]
    inputs: { path: "e-\${{ inputs.n }}.log", content: "two\\n" }
  - id: three
    capability: io.fs.append_file
    depends_on: [two]
    inputs: { path: "e-\${{ inputs.n }}.log", content: "three\\n" }
`;

/** A slow step before an append: a worker paused in it is paused mid-step. */
const SLOW = `name: slow
version: 1
principal: agent:worker-test
steps:
  - id: slow
    capability: sys.sleep
    inputs: { ms: 4000 }
  - id: append
    capability: io.fs.append_file
    depends_on: [slow]
    inputs: { path: slow.log, content: "appended\\n" }
`;

const GATED = `name: gated
version: 1
principal: agent:janitor
steps:
  - id: note
    capability: io.fs.append_file
    inputs: { path: gated.log, content: "before\\n" }
  - id: remove
    capability: io.fs.delete
    depends_on: [note]
    inputs: { path: victim.txt }
  - id: after
    capability: io.fs.append_file
    depends_on: [remove]
    inputs: { path: gated.log, content: "after\\n" }
`;

const POLICY = `version: 1
default: ALLOW
rules:
  - id: deletes-need-sre
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
`;

/** A project folder on `url` with a short lease, so takeovers come within seconds. */
function project(url: string, home = "home", ttl = "3s"): string {
  const dir = mkdtempSync(join(root, "p-"));
  mkdirSync(join(dir, "ws"));
  writeFileSync(join(dir, "policies.yaml"), POLICY);
  writeFileSync(
    join(dir, "airun.yaml"),
    `home: ${home}\npolicy: policies.yaml\nsandbox:\n  fs: { roots: [ws] }\n` +
      `engine:\n  lease_ttl: ${ttl}\n  heartbeat: 500ms\n` +
      `principals:\n  user:alice: { roles: [sre] }\nstore: "${url}"\n`,
  );
  return dir;
}

/** A running worker and everything it printed so far. */
interface WorkerProc {
  readonly child: ChildProcess;
  out: string;
  readonly exited: Promise<unknown>;
}

function startWorker(dir: string, extra: readonly string[] = []): WorkerProc {
  const started = startAirun(
    ["worker", "--concurrency", "4", "--poll", "500ms", "--sweep-every", "2s", ...extra],
    { cwd: dir },
  );
  children.add(started.child);
  const w: WorkerProc = { child: started.child, out: "", exited: started.result };
  started.child.stdout?.on("data", (d: Buffer) => {
    w.out += d.toString();
  });
  started.result.finally(() => children.delete(started.child));
  return w;
}

async function until(what: string, cond: () => Promise<boolean> | boolean, ms: number) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Enqueues runs in this process, as `airun run --detach` would (one process, many runs). */
async function enqueue(dir: string, spec: string, inputs: Record<string, string>[]) {
  writeFileSync(join(dir, "wf.yaml"), spec);
  const rt = await Runtime.open({ cwd: dir, onWarning: () => undefined });
  try {
    const ids: string[] = [];
    for (const i of inputs) {
      const view = await rt.startRun({ specFile: join(dir, "wf.yaml"), inputs: i, detach: true });
      expect(view.status).toBe("RUNNING");
      ids.push(view.id);
    }
    return ids;
  } finally {
    await rt.close();
  }
}

async function statuses(dir: string): Promise<Map<string, RunStatus>> {
  return withProjectStore(dir, async (store) => {
    const runs = await store.listRuns({ limit: 100_000 });
    return new Map(runs.map((r) => [r.id, r.status]));
  });
}

server.describe("airun worker on PostgreSQL", () => {
  it(`four workers, one SIGKILLed every few seconds and restarted, finish ${RUNS} queued runs: every run ends, every append happens exactly once, the ledger verifies`, async () => {
    const dir = project(server.urlFor(server.newSchema()));
    const ids = await enqueue(
      dir,
      APPENDS,
      Array.from({ length: RUNS }, (_, n) => ({ n: String(n) })),
    );
    const workers = Array.from({ length: 4 }, () => startWorker(dir));
    let kills = 0;
    let done = false;
    const killer = (async () => {
      for (let k = 0; !done; k++) {
        await new Promise((r) => setTimeout(r, 2_000 + (k % 3) * 500));
        if (done) break;
        const i = k % workers.length;
        const victim = workers[i]!;
        victim.child.kill("SIGKILL");
        await victim.exited;
        kills++;
        workers[i] = startWorker(dir);
      }
    })();
    try {
      await until(
        `${RUNS} runs to end`,
        async () => [...(await statuses(dir)).values()].every(isTerminal),
        FULL ? 1_500_000 : 400_000,
      );
    } finally {
      done = true;
      await killer;
    }
    for (const w of workers) w.child.kill("SIGTERM");
    await Promise.all(workers.map((w) => w.exited));

    const final = await statuses(dir);
    expect(final.size).toBe(RUNS);
    const counts: Record<string, number> = {};
    for (const status of final.values()) counts[status] = (counts[status] ?? 0) + 1;
    console.log(`workers: ${RUNS} runs, ${kills} SIGKILLs: ${JSON.stringify(counts)}`);
    expect(kills).toBeGreaterThan(0);
    // Every run completed, and each of its three appends landed exactly once.
    expect(counts).toEqual({ COMPLETED: RUNS });
    for (let n = 0; n < RUNS; n++) {
      expect(readFileSync(join(dir, "ws", `e-${n}.log`), "utf8"), `run ${n}`).toBe(
        "one\ntwo\nthree\n",
      );
    }
    expect(new Set(ids).size).toBe(RUNS);
    const verify = await airun(["ledger", "verify"], { cwd: dir });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 1_800_000);

  it("a worker SIGSTOPped mid-step past its lease loses the run to another; resumed, its late commit is refused by the fencing token and nothing happens twice", async () => {
    const dir = project(server.urlFor(server.newSchema()), "home", "2s");
    const a = startWorker(dir);
    await until("worker A to start", () => a.out.includes("working"), 60_000);
    const [runId] = await enqueue(dir, SLOW, [{}]);
    await until("A to claim the run", () => a.out.includes(`claimed ${runId}`), 60_000);
    // A is inside the 4 s sleep step (a step without an effect records no intent, so the
    // store cannot show it): freeze it there, past its 2 s lease.
    await new Promise((r) => setTimeout(r, 1_000));
    a.child.kill("SIGSTOP");
    const b = startWorker(dir);
    await until(
      "B to finish the run",
      async () => (await statuses(dir)).get(runId!) === "COMPLETED",
      120_000,
    );
    expect(b.out).toContain(`claimed ${runId} epoch 2`);
    a.child.kill("SIGCONT");
    // A wakes up, its sleep ends, and its commit of the step names epoch 1: refused.
    await until("A to learn it lost the run", () => a.out.includes(`lost ${runId}`), 60_000);
    expect(a.out).not.toContain(`finished ${runId}`);
    for (const w of [a, b]) w.child.kill("SIGTERM");
    await Promise.all([a.exited, b.exited]);
    expect(readFileSync(join(dir, "ws", "slow.log"), "utf8")).toBe("appended\n");
    await withProjectStore(dir, async (s) => {
      const events = await s.listEvents({ runId: runId! });
      const succeeded = events.filter((e) => e.type === "step.succeeded").map((e) => e.stepId);
      expect(succeeded.sort()).toEqual(["append", "slow"]);
      expect((await s.getRun(runId!))?.leaseEpoch).toBe(2);
    });
    const verify = await airun(["ledger", "verify"], { cwd: dir });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 300_000);

  it("a worker told SIGTERM stops claiming and hands back the run it could not finish within --drain-timeout; another worker finishes it, each effect once", async () => {
    const dir = project(server.urlFor(server.newSchema()), "home", "30s");
    const a = startWorker(dir, ["--drain-timeout", "500ms"]);
    await until("worker A to start", () => a.out.includes("working"), 60_000);
    const [runId] = await enqueue(dir, SLOW, [{}]);
    await until("A to claim the run", () => a.out.includes(`claimed ${runId}`), 60_000);
    a.child.kill("SIGTERM");
    await a.exited;
    expect(a.out).toContain(`handed_back ${runId}`);
    // Handed back, not left to lapse: the lease (30 s) is free at once.
    const released = await withProjectStore(dir, (s) => s.getRun(runId!));
    expect(released).toMatchObject({ status: "RUNNING", leaseOwner: null });
    const b = startWorker(dir);
    await until(
      "B to finish the run",
      async () => (await statuses(dir)).get(runId!) === "COMPLETED",
      120_000,
    );
    expect(b.out).toContain(`claimed ${runId} epoch 2`);
    b.child.kill("SIGTERM");
    await b.exited;
    expect(readFileSync(join(dir, "ws", "slow.log"), "utf8")).toBe("appended\n");
  }, 300_000);

  it("an approval decided from another home on the same database with --detach is continued by whichever worker is free", async () => {
    const url = server.urlFor(server.newSchema());
    const dir = project(url);
    writeFileSync(join(dir, "ws", "victim.txt"), "x");
    const workers = [startWorker(dir), startWorker(dir)];
    const [runId] = await enqueue(dir, GATED, [{}]);
    await until(
      "the run to wait for approval",
      async () => (await statuses(dir)).get(runId!) === "WAITING_APPROVAL",
      120_000,
    );
    // Another machine's CLI: its own home (keys, config), the same database; its folder has
    // the same workspace path layout but the run's files live where the workers run it.
    const other = project(url, "other-home");
    const decided = await airun(
      [
        "workflow",
        "resume",
        runId!,
        "--decision",
        "approve",
        "--as",
        "user:alice",
        "--detach",
        "--json",
      ],
      { cwd: other },
    );
    expect(decided.code, decided.stderr).toBe(0);
    expect(JSON.parse(decided.stdout)).toMatchObject({ id: runId, status: "RUNNING" });
    await until(
      "a worker to finish the run",
      async () => (await statuses(dir)).get(runId!) === "COMPLETED",
      120_000,
    );
    expect(existsSync(join(dir, "ws", "victim.txt"))).toBe(false);
    expect(readFileSync(join(dir, "ws", "gated.log"), "utf8")).toBe("before\nafter\n");
    // Nothing ran in the deciding process's workspace.
    expect(existsSync(join(other, "ws", "gated.log"))).toBe(false);
    const claims = workers.map((w) => w.out.split(`claimed ${runId}`).length - 1);
    expect(claims.reduce((x, y) => x + y, 0)).toBe(2);
    for (const w of workers) w.child.kill("SIGTERM");
    await Promise.all(workers.map((w) => w.exited));
    const verify = await airun(["ledger", "verify"], { cwd: dir });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 300_000);
});
