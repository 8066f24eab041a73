// Bundles the `airun` command into one ES module (dist/airun.mjs). Loading one file instead of
// hundreds of modules (zod, yaml, commander, our own) roughly halves the cold start of every
// CLI invocation. better-sqlite3 stays external: it is a native addon.
//
// `--crash-harness` bundles the TEST-ONLY crash harness instead (test/support/crash-bin.ts, the
// same CLI with crash hooks injected) into dist-test/, which is never shipped.
import { build } from "esbuild";

const harness = process.argv.includes("--crash-harness");

await build({
  entryPoints: [harness ? "test/support/crash-bin.ts" : "src/cli/bin.ts"],
  outfile: harness ? "dist-test/airun-crash.mjs" : "dist/airun.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  external: ["better-sqlite3"],
  // The entry keeps its shebang; CommonJS dependencies bundled into ESM need a `require`.
  banner: {
    js: "import { createRequire as __airunRequire } from 'node:module';\nconst require = __airunRequire(import.meta.url);",
  },
  logLevel: "warning",
});
