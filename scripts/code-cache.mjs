// Writes the V8 code cache of a CLI bundle, `<bundle>.v8cache` (run by scripts/bundle.mjs in a
// process of its own): starts the bundle as its launcher does (`launchBundle`,
// src/cli/launch-bundle.ts), has it run examples/hello in a fresh home under the temporary
// folder, then saves what V8 compiled by then. A cache taken at compile time holds only the
// functions V8 compiles up front; most of the CLI is compiled lazily, at first call, in every
// process again. Taken after a run, it holds what a command compiles: config, spec compiler,
// engine, store, migrations. The cache must come from the same Node and V8 flags as the
// launcher's processes, so this process is started without flags.
//
//   node scripts/code-cache.mjs <bundle.cjs> <compiled modules' folder>
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { launchBundle } from "../dist/cli/launch-bundle.js";

const [bundle, compiledDir] = process.argv.slice(2).map((p) => resolve(p));
const dir = mkdtempSync(join(tmpdir(), "airun-code-cache-"));
writeFileSync(join(dir, "airun.yaml"), 'home: home\nsandbox:\n  fs: { roots: ["."] }\n');
copyFileSync("examples/hello/workflow.yaml", join(dir, "workflow.yaml"));
process.argv = [process.argv[0], bundle, "run", "workflow.yaml", "--config", "airun.yaml"];
process.chdir(dir);
const script = launchBundle(bundle, { importModule: (url) => import(url), compiledDir });
process.on("exit", (code) => {
  rmSync(dir, { recursive: true, force: true });
  if (code === 0) writeFileSync(`${bundle}.v8cache`, script.createCachedData());
});
