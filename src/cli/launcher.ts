#!/usr/bin/env node
/**
 * @module The `airun` executable. The CLI is one CommonJS bundle next to this file (`airun.cjs`
 * for `airun.mjs`), and compiling it would be the largest part of a cold start; it is compiled here
 * with the V8 code cache the build wrote beside it (`airun.cjs.v8cache`). That cache was taken
 * after the build ran one `airun run` (`scripts/code-cache.mjs`), so it also holds the functions a
 * command compiles while it runs, not only those compiled up front. Node 22 keeps such caches
 * itself (`module.enableCompileCache()`); on Node 20 only `vm` can take one. A cache V8 rejects
 * (another Node version, other V8 flags) is ignored and the bundle is compiled from source: the
 * cache changes how fast, never what runs.
 *
 * Code compiled through `vm` cannot `import()` on Node 20 (that needs a flag), so the bundle
 * borrows this module's `import()` to load plugins (`core/bundle-launch.ts`), and learns its own
 * folder (to lend a plugin the runtime's `airun` and `zod`: `capabilities/plugins.ts`).
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchBundle } from "./launch-bundle.js";

/** The compiled modules' folder relative to this file's, set by the build (scripts/bundle.mjs). */
declare const __AIRUN_COMPILED_DIR__: string;

const bundle = fileURLToPath(import.meta.url).replace(/\.mjs$/, ".cjs");
let cachedData: Buffer | undefined;
try {
  cachedData = readFileSync(`${bundle}.v8cache`);
} catch {
  // no cache (a build without one): compile from source
}
launchBundle(bundle, {
  ...(cachedData ? { cachedData } : {}),
  importModule: (url) => import(url),
  compiledDir: join(dirname(bundle), __AIRUN_COMPILED_DIR__),
});
