/**
 * @module `ctx.paths` is enforced: the engine resolves a file capability's paths with
 * `touches` BEFORE the policy decides and hands the canonical paths back to `execute`. A
 * folder swapped for a symlink in between (here to another folder INSIDE the root, so the
 * sandbox alone would allow it) must not redirect the call to a path nobody authorized:
 * `execute` refuses with `FS_PATH_CHANGED`, naming the field and both paths, and changes
 * nothing.
 */
import { mkdir, readFile, rename, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appendFile } from "../../../src/capabilities/fs/append-file.js";
import { copy } from "../../../src/capabilities/fs/copy.js";
import { deletePath } from "../../../src/capabilities/fs/delete.js";
import { exists } from "../../../src/capabilities/fs/exists.js";
import {
  resolveAuthorized,
  resolveAuthorizedWithStats,
  sandboxFor,
} from "../../../src/capabilities/fs/fs-plan.js";
import { hashFile } from "../../../src/capabilities/fs/hash-file.js";
import { listDir } from "../../../src/capabilities/fs/list-dir.js";
import { makeDir } from "../../../src/capabilities/fs/make-dir.js";
import { move } from "../../../src/capabilities/fs/move.js";
import { readFile as readFileCap } from "../../../src/capabilities/fs/read-file.js";
import { writeFile as writeFileCap } from "../../../src/capabilities/fs/write-file.js";
import type { AnyCapability, CapabilityContext } from "../../../src/core/capability.js";
import { type FsEnv, makeEnv, runStep, snapshot } from "./helpers.js";

let env: FsEnv;
beforeEach(async () => {
  env = await makeEnv();
  // `d` is what the gate sees; `e` is where a swapped `d` leads (inside the root too).
  await mkdir(path.join(env.root, "d"));
  await writeFile(path.join(env.root, "d", "f.txt"), "authorized");
  await mkdir(path.join(env.root, "e"));
  await writeFile(path.join(env.root, "e", "f.txt"), "never authorized");
  await writeFile(path.join(env.root, "top.txt"), "top");
});
afterEach(() => env.cleanup());

/** Replaces the folder `d` with a symlink to `e` (the old folder is kept as `d.old`). */
async function swapD(): Promise<void> {
  await rename(path.join(env.root, "d"), path.join(env.root, "d.old"));
  await symlink("e", path.join(env.root, "d"));
}

/** The context the engine builds for `execute`: the paths `touches` answered, by field. */
async function authorizedContext(cap: AnyCapability, raw: unknown): Promise<CapabilityContext> {
  if (!cap.touches) throw new Error(`${cap.name} declares no touches`);
  const touched = await cap.touches(cap.input.parse(raw), env.ctx);
  const paths: Record<string, string> = {};
  for (const t of touched) paths[t.field] = t.path;
  return { ...env.ctx, paths };
}

/** [capability, input, the field whose resolution changes, what it now resolves to]. */
const CASES: Array<[string, AnyCapability, unknown, string, string]> = [
  ["io.fs.read_file", readFileCap, { path: "d/f.txt" }, "path", "e/f.txt"],
  ["io.fs.hash_file", hashFile, { path: "d/f.txt" }, "path", "e/f.txt"],
  ["io.fs.exists", exists, { path: "d/f.txt" }, "path", "e/f.txt"],
  ["io.fs.list_dir", listDir, { path: "d" }, "path", "e"],
  ["io.fs.write_file", writeFileCap, { path: "d/f.txt", content: "pwned" }, "path", "e/f.txt"],
  ["io.fs.append_file", appendFile, { path: "d/f.txt", content: "pwned" }, "path", "e/f.txt"],
  ["io.fs.make_dir", makeDir, { path: "d/new" }, "path", "e/new"],
  ["io.fs.delete", deletePath, { path: "d/f.txt" }, "path", "e/f.txt"],
  ["io.fs.move (from)", move, { from: "d/f.txt", to: "moved.txt" }, "from", "e/f.txt"],
  ["io.fs.move (to)", move, { from: "top.txt", to: "d/g.txt" }, "to", "e/g.txt"],
  ["io.fs.copy (from)", copy, { from: "d/f.txt", to: "copied.txt" }, "from", "e/f.txt"],
  ["io.fs.copy (to)", copy, { from: "top.txt", to: "d/g.txt" }, "to", "e/g.txt"],
];

