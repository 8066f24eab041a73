/**
 * @module The torture soak (issue 13), TEST ONLY: for a set time, many workflows and sessions run
 * concurrently through the built CLI and SDK on ONE SQLite home, while random processes are
 * SIGKILLed at random moments — runs, `airun recover`, the approver's commands, session agents —
 * some runs are armed with the crash switch (SIGKILL at a chosen commit) or the fault switch (a
 * commit failing as a full or failing disk would: `crash-switch.ts`), and `airun recover` runs
 * in the background all along. Then the soak settles: recover until nothing is left in flight,
 * decide what still waits for a person, cancel sessions whose agent died, and judge:
 * - every run terminal;
 * - each instance's effects exactly once (COMPLETED: its appends present once, its file
 *   written) or undone exactly (ROLLED_BACK or never recorded: the files as they were), and at
 *   most one run for each; each kind ends as it must (a rolling-back workflow never completes,
 *   an approval ends as it was decided);
 * - `airun ledger verify` passes.
 *
 * Instances (`t-N`, each with its own files jN.log and wN.txt so rollbacks of one never touch
 * another's): `complete` (append, write, echo), `rollback` (the same, then `sys.fail`),
 * `approval` (append, an approval step decided from another process, append, write), `budget`
 * (five calls under a budget of four: it abstains, everything undone) and `session` (an SDK
 * session: append, write, then commit or roll back).
 *
 * One soak in one file (hence the length): the load, the settling and the verdicts share the
 * instances and counts, and read best in the order they happen.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { RunStatus } from "../../src/core/status.js";
import { AIRUN_CRASH_BIN, airun, type CliResult, startAirun } from "./cli.js";
import { withProjectStore } from "./crash.js";
import { CRASH_AT_ENV, FAULT_AT_ENV, FAULT_KIND_ENV, FAULT_KINDS } from "./crash-switch.js";

/** How long and how hard the soak runs. */
export interface SoakOptions {
  /** Folder to create the project in. */
  readonly root: string;
  /** Seconds of load before settling. */
  readonly seconds: number;
  /** Instances running at once. */
  readonly concurrency: number;
  /** Seeds every random choice (what to launch, arm, kill and decide; not the timing). */
  readonly seed: number;
}

export type Kind = "complete" | "rollback" | "approval" | "budget" | "session";
const KINDS: readonly Kind[] = ["complete", "rollback", "approval", "budget", "session"];

/** What the soak did. */
export interface SoakCounts {
  instances: Record<Kind, number>;
  /** Processes SIGKILLed at a random age, by what they were. */
  kills: Record<string, number>;
  /** Runs killed by their crash switch at a commit. */
  crashSwitch: number;
  /** Runs armed with an I/O fault whose fault struck (the command failed closed, exit 1). */
  faults: number;
  /** Background and settling `airun recover` processes started. */
  recovers: number;
  /** Approval decisions sent (`workflow resume --decision`), and sessions cancelled at the end. */
  approvals: { approve: number; reject: number };
  sessionsCancelled: number;
  /** Runs recorded, by final status. */
  runs: Record<string, number>;
  /** Settling rounds needed. */
  settleRounds: number;
}

export interface Verdict {
  readonly name: string;
  readonly ok: boolean;
  readonly problems: string[];
}

export interface SoakReport {
  readonly counts: SoakCounts;
  readonly verdicts: Verdict[];
}

interface Instance {
  readonly n: number;
  readonly kind: Kind;
  /** approval: the decision it gets; session: how it ends. */
  readonly decision: "approve" | "reject";
}

const PRINCIPAL = "agent:torture";
/** The share of processes started while loading that are SIGKILLed at a random age. */
const KILL_CHANCE = 0.35;
const APPROVER = "user:alice";
const SESSION_AGENT = resolve("test/support/torture-session.mjs");
const SDK = resolve("dist/sdk/index.js");

