// Bundles the `airun` command: the CLI and its dependencies (zod, yaml, commander, our own) as one
// CommonJS file, dist/airun.cjs, and the launcher that runs it, dist/airun.mjs (package.json
// `bin`), then writes the bundle's V8 code cache, dist/airun.cjs.v8cache. Loading one file
// instead of hundreds of modules roughly halves the cold start of every CLI invocation, and the
// code cache takes about a quarter off what is left (see src/cli/launcher.ts). better-sqlite3
// stays external: it is a native addon.
//
// `airun serve` is its own bundle, dist/airun-serve.cjs (Hono, the API, the console): the CLI
// imports it only when `serve` runs (`import("../server/serve.js")`, rewritten here to a require
// of the file beside the CLI bundle), so no other command parses it at start.
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
/** Native or lazily loaded packages the bundles leave to node_modules. */
const EXTERNAL = ["better-sqlite3", "@modelcontextprotocol/sdk", "@modelcontextprotocol/sdk/*"];
const common = { bundle: true, platform: "node", target: "node20", logLevel: "warning" };

/** Leaves the server out of the CLI bundle: a require of `./airun-serve.cjs` at run time. */
const serverApart = {
  name: "server-apart",
  setup(b) {
    b.onResolve({ filter: /\/server\/serve\.js$/ }, () => ({
      path: "./airun-serve.cjs",
      external: true,
    }));
  },
};

await build({
  ...common,
  entryPoints: [harness ? "test/support/crash-bin.ts" : "src/cli/bin.ts"],
  outfile: `${out}.cjs`,
  format: "cjs",
  sourcemap: true,
  // The MCP SDK is loaded from node_modules by `airun mcp` only (src/mcp/ is imported lazily).
  external: EXTERNAL,
  plugins: [serverApart],
  // `import()` becomes `require()`: code compiled through `vm` has no `import()` on Node 20.
  // (Plugins still load through the launcher's `import()`, `core/bundle-launch.ts`.)
  supported: { "dynamic-import": false },
});
await build({
  ...common,
  entryPoints: ["src/server/serve.ts"],
  outfile: `${harness ? "dist-test" : "dist"}/airun-serve.cjs`,
  format: "cjs",
  sourcemap: true,
  external: EXTERNAL,
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
  // Where the compiled modules (the SDK entry, the plugin resolution hook) are, from the
  // launcher's folder: dist/ itself, or, for the crash harness in dist-test/, dist/ beside it.
  define: { __AIRUN_COMPILED_DIR__: JSON.stringify(harness ? "../dist" : ".") },
});

// Compiled exactly as the launcher compiles it, so V8 accepts the cache there.
const bundle = `${out}.cjs`;
const compiled = compileFunction(readFileSync(bundle, "utf8"), [...BUNDLE_PARAMS], {
  filename: bundle,
  produceCachedData: true,
});
writeFileSync(`${bundle}.v8cache`, compiled.cachedData);
