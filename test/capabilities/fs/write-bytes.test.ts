/** @module `io.fs.write_bytes`: base64 bytes written exactly, undone byte for byte, sandboxed. */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { writeBytes } from "../../../src/capabilities/fs/write-bytes.js";
import { DriftError, SandboxError } from "../../../src/core/errors.js";
import { sha256Hex } from "../../../src/core/hash.js";
import {
  BINARY,
  type FsEnv,
  makeEnv,
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

describe("io.fs.write_bytes", () => {
  it("writes the decoded bytes and answers bytes_written and checksum", async () => {
    const { output } = await runStep(
      writeBytes,
      { path: "out/b.bin", content_base64: BINARY.toString("base64"), create_dirs: true },
      env.ctx,
    );
    const target = path.join(env.root, "out/b.bin");
    expect(Buffer.compare(await readFile(target), BINARY)).toBe(0);
    expect(output).toEqual({
      path: target,
      bytes_written: BINARY.length,
      checksum: sha256Hex(BINARY),
    });
  });

  it("undo restores the overwritten bytes exactly, and removes a new file and its folders", async () => {
    const target = path.join(env.root, "keep.bin");
    const original = Buffer.from([0, 255, 10, 13, 0]);
    await writeFile(target, original);
    const over = await runStep(writeBytes, { path: "keep.bin", content_base64: "AAEC" }, env.ctx);
    expect(
      await reconcileStep(
        writeBytes,
        { path: "keep.bin", content_base64: "AAEC" },
        over.plan,
        env.ctx,
      ),
    ).toBe("applied");
    await revertStep(writeBytes, over.plan, env.ctx);
    expect(Buffer.compare(await readFile(target), original)).toBe(0);

    const fresh = await runStep(
      writeBytes,
      { path: "new/dir/x.bin", content_base64: "AAEC", create_dirs: true },
      env.ctx,
    );
    await revertStep(writeBytes, fresh.plan, env.ctx);
    expect(await present(path.join(env.root, "new"))).toBe(false);
  });

  it("refuses to undo over a change made since (drift), and paths outside the sandbox", async () => {
    const { plan } = await runStep(writeBytes, { path: "d.bin", content_base64: "AAEC" }, env.ctx);
    await writeFile(path.join(env.root, "d.bin"), "someone else");
    await expect(revertStep(writeBytes, plan, env.ctx)).rejects.toBeInstanceOf(DriftError);
    await expect(
      runStep(writeBytes, { path: "../escape.bin", content_base64: "AAEC" }, env.ctx),
    ).rejects.toBeInstanceOf(SandboxError);
  });

  it("rejects content that is not canonical base64 and unknown fields", () => {
    expect(writeBytes.input.safeParse({ path: "a", content_base64: "!!" }).success).toBe(false);
    expect(writeBytes.input.safeParse({ path: "a", content_base64: "AA==", x: 1 }).success).toBe(
      false,
    );
  });
});
