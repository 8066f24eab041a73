/**
 * @module Creating, renaming and removing through directory descriptors (`DirFd`): the
 * check-then-use race of issue 13 (finding 9), made deterministic. A folder is checked, then
 * swapped for a symlink to a folder outside the root (or moved out), then used: nothing may
 * be created, changed or removed outside the root.
 */
import { closeSync, constants } from "node:fs";
import { mkdir, readdir, readFile, rename, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirFd, THROUGH_DESCRIPTOR } from "../../../src/capabilities/fs/fs-dirfd.js";
import { createDirs, missingDirs } from "../../../src/capabilities/fs/fs-dirs.js";
import { copyFileAtomic, writeFileAtomic } from "../../../src/capabilities/fs/fs-io.js";
import { sandboxFor } from "../../../src/capabilities/fs/fs-plan.js";
import { removeNode } from "../../../src/capabilities/fs/fs-state.js";
import type { FsSandbox } from "../../../src/capabilities/fs/sandbox.js";
import { type FsEnv, makeEnv, snapshot } from "./helpers.js";

let env: FsEnv;
let sb: FsSandbox;
beforeEach(async () => {
  env = await makeEnv();
  sb = await sandboxFor(env.ctx);
  await mkdir(path.join(env.root, "d"));
  await writeFile(path.join(env.outside, "x.txt"), "outside");
});
afterEach(() => env.cleanup());

const d = () => path.join(env.root, "d");
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;

/** Replaces the folder `d` by a symlink to the outside folder (the folder stays as `d.old`). */
async function swapOut(): Promise<void> {
  await rename(d(), path.join(env.root, "d.old"));
  await symlink(env.outside, d());
}

