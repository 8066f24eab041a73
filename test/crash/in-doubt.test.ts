/**
 * SPEC §9: an in-flight step that is not idempotent and cannot be reconciled is never guessed
 * about: after a kill -9, `airun recover` undoes what is known and ends the run FAILED with
 * reason IN_DOUBT, leaving the uncertain effect for a human.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { background, waitFor } from "../e2e/project.js";
import { airun } from "../support/cli.js";

const root = mkdtempSync(join(tmpdir(), "airun-doubt-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("in-doubt recovery", () => {
  it("ends FAILED/IN_DOUBT after undoing known effects when an unreconcilable step was in flight", async () => {
    const dir = join(root, "p");
    mkdirSync(join(dir, "ws"), { recursive: true });
    const plugin = resolve("test/fixtures/plugins-engine/slow-mark.mjs");
    writeFileSync(
      join(dir, "airun.yaml"),
      `home: home\nsandbox:\n  fs: { roots: [ws] }\nplugins: ["${plugin}"]\n`,
    );
    writeFileSync(
      join(dir, "wf.yaml"),
      `name: doubt\nversion: 1\nsteps:\n  - id: note\n    capability: io.fs.write_file\n    inputs: { path: note.txt, content: written }\n  - id: mark\n    capability: demo.marks.add\n    depends_on: [note]\n    inputs: { mark: X, pause_ms: 5000 }\n`,
    );
    // Killed once the unreconcilable step is in flight (its intent committed), not on a timer:
    // a loaded machine must not turn this into a kill before the step started.
    expect((await airun(["workflow", "list"], { cwd: dir })).code).toBe(0);
    const run = background(["run", "wf.yaml"], dir);
    await waitFor("the mark step to be in flight", async () => {
      const list = await airun(["workflow", "list", "--json"], { cwd: dir });
      const id = (JSON.parse(list.stdout) as { runs: { id: string }[] }).runs[0]?.id;
      if (!id) return undefined;
      const view = JSON.parse(
        (await airun(["workflow", "show", id, "--json"], { cwd: dir })).stdout,
      );
      return view.steps.find((s: { id: string }) => s.id === "mark")?.status === "RUNNING"
        ? true
        : undefined;
    });
    run.kill();
    expect((await run.done).signal).toBe("SIGKILL");
    expect(existsSync(join(dir, "ws", "note.txt"))).toBe(true);
    const rec = await airun(["recover", "--json"], { cwd: dir });
    expect(rec.code, rec.stderr).toBe(0);
    const list = JSON.parse((await airun(["workflow", "list", "--json"], { cwd: dir })).stdout);
    const show = await airun(["workflow", "show", list.runs[0].id, "--json"], { cwd: dir });
    expect(show.code).toBe(6);
    const view = JSON.parse(show.stdout);
    expect(view.status).toBe("FAILED");
    expect(view.reason).toBe("IN_DOUBT");
    // The known effect was undone; the in-doubt one is left for a human.
    expect(existsSync(join(dir, "ws", "note.txt"))).toBe(false);
    expect(view.steps.find((s: { id: string }) => s.id === "mark").status).toBe("FAILED");
    // (It was in fact killed mid-pause: the mark was never written, but nothing could know.)
    expect(existsSync(join(dir, "ws", "marks.txt"))).toBe(false);
  }, 60_000);
});
