/** @module Read-only `io.fs.*` capabilities, the capability table, abort handling and the descriptor check. */
import { mkdir, open, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { exists } from "../../../src/capabilities/fs/exists.js";
import { hashFile } from "../../../src/capabilities/fs/hash-file.js";
import { fsCapabilities } from "../../../src/capabilities/fs/index.js";
import { listDir } from "../../../src/capabilities/fs/list-dir.js";
import { readFile } from "../../../src/capabilities/fs/read-file.js";
import { FsSandbox } from "../../../src/capabilities/fs/sandbox.js";
import { SandboxError } from "../../../src/core/errors.js";
import { sha256Hex } from "../../../src/core/hash.js";
import { BINARY, type FsEnv, makeEnv, runStep } from "./helpers.js";

let env: FsEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(() => env.cleanup());

const p = (rel: string) => path.join(env.root, rel);

describe("read-only io.fs capabilities", () => {
  it("fsCapabilities lists all eleven with the risk floors and undo kinds of SPEC §5", () => {
    const table = Object.fromEntries(
      fsCapabilities.map((c) => [c.name, `${c.risk} ${c.effect} ${c.undo} ${c.idempotent}`]),
    );
    expect(table).toEqual({
      "io.fs.read_file": "LOW read none true",
      "io.fs.list_dir": "LOW read none true",
      "io.fs.exists": "LOW read none true",
      "io.fs.hash_file": "LOW read none true",
      "io.fs.write_file": "MEDIUM write builtin true",
      "io.fs.write_bytes": "MEDIUM write builtin true",
      "io.fs.append_file": "MEDIUM write builtin false",
      "io.fs.make_dir": "MEDIUM write builtin true",
      "io.fs.move": "MEDIUM write builtin false",
      "io.fs.copy": "MEDIUM write builtin false",
      "io.fs.delete": "HIGH delete builtin false",
    });
    for (const c of fsCapabilities.filter((c) => c.undo === "builtin"))
      expect(c.reconcile).toBeTypeOf("function");
  });

  it("read_file returns utf8 text, or base64 that round-trips binary bytes", async () => {
    await writeFile(p("t.txt"), "héllo");
    await writeFile(p("b.bin"), BINARY);
    const text = await runStep(readFile, { path: "t.txt" }, env.ctx);
    expect(text.output).toEqual({
      path: p("t.txt"),
      content: "héllo",
      encoding: "utf8",
      bytes: 6,
      sha256: sha256Hex("héllo"),
    });
    const bin = await runStep(readFile, { path: "b.bin", encoding: "base64" }, env.ctx);
    expect(Buffer.from(bin.output.content as string, "base64")).toEqual(BINARY);
  });

  it("read_file refuses invalid UTF-8 as text instead of mangling it", async () => {
    await writeFile(p("b.bin"), BINARY);
    await expect(runStep(readFile, { path: "b.bin" }, env.ctx)).rejects.toMatchObject({
      code: "FS_NOT_UTF8",
    });
  });

  it("read_file enforces max_bytes, and refuses directories and missing files with typed codes", async () => {
    await writeFile(p("big"), Buffer.alloc(100));
    await mkdir(p("d"));
    await expect(runStep(readFile, { path: "big", max_bytes: 99 }, env.ctx)).rejects.toMatchObject({
      code: "FS_TOO_LARGE",
      retryable: false,
    });
    await expect(runStep(readFile, { path: "d" }, env.ctx)).rejects.toMatchObject({
      code: "FS_IS_DIR",
    });
    await expect(runStep(readFile, { path: "nope" }, env.ctx)).rejects.toMatchObject({
      code: "FS_NOT_FOUND",
    });
  });

  it("list_dir lists entries sorted by name with types and sizes, not following symlinks", async () => {
    await writeFile(p("b.txt"), "12345");
    await mkdir(p("a-dir"));
    await symlink(env.outside, p("c-link"));
    const { output } = await runStep(listDir, { path: "." }, env.ctx);
    expect(output).toEqual({
      path: env.root,
      entries: [
        { name: "a-dir", type: "dir", size: 0 },
        { name: "b.txt", type: "file", size: 5 },
        { name: "c-link", type: "symlink", size: Buffer.byteLength(env.outside) },
      ],
    });
    await expect(runStep(listDir, { path: "b.txt" }, env.ctx)).rejects.toMatchObject({
      code: "FS_NOT_DIR",
    });
  });

  it("exists reports presence and type; outside the sandbox it is an error, not false", async () => {
    await writeFile(p("f"), "x");
    expect((await runStep(exists, { path: "f" }, env.ctx)).output).toEqual({
      exists: true,
      type: "file",
    });
    expect((await runStep(exists, { path: "." }, env.ctx)).output).toEqual({
      exists: true,
      type: "dir",
    });
    expect((await runStep(exists, { path: "nope/deeper" }, env.ctx)).output).toEqual({
      exists: false,
      type: null,
    });
    await expect(runStep(exists, { path: "../outside" }, env.ctx)).rejects.toBeInstanceOf(
      SandboxError,
    );
  });

  it("hash_file streams the SHA-256 and size", async () => {
    await writeFile(p("h"), BINARY);
    const { output } = await runStep(hashFile, { path: "h" }, env.ctx);
    expect(output).toEqual({ path: p("h"), sha256: sha256Hex(BINARY), bytes: BINARY.length });
  });

  it("an aborted call fails with a retryable ABORTED error and does nothing", async () => {
    const controller = new AbortController();
    controller.abort();
    const ctx = { ...env.ctx, signal: controller.signal };
    await expect(runStep(hashFile, { path: "." }, ctx)).rejects.toMatchObject({
      code: "ABORTED",
      retryable: true,
    });
  });

  it("the descriptor check refuses a handle that is not the file that was checked", async () => {
    await writeFile(path.join(env.outside, "secret.txt"), "s");
    const sb = await FsSandbox.create([env.root]);
    const handle = await open(path.join(env.outside, "secret.txt"), "r");
    try {
      // Simulates an intermediate directory swapped for a symlink between check and open.
      await expect(sb.verifyOpened(handle, p("secret.txt"))).rejects.toBeInstanceOf(SandboxError);
    } finally {
      await handle.close();
    }
  });
});