describe.skipIf(!THROUGH_DESCRIPTOR)("DirFd", () => {
  it("creates, renames, links and removes in the folder it opened, even after that folder's path was swapped for a symlink outside", async () => {
    const outside = await snapshot(env.outside);
    const dir = DirFd.open(sb, d());
    try {
      await swapOut();
      dir.mkdir("m");
      closeSync(dir.openFile("f.tmp", CREATE, 0o666));
      dir.rename("f.tmp", dir, "x.txt");
      dir.link("x.txt", dir, "y.txt");
      dir.unlink("y.txt");
      dir.symlink("target", "sl");
      expect((await dir.readdir()).sort()).toEqual(["m", "sl", "x.txt"]);
      await dir.removeTree("m");
    } finally {
      dir.close();
    }
    expect((await readdir(path.join(env.root, "d.old"))).sort()).toEqual(["sl", "x.txt"]);
    expect(await snapshot(env.outside)).toEqual(outside);
  });

  it("refuses to open a folder replaced by a symlink (FS_PATH_CHANGED) or reached outside through one (SandboxError)", async () => {
    await mkdir(path.join(env.root, "a", "b"), { recursive: true });
    await mkdir(path.join(env.outside, "b"));
    await swapOut();
    expect(() => DirFd.open(sb, d())).toThrow(expect.objectContaining({ code: "FS_PATH_CHANGED" }));
    await rename(path.join(env.root, "a"), path.join(env.root, "a.old"));
    await symlink(env.outside, path.join(env.root, "a"));
    expect(() => DirFd.open(sb, path.join(env.root, "a", "b"))).toThrow(
      expect.objectContaining({ code: "SANDBOX_VIOLATION" }),
    );
  });

  it("removes a tree without following a subfolder that is a symlink to outside", async () => {
    await mkdir(path.join(d(), "t", "deep"), { recursive: true });
    await writeFile(path.join(d(), "t", "deep", "f"), "inside");
    await symlink(env.outside, path.join(d(), "t", "deep", "out"));
    await symlink(env.outside, path.join(d(), "t", "out2"));
    const outside = await snapshot(env.outside);
    await removeNode(sb, path.join(d(), "t"));
    expect(await readdir(d())).toEqual([]);
    expect(await snapshot(env.outside)).toEqual(outside);
  });

  it("a folder moved out of the root while a file is created in it: what was created is removed and the call fails", async () => {
    const dir = DirFd.open(sb, d());
    try {
      closeSync(dir.openFile("new.txt", CREATE, 0o666));
      await rename(d(), path.join(env.outside, "moved"));
      await expect(dir.ensureInside(sb, () => dir.unlink("new.txt"))).rejects.toMatchObject({
        code: "SANDBOX_VIOLATION",
      });
    } finally {
      dir.close();
    }
    expect(await readdir(path.join(env.outside, "moved"))).toEqual([]);
  });

  it("system errors name the folder's real path, never /proc/self/fd", async () => {
    const dir = DirFd.open(sb, d());
    try {
      let message = "";
      try {
        dir.unlink("missing.txt");
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toContain(path.join(d(), "missing.txt"));
      expect(message).not.toContain("/proc/self/fd");
    } finally {
      dir.close();
    }
  });
});

describe.skipIf(!THROUGH_DESCRIPTOR)(
  "a folder swapped for a symlink outside between the check and the call",
  () => {
    it("writeFileAtomic refuses and leaves no temp file anywhere", async () => {
      const target = await sb.resolveWithStats("d/x.txt");
      await swapOut();
      const outside = await snapshot(env.outside);
      await expect(
        writeFileAtomic(sb, target.path, Buffer.from("pwned"), null),
      ).rejects.toMatchObject({ code: "FS_PATH_CHANGED" });
      expect(await snapshot(env.outside)).toEqual(outside);
      expect(await readFile(path.join(env.outside, "x.txt"), "utf8")).toBe("outside");
    });

    it("writeFileAtomic through a swapped intermediate folder is a SandboxError, outside untouched", async () => {
      await mkdir(path.join(d(), "sub"));
      await mkdir(path.join(env.outside, "sub"));
      const target = await sb.resolveWithStats("d/sub/x.txt");
      await swapOut();
      const outside = await snapshot(env.outside);
      await expect(
        writeFileAtomic(sb, target.path, Buffer.from("pwned"), null),
      ).rejects.toMatchObject({ code: "SANDBOX_VIOLATION" });
      expect(await snapshot(env.outside)).toEqual(outside);
    });

    it("copyFileAtomic refuses, outside untouched", async () => {
      await writeFile(path.join(env.root, "src.txt"), "inside");
      const to = await sb.resolve("d/x.txt");
      await swapOut();
      const outside = await snapshot(env.outside);
      await expect(
        copyFileAtomic(sb, path.join(env.root, "src.txt"), to.path, true),
      ).rejects.toMatchObject({ code: "FS_PATH_CHANGED" });
      expect(await snapshot(env.outside)).toEqual(outside);
    });

    it("createDirs creates nothing outside: the chain starts at the checked folder", async () => {
      const missing = await missingDirs(sb, path.join(d(), "m", "n"));
      expect(missing).toEqual([path.join(d(), "m"), path.join(d(), "m", "n")]);
      await swapOut();
      const outside = await snapshot(env.outside);
      await expect(createDirs(sb, missing)).rejects.toMatchObject({ code: "FS_PATH_CHANGED" });
      expect(await snapshot(env.outside)).toEqual(outside);
    });

    it("createDirs of a deeper chain whose first missing folder's parent is swapped: SandboxError, nothing created", async () => {
      await mkdir(path.join(d(), "p"));
      await mkdir(path.join(env.outside, "p"));
      const missing = await missingDirs(sb, path.join(d(), "p", "m", "n"));
      await swapOut();
      const outside = await snapshot(env.outside);
      await expect(createDirs(sb, missing)).rejects.toMatchObject({ code: "SANDBOX_VIOLATION" });
      expect(await snapshot(env.outside)).toEqual(outside);
    });

    it("removeNode refuses to remove through the swapped folder", async () => {
      await writeFile(path.join(d(), "x.txt"), "inside");
      await swapOut();
      await expect(removeNode(sb, path.join(d(), "x.txt"))).rejects.toMatchObject({
        code: "FS_PATH_CHANGED",
      });
      expect(await readFile(path.join(env.outside, "x.txt"), "utf8")).toBe("outside");
    });
  },
);
