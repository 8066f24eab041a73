/**
 * Attack family: every spelling of a path that leads outside the sandbox root, given to every
 * file capability through the built CLI. For each spelling one workflow runs one step per
 * capability (all at once), under a policy that allows everything, so the sandbox alone
 * stands between the step and the disk. Each case asserts real effects: the bytes outside the
 * root (the `outside/` folder, a sibling whose name starts with the root's, a Unicode
 * lookalike of it) are unchanged, nothing secret is read out, the root is as it was (or,
 * for a spelling that only names something inside, holds it inside). The final test prints
 * the totals (tried / refused / escaped) and asserts that nothing escaped.
 */
import { linkSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type Project, type RunJson, snapshot, tempRoot } from "../e2e/project.js";
import { openProject, runToEnd, type StepSpec, workflow } from "./sandbox-support.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-spell");
afterAll(() => root.cleanup());

const SECRET = "TOP-SECRET-5p3ll outside the root";
/** A Unicode lookalike of the root's name `ws` (w, s, COMBINING ACUTE ACCENT). */
const WS_LOOKALIKE = "ws\u0301";

/** Sets up the folders around and inside the root that the spellings aim at. */
function setUp(p: Project): void {
  const outside = join(p.dir, "outside");
  p.write("outside/secret.txt", SECRET);
  mkdirSync(join(outside, "dir"));
  p.write("ws_evil/x.txt", "evil original");
  p.write(`${WS_LOOKALIKE}/x.txt`, "lookalike original");
  p.write("ws/sub/inside.txt", "inside");
  symlinkSync(join(outside, "secret.txt"), join(p.ws, "link-file-out"));
  symlinkSync(outside, join(p.ws, "link-dir-out"));
  symlinkSync("../outside", join(p.ws, "link-rel-out"));
  symlinkSync("../ws_evil", join(p.ws, "link-to-evil"));
  symlinkSync(join(outside, "created.txt"), join(p.ws, "dangling-out"));
  symlinkSync(join(outside, "newdir"), join(p.ws, "dangling-dir-out"));
  // Not a spelling of a path but the same escape by another name: refused as a hard link.
  linkSync(join(outside, "secret.txt"), join(p.ws, "hard-link-out"));
}

/**
 * One spelling: how to write it in project `p`, and what every capability must do with it:
 * refuse it ("refused", except the calls in `acts`), or only ever name something inside the
 * root ("inside"). Calls in `alone` run in a workflow of their own: those that act on a link
 * inside the root itself (they would race each other), and a delete that must first be
 * approved (the other calls' failures would end the run before it is decided).
 */
interface Spelling {
  readonly what: string;
  readonly spell: (p: Project) => string;
  readonly expect: "refused" | "inside";
  /** Calls expected to act inside the root (on a link itself, or reading no content). */
  readonly acts?: readonly string[];
  readonly alone?: readonly string[];
}

/** Calls that act on a final symlink itself: move it, replace it, delete it. */
const ON_THE_LINK = ["move_from", "move_to", "delete"];

const refused = (what: string, spell: (p: Project) => string): Spelling => ({
  what,
  spell,
  expect: "refused",
});
const inside = (what: string, spell: (p: Project) => string): Spelling => ({
  what,
  spell,
  expect: "inside",
});

