/**
 * @module The canary secret of the end-to-end leak tests: one random value per test process,
 * and checks that its bytes appear nowhere, raw or encoded (base64 at every alignment,
 * base64url, hex, UTF-16). Use `assertNoCanary` on any output (an evidence pack, a ledger
 * export, a log) and `assertNoCanaryUnder` on a folder.
 */
import { randomBytes } from "node:crypto";
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The canary: a random value passed to workflows through `${{ secrets.CANARY }}`. */
export const CANARY = `canary-${randomBytes(16).toString("hex")}`;

/** One encoding of the canary to look for, with a label for the failure message. */
interface Needle {
  readonly label: string;
  readonly bytes: Buffer;
}

/**
 * The characters of base64(prefix + value) that depend only on `value`, for a prefix of
 * `offset` bytes (0, 1 or 2): what any base64 stream containing `value` contains, wherever
 * the value starts.
 */
function base64Core(value: Buffer, offset: number): string {
  const encoded = Buffer.concat([Buffer.alloc(offset), value])
    .toString("base64")
    .replace(/=+$/, "");
  const start = Math.ceil((offset * 8) / 6);
  const end = (offset + value.length) % 3 === 0 ? encoded.length : encoded.length - 1;
  return encoded.slice(start, end);
}

function needlesFor(value: string): Needle[] {
  const raw = Buffer.from(value, "utf8");
  const out: Needle[] = [
    { label: "raw", bytes: raw },
    { label: "hex", bytes: Buffer.from(raw.toString("hex")) },
    { label: "HEX", bytes: Buffer.from(raw.toString("hex").toUpperCase()) },
    { label: "utf16le", bytes: Buffer.from(value, "utf16le") },
  ];
  for (const offset of [0, 1, 2]) {
    const core = base64Core(raw, offset);
    out.push({ label: `base64@${offset}`, bytes: Buffer.from(core) });
    out.push({
      label: `base64url@${offset}`,
      bytes: Buffer.from(core.replaceAll("+", "-").replaceAll("/", "_")),
    });
  }
  return out;
}

const NEEDLES = needlesFor(CANARY);

/** Where the canary (in some encoding) occurs in `bytes`, or null. */
export function findCanary(bytes: Uint8Array | string): { label: string; offset: number } | null {
  const hay = typeof bytes === "string" ? Buffer.from(bytes, "utf8") : Buffer.from(bytes);
  for (const n of NEEDLES) {
    const offset = hay.indexOf(n.bytes);
    if (offset >= 0) return { label: n.label, offset };
  }
  return null;
}

/**
 * Throws if the canary appears in `bytes` in any encoding; `where` names the source in the
 * message (which shows the bytes around the hit, the canary itself replaced).
 */
export function assertNoCanary(bytes: Uint8Array | string, where: string): void {
  const hit = findCanary(bytes);
  if (hit === null) return;
  const hay = typeof bytes === "string" ? Buffer.from(bytes, "utf8") : Buffer.from(bytes);
  const around = hay
    .subarray(Math.max(0, hit.offset - 120), hit.offset + 160)
    .toString("latin1")
    .replaceAll(CANARY, "<CANARY>")
    .replace(/[^\x20-\x7e]/g, ".");
  throw new Error(
    `canary secret (${hit.label}) found in ${where} at byte ${hit.offset}: …${around}…`,
  );
}

/** Every regular file under `dir`, recursively (symlinks not followed). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.isFile()) out.push(path);
  }
  return out;
}

/**
 * Reads every byte of every file under `dir` and asserts the canary is in none of them;
 * returns the files read (so a caller can check the scan saw what it expected).
 */
export function assertNoCanaryUnder(
  dir: string,
  skip: (path: string) => boolean = () => false,
): string[] {
  const files = filesUnder(dir).filter((f) => !skip(f));
  for (const file of files) assertNoCanary(readFileSync(file), file);
  return files;
}
