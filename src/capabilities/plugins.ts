/**
 * @module Loads user plugins: ES modules that export capabilities built with `defineCapability`
 * (from the `airun` package). Config lists the modules (`plugins: ["./capabilities/cloud.js"]`,
 * relative to the config file's folder); each is imported and every capability it exports is
 * registered. A module is all or nothing: if one of its capabilities is refused, none of them is
 * registered. Every error names the module.
 */
import { stat } from "node:fs/promises";
import { register } from "node:module";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { bundleDir, importModule } from "../core/bundle-launch.js";
import { type AnyCapability, defineCapability, PLUGIN_NAME } from "../core/capability.js";
import { PluginError } from "../core/errors.js";
import type { RuntimeCopies } from "./plugin-resolve-hook.js";
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

let lent = false;

/**
 * Inside the `airun` command, lets plugins import the runtime's own `airun` and `zod` when they
 * have none of their own (`plugin-resolve-hook.ts`), once per process and only when a plugin
 * is configured (registering a hook starts Node's loader thread). Chosen over handing the
 * plugin an API object: a plugin written for the SDK (`import … from "airun"`) loads unchanged
 * from a bare folder and from an npm project alike. Outside the command (the SDK), the host's
 * own resolution applies. Without `module.register` (Node < 20.6) the import error says what
 * to install.
 */
function lendRuntimeCopies(): void {
  const dist = bundleDir();
  if (lent || dist === undefined || typeof register !== "function") return;
  lent = true;
  const copies: RuntimeCopies = {
    sdk: pathToFileURL(join(dist, "sdk", "index.js")).href,
    base: pathToFileURL(join(dist, "airun.cjs")).href,
  };
  register(pathToFileURL(join(dist, "capabilities", "plugin-resolve-hook.js")), {
    data: copies,
  });
}

/** What to do about a package a plugin imports that cannot be found, or "". */
function missingPackageAdvice(err: unknown, file: string): string {
  if ((err as { code?: unknown })?.code !== "ERR_MODULE_NOT_FOUND") return "";
  const name = /Cannot find package '([^']+)'/.exec(String((err as Error).message))?.[1];
  if (name === undefined) return "";
  return ` (a plugin's own dependencies are installed next to it: run "npm install ${name}" in ${dirname(file)}; "airun" and "zod" resolve to airun's own copies when the plugin has none)`;
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
  if (modulePaths.length > 0) lendRuntimeCopies();
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
        `plugin ${plugin}: cannot import: ${(err as Error)?.message ?? String(err)}${missingPackageAdvice(err, file)}`,
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
