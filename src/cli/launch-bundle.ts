/**
 * @module Starts the CLI bundle: for the launcher (`launcher.ts`) at every command, and once for
 * the build, which writes the code cache of what that run compiled (`scripts/code-cache.mjs`).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";
import { BUNDLE_DIR, BUNDLE_IMPORT, BUNDLE_PARAMS } from "../core/bundle-launch.js";

/** What `launchBundle` lends the bundle. */
export interface BundleLaunch {
  /** The bundle's V8 code cache; one V8 rejects (another Node, other flags) is ignored. */
  readonly cachedData?: Buffer;
  /** The caller's `import()`, for `importModule`. */
  readonly importModule: (url: string) => Promise<Record<string, unknown>>;
  /** The compiled modules' folder, for `bundleDir`. */
  readonly compiledDir: string;
}

/**
 * Compiles the CLI bundle `file` as a function of `BUNDLE_PARAMS`, as Node compiles a CommonJS
 * module, with `cachedData` when given (`script.cachedDataRejected` tells whether V8 took it).
 * The build keeps the bundle ASCII, so it is read as latin1, which needs no decoding (UTF-8 takes
 * half as long again for this file), and V8 keeps it one byte a character (a few arrows in
 * comments used to make the whole source two).
 */
export function compileBundle(file: string, cachedData?: Buffer): Script {
  // The wrapper's first line is line 0 (`lineOffset`): positions in stack traces are the file's.
  const source = `(function (${BUNDLE_PARAMS.join(", ")}) {\n${readFileSync(file, "latin1")}\n})`;
  return new Script(source, {
    filename: file,
    lineOffset: -1,
    ...(cachedData ? { cachedData } : {}),
  });
}

/**
 * Compiles (`compileBundle`) and runs the CLI bundle `file`. Returns the compiled script: its
 * `createCachedData()` after a command ran holds every function that command compiled
 * (`scripts/code-cache.mjs` writes the build's code cache so).
 */
export function launchBundle(file: string, launch: BundleLaunch): Script {
  const script = compileBundle(file, launch.cachedData);
  const global = globalThis as Record<symbol, unknown>;
  global[BUNDLE_IMPORT] = launch.importModule;
  global[BUNDLE_DIR] = launch.compiledDir;
  const module = { exports: {} };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run(module.exports, createRequire(file), module, file, dirname(file));
  return script;
}
