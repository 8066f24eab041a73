/** @module `io.fs.append_file`: append, truncate-back undo, drift refusal, reconcile. */
import { appendFile as fsAppend, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appendFile } from "../../../src/capabilities/fs/append-file.js";
import { DriftError } from "../../../src/core/errors.js";
import {
  BINARY,
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

describe("io.fs.append_file", () => {
  it("appends and undo truncates back to the previous bytes exactly", async () => {
    const target = path.join(env.root, "log.bin");
    await writeFile(target, BINARY);
    const { output, plan } = await runStep(
      appendFile,
      {
        path: "log.bin",
        content: Buffer.from([0xff, 0x01]).toString("base64"),
        encoding: "base64",
      },
      env.ctx,
    );
    expect(output).toEqual({ path: target, bytes_appended: 2, size: BINARY.length + 2 });
    expect((await readFile(target)).subarray(-2)).toEqual(Buffer.from([0xff, 0x01]));
    await revertStep(appendFile, plan, env.ctx);
    expect(Buffer.compare(await readFile(target), BINARY)).toBe(0);
  });

  it("is declared non-idempotent (a re-run would append twice)", () => {
    expect(appendFile.idempotent).toBe(false);
  });

  it("undo removes a file the append created", async () => {
    const { plan } = await runStep(appendFile, { path: "new.log", content: "line\n" }, env.ctx);
    expect(await readFile(path.join(env.root, "new.log"), "utf8")).toBe("line\n");
    await revertStep(appendFile, plan, env.ctx);
    expect(await present(path.join(env.root, "new.log"))).toBe(false);
  });

  it("refuses to truncate when more was appended after the step; force truncates", async () => {
    const target = path.join(env.root, "a.log");
    await writeFile(target, "one\n");
    const { plan } = await runStep(appendFile, { path: "a.log", content: "two\n" }, env.ctx);
    await fsAppend(target, "three\n");
    await expect(revertStep(appendFile, plan, env.ctx)).rejects.toBeInstanceOf(DriftError);
    expect(await readFile(target, "utf8")).toBe("one\ntwo\nthree\n");
    await revertStep(appendFile, plan, env.ctx, true);
    expect(await readFile(target, "utf8")).toBe("one\n");
  });

  it("refuses when the appended tail was rewritten (same length, different bytes)", async () => {
    const target = path.join(env.root, "b.log");
    await writeFile(target, "head");
    const { plan } = await runStep(appendFile, { path: "b.log", content: "TAIL" }, env.ctx);
    await writeFile(target, "headXXXX");
    await expect(revertStep(appendFile, plan, env.ctx)).rejects.toBeInstanceOf(DriftError);
    expect(await readFile(target, "utf8")).toBe("headXXXX");
  });

  it("reverting twice is a no-op the second time", async () => {
    const target = path.join(env.root, "c.log");
    await writeFile(target, "x");
    const { plan } = await runStep(appendFile, { path: "c.log", content: "y" }, env.ctx);
    await revertStep(appendFile, plan, env.ctx);
    await revertStep(appendFile, plan, env.ctx);
    expect(await readFile(target, "utf8")).toBe("x");
  });

  it("reconcile tells not_applied, applied and unknown apart", async () => {
    const target = path.join(env.root, "r.log");
    await writeFile(target, "a");
    const input = { path: "r.log", content: "b" };
    const plan = await prepareStep(appendFile, input, env.ctx);
    expect(await reconcileStep(appendFile, input, plan, env.ctx)).toBe("not_applied");
    await appendFile.execute(appendFile.input.parse(input), env.ctx);
    expect(await reconcileStep(appendFile, input, plan, env.ctx)).toBe("applied");
    await fsAppend(target, "c");
    expect(await reconcileStep(appendFile, input, plan, env.ctx)).toBe("unknown");
  });
});
