/**
 * @module Loads user plugins: ES modules that export capabilities built with `defineCapability`
 * (from the `airun` package). Config lists the modules (`plugins: ["./capabilities/cloud.js"]`,
 * relative to the config file's folder); each is imported and every capability it exports is
 * registered. A module is all or nothing: if one of its capabilities is refused, none of them is
 * registered. Every error names the module.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { importModule } from "../core/bundle-launch.js";
import { type AnyCapability, defineCapability, PLUGIN_NAME } from "../core/capability.js";
import { PluginError } from "../core/errors.js";
import type { CapabilityRegistry } from "./registry.js";

/**
 * True when `value` looks like a capability: an object with a string `name`, a function
 * `execute` and an `input` with `safeParse` (a zod schema, from any copy of zod).
 */
export function isCapabilityLike(value: unknown): value is AnyCapability {
  if (typeof value !== "object" || value === null) return false;
  const v = value as { name?: unknown; execute?: unknown; input?: { safeParse?: unknown } };
  return (
    typeof v.name === "string" &&
    typeof v.execute === "function" &&
    typeof v.input?.safeParse === "function"
  );
}

/** The capabilities a module exports: the default export (one or an array) and named exports. */
function exportedCapabilities(mod: Record<string, unknown>, plugin: string): AnyCapability[] {
  const found = new Set<AnyCapability>();
  for (const [key, value] of Object.entries(mod)) {
    if (isCapabilityLike(value)) {
      found.add(value);
    } else if (Array.isArray(value) && value.length > 0 && value.some(isCapabilityLike)) {
      const bad = value.findIndex((v) => !isCapabilityLike(v));
      if (bad >= 0) {
        throw new PluginError(
          "PLUGIN_INVALID_CAPABILITY",
          `plugin ${plugin}: export "${key}"[${bad}] is not a capability`,
          { plugin },
        );
      }
      for (const v of value) found.add(v as AnyCapability);
    } else if (key === "default" && value !== undefined) {
      throw new PluginError(
        "PLUGIN_INVALID_CAPABILITY",
        `plugin ${plugin}: the default export is neither a capability nor an array of them`,
        { plugin },
      );
    }
  }
  return [...found];
}

/** Checks a plugin capability with the registry's rules and `defineCapability`'s. */
function validated(
  registry: CapabilityRegistry,
  cap: AnyCapability,
  plugin: string,
): AnyCapability {
  const problems = registry.check(cap);
  if (typeof cap.name === "string" && !PLUGIN_NAME.test(cap.name)) {
    problems.push(
      `name ${JSON.stringify(cap.name)} must look like domain.verb or domain.group.verb`,
    );
  }
  if (problems.length > 0) {
    throw new PluginError(
      "PLUGIN_INVALID_CAPABILITY",
      `plugin ${plugin}: capability "${cap.name}": ${problems.join("; ")}`,
      { plugin, capability: cap.name },
    );
  }
  try {
    defineCapability(cap); // the same name and undo rules a plugin author's own call applies
    return cap;
  } catch (err) {
    throw new PluginError(
      "PLUGIN_INVALID_CAPABILITY",
      `plugin ${plugin}: ${(err as Error).message}`,
      { plugin, capability: cap.name },
      err,
    );
  }
}

/**
 * Imports each plugin module (paths relative to `baseDir`) and registers every capability it
 * exports, in order. Returns the names registered. Throws `PluginError` naming the module when a
 * file is missing, fails to import, exports no capability, exports a malformed one, or reuses a
 * name already registered.
 *
 * @example
 * const registry = createStandardRegistry();
 * await loadPlugins(registry, config.plugins, dirname(configPath));
 */
export async function loadPlugins(
  registry: CapabilityRegistry,
  modulePaths: readonly string[],
  baseDir: string,
): Promise<string[]> {
  const registered: string[] = [];
  for (const plugin of modulePaths) {
    const file = resolve(baseDir, plugin);
    try {
      if (!(await stat(file)).isFile()) throw new Error("not a file");
    } catch (err) {
      throw new PluginError(
        "PLUGIN_NOT_FOUND",
        `plugin ${plugin}: no module file at ${file}`,
        { plugin, file },
        err,
      );
    }
    let mod: Record<string, unknown>;
    try {
      mod = await importModule(pathToFileURL(file).href);
    } catch (err) {
      throw new PluginError(
        "PLUGIN_LOAD_FAILED",
        `plugin ${plugin}: cannot import: ${(err as Error)?.message ?? String(err)}`,
        { plugin, file },
        err,
      );
    }
    const caps = exportedCapabilities(mod, plugin).map((c) => validated(registry, c, plugin));
    if (caps.length === 0) {
      throw new PluginError("PLUGIN_NO_CAPABILITY", `plugin ${plugin}: exports no capability`, {
        plugin,
        file,
      });
    }
    const seen = new Set<string>();
    for (const cap of caps) {
      if (registry.has(cap.name) || seen.has(cap.name)) {
        throw new PluginError(
          "CAPABILITY_DUPLICATE",
          `plugin ${plugin}: capability "${cap.name}" is already registered`,
          { plugin, capability: cap.name },
        );
      }
      seen.add(cap.name);
    }
    for (const cap of caps) {
      registry.register(cap);
      registered.push(cap.name);
    }
  }
  return registered;
}