describe("ctx.paths: the path the gate authorized is the path the call touches", () => {
  it.each(CASES)(
    "%s refuses with FS_PATH_CHANGED when a folder was swapped for a symlink after touches",
    async (_name, cap, raw, field, now) => {
      const ctx = await authorizedContext(cap, raw);
      await swapD();
      const before = await snapshot(env.root);
      const err = await runStep(cap, raw, ctx).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({
        code: "FS_PATH_CHANGED",
        context: {
          field,
          authorized: ctx.paths?.[field],
          actual: path.join(env.root, now),
        },
      });
      expect((err as Error).message).toContain(field);
      expect((err as Error).message).toContain(ctx.paths?.[field] as string);
      expect((err as Error).message).toContain(path.join(env.root, now));
      expect(await snapshot(env.root)).toEqual(before);
      expect(await readFile(path.join(env.root, "e", "f.txt"), "utf8")).toBe("never authorized");
    },
  );

  it.each(CASES)(
    "%s runs normally when the path still resolves as authorized",
    async (_n, cap, raw) => {
      const ctx = await authorizedContext(cap, raw);
      await expect(runStep(cap, raw, ctx)).resolves.toBeDefined();
      expect(await readFile(path.join(env.root, "e", "f.txt"), "utf8")).toBe("never authorized");
    },
  );
});

describe("resolveAuthorized", () => {
  it("returns the canonical path when it is the one authorized, and refuses once a folder on the way is swapped", async () => {
    const sb = await sandboxFor(env.ctx);
    const authorized = path.join(env.root, "d", "f.txt");
    const ctx = { ...env.ctx, paths: { path: authorized } };
    await expect(resolveAuthorized(sb, ctx, "path", "d/f.txt")).resolves.toMatchObject({
      path: authorized,
      exists: true,
    });
    await swapD();
    await expect(resolveAuthorized(sb, ctx, "path", "d/f.txt")).rejects.toMatchObject({
      code: "FS_PATH_CHANGED",
      retryable: false,
      context: { field: "path", authorized, actual: path.join(env.root, "e", "f.txt") },
    });
    await expect(resolveAuthorizedWithStats(sb, ctx, "path", "d/f.txt")).rejects.toMatchObject({
      code: "FS_PATH_CHANGED",
    });
  });

  it("checks only the fields the gate authorized; without ctx.paths it is a plain resolve", async () => {
    const sb = await sandboxFor(env.ctx);
    await swapD();
    const other = { ...env.ctx, paths: { from: path.join(env.root, "top.txt") } };
    await expect(resolveAuthorized(sb, other, "to", "d/f.txt")).resolves.toMatchObject({
      path: path.join(env.root, "e", "f.txt"),
    });
    await expect(resolveAuthorized(sb, env.ctx, "path", "d/f.txt")).resolves.toMatchObject({
      path: path.join(env.root, "e", "f.txt"),
    });
  });

  it("resolves with the options given: a final symlink itself (followFinal false) is what was authorized", async () => {
    const sb = await sandboxFor(env.ctx);
    await symlink("top.txt", path.join(env.root, "link"));
    const link = path.join(env.root, "link");
    const ctx = { ...env.ctx, paths: { from: link } };
    await expect(
      resolveAuthorized(sb, ctx, "from", "link", { followFinal: false }),
    ).resolves.toMatchObject({ path: link });
    // Followed, the same input names top.txt, which the gate never saw for this field.
    await expect(resolveAuthorized(sb, ctx, "from", "link")).rejects.toMatchObject({
      code: "FS_PATH_CHANGED",
      context: { authorized: link, actual: path.join(env.root, "top.txt") },
    });
  });

  it("resolves through a sandbox error first: a path swapped to lead outside is SANDBOX_VIOLATION", async () => {
    const sb = await sandboxFor(env.ctx);
    const authorized = path.join(env.root, "d", "f.txt");
    await rename(path.join(env.root, "d"), path.join(env.root, "d.old"));
    await symlink(env.outside, path.join(env.root, "d"));
    await expect(
      resolveAuthorized(sb, { ...env.ctx, paths: { path: authorized } }, "path", "d/f.txt"),
    ).rejects.toMatchObject({ code: "SANDBOX_VIOLATION" });
  });
});
