/** @module The filesystem sandbox: every escape refused with `SandboxError`, nothing outside changed. */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appendFile } from "../../../src/capabilities/fs/append-file.js";
import { copy } from "../../../src/capabilities/fs/copy.js";
import { deletePath } from "../../../src/capabilities/fs/delete.js";
import { exists } from "../../../src/capabilities/fs/exists.js";
import { listDir } from "../../../src/capabilities/fs/list-dir.js";
import { makeDir } from "../../../src/capabilities/fs/make-dir.js";
import { move } from "../../../src/capabilities/fs/move.js";
import { readFile } from "../../../src/capabilities/fs/read-file.js";
import { FsSandbox, isWithin } from "../../../src/capabilities/fs/sandbox.js";
import { writeFile as writeFileCap } from "../../../src/capabilities/fs/write-file.js";
import type { AnyCapability } from "../../../src/core/capability.js";
import { SandboxError } from "../../../src/core/errors.js";
import { type FsEnv, makeContext, makeEnv, present, runStep, snapshot } from "./helpers.js";

let env: FsEnv;
beforeEach(async () => {
  env = await makeEnv();
  await writeFile(path.join(env.evil, "x"), "evil-original");
  await writeFile(path.join(env.outside, "secret.txt"), "top secret");
  await mkdir(path.join(env.root, "sub"));
  await writeFile(path.join(env.root, "sub", "inside.txt"), "inside");
  await symlink(path.join(env.outside, "secret.txt"), path.join(env.root, "link-file-out"));
  await symlink(env.outside, path.join(env.root, "link-dir-out"));
  await symlink("../outside", path.join(env.root, "link-rel-out"));
  await symlink(
    path.join(env.outside, "created-by-escape.txt"),
    path.join(env.root, "dangling-out"),
  );
  await symlink("sub/inside.txt", path.join(env.root, "link-in"));
  await symlink("sub", path.join(env.root, "link-dir-in"));
});
afterEach(() => env.cleanup());

/** Every escape the sandbox must refuse: [description, path in the env]. */
const ESCAPES: Array<[string, (e: FsEnv) => string]> = [
  ["../sibling with a prefix of the root's name", () => "../ws_evil/x"],
  ["a sibling-prefix directory given absolutely", (e) => path.join(e.evil, "x")],
  ["an absolute path outside every root", (e) => path.join(e.outside, "secret.txt")],
  ["a `..` walk that climbs out and back into a lookalike", () => "sub/../../ws_evil/x"],
  ["a symlink to a file outside", () => "link-file-out"],
  [
    "a symlink to a directory outside, as an intermediate component",
    () => "link-dir-out/secret.txt",
  ],
  ["a relative symlink climbing outside", () => "link-rel-out/secret.txt"],
  ["a dangling symlink pointing outside", () => "dangling-out"],
  ["a new file below a symlinked outside directory", () => "link-dir-out/new.txt"],
];

function escapes(): Array<[string, string]> {
  return ESCAPES.map(([why, p]) => [why, p(env)]);
}

const writers: Array<[string, AnyCapability, (p: string) => unknown]> = [
  ["io.fs.write_file", writeFileCap, (p) => ({ path: p, content: "pwned" })],
  ["io.fs.append_file", appendFile, (p) => ({ path: p, content: "pwned" })],
  ["io.fs.make_dir", makeDir, (p) => ({ path: `${p}/d` })],
  ["io.fs.delete", deletePath, (p) => ({ path: p, recursive: true })],
  ["io.fs.move (from)", move, (p) => ({ from: p, to: "moved", overwrite: true })],
  ["io.fs.move (to)", move, (p) => ({ from: "sub/inside.txt", to: p, overwrite: true })],
  ["io.fs.copy (to)", copy, (p) => ({ from: "sub/inside.txt", to: p, overwrite: true })],
  ["io.fs.copy (from)", copy, (p) => ({ from: p, to: "copied", overwrite: true })],
];

