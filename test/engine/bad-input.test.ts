/**
 * Bad input is refused with an error that names the file and field, before anything runs.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/core/errors.js";
import { type Workspace, workspace } from "./helpers.js";

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

const SPEC = `name: typed
version: 1
inputs:
  count: { type: number }
  label: { type: string, default: x }
steps:
  - id: w
    capability: io.fs.write_file
    inputs: { path: "out-\${{ inputs.label }}.txt", content: "n=\${{ inputs.count }}" }
`;

describe("bad input", () => {
  it("refuses a missing required input, a wrongly typed one and an unknown one, naming each", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const spec = await w.spec("typed.yaml", SPEC);
      const err = await rt
        .startRun({ specFile: spec, inputs: { count: "many", colour: "red" } })
        .catch((e) => e);
      expect(err).toBeInstanceOf(ValidationError);
      const fields = (err as ValidationError).problems.map((p) => p.field).sort();
      expect(fields).toEqual(["inputs.colour", "inputs.count"]);
      expect((err as ValidationError).problems.every((p) => p.file === spec)).toBe(true);
      await expect(rt.startRun({ specFile: spec })).rejects.toThrow(
        /inputs\.count: required input is missing/,
      );
      expect(await rt.listRuns()).toEqual([]);
      const ok = await rt.startRun({ specFile: spec, inputs: { count: "3" } });
      expect(ok.status).toBe("COMPLETED");
      expect(existsSync(join(w.ws, "out-x.txt"))).toBe(true);
    } finally {
      await rt.close();
    }
  });

  it("refuses an oversized spec file without reading it into a run", async () => {
    w = await workspace();
    const rt = await w.open();
    try {
      const huge = await w.spec("huge.yaml", `${SPEC}# ${"x".repeat(5 * 1024 * 1024)}\n`);
      await expect(rt.startRun({ specFile: huge })).rejects.toThrow(/limit is 4194304 bytes/);
      expect(await rt.listRuns()).toEqual([]);
    } finally {
      await rt.close();
    }
  });
});
