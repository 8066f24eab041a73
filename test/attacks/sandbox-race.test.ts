/**
 * Attack: a check-then-use race on a folder (issue 13, finding 9). While the built CLI runs
 * many write_file, append_file and make_dir steps into `d/…`, a background process flips
 * `ws/d` between a real folder and a symlink to `../outside` as fast as it can. The sandbox
 * checks `d` and then acts on it; a flip in between used to leave temp files, empty files and
 * folders OUTSIDE the root. Nothing may be created or changed outside a root, even under a
 * race: every step either succeeds inside the root or fails cleanly, the rollbacks the failures
 * cause stay inside too, and the ledger still verifies.
 *
 * Bounded: the flipper runs for FLIP_MS, two workers start runs until it stops.
 */
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type RunJson, snapshot, tempRoot } from "../e2e/project.js";
import { openProject, type StepSpec, workflow } from "./sandbox-support.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-race");
afterAll(() => root.cleanup());

const counted = tally("sandbox", "sandbox-race");

const FLIP_MS = 5_000;
const WORKERS = 4;
const KINDS_PER_RUN = 10;
const RUNS_PLANNED = 200;

/**
 * The flipper: `ws/d` is a folder, then a symlink to `../outside`, then a folder again...
 * through renames (the folder waits as `.stash`, the link as `.link`), until its deadline.
 * While `d` is briefly absent a step may create a folder there (make_dir, create_dirs): it
 * is moved aside (`.extra-N`, still inside the root) and flipping goes on. Prints its flips.
 */
const FLIPPER = `
const { renameSync, symlinkSync } = require("node:fs");
const { join } = require("node:path");
const [ws, ms] = process.argv.slice(1);
const d = join(ws, "d"), stash = join(ws, ".stash"), link = join(ws, ".link");
let extras = 0;
const put = (from, to) => {
  for (let tries = 0; ; tries++) {
    try { return renameSync(from, to); } catch (err) {
      if (tries > 100 || !["EISDIR", "ENOTEMPTY", "EEXIST", "ENOTDIR"].includes(err.code)) throw err;
    }
    try { renameSync(to, join(ws, ".extra-" + extras++)); } catch {}
  }
};
symlinkSync("../outside", link);
const deadline = Date.now() + Number(ms);
let flips = 0;
while (Date.now() < deadline) {
  for (let i = 0; i < 64; i++) {
    renameSync(d, stash); put(link, d); flips++;
    renameSync(d, link); put(stash, d); flips++;
  }
}
process.stdout.write(String(flips));
`;

/** Clean refusals a step may end with while `d` flips. */
const CLEAN = new Set([
  "SANDBOX_VIOLATION",
  "FS_PATH_CHANGED",
  "FS_NOT_FOUND",
  "FS_NOT_DIR",
  "FS_SYMLINK_LOOP",
  "UNDO_DRIFT",
  "ABORTED",
]);

/**
 * One run's steps, all independent (they start together): writes, appends, folders, copies
 * and moves into d/. Odd-numbered targets have a decoy of the same name in outside/.
 */
function raceSteps(run: number): StepSpec[] {
  const steps: StepSpec[] = [];
  for (let i = 0; i < KINDS_PER_RUN; i++) {
    const tag = `r${run}-${i}`;
    const decoy = i % 2 === 0 ? "" : "-decoy";
    steps.push(
      {
        id: `write_${i}`,
        capability: "io.fs.write_file",
        inputs: { path: `d/w${decoy}-${tag}.txt`, content: "inside" },
        depends_on: [],
      },
      {
        id: `append_${i}`,
        capability: "io.fs.append_file",
        inputs: { path: `d/a${decoy}-${tag}.txt`, content: "inside" },
        depends_on: [],
      },
      {
        id: `mkdir_${i}`,
        capability: "io.fs.make_dir",
        inputs: { path: `d/m-${tag}/n` },
        depends_on: [],
      },
      {
        id: `nested_${i}`,
        capability: "io.fs.write_file",
        inputs: { path: `d/c-${tag}/x.txt`, content: "inside", create_dirs: true },
        depends_on: [],
      },
      {
        id: `copy_${i}`,
        capability: "io.fs.copy",
        inputs: { from: "src/src.txt", to: `d/cp${decoy}-${tag}.txt`, overwrite: true },
        depends_on: [],
      },
      {
        id: `move_${i}`,
        capability: "io.fs.move",
        inputs: { from: `src/mv-${tag}.txt`, to: `d/mv${decoy}-${tag}.txt`, overwrite: true },
        depends_on: [],
      },
    );
  }
  return steps;
}

