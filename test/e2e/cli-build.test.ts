/**
 * The built CLI bundle as its launcher loads it: ASCII only (the launcher reads it as latin1) and
 * with a code cache V8 accepts (a rejected cache costs every command its compile time, silently).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { compileBundle } from "../../src/cli/launch-bundle.js";

const BUNDLE = resolve("dist/airun.cjs");

describe("the CLI bundle", () => {
  it("is ASCII only", () => {
    expect(readFileSync(BUNDLE).findIndex((byte) => byte > 0x7f)).toBe(-1);
  });

  it("compiles with the code cache the build wrote beside it", () => {
    const cache = readFileSync(`${BUNDLE}.v8cache`);
    expect(compileBundle(BUNDLE, cache).cachedDataRejected).toBe(false);
  });
});
