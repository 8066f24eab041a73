// Bundles the `airun` command: the CLI and its dependencies (zod, yaml, commander, our own) as one
// CommonJS file, dist/airun.cjs, and the launcher that runs it, dist/airun.mjs (package.json
// `bin`), then writes the bundle's V8 code cache, dist/airun.cjs.v8cache. Loading one file
// instead of hundreds of modules roughly halves the cold start of every CLI invocation, and the
// code cache takes about a quarter off what is left (see src/cli/launcher.ts). better-sqlite3
// stays external: it is a native addon.
//
// `--crash-harness` bundles the TEST-ONLY crash harness instead (test/support/crash-bin.ts, the
// same CLI with crash hooks injected) into dist-test/, which is never shipped.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { compileFunction } from "node:vm";
import { build } from "esbuild";
import { BUNDLE_PARAMS } from "../dist/core/bundle-launch.js";

const harness = process.argv.includes("--crash-harness");
const out = harness ? "dist-test/airun-crash" : "dist/airun";
const common = { bundle: true, platform: "node", target: "node20", logLevel: "warning" };

await build({
  ...common,
  entryPoints: [harness ? "test/support/crash-bin.ts" : "src/cli/bin.ts"],
  outfile: `${out}.cjs`,
  format: "cjs",
  sourcemap: true,
  external: ["better-sqlite3"],
});
// OpenTelemetry export (`telemetry:` in airun.yaml), required only when configured: kept out of
// the CLI bundle so that no other start parses it (src/cli/telemetry.ts).
await build({
  ...common,
  entryPoints: ["src/cli/otel-export.ts"],
  outfile: `${dirname(out)}/airun-otel.cjs`,
  format: "cjs",
});
await build({
  ...common,
  entryPoints: ["src/cli/launcher.ts"],
  outfile: `${out}.mjs`,
  format: "esm",
});

// Compiled exactly as the launcher compiles it, so V8 accepts the cache there.
const bundle = `${out}.cjs`;
const compiled = compileFunction(readFileSync(bundle, "utf8"), [...BUNDLE_PARAMS], {
  filename: bundle,
  produceCachedData: true,
});
writeFileSync(`${bundle}.v8cache`, compiled.cachedData);