/** A seeded generator of floats in [0, 1) (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The workflow of instance `n`. */
function spec(inst: Instance): string {
  const { n } = inst;
  const head = `name: t-${n}\nversion: 1\nprincipal: ${PRINCIPAL}\nsteps:\n`;
  const log = `  - id: log\n    capability: io.fs.append_file\n    inputs: { path: j${n}.log, content: "entry-${n}\\n" }\n`;
  const out = (after: string) =>
    `  - id: out\n    capability: io.fs.write_file\n    depends_on: [${after}]\n    inputs: { path: w${n}.txt, content: "w-${n}" }\n`;
  switch (inst.kind) {
    case "complete":
    case "rollback":
      return (
        head +
        log +
        out("log") +
        `  - id: check\n    capability: sys.echo\n    depends_on: [out]\n    inputs: { n: ${n} }\n` +
        (inst.kind === "rollback"
          ? `  - id: boom\n    capability: sys.fail\n    depends_on: [check]\n    inputs: { message: "t-${n} rolls back" }\n`
          : "")
      );
    case "approval":
      return (
        head +
        log +
        `  - id: gate\n    type: approval\n    depends_on: [log]\n    message: "t-${n} goes on?"\n    approvers: ["${APPROVER}"]\n` +
        `  - id: more\n    capability: io.fs.append_file\n    depends_on: [gate]\n    inputs: { path: j${n}.log, content: "more-${n}\\n" }\n` +
        out("more")
      );
    case "budget":
      // Five tool calls allowed four: the last is refused and the run abstains, everything
      // undone; a call interrupted by a kill counts too, so an earlier one may be refused.
      return (
        head.replace("steps:\n", "governance:\n  budgets: { max_tool_calls: 4 }\nsteps:\n") +
        log +
        `  - id: ask\n    capability: sys.echo\n    depends_on: [log]\n    inputs: { n: ${n} }\n` +
        `  - id: more\n    capability: io.fs.append_file\n    depends_on: [ask]\n    inputs: { path: j${n}.log, content: "more-${n}\\n" }\n` +
        out("more") +
        `  - id: final\n    capability: sys.echo\n    depends_on: [out]\n    inputs: { n: ${n} }\n`
      );
    default:
      throw new Error(`no spec for ${inst.kind}`);
  }
}

/** The files of instance `n` with its effects done. */
function doneFiles(inst: Instance): { journal: string; written: string } {
  const more = inst.kind === "approval" ? `more-${inst.n}\n` : "";
  return { journal: `start\nentry-${inst.n}\n${more}`, written: `w-${inst.n}` };
}

