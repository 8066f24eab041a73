/** @module Declared capabilities as capabilities: schemas, requests built from templates, secrets masked. */
import { describe, expect, it } from "vitest";
import {
  declaredCapability,
  registerDeclared,
  resolveUrl,
} from "../../src/capabilities/declared.js";
import { createStandardRegistry } from "../../src/capabilities/registry.js";
import { compileDeclarationMap } from "../../src/core/capability-decl.js";
import { CapabilityError, ValidationError } from "../../src/core/errors.js";
import { parseYamlSource } from "../../src/core/yaml-source.js";
import { makeCtx, tempDir } from "./helpers.js";

function declarations(yaml: string) {
  const src = parseYamlSource("airun.yaml", yaml);
  const out = compileDeclarationMap(src, (src.value as { capabilities: unknown }).capabilities, [
    "capabilities",
  ]);
  expect(out.problems).toEqual([]);
  return out.declarations;
}

const SECRET = "s3cr3t-value-91ab";

describe("declaredCapability", () => {
  const [printer, lister] = declarations(`capabilities:
  demo.env.print:
    inputs:
      var: { type: string, enum: [TOKEN, OTHER] }
      times: { type: integer, default: 1 }
      note: { type: string, required: false }
    risk: LOW
    effect: read
    command:
      argv: [printenv, "{{ inputs.var }}"]
      env: { TOKEN: "\${{ secrets.DEMO_TOKEN }}", OTHER: "n={{ inputs.times }}" }
  demo.file.list:
    inputs: { name: string }
    risk: LOW
    effect: read
    command: { argv: [ls, "\${{ secrets.DEMO_TOKEN }}-{{ inputs.name }}"] }
`);
  const env = { DEMO_TOKEN: SECRET };

  it("types its inputs: required, defaults, enum, no unknown keys", () => {
    const cap = declaredCapability(printer!, env);
    expect(cap.input.parse({ var: "OTHER" })).toEqual({ var: "OTHER", times: 1 });
    expect(cap.input.safeParse({}).success).toBe(false);
    expect(cap.input.safeParse({ var: "PATH" }).success).toBe(false);
    expect(cap.input.safeParse({ var: "OTHER", times: 1.5 }).success).toBe(false);
    expect(cap.input.safeParse({ var: "OTHER", extra: 1 }).success).toBe(false);
    expect([cap.risk, cap.effect, cap.undo, cap.idempotent]).toEqual([
      "LOW",
      "read",
      "none",
      false,
    ]);
  });

  it("runs its argv template through sys.exec.run and masks the secret it read in the output", async () => {
    const root = await tempDir();
    const cap = declaredCapability(printer!, env);
    const ctx = makeCtx({ sandbox: { fsRoots: [root], execAllow: ["printenv"] } });
    expect(await cap.execute(cap.input.parse({ var: "OTHER", times: 4 }), ctx)).toMatchObject({
      exit_code: 0,
      stdout: "n=4\n",
    });
    expect(await cap.execute(cap.input.parse({ var: "TOKEN" }), ctx)).toMatchObject({
      stdout: "***\n",
    });
  });

  it("masks the secret in a failure's message, under its own name", async () => {
    const root = await tempDir();
    const cap = declaredCapability(lister!, env);
    const ctx = makeCtx({ sandbox: { fsRoots: [root], execAllow: ["ls"] } });
    const err = await cap.execute({ name: "x" }, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapabilityError);
    expect((err as CapabilityError).code).toBe("EXEC_EXIT");
    expect((err as CapabilityError).message).not.toContain(SECRET);
    expect((err as CapabilityError).message).toContain("***-x");
    expect((err as CapabilityError).context).toMatchObject({
      capability: "demo.file.list",
      via: "sys.exec.run",
    });
  });

  it("refuses a binary outside the exec allowlist in its preflight", async () => {
    const cap = declaredCapability(printer!, env);
    await expect(
      cap.preflight?.({ var: "OTHER", times: 1 }, makeCtx({ sandbox: { execAllow: ["ls"] } })),
    ).rejects.toMatchObject({ code: "SANDBOX_VIOLATION" });
  });

  it("fails with INVALID_REQUEST, not a crash, when a secret it reads is unset", async () => {
    const cap = declaredCapability(printer!, {});
    const err = await cap
      .execute({ var: "TOKEN", times: 1 }, makeCtx({ sandbox: { execAllow: ["printenv"] } }))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "INVALID_REQUEST" });
  });
});

describe("resolveUrl", () => {
  it("percent-encodes every value but a leading base URL", () => {
    const scope = { vars: { inputs: { id: "a/b?c=1#x", base: "https://api.example.com/v1" } } };
    expect(resolveUrl("https://api.example.com/items/${{ inputs.id }}", scope)).toBe(
      "https://api.example.com/items/a%2Fb%3Fc%3D1%23x",
    );
    expect(resolveUrl("${{ inputs.base }}/items?q=${{ inputs.id }}", scope)).toBe(
      "https://api.example.com/v1/items?q=a%2Fb%3Fc%3D1%23x",
    );
  });
});

describe("registerDeclared", () => {
  it("refuses a name already registered, naming where it is declared", () => {
    const decls = declarations(`capabilities:
  sys.echo:
    risk: LOW
    command: { argv: [ls] }
`);
    let err: unknown;
    try {
      registerDeclared(createStandardRegistry(), decls, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toMatch(
      /^airun\.yaml:3:\d+: capabilities\.sys\.echo: capability "sys\.echo" is already registered/,
    );
  });
});
