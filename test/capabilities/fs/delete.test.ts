/** @module `io.fs.delete`: file and tree deletion, byte-exact restore from the before-image, drift, reconcile. */
import { chmod, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deletePath } from "../../../src/capabilities/fs/delete.js";
import { DriftError } from "../../../src/core/errors.js";
import {
  BINARY,
  type FsEnv,
  makeContext,
  makeEnv,
  modeOf,
  prepareStep,
  present,
  reconcileStep,
  revertStep,
  runStep,
  snapshot,
} from "./helpers.js";

let env: FsEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(() => env.cleanup());

const p = (rel: string) => path.join(env.root, rel);

async function makeTree(): Promise<void> {
  await mkdir(p("tree/a/b"), { recursive: true });
  await mkdir(p("tree/empty"));
  await writeFile(p("tree/a/bin"), BINARY);
  await writeFile(p("tree/a/b/text.txt"), "hello");
  await writeFile(p("tree/a/b/dup.txt"), "hello");
  await chmod(p("tree/a/b/text.txt"), 0o600);
  await chmod(p("tree/a/b"), 0o750);
  await symlink("a/bin", p("tree/inner-link"));
  await symlink(path.join(env.outside, "nowhere"), p("tree/dangling-out"));
}

describe("io.fs.delete", () => {
  it("is HIGH risk", () => {
    expect(deletePath.risk).toBe("HIGH");
  });

  it("deletes a file and undo restores its bytes and mode exactly", async () => {
    await writeFile(p("f.bin"), BINARY);
    await chmod(p("f.bin"), 0o604);
    const { output, plan } = await runStep(deletePath, { path: "f.bin" }, env.ctx);
    expect(output).toEqual({ path: p("f.bin"), type: "file", bytes: BINARY.length });
    expect(await present(p("f.bin"))).toBe(false);
    await revertStep(deletePath, plan, env.ctx);
    expect(Buffer.compare(await readFile(p("f.bin")), BINARY)).toBe(0);
    expect(await modeOf(p("f.bin"))).toBe(0o604);
  });

  it("deletes a directory tree and undo restores every file, mode and symlink (never followed)", async () => {
    await makeTree();
    const before = await snapshot(p("tree"));
    const { output, plan } = await runStep(deletePath, { path: "tree", recursive: true }, env.ctx);
    expect(output.type).toBe("dir");
    expect(await present(p("tree"))).toBe(false);
    await revertStep(deletePath, plan, env.ctx);
    expect(await snapshot(p("tree"))).toEqual(before);
    expect(await present(path.join(env.outside, "nowhere"))).toBe(false);
  });

  it("refuses a non-empty directory without recursive, before any effect", async () => {
    await makeTree();
    await expect(prepareStep(deletePath, { path: "tree" }, env.ctx)).rejects.toMatchObject({
      code: "FS_NOT_EMPTY",
    });
    expect(await present(p("tree/a/bin"))).toBe(true);
  });

  it("refuses in prepare when the tree exceeds maxBeforeImageBytes", async () => {
    await makeTree();
    const ctx = makeContext([env.root], { maxBeforeImageBytes: 8 });
    await expect(
      prepareStep(deletePath, { path: "tree", recursive: true }, ctx),
    ).rejects.toMatchObject({
      code: "FS_TOO_LARGE",
    });
  });

  it("a missing path is FS_NOT_FOUND", async () => {
    await expect(runStep(deletePath, { path: "ghost" }, env.ctx)).rejects.toMatchObject({
      code: "FS_NOT_FOUND",
    });
  });

  it("refuses to restore over something created at the path since; force replaces it", async () => {
    await writeFile(p("f"), "original");
    const { plan } = await runStep(deletePath, { path: "f" }, env.ctx);
    await writeFile(p("f"), "new file by a person");
    await expect(revertStep(deletePath, plan, env.ctx)).rejects.toBeInstanceOf(DriftError);
    expect(await readFile(p("f"), "utf8")).toBe("new file by a person");
    await revertStep(deletePath, plan, env.ctx, true);
    expect(await readFile(p("f"), "utf8")).toBe("original");
  });

  it("reverting twice is a no-op the second time", async () => {
    await makeTree();
    const before = await snapshot(p("tree"));
    const { plan } = await runStep(deletePath, { path: "tree", recursive: true }, env.ctx);
    await revertStep(deletePath, plan, env.ctx);
    await revertStep(deletePath, plan, env.ctx);
    expect(await snapshot(p("tree"))).toEqual(before);
  });

  it("reconcile tells not_applied, applied and unknown apart", async () => {
    await writeFile(p("f"), "x");
    const input = { path: "f" };
    const plan = await prepareStep(deletePath, input, env.ctx);
    expect(await reconcileStep(deletePath, input, plan, env.ctx)).toBe("not_applied");
    await deletePath.execute(deletePath.input.parse(input), env.ctx);
    expect(await reconcileStep(deletePath, input, plan, env.ctx)).toBe("applied");
    await writeFile(p("f"), "y");
    expect(await reconcileStep(deletePath, input, plan, env.ctx)).toBe("unknown");
  });

  it("leaves no trash behind after a recursive delete", async () => {
    await makeTree();
    await runStep(deletePath, { path: "tree", recursive: true }, env.ctx);
    expect(await snapshot(env.root)).toEqual({});
  });
});
