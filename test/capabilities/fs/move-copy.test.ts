/** @module `io.fs.move` and `io.fs.copy`: effects, overwrite undo, drift refusal, revert twice, reconcile. */
import { chmod, link, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { copy } from "../../../src/capabilities/fs/copy.js";
import { move } from "../../../src/capabilities/fs/move.js";
import { DriftError } from "../../../src/core/errors.js";
import { sha256Hex } from "../../../src/core/hash.js";
import {
  BINARY,
  type FsEnv,
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

describe("io.fs.move", () => {
  it("moves a file and undo moves it back", async () => {
    await writeFile(p("a.bin"), BINARY);
    const { output, plan } = await runStep(move, { from: "a.bin", to: "b.bin" }, env.ctx);
    expect(output).toEqual({
      from: p("a.bin"),
      to: p("b.bin"),
      type: "file",
      sha256: sha256Hex(BINARY),
    });
    expect(await present(p("a.bin"))).toBe(false);
    await revertStep(move, plan, env.ctx);
    expect(Buffer.compare(await readFile(p("a.bin")), BINARY)).toBe(0);
    expect(await present(p("b.bin"))).toBe(false);
  });

  it("refuses to overwrite unless asked, before any effect", async () => {
    await writeFile(p("a"), "a");
    await writeFile(p("b"), "b");
    await expect(runStep(move, { from: "a", to: "b" }, env.ctx)).rejects.toMatchObject({
      code: "FS_EXISTS",
    });
    expect(await readFile(p("b"), "utf8")).toBe("b");
  });

  it("overwrite then undo restores the overwritten target's bytes and mode", async () => {
    await writeFile(p("src"), "moved content");
    await writeFile(p("dst"), BINARY);
    await chmod(p("dst"), 0o600);
    const { plan } = await runStep(move, { from: "src", to: "dst", overwrite: true }, env.ctx);
    expect(await readFile(p("dst"), "utf8")).toBe("moved content");
    await revertStep(move, plan, env.ctx);
    expect(await readFile(p("src"), "utf8")).toBe("moved content");
    expect(Buffer.compare(await readFile(p("dst")), BINARY)).toBe(0);
    expect(await modeOf(p("dst"))).toBe(0o600);
  });

  it("moves a directory tree and undo moves it back intact", async () => {
    await mkdir(p("tree/sub"), { recursive: true });
    await writeFile(p("tree/sub/f"), BINARY);
    await symlink("sub/f", p("tree/link"));
    const before = await snapshot(p("tree"));
    const { plan } = await runStep(move, { from: "tree", to: "moved" }, env.ctx);
    await revertStep(move, plan, env.ctx);
    expect(await snapshot(p("tree"))).toEqual(before);
    expect(await present(p("moved"))).toBe(false);
  });

  it("refuses to move back a file changed since; force moves it back anyway", async () => {
    await writeFile(p("a"), "a");
    const { plan } = await runStep(move, { from: "a", to: "b" }, env.ctx);
    await writeFile(p("b"), "changed");
    await expect(revertStep(move, plan, env.ctx)).rejects.toBeInstanceOf(DriftError);
    expect(await readFile(p("b"), "utf8")).toBe("changed");
    expect(await present(p("a"))).toBe(false);
    await revertStep(move, plan, env.ctx, true);
    expect(await readFile(p("a"), "utf8")).toBe("changed");
  });

  it("reverting twice is a no-op the second time (also after overwrite)", async () => {
    await writeFile(p("a"), "a");
    await writeFile(p("b"), "b");
    const { plan } = await runStep(move, { from: "a", to: "b", overwrite: true }, env.ctx);
    await revertStep(move, plan, env.ctx);
    await revertStep(move, plan, env.ctx);
    expect(await readFile(p("a"), "utf8")).toBe("a");
    expect(await readFile(p("b"), "utf8")).toBe("b");
  });

  it("a revert interrupted after moving back finishes by restoring the overwritten target", async () => {
    await writeFile(p("a"), "a");
    await writeFile(p("b"), "b");
    const { plan } = await runStep(move, { from: "a", to: "b", overwrite: true }, env.ctx);
    const { rename } = await import("node:fs/promises");
    await rename(p("b"), p("a")); // the first half of a revert, then a crash
    await revertStep(move, plan, env.ctx);
    expect(await readFile(p("a"), "utf8")).toBe("a");
    expect(await readFile(p("b"), "utf8")).toBe("b");
  });

  it("reconcile tells not_applied, applied and unknown apart", async () => {
    await writeFile(p("a"), "a");
    const input = { from: "a", to: "b" };
    const plan = await prepareStep(move, input, env.ctx);
    expect(await reconcileStep(move, input, plan, env.ctx)).toBe("not_applied");
    await move.execute(move.input.parse(input), env.ctx);
    expect(await reconcileStep(move, input, plan, env.ctx)).toBe("applied");
    await writeFile(p("a"), "again");
    expect(await reconcileStep(move, input, plan, env.ctx)).toBe("unknown");
  });

  it("finishes a no-clobber move killed between its link and unlink: applied, then undo moves it back", async () => {
    await writeFile(p("a"), "payload");
    const input = { from: "a", to: "b" };
    const plan = await prepareStep(move, input, env.ctx);
    // The state a SIGKILL between link(a, b) and unlink(a) leaves: one file under both names.
    await link(p("a"), p("b"));
    expect(await reconcileStep(move, input, plan, env.ctx)).toBe("applied");
    expect(await present(p("a"))).toBe(false);
    expect(await readFile(p("b"), "utf8")).toBe("payload");
    await revertStep(move, plan, env.ctx);
    expect(await readFile(p("a"), "utf8")).toBe("payload");
    expect(await present(p("b"))).toBe(false);
  });

  it("does not mistake a different file at the destination for an interrupted move", async () => {
    await writeFile(p("a"), "payload");
    const input = { from: "a", to: "b" };
    const plan = await prepareStep(move, input, env.ctx);
    await writeFile(p("b"), "payload");
    expect(await reconcileStep(move, input, plan, env.ctx)).toBe("unknown");
    expect(await readFile(p("a"), "utf8")).toBe("payload");
  });
});

describe("io.fs.copy", () => {
  it("copies a file with its mode and undo removes the copy", async () => {
    await writeFile(p("a.bin"), BINARY);
    await chmod(p("a.bin"), 0o750);
    const { output, plan } = await runStep(copy, { from: "a.bin", to: "b.bin" }, env.ctx);
    expect(output).toEqual({
      from: p("a.bin"),
      to: p("b.bin"),
      type: "file",
      sha256: sha256Hex(BINARY),
    });
    expect(Buffer.compare(await readFile(p("b.bin")), BINARY)).toBe(0);
    expect(await modeOf(p("b.bin"))).toBe(0o750);
    await revertStep(copy, plan, env.ctx);
    expect(await present(p("b.bin"))).toBe(false);
    expect(await present(p("a.bin"))).toBe(true);
  });

  it("overwrite then undo restores the overwritten target's bytes and mode", async () => {
    await writeFile(p("src"), "new");
    await writeFile(p("dst"), BINARY);
    await chmod(p("dst"), 0o604);
    const { plan } = await runStep(copy, { from: "src", to: "dst", overwrite: true }, env.ctx);
    expect(await readFile(p("dst"), "utf8")).toBe("new");
    await revertStep(copy, plan, env.ctx);
    expect(Buffer.compare(await readFile(p("dst")), BINARY)).toBe(0);
    expect(await modeOf(p("dst"))).toBe(0o604);
  });

  it("copies a directory tree (symlinks as symlinks) and undo removes the copy", async () => {
    await mkdir(p("tree/sub"), { recursive: true });
    await writeFile(p("tree/sub/f"), BINARY);
    await chmod(p("tree/sub"), 0o750);
    await symlink("sub/f", p("tree/link"));
    const { output, plan } = await runStep(copy, { from: "tree", to: "copy" }, env.ctx);
    expect(output.type).toBe("dir");
    expect(await snapshot(p("copy"))).toEqual(await snapshot(p("tree")));
    await revertStep(copy, plan, env.ctx);
    expect(await present(p("copy"))).toBe(false);
  });

  it("refuses to remove a copy changed since; force removes it", async () => {
    await writeFile(p("a"), "a");
    const { plan } = await runStep(copy, { from: "a", to: "b" }, env.ctx);
    await writeFile(p("b"), "edited");
    await expect(revertStep(copy, plan, env.ctx)).rejects.toBeInstanceOf(DriftError);
    expect(await readFile(p("b"), "utf8")).toBe("edited");
    await revertStep(copy, plan, env.ctx, true);
    expect(await present(p("b"))).toBe(false);
  });

  it("reverting twice is a no-op the second time", async () => {
    await writeFile(p("a"), "a");
    await writeFile(p("b"), "b");
    const { plan } = await runStep(copy, { from: "a", to: "b", overwrite: true }, env.ctx);
    await revertStep(copy, plan, env.ctx);
    await revertStep(copy, plan, env.ctx);
    expect(await readFile(p("b"), "utf8")).toBe("b");
  });

  it("reconcile tells not_applied, applied and unknown apart", async () => {
    await writeFile(p("a"), "a");
    const input = { from: "a", to: "b" };
    const plan = await prepareStep(copy, input, env.ctx);
    expect(await reconcileStep(copy, input, plan, env.ctx)).toBe("not_applied");
    await copy.execute(copy.input.parse(input), env.ctx);
    expect(await reconcileStep(copy, input, plan, env.ctx)).toBe("applied");
    await writeFile(p("b"), "other");
    expect(await reconcileStep(copy, input, plan, env.ctx)).toBe("unknown");
  });
});