describe("attack: a folder flipped to a symlink outside while steps write into it", () => {
  it("creates and changes nothing outside the root, fails every refused step cleanly, and the ledger verifies", async () => {
    // Every step of a run starts at once (more calls in flight while `d` flips), and the
    // store skips its per-commit fsync (more runs in the time; the files still fsync).
    const p = openProject(
      root.path,
      {},
      "engine:\n  concurrency: 64\nsqlite:\n  synchronous: NORMAL\n",
    );
    mkdirSync(join(p.ws, "d"));
    mkdirSync(join(p.dir, "outside"));
    p.write("ws/src/src.txt", "inside");
    p.write("outside/keep.txt", "outside");
    // What outside/ must hold at the end: its own file and the decoys, each run's written
    // just before the run starts (names an escaped write, append, copy, move or rollback
    // would overwrite, extend or delete).
    const outsideBefore = snapshot(join(p.dir, "outside"));
    const prepareRun = (run: number) => {
      for (let i = 0; i < KINDS_PER_RUN; i++) {
        p.write(`ws/src/mv-r${run}-${i}.txt`, "inside");
        if (i % 2 === 0) continue;
        for (const kind of ["w", "a", "cp", "mv"]) {
          const name = `${kind}-decoy-r${run}-${i}.txt`;
          p.write(`outside/${name}`, "decoy");
          outsideBefore[name] = Buffer.from("decoy").toString("base64");
        }
      }
    };

    const flipper = spawn(process.execPath, ["-e", FLIPPER, p.ws, String(FLIP_MS)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let flipOut = "";
    let flipErr = "";
    flipper.stdout.on("data", (b: Buffer) => {
      flipOut += b.toString();
    });
    flipper.stderr.on("data", (b: Buffer) => {
      flipErr += b.toString();
    });
    const flipperDone = new Promise<number | null>((resolve) => flipper.on("close", resolve));
    let flipping = true;
    void flipperDone.then(() => {
      flipping = false;
    });

    const insideWs = new RegExp(`^${p.ws.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/`);
    const views: RunJson[] = [];
    let next = 0;
    const worker = async () => {
      while (flipping && next < RUNS_PLANNED) {
        const run = next++;
        const file = `wf-${run}.json`;
        prepareRun(run);
        p.write(file, workflow(`race_${run}`, raceSteps(run)));
        const { body } = await p.json<RunJson>(["run", file]);
        views.push(body);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    expect(await flipperDone, flipErr).toBe(0);

    // Tally every step of every run.
    const tally = { runs: views.length, steps: 0, succeeded: 0, refused: 0, notReached: 0 };
    const codes: Record<string, number> = {};
    const unclean: string[] = [];
    for (const view of views) {
      expect(["COMPLETED", "ROLLED_BACK", "FAILED"]).toContain(view.status);
      for (const s of view.steps) {
        if (s.status === "PENDING" || s.status === "SKIPPED") {
          tally.notReached++;
          continue;
        }
        tally.steps++;
        const outside = ["path", "from", "to"]
          .map((key) => s.outputs?.[key])
          .filter((at) => at !== undefined && !insideWs.test(String(at)));
        counted.attempt(`${view.id}/${s.id}`, outside.length > 0, s.outputs ? "inside" : "refused");
        if (s.outputs) {
          tally.succeeded++;
          for (const key of ["path", "from", "to"]) {
            const at = s.outputs[key];
            if (at !== undefined) expect(String(at), JSON.stringify(s)).toMatch(insideWs);
          }
        }
        if (s.error) {
          tally.refused++;
          codes[s.error.code] = (codes[s.error.code] ?? 0) + 1;
          if (!CLEAN.has(s.error.code)) unclean.push(`${s.id}: ${s.error.code} ${s.error.message}`);
        }
      }
    }
    const flips = Number(flipOut);
    console.log(
      `sandbox race: ${tally.runs} runs, ${tally.steps} steps attempted (${tally.succeeded} succeeded inside the root, ${tally.refused} refused, ${tally.notReached} not reached), ${flips} flips; refusals by code ${JSON.stringify(codes)}`,
    );

    const outsideAfter = snapshot(join(p.dir, "outside"));
    const changed = Object.keys({ ...outsideBefore, ...outsideAfter }).filter(
      (k) => outsideBefore[k] !== outsideAfter[k],
    );
    counted.attempt("anything created or changed outside the root", changed.length > 0);
    expect(changed, "entries created or changed outside the root").toEqual([]);
    expect(unclean).toEqual([]);
    expect(flips).toBeGreaterThan(1000);
    expect(tally.steps).toBeGreaterThan(50);
    const verify = await p.run(["ledger", "verify"]);
    expect(verify.code, verify.stderr).toBe(0);
  }, 60_000);
});