const SPELLINGS: readonly Spelling[] = [
  refused("`..` out of the root", () => "../outside/secret.txt"),
  refused("`..` after a real folder", () => "sub/../../outside/secret.txt"),
  refused("an absolute path outside", (p) => join(p.dir, "outside", "secret.txt")),
  refused("a sibling sharing the root's prefix (`../ws_evil`)", () => "../ws_evil/x.txt"),
  refused("the prefix sibling, absolute", (p) => join(p.dir, "ws_evil", "x.txt")),
  refused("a Unicode lookalike of the root's name", () => `../${WS_LOOKALIKE}/x.txt`),
  refused("the lookalike, absolute", (p) => join(p.dir, WS_LOOKALIKE, "x.txt")),
  {
    ...refused("a symlinked file pointing outside", () => "link-file-out"),
    acts: ON_THE_LINK,
    alone: ON_THE_LINK,
  },
  refused("a symlinked folder pointing outside", () => "link-dir-out/secret.txt"),
  refused("a relative symlink climbing outside", () => "link-rel-out/secret.txt"),
  refused("a symlink to the prefix sibling", () => "link-to-evil/x.txt"),
  {
    ...refused("a dangling symlink pointing outside", () => "dangling-out"),
    acts: ON_THE_LINK,
    alone: ON_THE_LINK,
  },
  refused("a dangling folder symlink pointing outside", () => "dangling-dir-out/new.txt"),
  refused("a NUL byte hiding a `..` tail", () => "sub/inside.txt\u0000../../outside/secret.txt"),
  refused("a name of 300 characters", () => `sub/${"x".repeat(300)}`),
  refused(
    "a path of 4,000 characters whose `..` run climbs out",
    () => `${"a/".repeat(1000)}${"../".repeat(1001)}outside/secret.txt`,
  ),
  // The same escape by another name: refused as a hard link; `exists` reads no content.
  {
    ...refused("a hard link to a file outside", () => "hard-link-out"),
    acts: ["exists"],
    alone: ["delete"],
  },
  // Lookalikes of `..`: plain names inside the root, never a way out.
  inside("fullwidth full stops (U+FF0E) instead of `..`", () => "\uFF0E\uFF0E/outside/secret.txt"),
  inside("one-dot leaders (U+2024) instead of `..`", () => "\u2024\u2024/outside/secret.txt"),
  inside("a decomposed (NFD) spelling of a name inside", () => "sub/inside\u0301.txt"),
];

/** The capability calls tried with each spelling `s` (`sub/inside.txt` is a real file). */
function stepsFor(s: string): StepSpec[] {
  const step = (id: string, capability: string, inputs: Record<string, unknown>): StepSpec => ({
    id,
    capability,
    inputs,
    depends_on: [],
  });
  return [
    step("read_file", "io.fs.read_file", { path: s }),
    step("hash_file", "io.fs.hash_file", { path: s }),
    step("exists", "io.fs.exists", { path: s }),
    step("list_dir", "io.fs.list_dir", { path: s }),
    step("write_file", "io.fs.write_file", { path: s, content: "PWNED" }),
    step("write_file_mkdirs", "io.fs.write_file", {
      path: `${s}/deeper/new.txt`,
      content: "PWNED",
      create_dirs: true,
    }),
    step("write_bytes", "io.fs.write_bytes", { path: s, content_base64: "UFdORUQ=" }),
    step("append_file", "io.fs.append_file", { path: s, content: "PWNED" }),
    step("make_dir", "io.fs.make_dir", { path: `${s}/made` }),
    step("copy_from", "io.fs.copy", { from: s, to: "copied.txt" }),
    step("copy_to", "io.fs.copy", { from: "sub/inside.txt", to: s, overwrite: true }),
    step("move_from", "io.fs.move", { from: s, to: "moved.txt" }),
    step("move_to", "io.fs.move", { from: "sub/inside.txt", to: s, overwrite: true }),
    step("delete", "io.fs.delete", { path: s, recursive: true }),
  ];
}

/** Codes a refused step may end with (a sandbox refusal, or the target simply not there). */
const CLEAN = new Set([
  "SANDBOX_VIOLATION",
  "FS_HARD_LINK",
  "FS_NAME_TOO_LONG",
  "FS_NOT_FOUND",
  "FS_NOT_DIR",
  "FS_IS_DIR",
  "FS_EXISTS",
  "FS_INVALID",
  "ABORTED",
  "APPROVAL_REJECTED",
]);

const totals = { tried: 0, refused: 0, escaped: 0, inside: 0 };
const tallied = tally("sandbox", "sandbox-spellings");
const escapes: string[] = [];

