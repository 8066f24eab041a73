/**
 * `instanceof` across module copies: a plugin throws errors built from the `airun` package
 * while the bundled binary carries its own copy of the classes; a retryable CapabilityError
 * must still be seen as one (regression: it was treated as an untyped failure).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import {
  AirunError,
  CapabilityError,
  ConflictError,
  DriftError,
  SandboxError,
} from "../../src/core/errors.js";

/**
 * A separate copy of the built errors module (as a plugin's import of the `airun` package is,
 * next to the bundled binary's own copy).
 */
async function otherCopy(): Promise<typeof import("../../src/core/errors.js")> {
  const dir = mkdtempSync(join(tmpdir(), "airun-errors-copy-"));
  // The module and what it imports at run time (type-only imports are erased).
  for (const name of ["errors.js", "json.js"]) {
    const built = readFileSync(join(import.meta.dirname, "../../dist/core", name), "utf8");
    writeFileSync(join(dir, name), built.replace(/^\/\/# sourceMappingURL=.*$/m, ""));
  }
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }');
  return import(/* @vite-ignore */ pathToFileURL(join(dir, "errors.js")).href);
}

describe("error classes across module copies", () => {
  it("recognise another copy's instances by kind, subclasses included", async () => {
    const other = await otherCopy();
    expect(other.CapabilityError).not.toBe(CapabilityError);
    const e = new other.CapabilityError("UPSTREAM", "busy", { retryable: true });
    expect(e instanceof CapabilityError).toBe(true);
    expect(e instanceof AirunError).toBe(true);
    expect(e instanceof SandboxError).toBe(false);
    expect((e as CapabilityError).retryable).toBe(true);
    const drift = new other.DriftError("changed since");
    expect(drift instanceof DriftError).toBe(true);
    expect(drift instanceof CapabilityError).toBe(true);
    expect(new other.ConflictError("x") instanceof CapabilityError).toBe(false);
    expect(new other.ConflictError("x") instanceof ConflictError).toBe(true);
  });

  it("do not mistake plain errors or look-alikes without the brand for Airun errors", () => {
    const fake = Object.assign(new Error("x"), {
      name: "CapabilityError",
      code: "X",
      retryable: true,
    });
    expect(fake instanceof CapabilityError).toBe(false);
    const nothing: unknown = null;
    expect(nothing instanceof AirunError).toBe(false);
    expect(new AirunError("INTERNAL", "y") instanceof CapabilityError).toBe(false);
  });

  it("a subclass without its own kind matches only its own instances", () => {
    class Local extends AirunError {}
    expect(new AirunError("INTERNAL", "y") instanceof Local).toBe(false);
    expect(new Local("INTERNAL", "y") instanceof Local).toBe(true);
    expect(new Local("INTERNAL", "y") instanceof AirunError).toBe(true);
  });
});
