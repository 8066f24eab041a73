/** @module `io.fs.make_dir`: undo removes exactly the directories it created, only while empty. */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeDir } from "../../../src/capabilities/fs/make-dir.js";
import { DriftError } from "../../../src/core/errors.js";
import {
  type FsEnv,
  makeEnv,
  prepareStep,
  present,
  reconcileStep,
  revertStep,
  runStep,
} from "./helpers.js";

let env: FsEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(() => env.cleanup());

describe("io.fs.make_dir", () => {
  it("creates missing parents, reports exactly what it created, and undo removes only those", async () => {
    await mkdir(path.join(env.root, "existing"));
    await writeFile(path.join(env.root, "existing", "keep.txt"), "keep");
    const { output, plan } = await runStep(makeDir, { path: "existing/a/b" }, env.ctx);
    expect(output.created).toEqual([
      path.join(env.root, "existing", "a"),
      path.join(env.root, "existing", "a", "b"),
    ]);
    await revertStep(makeDir, plan, env.ctx);
    expect(await readdir(path.join(env.root, "existing"))).toEqual(["keep.txt"]);
  });

  it("an existing directory is fine and its undo removes nothing", async () => {
    await mkdir(path.join(env.root, "there"));
    const { output, plan } = await runStep(makeDir, { path: "there" }, env.ctx);
    expect(output.created).toEqual([]);
    await revertStep(makeDir, plan, env.ctx);
    expect(await present(path.join(env.root, "there"))).toBe(true);
  });

  it("refuses to remove a created directory that is no longer empty; force removes it", async () => {
    const { plan } = await runStep(makeDir, { path: "x/y" }, env.ctx);
    await writeFile(path.join(env.root, "x", "y", "user.txt"), "mine");
    await expect(revertStep(makeDir, plan, env.ctx)).rejects.toBeInstanceOf(DriftError);
    // Nothing was removed, not even the directories that were still removable.
    expect(await present(path.join(env.root, "x", "y", "user.txt"))).toBe(true);
    await revertStep(makeDir, plan, env.ctx, true);
    expect(await present(path.join(env.root, "x"))).toBe(false);
  });

  it("refuses when a sibling appeared in a created parent", async () => {
    const { plan } = await runStep(makeDir, { path: "p/q" }, env.ctx);
    await writeFile(path.join(env.root, "p", "other.txt"), "other");
    await expect(revertStep(makeDir, plan, env.ctx)).rejects.toBeInstanceOf(DriftError);
    expect(await present(path.join(env.root, "p", "q"))).toBe(true);
  });

  it("reverting twice is a no-op the second time", async () => {
    const { plan } = await runStep(makeDir, { path: "m/n" }, env.ctx);
    await revertStep(makeDir, plan, env.ctx);
    await revertStep(makeDir, plan, env.ctx);
    expect(await present(path.join(env.root, "m"))).toBe(false);
  });

  it("refuses a path whose parent is a file", async () => {
    await writeFile(path.join(env.root, "f"), "x");
    await expect(runStep(makeDir, { path: "f/d" }, env.ctx)).rejects.toMatchObject({
      code: "FS_NOT_DIR",
    });
  });

  it("reconcile tells not_applied, applied and unknown (partial) apart", async () => {
    const input = { path: "r/s" };
    const plan = await prepareStep(makeDir, input, env.ctx);
    expect(await reconcileStep(makeDir, input, plan, env.ctx)).toBe("not_applied");
    await mkdir(path.join(env.root, "r"));
    expect(await reconcileStep(makeDir, input, plan, env.ctx)).toBe("unknown");
    await makeDir.execute(makeDir.input.parse(input), env.ctx);
    expect(await reconcileStep(makeDir, input, plan, env.ctx)).toBe("applied");
  });
});
