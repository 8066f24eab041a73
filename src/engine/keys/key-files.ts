/**
 * @module Key material kept under `<home>/keys/`, created on first use. A set of files that
 * belong together (a key pair) is written into a fresh private folder which is then renamed
 * into place in one step: two processes starting together never mix halves of two pairs, and
 * the loser of the race simply reads the winner's files.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";

/** One file of a key set: its content and mode. */
export interface KeyFile {
  readonly content: string | Uint8Array;
  readonly mode: number;
}

/**
 * Reads the files `names` of the key set `<home>/keys/<set>/`, creating the set with `create()`
 * (which returns a file for each name) first if it does not exist yet. Returns each file's bytes.
 */
export async function keySet(
  home: string,
  set: string,
  names: readonly string[],
  create: () => Readonly<Record<string, KeyFile>>,
): Promise<Record<string, Buffer>> {
  const keys = join(home, "keys");
  const dir = join(keys, set);
  try {
    return await readAll(dir, names);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(keys, { recursive: true, mode: 0o700 });
  const tmp = join(keys, `.${set}.${randomBytes(6).toString("hex")}.tmp`);
  await mkdir(tmp, { mode: 0o700 });
  try {
    // Durable before it is visible: losing a key later would make what it sealed unreadable.
    for (const [name, f] of Object.entries(create())) {
      const file = await open(join(tmp, name), "wx", f.mode);
      try {
        await file.writeFile(f.content);
        await file.sync();
      } finally {
        await file.close();
      }
    }
    await syncDir(tmp);
    await rename(tmp, dir);
    await syncDir(keys);
  } catch (err) {
    // Another process created the set first (its folder is there and not empty): use theirs.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return readAll(dir, names);
}

/**
 * Reads one file of the key set `<home>/keys/<set>/`, or undefined when it does not exist.
 * Never creates anything: for those who only check (a verification must not mint a key).
 */
export async function readKeyFile(
  home: string,
  set: string,
  name: string,
): Promise<Buffer | undefined> {
  try {
    return await readFile(join(home, "keys", set, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function readAll(dir: string, names: readonly string[]): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const name of names) out[name] = await readFile(join(dir, name));
  return out;
}

/** fsyncs a directory, so that the entries just made in it survive a power loss. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
