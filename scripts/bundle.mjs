// Bundles the `airun` command: the CLI and its dependencies (zod, yaml, commander, our own) as one
// CommonJS file, dist/airun.cjs, and the launcher that runs it, dist/airun.mjs (package.json
// `bin`), then writes the bundle's V8 code cache, dist/airun.cjs.v8cache, taken after one run
// (scripts/code-cache.mjs). Loading one file instead of hundreds of modules roughly halves the
// cold start of every CLI invocation, and the code cache takes a good part of what is left off
// (see src/cli/launcher.ts). better-sqlite3 stays external: it is a native addon.
//
// Every start reads and compiles the whole bundle, so it is kept small and cheap to read: no
// comments or indentation (`minifyWhitespace`; names are kept, so stack traces stay readable, and
// dist/airun.cjs.map maps them back), zod without the translations of its error messages (400 KB;
// only English is used, and a plugin gets its own zod from node_modules), and ASCII only, which the
// launcher reads as latin1 (src/cli/launch-bundle.ts). Modules a command may not need are
// imported with `import()` where they are used (the runtime in src/cli/cli-kit.ts, for one):
// with `import()` rewritten to `require()`, esbuild evaluates them at first use.
//
// `airun serve` is its own bundle, dist/airun-serve.cjs (Hono, the API, the console; also without
// comments, indentation and zod's translations): the CLI imports it only when `serve` runs
// (`import("../server/serve.js")`, rewritten here to a require of the file beside the CLI
// bundle), so no other command parses it at start.
//
// `--crash-harness` bundles the TEST-ONLY crash harness instead (test/support/crash-bin.ts, the
// same CLI with crash hooks injected) into dist-test/, which is never shipped.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { build } from "esbuild";

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

/** zod's locales as English alone: zod applies `en` itself, and nothing of ours picks another. */
const zodEnglishOnly = {
  name: "zod-english-only",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]v4[\\/](classic|core)$/.test(args.resolveDir)
        ? { path: "zod-locales", namespace: "zod-english-only", pluginData: args.resolveDir }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-english-only" }, (args) => ({
      contents: 'export { default as en } from "../locales/en.js";',
      resolveDir: args.pluginData,
    }));
  },
};

await build({
  ...common,
  entryPoints: [harness ? "test/support/crash-bin.ts" : "src/cli/bin.ts"],
  outfile: `${out}.cjs`,
  format: "cjs",
  sourcemap: true,
  minifyWhitespace: true,
  // The MCP SDK is loaded from node_modules by `airun mcp` only (src/mcp/ is imported lazily).
  external: EXTERNAL,
  plugins: [serverApart, zodEnglishOnly],
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
  // Smaller for the same reasons as the CLI bundle: `airun serve` parses it at every start.
  minifyWhitespace: true,
  external: EXTERNAL,
  plugins: [zodEnglishOnly],
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

// The launcher reads the bundle as latin1 (src/cli/launch-bundle.ts): esbuild escapes non-ASCII
// characters in code (its default `charset`), and this makes sure nothing else slipped in.
const bundle = `${out}.cjs`;
const nonAscii = readFileSync(bundle).findIndex((byte) => byte > 0x7f);
if (nonAscii >= 0) throw new Error(`${bundle}: a non-ASCII byte at offset ${nonAscii}`);
execFileSync(process.execPath, ["scripts/code-cache.mjs", bundle, "dist"], {
  stdio: ["ignore", "ignore", "inherit"],
});