describe("sandbox escape matrix", () => {
  it("isWithin compares whole path components, not string prefixes", () => {
    expect(isWithin("/x/ws", "/x/ws")).toBe(true);
    expect(isWithin("/x/ws", "/x/ws/a")).toBe(true);
    expect(isWithin("/x/ws", "/x/ws_evil")).toBe(false);
    expect(isWithin("/x/ws", "/x/ws_evil/a")).toBe(false);
    expect(isWithin("/x/ws", "/x")).toBe(false);
    expect(isWithin("/", "/anything")).toBe(true);
  });

  it.each(ESCAPES)("resolve refuses %s", async (_why, p) => {
    const sb = await FsSandbox.create([env.root]);
    await expect(sb.resolve(p(env))).rejects.toBeInstanceOf(SandboxError);
  });

  for (const [name, cap, input] of writers) {
    it(`${name} refuses every escape with SandboxError and changes nothing outside the root`, async () => {
      const before = await snapshot(env.base);
      for (const [why, p] of escapes()) {
        // `delete`/`move` do not follow a final symlink: removing or replacing the link itself
        // is not an escape, so only paths that reach outside through a directory apply there.
        const nofollow = name.startsWith("io.fs.delete") || name.startsWith("io.fs.move");
        if (nofollow && !p.includes("/")) continue;
        await expect(runStep(cap, input(p), env.ctx), `${name}: ${why}`).rejects.toBeInstanceOf(
          SandboxError,
        );
      }
      const after = await snapshot(env.base);
      expect(after).toEqual(before);
      expect(await present(path.join(env.outside, "created-by-escape.txt"))).toBe(false);
    });
  }

  it("read capabilities refuse every escape too (outside is an error, never `false`)", async () => {
    for (const [, p] of escapes()) {
      await expect(runStep(readFile, { path: p }, env.ctx)).rejects.toBeInstanceOf(SandboxError);
      await expect(runStep(exists, { path: p }, env.ctx)).rejects.toBeInstanceOf(SandboxError);
    }
    await expect(runStep(listDir, { path: "link-dir-out" }, env.ctx)).rejects.toBeInstanceOf(
      SandboxError,
    );
  });

  it("deleting a symlink that points outside removes the link, never its target", async () => {
    await runStep(deletePath, { path: "link-file-out" }, env.ctx);
    expect(await present(path.join(env.root, "link-file-out"))).toBe(false);
    expect(await present(path.join(env.outside, "secret.txt"))).toBe(true);
  });

  it("a symlink that stays inside the root is followed", async () => {
    const { output } = await runStep(readFile, { path: "link-in" }, env.ctx);
    expect(output.content).toBe("inside");
    expect(output.path).toBe(path.join(env.root, "sub", "inside.txt"));
    const listed = await runStep(listDir, { path: "link-dir-in" }, env.ctx);
    expect(listed.output.path).toBe(path.join(env.root, "sub"));
    await runStep(writeFileCap, { path: "link-dir-in/new.txt", content: "n" }, env.ctx);
    expect(await present(path.join(env.root, "sub", "new.txt"))).toBe(true);
  });

  it("absolute paths inside the root and relative paths resolve to the same canonical path", async () => {
    const sb = await FsSandbox.create([env.root]);
    const a = await sb.resolve(path.join(env.root, "sub", "inside.txt"));
    const b = await sb.resolve("./sub/../sub/inside.txt");
    expect(a).toEqual(b);
    expect(a).toEqual({
      path: path.join(env.root, "sub", "inside.txt"),
      root: env.root,
      exists: true,
    });
  });

  it("a root configured through a symlink is canonicalized and still confines", async () => {
    const alias = path.join(env.base, "ws-alias");
    await symlink(env.root, alias);
    const ctx = makeContext([alias]);
    const { output } = await runStep(readFile, { path: path.join(alias, "sub/inside.txt") }, ctx);
    expect(output.path).toBe(path.join(env.root, "sub", "inside.txt"));
    await expect(runStep(readFile, { path: "../ws_evil/x" }, ctx)).rejects.toBeInstanceOf(
      SandboxError,
    );
  });

  it("a relative symlink using `..` inside the root resolves like the kernel would", async () => {
    await mkdir(path.join(env.root, "other"));
    await symlink("../sub/inside.txt", path.join(env.root, "other", "up-link"));
    const { output } = await runStep(readFile, { path: "other/up-link" }, env.ctx);
    expect(output.content).toBe("inside");
  });

  it("a link whose `..` climbs above the root is refused even if it would come back in", async () => {
    await symlink("../ws/sub/inside.txt", path.join(env.root, "round-trip"));
    await expect(runStep(readFile, { path: "round-trip" }, env.ctx)).rejects.toBeInstanceOf(
      SandboxError,
    );
  });

  it("a symlink loop is refused, not followed forever", async () => {
    await symlink("loop-b", path.join(env.root, "loop-a"));
    await symlink("loop-a", path.join(env.root, "loop-b"));
    await expect(runStep(readFile, { path: "loop-a" }, env.ctx)).rejects.toMatchObject({
      code: "FS_SYMLINK_LOOP",
    });
  });

  it("the sandbox root itself can be neither deleted nor moved", async () => {
    await expect(
      runStep(deletePath, { path: ".", recursive: true }, env.ctx),
    ).rejects.toBeInstanceOf(SandboxError);
    await expect(runStep(move, { from: env.root, to: "x" }, env.ctx)).rejects.toBeInstanceOf(
      SandboxError,
    );
    expect(await present(path.join(env.root, "sub", "inside.txt"))).toBe(true);
  });
});