/** Runs the soak (see the module comment). */
export async function soak(opts: SoakOptions): Promise<SoakReport> {
  const random = prng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const dir = join(opts.root, "project");
  const ws = join(dir, "ws");
  mkdirSync(join(dir, "specs"), { recursive: true });
  mkdirSync(ws, { recursive: true });
  writeFileSync(join(dir, "airun.yaml"), "home: home\nsandbox:\n  fs: { roots: [ws] }\n");

  const counts: SoakCounts = {
    instances: { complete: 0, rollback: 0, approval: 0, budget: 0, session: 0 },
    kills: {},
    crashSwitch: 0,
    faults: 0,
    recovers: 0,
    approvals: { approve: 0, reject: 0 },
    sessionsCancelled: 0,
    runs: {},
    settleRounds: 0,
  };
  const instances: Instance[] = [];
  let loading = true;
  /** How long each kind of process lasts when it is not killed, in ms (moving average). */
  const lifetimes = new Map<string, number>();

  const start = (
    what: string,
    args: readonly string[],
    o: { env?: Record<string, string>; bin?: string; script?: string } = {},
  ): Promise<CliResult> => {
    const started = startAirun(args, { cwd: dir, ...o });
    const began = Date.now();
    // While loading, some processes of each kind are SIGKILLed at a random age up to a little
    // past how long that kind has lasted so far (fast machine or slow), so kills land anywhere
    // in a process's life: starting up, deciding, acting, committing, rolling back.
    const timer =
      loading && random() < KILL_CHANCE
        ? setTimeout(
            () => {
              if (started.child.exitCode !== null || started.child.signalCode !== null) return;
              started.child.kill("SIGKILL");
              counts.kills[what] = (counts.kills[what] ?? 0) + 1;
            },
            random() * 1.2 * (lifetimes.get(what) ?? 1000),
          )
        : undefined;
    return started.result.finally(() => {
      clearTimeout(timer);
      // How long this kind lasts when nobody kills it (a moving average).
      const lived = Date.now() - began;
      if (started.child.signalCode === null) {
        lifetimes.set(what, 0.8 * (lifetimes.get(what) ?? lived) + 0.2 * lived);
      }
    });
  };

  // ---- instances ---------------------------------------------------------------------------
  let instancesRunning = 0;
  const runInstance = async (inst: Instance): Promise<void> => {
    writeFileSync(join(ws, `j${inst.n}.log`), "start\n");
    if (inst.kind === "session") {
      await start(
        "session",
        [SDK, String(inst.n), inst.decision === "approve" ? "commit" : "rollback"],
        {
          script: SESSION_AGENT,
        },
      );
      return;
    }
    const file = join("specs", `t-${inst.n}.yaml`);
    writeFileSync(join(dir, file), spec(inst));
    const arm = random();
    const commit = 1 + Math.floor(random() * 20);
    const when = pick(["before", "after"] as const);
    if (arm < 0.25) {
      const r = await start("run", ["run", file, "--json"], {
        bin: AIRUN_CRASH_BIN,
        env: { [CRASH_AT_ENV]: `${when}:${commit}` },
      });
      if (r.signal === "SIGKILL") counts.crashSwitch += 1;
    } else if (arm < 0.4) {
      const kind = pick(FAULT_KINDS);
      const r = await start("run", ["run", file, "--json"], {
        bin: AIRUN_CRASH_BIN,
        env: {
          [FAULT_AT_ENV]: `${kind === "SQLITE_IOERR_FSYNC" ? when : "before"}:${commit}`,
          [FAULT_KIND_ENV]: kind,
        },
      });
      if (r.code === 1 && /STORE_COMMIT_(FAILED|UNCERTAIN)/.test(r.stderr)) counts.faults += 1;
    } else {
      await start("run", ["run", file, "--json"]);
    }
  };
  const launcher = async () => {
    const pending: Promise<void>[] = [];
    while (loading) {
      while (loading && instancesRunning < opts.concurrency) {
        const inst: Instance = {
          n: instances.length + 1,
          kind: pick(KINDS),
          decision: random() < 0.7 ? "approve" : "reject",
        };
        instances.push(inst);
        counts.instances[inst.kind] += 1;
        instancesRunning += 1;
        pending.push(runInstance(inst).finally(() => (instancesRunning -= 1)));
      }
      await sleep(20);
    }
    await Promise.all(pending);
  };

  // ---- the approver, recovery and the killer -----------------------------------------------
  const decideAll = async (who: string, only?: number): Promise<void> => {
    const list = await start(who, ["approvals", "list", "--json"]);
    if (list.code !== 0) return;
    const pending = (JSON.parse(list.stdout) as { approvals: ApprovalRow[] }).approvals;
    for (const a of only === undefined ? pending : pending.slice(0, only)) {
      const inst = instances.find((i) => `t-${i.n}` === a.run_name);
      const decision = inst?.decision ?? "approve";
      counts.approvals[decision] += 1;
      await start(who, ["workflow", "resume", a.run_id, "--decision", decision, "--as", APPROVER]);
    }
  };
  const approver = async () => {
    while (loading) {
      await decideAll("approver", 1);
      await sleep(100 + random() * 400);
    }
  };
  const recoverer = async () => {
    while (loading) {
      counts.recovers += 1;
      await start("recover", ["recover", "--json"]);
      await sleep(200 + random() * 800);
    }
  };
  const load = Promise.all([launcher(), approver(), recoverer()]);
  await sleep(opts.seconds * 1000);
  loading = false;
  await load;

  // ---- settling ----------------------------------------------------------------------------
  for (let round = 1; round <= 20; round++) {
    counts.settleRounds = round;
    counts.recovers += 1;
    await start("recover", ["recover", "--json"]);
    const runs = await withProjectStore(dir, (s) => s.listRuns());
    const open = runs.filter((r) => !TERMINAL.has(r.status));
    if (open.length === 0) break;
    await decideAll("approver");
    for (const r of open) {
      // A session whose agent died stays open (resumable by id): nobody will come back for it.
      if (r.kind === "session" && r.status === RunStatus.RUNNING) {
        counts.sessionsCancelled += 1;
        await start("cancel", ["workflow", "cancel", r.id]);
      }
    }
  }

  // ---- verdicts ----------------------------------------------------------------------------
  const runs = await withProjectStore(dir, (s) => s.listRuns());
  for (const r of runs) counts.runs[r.status] = (counts.runs[r.status] ?? 0) + 1;
  const terminal: string[] = runs
    .filter((r) => !TERMINAL.has(r.status))
    .map((r) => `${r.name} (${r.id}) is ${r.status}`);

  const effects: string[] = [];
  const byName = new Map<string, typeof runs>();
  for (const r of runs) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  for (const inst of instances) {
    const name = `t-${inst.n}`;
    const mine = byName.get(name) ?? [];
    if (mine.length > 1) effects.push(`${name}: ${mine.length} runs`);
    const status = mine[0]?.status;
    const journal = readFileSync(join(ws, `j${inst.n}.log`), "utf8");
    let written: string | undefined;
    try {
      written = readFileSync(join(ws, `w${inst.n}.txt`), "utf8");
    } catch {
      written = undefined;
    }
    const done = doneFiles(inst);
    const undone = journal === "start\n" && written === undefined;
    const complete = journal === done.journal && written === done.written;
    if (status === RunStatus.COMPLETED ? !complete : !undone) {
      effects.push(
        `${name} (${inst.kind}) is ${status ?? "not recorded"}, but j${inst.n}.log is ${JSON.stringify(journal)} and w${inst.n}.txt ${written === undefined ? "absent" : JSON.stringify(written)}`,
      );
    }
    const must = mustEnd(inst);
    if (status !== undefined && !must.includes(status)) {
      effects.push(
        `${name} (${inst.kind}, ${inst.decision}) is ${status}, expected ${must.join(" or ")}`,
      );
    }
  }

  const verify = await airun(["ledger", "verify", "--json"], { cwd: dir });
  const ledger = verify.code === 0 ? [] : [`exit ${verify.code}: ${verify.stdout}${verify.stderr}`];

  return {
    counts,
    verdicts: [
      { name: "every run terminal", ok: terminal.length === 0, problems: terminal },
      {
        name: "every effect exactly once or undone exactly",
        ok: effects.length === 0,
        problems: effects,
      },
      { name: "ledger verify", ok: ledger.length === 0, problems: ledger },
    ],
  };
}

