import { describe, expect, it } from "vitest";
import { z } from "zod";
import { fsCapabilities } from "../../src/capabilities/fs/index.js";
import {
  CapabilityRegistry,
  createStandardRegistry,
  describeCapability,
} from "../../src/capabilities/registry.js";
import { defineCapability } from "../../src/core/capability.js";
import { CapabilityRegistrationError } from "../../src/core/errors.js";

const demo = (name: string) =>
  defineCapability({
    name,
    description: `demo ${name}`,
    input: z.object({ x: z.number() }),
    risk: "LOW",
    effect: "read",
    idempotent: true,
    undo: "none",
    async execute({ x }) {
      return { x };
    },
  });

function registrationError(fn: () => unknown): CapabilityRegistrationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CapabilityRegistrationError);
    return err as CapabilityRegistrationError;
  }
  throw new Error("expected a CapabilityRegistrationError");
}

describe("CapabilityRegistry", () => {
  it("registers, gets and lists capabilities sorted by name", () => {
    const reg = new CapabilityRegistry();
    const b = demo("demo.b.run");
    const a = demo("demo.a.run");
    reg.register(b).register(a);
    expect(reg.get("demo.a.run")).toBe(a);
    expect(reg.get("demo.c.run")).toBeUndefined();
    expect(reg.names()).toEqual(["demo.a.run", "demo.b.run"]);
    expect(reg.list()).toEqual([a, b]);
  });

  it("refuses a duplicate name", () => {
    const reg = new CapabilityRegistry().register(demo("demo.a.run"));
    const err = registrationError(() => reg.register(demo("demo.a.run")));
    expect(err.code).toBe("CAPABILITY_DUPLICATE");
    expect(err.context.capability).toBe("demo.a.run");
  });

  it("refuses a malformed declaration (builtin undo without revert, unknown effect)", () => {
    const reg = new CapabilityRegistry();
    const noRevert = {
      ...demo("demo.a.write"),
      undo: "builtin",
      prepare: async () => ({ data: null }),
    };
    const err = registrationError(() => reg.register(noRevert as never));
    expect(err.code).toBe("CAPABILITY_INVALID");
    expect(err.message).toContain("revert");
    const badEffect = { ...demo("demo.a.write"), effect: "teleport" };
    expect(registrationError(() => reg.register(badEffect as never)).message).toContain("effect");
    expect(reg.names()).toEqual([]);
  });

  it("refuses a pure capability with an effect, and a pure flag that is not a boolean", () => {
    const reg = new CapabilityRegistry();
    const pureWrite = {
      ...demo("demo.a.write"),
      pure: true,
      effect: "write",
      undo: "irreversible",
    };
    expect(registrationError(() => reg.register(pureWrite as never)).message).toContain(
      'a pure capability has undo "none" and effect "read"',
    );
    const notBool = { ...demo("demo.a.read"), pure: "yes" };
    expect(registrationError(() => reg.register(notBool as never)).message).toContain(
      "pure must be a boolean",
    );
    reg.register({ ...demo("demo.a.echo"), pure: true });
    expect(reg.names()).toEqual(["demo.a.echo"]);
  });
});

describe("createStandardRegistry", () => {
  it("holds the file capabilities, net.http.request, sys.exec.run, the sys helpers, the small stdlib and db.*", () => {
    const reg = createStandardRegistry();
    for (const name of [
      "net.http.request",
      "sys.exec.run",
      "sys.echo",
      "sys.sleep",
      "sys.fail",
      "sys.assert",
      "llm.chat",
      "data.json.parse",
      "data.json.stringify",
      "data.json.get",
      "text.template.render",
      "text.regex.match",
      "sys.info.get_time",
      "sys.info.get_os",
      "sys.info.get_env_var",
      "db.row.insert",
      "db.row.update",
      "db.row.delete",
      "db.row.select",
      "db.sql.query",
      "db.sql.execute",
      ...fsCapabilities.map((c) => c.name),
    ]) {
      expect(reg.get(name), name).toBeDefined();
    }
    expect(reg.names().length).toBe(21 + fsCapabilities.length);
  });

  it("returns independent registries", () => {
    const one = createStandardRegistry();
    one.register(demo("demo.only.here"));
    expect(createStandardRegistry().get("demo.only.here")).toBeUndefined();
  });
});

describe("describeCapability", () => {
  it("summarizes a capability as JSON, with its input JSON Schema", () => {
    const reg = createStandardRegistry();
    const d = describeCapability(reg.get("net.http.request")!);
    expect(d).toMatchObject({
      name: "net.http.request",
      risk: "LOW",
      effect: "network",
      undo: "compensation",
      idempotent: false,
      nondeterministic: true,
    });
    expect(d.sensitive).toContain("headers.authorization");
    const schema = d.inputSchema as {
      type: string;
      properties: Record<string, unknown>;
      required: string[];
    };
    expect(schema.type).toBe("object");
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(["method", "url", "headers", "body"]),
    );
    expect(schema.required).toEqual(["url"]);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });

  it("describes every standard capability without throwing", () => {
    for (const cap of createStandardRegistry().list()) {
      const d = describeCapability(cap);
      expect(d.name).toBe(cap.name);
      expect(d.inputSchema, cap.name).not.toBeNull();
    }
  });

  it("reports inputSchema null when the schema is not one zod can express", () => {
    const foreign = { safeParse: (v: unknown) => ({ success: true, data: v }) };
    const d = describeCapability({ ...demo("demo.a.run"), input: foreign } as never);
    expect(d.name).toBe("demo.a.run");
    expect(d.inputSchema).toBeNull();
  });
});
