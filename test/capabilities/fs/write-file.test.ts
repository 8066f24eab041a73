/** @module `io.fs.write_file`: atomic writes, byte-exact undo (bytes and mode), drift refusal, reconcile. */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeFile as writeFileCap } from "../../../src/capabilities/fs/write-file.js";
import { CapabilityError, DriftError } from "../../../src/core/errors.js";
import { sha256Hex } from "../../../src/core/hash.js";
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
} from "./helpers.js";

let env: FsEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(() => env.cleanup());

describe("io.fs.write_file", () => {
  it("writes utf8 and base64 content byte-exactly and reports size and sha256", async () => {
    const text = await runStep(writeFileCap, { path: "a.txt", content: "héllo\n" }, env.ctx);
    expect(await readFile(path.join(env.root, "a.txt"), "utf8")).toBe("héllo\n");
    expect(text.output).toEqual({
      path: path.join(env.root, "a.txt"),
      bytes: Buffer.byteLength("héllo\n"),
      sha256: sha256Hex("héllo\n"),
    });
    await runStep(
      writeFileCap,
      { path: "b.bin", content: BINARY.toString("base64"), encoding: "base64" },
      env.ctx,
    );
    expect(Buffer.compare(await readFile(path.join(env.root, "b.bin")), BINARY)).toBe(0);
  });

  it("rejects invalid base64 and unknown fields at the schema", () => {
    expect(
      writeFileCap.input.safeParse({ path: "a", content: "!!", encoding: "base64" }).success,
    ).toBe(false);
    expect(writeFileCap.input.safeParse({ path: "a", content: "x", extra: 1 }).success).toBe(false);
  });

  it("overwrite then undo restores the original binary bytes and mode exactly", async () => {
    const target = path.join(env.root, "data.bin");
    await writeFile(target, BINARY);
    await chmod(target, 0o640);
    const { plan } = await runStep(writeFileCap, { path: "data.bin", content: "new" }, env.ctx);
    expect(await readFile(target, "utf8")).toBe("new");
    expect(await modeOf(target)).toBe(0o640);
    await revertStep(writeFileCap, plan, env.ctx);
    expect(Buffer.compare(await readFile(target), BINARY)).toBe(0);
    expect(await modeOf(target)).toBe(0o640);
  });

  it("undo removes a file that did not exist, and the directories create_dirs made", async () => {
    const { plan } = await runStep(
      writeFileCap,
      { path: "new/deep/f.txt", content: "x", create_dirs: true },
      env.ctx,
    );
    expect(await readFile(path.join(env.root, "new/deep/f.txt"), "utf8")).toBe("x");
    await revertStep(writeFileCap, plan, env.ctx);
    expect(await present(path.join(env.root, "new"))).toBe(false);
  });

  it("refuses a missing parent without create_dirs, before any effect", async () => {
    await expect(
      prepareStep(writeFileCap, { path: "nope/f.txt", content: "x" }, env.ctx),
    ).rejects.toMatchObject({
      code: "FS_NOT_FOUND",
    });
    expect(await present(path.join(env.root, "nope"))).toBe(false);
  });

  it("refuses to write over a directory", async () => {
    await mkdir(path.join(env.root, "d"));
    await expect(runStep(writeFileCap, { path: "d", content: "x" }, env.ctx)).rejects.toMatchObject(
      {
        code: "FS_IS_DIR",
      },
    );
  });

  it("refuses in prepare when the before-image exceeds maxBeforeImageBytes", async () => {
    await writeFile(path.join(env.root, "big"), Buffer.alloc(2048, 1));
    const ctx = makeContext([env.root], { maxBeforeImageBytes: 1024 });
    const err = await prepareStep(writeFileCap, { path: "big", content: "x" }, ctx).catch((e) => e);
    expect(err).toBeInstanceOf(CapabilityError);
    expect(err).toMatchObject({ code: "FS_TOO_LARGE", retryable: false });
    expect((await readFile(path.join(env.root, "big"))).length).toBe(2048);
  });

  it("refuses to undo over a later change (DriftError, file untouched); force restores", async () => {
    const target = path.join(env.root, "c.txt");
    await writeFile(target, "original");
    const { plan } = await runStep(writeFileCap, { path: "c.txt", content: "step" }, env.ctx);
    await writeFile(target, "edited by a person");
    await expect(revertStep(writeFileCap, plan, env.ctx)).rejects.toBeInstanceOf(DriftError);
    await expect(revertStep(writeFileCap, plan, env.ctx)).rejects.toThrow(target);
    expect(await readFile(target, "utf8")).toBe("edited by a person");
    await revertStep(writeFileCap, plan, env.ctx, true);
    expect(await readFile(target, "utf8")).toBe("original");
  });

  it("reverting twice is a no-op the second time", async () => {
    const target = path.join(env.root, "twice.txt");
    await writeFile(target, "v1");
    const { plan } = await runStep(writeFileCap, { path: "twice.txt", content: "v2" }, env.ctx);
    await revertStep(writeFileCap, plan, env.ctx);
    await revertStep(writeFileCap, plan, env.ctx);
    expect(await readFile(target, "utf8")).toBe("v1");
  });

  it("reconcile tells not_applied, applied and unknown apart", async () => {
    const target = path.join(env.root, "r.txt");
    await writeFile(target, "before");
    const input = { path: "r.txt", content: "after" };
    const plan = await prepareStep(writeFileCap, input, env.ctx);
    expect(await reconcileStep(writeFileCap, input, plan, env.ctx)).toBe("not_applied");
    await writeFileCap.execute(writeFileCap.input.parse(input), env.ctx);
    expect(await reconcileStep(writeFileCap, input, plan, env.ctx)).toBe("applied");
    await writeFile(target, "someone else");
    expect(await reconcileStep(writeFileCap, input, plan, env.ctx)).toBe("unknown");
  });

  it("leaves no temp files behind", async () => {
    await runStep(writeFileCap, { path: "t.txt", content: "x" }, env.ctx);
    const { readdir } = await import("node:fs/promises");
    expect(await readdir(env.root)).toEqual(["t.txt"]);
  });
});
