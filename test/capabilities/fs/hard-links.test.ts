/**
 * @module Files with more than one link (`FS_HARD_LINK`), at the level of the I/O helpers:
 * every read of content (bytes, hashes, before-images, trees) checks the link count on the
 * descriptor it reads through; metadata-only calls still report the file.
 */
import { link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { exists } from "../../../src/capabilities/fs/exists.js";
import { hashFileVerified, readFileVerified } from "../../../src/capabilities/fs/fs-io.js";
import { sandboxFor } from "../../../src/capabilities/fs/fs-plan.js";
import { capture } from "../../../src/capabilities/fs/fs-state.js";
import { listDir } from "../../../src/capabilities/fs/list-dir.js";
import { readFile as readFileCap } from "../../../src/capabilities/fs/read-file.js";
import { type FsEnv, makeEnv, runStep } from "./helpers.js";

let env: FsEnv;
let hl: string;
beforeEach(async () => {
  env = await makeEnv();
  await writeFile(path.join(env.outside, "secret.txt"), "secret");
  hl = path.join(env.root, "hl");
  await link(path.join(env.outside, "secret.txt"), hl);
});
afterEach(() => env.cleanup());

const refused = (links: number) => ({
  code: "FS_HARD_LINK",
  context: { path: hl, links },
});

describe("hard links", () => {
  it("readFileVerified, hashFileVerified and capture refuse a file with two links, naming the count", async () => {
    const sb = await sandboxFor(env.ctx);
    await expect(readFileVerified(sb, hl, 1024)).rejects.toMatchObject(refused(2));
    await expect(hashFileVerified(sb, hl)).rejects.toMatchObject(refused(2));
    await expect(capture(sb, hl, 1024)).rejects.toMatchObject(refused(2));
    await link(hl, path.join(env.root, "hl2"));
    await expect(readFileVerified(sb, hl, 1024)).rejects.toMatchObject(refused(3));
  });

  it("a directory's before-image refuses a hard-linked file anywhere in the tree", async () => {
    const sb = await sandboxFor(env.ctx);
    await mkdir(path.join(env.root, "tree", "deep"), { recursive: true });
    await writeFile(path.join(env.root, "tree", "plain.txt"), "plain");
    await link(hl, path.join(env.root, "tree", "deep", "hl"));
    await expect(capture(sb, path.join(env.root, "tree"), 1024)).rejects.toMatchObject({
      code: "FS_HARD_LINK",
    });
  });

  it("once its other names are gone it is an ordinary file of the root again", async () => {
    await unlink(path.join(env.outside, "secret.txt"));
    const { output } = await runStep(readFileCap, { path: "hl" }, env.ctx);
    expect(output.content).toBe("secret");
  });

  it("list_dir and exists still report it: they read metadata, never its bytes", async () => {
    const { output } = await runStep(listDir, { path: "." }, env.ctx);
    expect(output.entries).toEqual([{ name: "hl", type: "file", size: 6 }]);
    const probe = await runStep(exists, { path: "hl" }, env.ctx);
    expect(probe.output).toEqual({ exists: true, type: "file" });
    expect(await readFile(path.join(env.outside, "secret.txt"), "utf8")).toBe("secret");
  });
});
