/**
 * @module What the `airun` launcher (`cli/launcher.ts`, through `cli/launch-bundle.ts`), the build
 * that writes the CLI bundle's code cache (`scripts/code-cache.mjs`) and the bundle itself agree on.
 */

/** The CLI bundle is a CommonJS module body, compiled as a function of these parameters. */
export const BUNDLE_PARAMS = ["exports", "require", "module", "__filename", "__dirname"] as const;

/** Where the launcher leaves its `import()` for the bundle: code compiled through `vm` has none. */
export const BUNDLE_IMPORT = Symbol.for("airun.import");

/**
 * Where the launcher leaves the folder of the compiled modules (`dist/`, also for the test-only
 * crash harness in `dist-test/`), for plugins (`plugins.ts`).
 */
export const BUNDLE_DIR = Symbol.for("airun.dist");

/** The compiled modules' folder of the running CLI, or undefined outside it (the SDK, tests). */
export function bundleDir(): string | undefined {
  return (globalThis as Record<symbol, unknown>)[BUNDLE_DIR] as string | undefined;
}

/**
 * `import(url)`: the launcher's when running inside the CLI bundle, else this module's own (the
 * SDK, tests).
 */
export function importModule(url: string): Promise<Record<string, unknown>> {
  const borrowed = (globalThis as Record<symbol, unknown>)[BUNDLE_IMPORT] as
    | ((url: string) => Promise<Record<string, unknown>>)
    | undefined;
  return borrowed ? borrowed(url) : import(url);
}
