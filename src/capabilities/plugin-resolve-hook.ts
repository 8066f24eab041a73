/**
 * @module A module resolution hook, registered by the `airun` command before it imports user
 * plugins (`plugins.ts`, `module.register`). A plugin file may live next to `airun.yaml` with no
 * npm project around it; its `import { defineCapability } from "airun"` and
 * `import { z } from "zod"` then find nothing. When, and only when, Node's own resolution fails
 * for `airun` or `zod` (or `zod/…`), this resolves them to the copies the running airun ships:
 * its SDK entry and the zod it depends on. A plugin with its own `node_modules` keeps using
 * those. Runs in Node's loader thread: it must not import anything of Airun.
 */

/** Where the running airun's own copies are (file URLs). */
export interface RuntimeCopies {
  /** The SDK entry (`dist/sdk/index.js`): what `import "airun"` loads. */
  readonly sdk: string;
  /** A file inside the airun package: `zod` is resolved as if imported from there. */
  readonly base: string;
}

interface ResolveContext {
  readonly parentURL?: string | undefined;
  readonly conditions?: readonly string[];
  readonly importAttributes?: Record<string, string>;
}
type NextResolve = (specifier: string, context?: ResolveContext) => Promise<unknown>;

let copies: RuntimeCopies | undefined;

/** Receives the locations of the runtime's copies (`register(..., { data })`). */
export function initialize(data: RuntimeCopies): void {
  copies = data;
}

/** Node's resolution first; the runtime's copy of `airun` or `zod` when that fails. */
export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve,
): Promise<unknown> {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (copies === undefined || (err as { code?: unknown })?.code !== "ERR_MODULE_NOT_FOUND") {
      throw err;
    }
    if (specifier === "airun") return nextResolve(copies.sdk, context);
    if (specifier === "zod" || specifier.startsWith("zod/")) {
      return nextResolve(specifier, { ...context, parentURL: copies.base });
    }
    throw err;
  }
}
