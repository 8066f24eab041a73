// The build stamp: a content hash of everything `npm run build` reads, written next to its
// output, so the test suite can tell a fresh `dist/` from a stale one and rebuild only the
// latter (test/global-setup.ts).
//
//   node scripts/build-stamp.mjs begin   first step of the build: drops the old stamp and notes
//                                        the hash of the inputs the build is about to read
//   node scripts/build-stamp.mjs end     last step, after a successful build: that note becomes
//                                        the stamp
//
// Hashing before the build, not after, means an edit saved while the build runs leaves a stamp
// that no longer matches, so the next test run builds again; a failed build leaves no stamp.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(import.meta.url), "../..");

/** Where the stamp of the last successful build lives. */
export const STAMP_FILE = join(ROOT, "dist/.build-stamp");
const PENDING_FILE = join(ROOT, "dist/.build-stamp.pending");

/** Files the build depends on, relative to the project root, in a stable order. */
function buildInputs() {
  const src = readdirSync(join(ROOT, "src"), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(ROOT.length + 1));
  const top = readdirSync(ROOT).filter((f) => /^tsconfig.*\.json$/.test(f));
  return [
    ...src,
    ...top,
    "scripts/bundle.mjs",
    "scripts/code-cache.mjs",
    "examples/hello/workflow.yaml",
    "package.json",
    "package-lock.json",
  ].sort();
}

/** SHA-256 over the path and bytes of every build input (tens of milliseconds). */
export function buildInputsHash() {
  const hash = createHash("sha256");
  for (const file of buildInputs()) {
    hash.update(`${file}\0`);
    try {
      hash.update(readFileSync(join(ROOT, file)));
    } catch {
      hash.update("<missing>");
    }
    hash.update("\0");
  }
  return hash.digest("hex");
}

/** The stamp of the last successful build, or undefined if there is none. */
export function readStamp() {
  try {
    return readFileSync(STAMP_FILE, "utf8").trim();
  } catch {
    return undefined;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const step = process.argv[2];
  if (step === "begin") {
    mkdirSync(join(ROOT, "dist"), { recursive: true });
    rmSync(STAMP_FILE, { force: true });
    writeFileSync(PENDING_FILE, `${buildInputsHash()}\n`);
  } else if (step === "end") {
    renameSync(PENDING_FILE, STAMP_FILE);
  } else {
    console.error("usage: node scripts/build-stamp.mjs begin|end");
    process.exit(2);
  }
}
