/**
 * `airun dashboard` in a real terminal: tmux runs the built CLI; keys are sent with
 * `send-keys` and the screen read with `capture-pane`. A pending approval is listed, `a`
 * approves it as the `--as` principal (the file is deleted, the run completes), `r` on another
 * rejects it (its earlier write is undone), the requester is refused, and `q` quits. tmux runs
 * on its own socket and only the session this test made is killed. Skipped, loudly, without tmux.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupSpec, SRE_APPROVAL_POLICY, SRE_PRINCIPALS } from "../support/approval-fixtures.js";
import { AIRUN_BIN } from "../support/cli.js";
import { project, type RunJson, tempRoot, waitFor } from "./project.js";

const run = promisify(execFile);
const SOCKET = `airun-test-${process.pid}`;
const SESSION = "dash";
const tmux = (...args: string[]) => run("tmux", ["-L", SOCKET, ...args]);
const hasTmux = await run("tmux", ["-V"]).then(
  () => true,
  () => false,
);
if (!hasTmux) process.stderr.write("SKIPPED: tmux is not installed; airun dashboard is untested\n");

const root = tempRoot("dashboard");
afterAll(async () => {
  await tmux("kill-server").catch(() => undefined);
  root.cleanup();
});

const CLEANUP = (name: string, victim: string, principal = "agent:janitor") =>
  cleanupSpec({ name, principal, victim, note: `${name}-note.txt` });

/** Starts `airun dashboard --as user:alice` in the project, in the test's tmux session. */
const openDashboard = (dir: string) =>
  tmux(
    "new-session",
    "-d",
    "-s",
    SESSION,
    "-x",
    "200",
    "-y",
    "40",
    "-c",
    dir,
    `${process.execPath} ${AIRUN_BIN} dashboard --as user:alice`,
  );

const screen = async () => (await tmux("capture-pane", "-p", "-t", SESSION)).stdout;

describe.skipIf(!hasTmux)("airun dashboard in tmux", () => {
  it("lists pending approvals, approves one with a, rejects another with r, and quits with q", async () => {
    const p = project(root.path, {
      policy: SRE_APPROVAL_POLICY,
      config: SRE_PRINCIPALS,
      files: {
        "ws/one.txt": "1",
        "ws/two.txt": "2",
        "first.yaml": CLEANUP("first", "one.txt"),
        "second.yaml": CLEANUP("second", "two.txt"),
      },
    });
    const first = await p.json<RunJson>(["run", "first.yaml"]);
    const second = await p.json<RunJson>(["run", "second.yaml"]);
    expect([first.code, second.code]).toEqual([5, 5]);
    await openDashboard(p.dir);
    await waitFor("two pending approvals on screen", async () =>
      (await screen()).includes("Pending approvals (2)") ? true : undefined,
    );
    const shown = await screen();
    expect(shown).toContain("first");
    expect(shown).toContain("second");
    expect(shown).toContain("agent:janitor");

    // The selected row is the first listed; approve it.
    const firstListed = shown.indexOf("first") < shown.indexOf("second") ? first : second;
    const other = firstListed === first ? second : first;
    await tmux("send-keys", "-t", SESSION, "a");
    await waitFor("the approval to be decided", async () =>
      (await screen()).includes(`approved ${firstListed.body.id}`) ? true : undefined,
    );
    expect(await screen()).toContain("Pending approvals (1)");
    const approved = (await p.json<RunJson>(["workflow", "show", firstListed.body.id])).body;
    expect(approved.status).toBe("COMPLETED");
    const victim = firstListed === first ? "one.txt" : "two.txt";
    expect(existsSync(join(p.ws, victim))).toBe(false);

    await tmux("send-keys", "-t", SESSION, "r");
    await waitFor("the other to be rejected", async () =>
      (await screen()).includes(`rejected ${other.body.id}`) ? true : undefined,
    );
    const rejected = (await p.json<RunJson>(["workflow", "show", other.body.id])).body;
    expect(rejected.status).toBe("ROLLED_BACK");
    const otherName = other === first ? "first" : "second";
    expect(existsSync(join(p.ws, `${otherName}-note.txt`))).toBe(false);
    expect(await screen()).toContain("Pending approvals (0)");

    await tmux("send-keys", "-t", SESSION, "q");
    await waitFor("the dashboard to quit", async () =>
      (await tmux("has-session", "-t", SESSION).then(
        () => false,
        () => true,
      ))
        ? true
        : undefined,
    );
  }, 90_000);

  it("shows the engine's refusal when the requester tries to approve its own request", async () => {
    const p = project(root.path, {
      policy: SRE_APPROVAL_POLICY,
      config: SRE_PRINCIPALS,
      files: {
        "ws/one.txt": "1",
        "mine.yaml": CLEANUP("mine", "one.txt", "user:alice"),
      },
    });
    const mine = await p.json<RunJson>(["run", "mine.yaml"]);
    expect(mine.code).toBe(5);
    await openDashboard(p.dir);
    await waitFor("the approval on screen", async () =>
      (await screen()).includes("Pending approvals (1)") ? true : undefined,
    );
    await tmux("send-keys", "-t", SESSION, "a");
    await waitFor("the refusal", async () =>
      (await screen()).includes("refused: SELF_APPROVAL") ? true : undefined,
    );
    expect(existsSync(join(p.ws, "one.txt"))).toBe(true);
    await tmux("send-keys", "-t", SESSION, "q");
  }, 90_000);
});