const TERMINAL = new Set<string>([RunStatus.COMPLETED, RunStatus.ROLLED_BACK, RunStatus.FAILED]);

/** The statuses an instance may end in. */
function mustEnd(inst: Instance): string[] {
  switch (inst.kind) {
    case "complete":
      return [RunStatus.COMPLETED];
    case "rollback":
    case "budget":
      return [RunStatus.ROLLED_BACK];
    case "approval":
      return [inst.decision === "approve" ? RunStatus.COMPLETED : RunStatus.ROLLED_BACK];
    default:
      // A session commits or rolls back as told, or is cancelled once its agent died.
      return inst.decision === "approve"
        ? [RunStatus.COMPLETED, RunStatus.ROLLED_BACK]
        : [RunStatus.ROLLED_BACK];
  }
}

interface ApprovalRow {
  readonly run_id: string;
  readonly run_name: string;
}

/** The report as lines for the log. */
export function formatReport(r: SoakReport, opts: SoakOptions): string {
  const c = r.counts;
  const kills = Object.entries(c.kills)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const total = Object.values(c.kills).reduce((a, b) => a + b, 0);
  const lines = [
    `torture: ${opts.seconds}s, ${opts.concurrency} at once, AIRUN_TORTURE_SEED=${opts.seed}`,
    `  instances: ${Object.entries(c.instances)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `  kills: ${total} random SIGKILLs (${kills || "none"}), ${c.crashSwitch} by the crash switch at a commit`,
    `  faults: ${c.faults} injected I/O faults struck (failed closed)`,
    `  approvals decided: ${c.approvals.approve} approve, ${c.approvals.reject} reject; sessions cancelled after their agent died: ${c.sessionsCancelled}`,
    `  recovers: ${c.recovers}; settled in ${c.settleRounds} round(s)`,
    `  runs: ${Object.entries(c.runs)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    ...r.verdicts.map(
      (v) =>
        `  ${v.ok ? "✓" : "✗"} ${v.name}${v.ok ? "" : `: ${v.problems.slice(0, 10).join("; ")}`}`,
    ),
  ];
  return lines.join("\n");
}
