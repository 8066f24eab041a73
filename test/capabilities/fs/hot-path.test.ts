/**
 * @module The cheap write path of `io.fs.*`: the per-config sandbox cache, the `lstat` the
 * sandbox walk hands to its callers, sized reads that stay byte-exact on large files, and
 * leftover temp files swept by a re-run or a revert rather than by every first attempt.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readFileVerified, SYNC_IO_MAX } from "../../../src/capabilities/fs/fs-io.js";
import { sandboxFor } from "../../../src/capabilities/fs/fs-plan.js";
import { capture } from "../../../src/capabilities/fs/fs-state.js";
import { writeFile as writeFileCap } from "../../../src/capabilities/fs/write-file.js";
import { SandboxError } from "../../../src/core/errors.js";
import { sha256Hex } from "../../../src/core/hash.js";
import { type FsEnv, makeContext, makeEnv, prepareStep, revertStep, runStep } from "./helpers.js";

let env: FsEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(() => env.cleanup());

/** A temp file as a call killed between creating and renaming it would leave. */
async function leaveTempFile(name: string): Promise<string> {
  const tmp = path.join(env.root, `.${name}.airun-tmp-${randomBytes(6).toString("hex")}`);
  await writeFile(tmp, "half-written");
  return tmp;
}

describe("fs hot path", () => {
  it("reuses one canonical sandbox per config, and does not cache a root that was missing", async () => {
    const a = await sandboxFor(env.ctx);
    expect(await sandboxFor(env.ctx)).toBe(a);
    expect(a.roots).toEqual([env.root]);

    const later = path.join(env.base, "later");
    const ctx = makeContext([later]);
    await expect(sandboxFor(ctx)).rejects.toMatchObject({ code: "FS_ROOT_MISSING" });
    await mkdir(later);
    expect((await sandboxFor(ctx)).roots).toEqual([later]);
  });

  it("a cached sandbox still refuses a symlink escape created after it was cached", async () => {
    await sandboxFor(env.ctx);
    await symlink(env.outside, path.join(env.root, "out"));
    await expect(
      runStep(writeFileCap, { path: "out/x.txt", content: "x" }, env.ctx),
    ).rejects.toBeInstanceOf(SandboxError);
    expect(await readdir(env.outside)).toEqual([]);
  });

  it("resolveWithStats returns the lstat of the resolved file (through a link), null when absent", async () => {
    await writeFile(path.join(env.root, "real.txt"), "12345");
    await symlink("real.txt", path.join(env.root, "link.txt"));
    const sb = await sandboxFor(env.ctx);
    const viaLink = await sb.resolveWithStats("link.txt");
    expect(viaLink.path).toBe(path.join(env.root, "real.txt"));
    expect(viaLink.stats?.isFile()).toBe(true);
    expect(viaLink.stats?.size).toBe(5);
    const missing = await sb.resolveWithStats("nope/missing.txt");
    expect(missing).toMatchObject({ exists: false, stats: null });
    const root = await sb.resolveWithStats(".");
    expect(root.stats?.isDirectory()).toBe(true);
  });

  it("captures and restores files around the sync/async and chunk boundaries byte-exactly", async () => {
    const sb = await sandboxFor(env.ctx);
    for (const size of [0, 1, SYNC_IO_MAX - 1, SYNC_IO_MAX, SYNC_IO_MAX + 1, (1 << 20) + 7]) {
      const p = path.join(env.root, `f${size}.bin`);
      const bytes = randomBytes(size);
      await writeFile(p, bytes);
      const read = await readFileVerified(sb, p, 1 << 26);
      expect(Buffer.compare(read.bytes, bytes), `read ${size}`).toBe(0);
      const image = await capture(sb, p, 1 << 26);
      expect(image.image.state).toMatchObject({ type: "file", size, sha256: sha256Hex(bytes) });

      const { plan } = await runStep(
        writeFileCap,
        { path: `f${size}.bin`, content: "new" },
        env.ctx,
      );
      await revertStep(writeFileCap, plan, env.ctx);
      expect(Buffer.compare(await readFile(p), bytes), `restored ${size}`).toBe(0);
    }
  });

  it("writes content larger than the synchronous write limit byte-exactly", async () => {
    const bytes = randomBytes(3 * SYNC_IO_MAX + 5);
    const { output } = await runStep(
      writeFileCap,
      { path: "big.bin", content: bytes.toString("base64"), encoding: "base64" },
      env.ctx,
    );
    expect(output).toMatchObject({ bytes: bytes.length, sha256: sha256Hex(bytes) });
    expect(Buffer.compare(await readFile(path.join(env.root, "big.bin")), bytes)).toBe(0);
  });

  it("a re-run (attempt 2) removes temp files a killed call left next to the target", async () => {
    await leaveTempFile("t.txt");
    await runStep(writeFileCap, { path: "t.txt", content: "x" }, { ...env.ctx, attempt: 2 });
    expect(await readdir(env.root)).toEqual(["t.txt"]);
    expect(await readFile(path.join(env.root, "t.txt"), "utf8")).toBe("x");
  });

  it("revert removes temp files a killed call left, even when the first attempt skipped the sweep", async () => {
    await writeFile(path.join(env.root, "t.txt"), "before");
    const plan = await prepareStep(writeFileCap, { path: "t.txt", content: "after" }, env.ctx);
    await leaveTempFile("t.txt");
    await writeFileCap.execute(
      writeFileCap.input.parse({ path: "t.txt", content: "after" }),
      env.ctx,
    );
    await revertStep(writeFileCap, plan, env.ctx);
    expect(await readdir(env.root)).toEqual(["t.txt"]);
    expect(await readFile(path.join(env.root, "t.txt"), "utf8")).toBe("before");
  });

  it("a write whose target directory vanished fails cleanly and leaves no temp file", async () => {
    await mkdir(path.join(env.root, "d"));
    const sb = await sandboxFor(env.ctx);
    const target = await sb.resolveWithStats("d/x.txt");
    await rm(path.join(env.root, "d"), { recursive: true });
    const { writeFileAtomic } = await import("../../../src/capabilities/fs/fs-io.js");
    await expect(writeFileAtomic(sb, target.path, Buffer.from("x"), null)).rejects.toMatchObject({
      code: "ENOENT",
    });
    expect(await readdir(env.root)).toEqual([]);
  });
});