/** Everything in the project that is not the root, the state or a workflow file. */
function around(p: Project): Record<string, string> {
  return snapshot(p.dir, ["home", "ws", "wf.json", "airun.yaml", "policies.yaml"]);
}

/** Absolute paths a step's outputs name, all of which must lie inside the root. */
function outputPaths(outputs: Record<string, unknown> | null): string[] {
  if (!outputs) return [];
  return ["path", "from", "to"].map((k) => outputs[k]).filter((v) => typeof v === "string");
}

/** One run of `steps` in a fresh project: the run, and what changed around the root. */
async function attempt(spell: (p: Project) => string, ids: readonly string[] | null) {
  const p = openProject(root.path, {}, "engine:\n  concurrency: 64\n");
  setUp(p);
  const steps = stepsFor(spell(p)).filter((x) => ids === null || ids.includes(x.id));
  const before = around(p);
  const wsBefore = snapshot(p.ws);
  p.write("wf.json", workflow("spelling", steps));
  const view: RunJson = await runToEnd(p, "wf.json");
  const after = around(p);
  const changed = Object.keys({ ...before, ...after }).filter((k) => before[k] !== after[k]);
  expect(changed, "entries changed outside the root").toEqual([]);
  expect(readFileSync(join(p.dir, "outside", "secret.txt"), "utf8")).toBe(SECRET);
  return { p, steps, view, wsUnchanged: () => expect(snapshot(p.ws)).toEqual(wsBefore) };
}

describe.concurrent("attack family: spellings of a path outside the root", () => {
  it.each(SPELLINGS.map((sp) => [sp.what, sp] as const))(
    "%s: refused, or kept inside, by every capability",
    async (what, sp) => {
      const alone = sp.alone ?? [];
      const acts = sp.acts ?? [];
      const all = stepsFor("x").map((x) => x.id);
      const runs = [
        await attempt(
          sp.spell,
          all.filter((id) => !alone.includes(id)),
        ),
      ];
      for (const id of alone) runs.push(await attempt(sp.spell, [id]));
      for (const [n, { p, steps, view, wsUnchanged }] of runs.entries()) {
        for (const spec of steps) {
          totals.tried++;
          const st = view.steps.find((x) => x.id === spec.id);
          const label = `${what} / ${spec.id}`;
          const out = outputPaths(st?.outputs ?? null).filter((x) => !x.startsWith(`${p.ws}/`));
          if (out.length > 0 || JSON.stringify(st?.outputs ?? null).includes(SECRET)) {
            totals.escaped++;
            escapes.push(`${label}: ${JSON.stringify(st?.outputs)}`);
            tallied.attempt(label, true);
          } else if (st?.error) {
            totals.refused++;
            tallied.attempt(label, false);
            expect(CLEAN, `${label}: ${st.error.code} ${st.error.message}`).toContain(
              st.error.code,
            );
            if (sp.expect === "refused") expect(acts, label).not.toContain(spec.id);
          } else {
            totals.inside++;
            tallied.attempt(label, false, "inside");
            if (sp.expect === "refused") {
              expect(acts, `${label} was not refused (${st?.status})`).toContain(spec.id);
            }
          }
        }
        if (sp.expect === "refused" && n === 0) {
          expect(view.status).toBe("ROLLED_BACK");
          wsUnchanged();
        }
      }
    },
  );
});

// After every spelling above (a concurrent suite ends before the next one starts).
describe("attack family: totals", () => {
  it("every spelling with every capability: nothing escaped", () => {
    console.log(
      `sandbox spellings: ${SPELLINGS.length} spellings x ${stepsFor("x").length} calls: ${totals.tried} tried, ${totals.refused} refused, ${totals.inside} stayed inside, ${totals.escaped} escaped`,
    );
    expect(totals.tried).toBe(SPELLINGS.length * stepsFor("x").length);
    expect(escapes).toEqual([]);
    expect(totals.escaped).toBe(0);
  });
});
