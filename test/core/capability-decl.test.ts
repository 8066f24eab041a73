/** @module Declared capabilities compiled from YAML: the forms accepted and every problem located. */
import { describe, expect, it } from "vitest";
import { compileDeclarationFile, compileDeclarationMap } from "../../src/core/capability-decl.js";
import { parseYamlSource } from "../../src/core/yaml-source.js";

function fromConfig(text: string) {
  const src = parseYamlSource("airun.yaml", text);
  return compileDeclarationMap(src, (src.value as { capabilities: unknown }).capabilities, [
    "capabilities",
  ]);
}

describe("compileDeclarationMap", () => {
  it("compiles a command declaration with typed inputs, defaults and a compensation", () => {
    const { declarations, problems } = fromConfig(`capabilities:
  crm.account.create:
    description: Creates an account
    inputs:
      name: string
      tier: { type: string, default: basic, enum: [basic, gold] }
      seats: { type: integer, required: false }
    risk: high
    idempotent: true
    sensitive: [name]
    command:
      argv: [crm, create, "{{ inputs.name }}", --tier, "\${{ inputs.tier }}"]
      env: { CRM_TOKEN: "\${{ secrets.CRM_TOKEN }}" }
      parse_json: true
    compensation:
      capability: crm.account.delete
      inputs: { id: "{{ outputs.json.id }}" }
`);
    expect(problems).toEqual([]);
    expect(declarations).toHaveLength(1);
    const d = declarations[0]!;
    expect(d).toMatchObject({
      name: "crm.account.create",
      risk: "HIGH",
      effect: "exec",
      idempotent: true,
      sensitive: ["name"],
      inputs: {
        name: { type: "string", required: true },
        tier: { type: "string", required: false, default: "basic", enum: ["basic", "gold"] },
        seats: { type: "integer", required: false },
      },
      action: {
        kind: "command",
        argv: ["crm", "create", "${{ inputs.name }}", "--tier", "${{ inputs.tier }}"],
        env: { CRM_TOKEN: "${{ secrets.CRM_TOKEN }}" },
        parseJson: true,
      },
      compensation: { capability: "crm.account.delete", inputs: { id: "${{ outputs.json.id }}" } },
      at: { file: "airun.yaml", line: 3 }, // where its first key is
    });
    expect(Object.isFrozen(d.action)).toBe(true);
  });

  it("locates every problem by line and field", () => {
    const { declarations, problems } = fromConfig(`capabilities:
  Bad-Name:
    risk: MEDIUM
    command: { argv: [x] }
  demo.http.call:
    risk: LOW
    effect: teleport
    http:
      method: GET
      url: "https://api.example.com/{{ inputs.missing }}"
      headers: { Host: evil }
      body: "x"
    compensation: { capability: demo.http.undo, inputs: { a: "{{ run.id }}" } }
  demo.both.kinds:
    risk: LOW
    command: { argv: ["{{ inputs.bin }}"] }
    http: { url: "https://x" }
    inputs: { bin: string }
`);
    expect(declarations).toEqual([]);
    const lines = problems.map((p) => `${p.line} ${p.field}: ${p.message}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^3 capabilities\.Bad-Name: capability name "Bad-Name" must be dotted/,
        ),
        expect.stringMatching(/^7 capabilities\.demo\.http\.call\.effect: effect must be one of/),
        expect.stringMatching(
          /^10 capabilities\.demo\.http\.call\.http\.url: unresolved reference "inputs\.missing"/,
        ),
        expect.stringMatching(
          /^11 capabilities\.demo\.http\.call\.http\.headers\.Host: the Host header may not be set/,
        ),
        expect.stringMatching(
          /^12 capabilities\.demo\.http\.call\.http\.body: GET cannot have a body/,
        ),
        expect.stringMatching(
          /^13 capabilities\.demo\.http\.call\.compensation\.inputs\.a: unresolved reference "run\.id"/,
        ),
        expect.stringMatching(
          /^15 capabilities\.demo\.both\.kinds: declare exactly one of command/,
        ),
        expect.stringMatching(
          /^16 capabilities\.demo\.both\.kinds\.command\.argv\[0\]: argv\[0\], the program, must be written out/,
        ),
      ]),
    );
  });

  it("requires a risk and refuses a default of the wrong type", () => {
    const { problems } = fromConfig(`capabilities:
  demo.x.y:
    inputs: { n: { type: integer, default: "three" } }
    command: { argv: [true] }
`);
    expect(problems.map((p) => p.message)).toEqual(
      expect.arrayContaining([
        "default does not have type integer",
        "the declaration needs a risk (LOW, MEDIUM, HIGH, CRITICAL)",
      ]),
    );
  });
});

describe("compileDeclarationFile", () => {
  it("accepts the original's capability-spec shape (id, parameters, risk.level, operation_type)", () => {
    const src = parseYamlSource(
      "capabilities/rm.yaml",
      `id: demo.file.remove
description: Removes a file
operation_type: DELETE
risk: { level: HIGH, justification: deletes }
parameters:
  - { name: path, type: string, required: true, description: what to remove }
  - { name: force, type: boolean, default: null }
metadata: { version: 1.0.0 }
command: { argv: [rm, "{{ inputs.path }}"] }
`,
    );
    const { declarations, problems } = compileDeclarationFile(src);
    expect(problems).toEqual([]);
    expect(declarations[0]).toMatchObject({
      name: "demo.file.remove",
      risk: "HIGH",
      effect: "delete",
      inputs: {
        path: { type: "string", required: true, description: "what to remove" },
        force: { type: "boolean", required: false },
      },
    });
  });

  it("accepts several declarations under capabilities:, each with its default effect", () => {
    const src = parseYamlSource(
      "capabilities/many.yaml",
      `capabilities:
  demo.a.one: { risk: LOW, http: { url: "https://x.example/a" } }
  demo.a.two: { risk: LOW, http: { method: post, url: "https://x.example/b" } }
  demo.a.three: { risk: LOW, command: { argv: ["true"] } }
`,
    );
    // Default effects: a GET reads (as net.http.request classifies it), a POST is a network
    // effect, a command an exec.
    expect(compileDeclarationFile(src).declarations.map((d) => [d.name, d.effect])).toEqual([
      ["demo.a.one", "read"],
      ["demo.a.two", "network"],
      ["demo.a.three", "exec"],
    ]);
  });
});
