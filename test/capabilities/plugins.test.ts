import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { isCapabilityLike, loadPlugins } from "../../src/capabilities/plugins.js";
import { CapabilityRegistry } from "../../src/capabilities/registry.js";
import { sysEcho } from "../../src/capabilities/sys/echo.js";
import { PluginError } from "../../src/core/errors.js";
import { makeCtx } from "./helpers.js";

const FIXTURES = resolve(import.meta.dirname, "../fixtures/plugins");

function registry(): CapabilityRegistry {
  return new CapabilityRegistry().register(sysEcho);
}

async function pluginError(p: Promise<unknown>): Promise<PluginError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PluginError);
  return err as PluginError;
}

describe("loadPlugins", () => {
  it("registers every capability a module exports (default array, named, deduplicated)", async () => {
    const reg = registry();
    const names = await loadPlugins(reg, ["greet.mjs", "./single-default.mjs"], FIXTURES);
    expect(names.sort()).toEqual([
      "demo.greet.say",
      "demo.greet.shout",
      "demo.greet.wave",
      "demo.single.ping",
    ]);
    expect(reg.names()).toEqual([
      "demo.greet.say",
      "demo.greet.shout",
      "demo.greet.wave",
      "demo.single.ping",
      "sys.echo",
    ]);
    const say = reg.get("demo.greet.say")!;
    expect(await say.execute(say.input.parse({ who: "ada" }), makeCtx())).toEqual({
      text: "hello ada",
    });
  });

  it("resolves module paths against baseDir, and accepts absolute paths", async () => {
    const reg = registry();
    await loadPlugins(reg, ["plugins/single-default.mjs"], join(FIXTURES, ".."));
    expect(reg.get("demo.single.ping")).toBeDefined();
    const reg2 = registry();
    await loadPlugins(reg2, [join(FIXTURES, "single-default.mjs")], "/nonexistent");
    expect(reg2.get("demo.single.ping")).toBeDefined();
  });

  it("names the module when the file is missing", async () => {
    const err = await pluginError(loadPlugins(registry(), ["nope.mjs"], FIXTURES));
    expect(err.code).toBe("PLUGIN_NOT_FOUND");
    expect(err.message).toContain("nope.mjs");
    expect(err.context.plugin).toBe("nope.mjs");
  });

  it("names the module when it throws while being imported", async () => {
    const err = await pluginError(loadPlugins(registry(), ["throws-on-import.mjs"], FIXTURES));
    expect(err.code).toBe("PLUGIN_LOAD_FAILED");
    expect(err.message).toContain("throws-on-import.mjs");
    expect(err.message).toContain("plugin exploded during import");
  });

  it("refuses a module that exports no capability", async () => {
    const err = await pluginError(loadPlugins(registry(), ["no-capability.mjs"], FIXTURES));
    expect(err.code).toBe("PLUGIN_NO_CAPABILITY");
    expect(err.message).toContain("no-capability.mjs");
  });

  it("refuses a duplicate name and registers nothing from that module", async () => {
    const reg = registry();
    await loadPlugins(reg, ["greet.mjs"], FIXTURES);
    const err = await pluginError(loadPlugins(reg, ["duplicate.mjs"], FIXTURES));
    expect(err.code).toBe("CAPABILITY_DUPLICATE");
    expect(err.message).toContain("duplicate.mjs");
    expect(err.context.capability).toBe("demo.greet.say");
    expect(reg.get("demo.other.thing")).toBeUndefined();
  });

  it.each([
    ["builtin-without-revert.mjs", "revert"],
    ["bad-name.mjs", "domain.group.verb"],
    ["bad-risk.mjs", "risk"],
  ])("refuses an invalid capability in %s", async (file, why) => {
    const reg = registry();
    const err = await pluginError(loadPlugins(reg, [file], FIXTURES));
    expect(err.code).toBe("PLUGIN_INVALID_CAPABILITY");
    expect(err.message).toContain(file);
    expect(err.message).toContain(why);
    expect(reg.names()).toEqual(["sys.echo"]);
  });
});

describe("isCapabilityLike", () => {
  it("detects capabilities by shape: name, execute and a schema with safeParse", () => {
    expect(isCapabilityLike(sysEcho)).toBe(true);
    expect(isCapabilityLike({ name: "a.b.c", execute() {} })).toBe(false);
    expect(isCapabilityLike({ name: "a.b.c", input: { safeParse() {} } })).toBe(false);
    expect(isCapabilityLike(null)).toBe(false);
  });
});
