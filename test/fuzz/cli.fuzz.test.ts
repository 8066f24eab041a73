/**
 * @module Fuzzing through the built CLI, where users meet the loaders (issue 13): generated,
 * edited and damaged workflow specs under `airun validate`, and policies under
 * `airun policy check`. Exit 0 for what is valid, exit 2 naming the file for what is not,
 * never a stack trace or another exit code. Few cases (each spawns a process).
 */
import fc from "fast-check";
import { afterAll, describe, it } from "vitest";
import { project, tempRoot } from "../e2e/project.js";
import {
  aliasBomb,
  applyEdits,
  damagedBytes,
  deepNesting,
  edits,
  nativeSpec,
  policyDoc,
  seedSpec,
  toYaml,
} from "./arbitraries.js";
import { type FuzzOptions, fuzzAsync, timeoutOf } from "./kit.js";

const root = tempRoot("fuzz-cli");
afterAll(() => root.cleanup());

/** Damage to apply to a text: none, or a few random edits. */
const damage = edits(
  [":", "-", "\n", "[", "{", '"', "&a", "*a", "\t", "\u0000", "${{ (", "}}"],
  0,
  3,
);

/** The CLI's answer must be 0 (valid) or 2 (named problems), with no internal failure shown. */
function assertAnswer(
  r: { code: number | null; stdout: string; stderr: string },
  file: string,
  valid: boolean,
): void {
  const out = `${r.stdout}\n${r.stderr}`;
  if (/\n\s+at .+:\d+:\d+\)?\n|Maximum call stack|TypeError|RangeError/.test(out)) {
    throw new Error(`an internal failure was shown (exit ${r.code}):\n${out.slice(0, 2000)}`);
  }
  if (valid && r.code !== 0)
    throw new Error(`a valid file was refused (exit ${r.code}):\n${out.slice(0, 2000)}`);
  if (r.code !== 0 && r.code !== 2) throw new Error(`exit ${r.code}:\n${out.slice(0, 2000)}`);
  if (r.code === 2 && !out.includes(file))
    throw new Error(`the refusal does not name ${file}:\n${out.slice(0, 2000)}`);
}

describe("fuzz: the built CLI", () => {
  const VALIDATE: FuzzOptions = { runs: 6, kind: "cli", caseMs: 60_000 };
  it(
    "airun validate answers 0 or 2 (naming the file) for any spec",
    async () => {
      const p = project(root.path);
      const specText = fc
        .oneof(nativeSpec, seedSpec)
        .chain((d) => fc.record({ text: fc.constant(toYaml(d.value, 0)), es: damage }));
      const input = fc.oneof(
        specText.map(({ text, es }) => ({
          bytes: Buffer.from(applyEdits(text, es)),
          valid: es.length === 0,
        })),
        aliasBomb.map((b) => ({ bytes: Buffer.from(b.text), valid: false })),
        deepNesting
          .filter((d) => d.depth > 100)
          .map((d) => ({ bytes: Buffer.from(d.text), valid: false })),
        damagedBytes(specText.map((s) => s.text)).map((b) => ({
          bytes: Buffer.from(b),
          valid: false,
        })),
      );
      await fuzzAsync(
        "cli: airun validate",
        input,
        async ({ bytes, valid }) => {
          p.write("workflow.yaml", bytes);
          assertAnswer(await p.run(["validate", "workflow.yaml"]), "workflow.yaml", valid);
        },
        VALIDATE,
      );
    },
    timeoutOf(VALIDATE),
  );

  const CHECK: FuzzOptions = { runs: 4, kind: "cli", caseMs: 60_000 };
  it(
    "airun policy check answers 0 or 2 (naming the file) for any policy",
    async () => {
      const p = project(root.path, { policy: "version: 1\n" });
      const input = fc.oneof(
        fc.record({ d: policyDoc, es: damage }).map(({ d, es }) => ({
          text: applyEdits(toYaml(d.value, 0), es),
          valid: es.length === 0,
        })),
        deepNesting.filter((d) => d.depth > 100).map((d) => ({ text: d.text, valid: false })),
      );
      await fuzzAsync(
        "cli: airun policy check",
        input,
        async ({ text, valid }) => {
          p.write("policies.yaml", text);
          const r = await p.run([
            "policy",
            "check",
            "--as",
            "agent:fuzz",
            "--capability",
            "io.fs.read_file",
            "--input",
            "path=a.txt",
          ]);
          assertAnswer(r, "policies.yaml", valid);
        },
        CHECK,
      );
    },
    timeoutOf(CHECK),
  );
});
