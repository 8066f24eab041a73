import { describe, expect, it } from "vitest";
import { z } from "zod";
import { sysAssert } from "../../../src/capabilities/sys/assert.js";
import { sysEcho } from "../../../src/capabilities/sys/echo.js";
import { sysFail } from "../../../src/capabilities/sys/fail.js";
import { sysSleep } from "../../../src/capabilities/sys/sleep.js";
import type { AnyCapability } from "../../../src/core/capability.js";
import { CapabilityError } from "../../../src/core/errors.js";
import { makeCtx } from "../helpers.js";

async function call(cap: AnyCapability, raw: unknown, signal?: AbortSignal): Promise<unknown> {
  return cap.execute(cap.input.parse(raw), makeCtx(signal ? { signal } : {}));
}

async function failure(p: Promise<unknown>): Promise<CapabilityError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CapabilityError);
  return err as CapabilityError;
}

describe("sys.echo", () => {
  it("returns its inputs as its outputs", async () => {
    const inputs = { text: "hi", n: 3, nested: { list: [1, null, true] } };
    expect(await call(sysEcho, inputs)).toEqual(inputs);
  });

  it("accepts only a JSON object", () => {
    expect(sysEcho.input.safeParse("text").success).toBe(false);
    expect(sysEcho.input.safeParse([1]).success).toBe(false);
  });

  it("accepts and refuses exactly what z.record(z.string(), z.json()) does", () => {
    const reference = z.record(z.string(), z.json());
    class Point {
      x = 1;
    }
    const values: unknown[] = [
      {},
      { a: "s", b: 1.5, c: -0, d: true, e: null, f: [], g: {} },
      { deep: { list: [1, [2, [3, { x: "y" }]], null], o: { p: { q: false } } } },
      Object.assign(Object.create(null), { a: 1 }),
      { a: Object.assign(Object.create(null), { b: [1] }) },
      null,
      undefined,
      1,
      "text",
      true,
      [],
      [{ a: 1 }],
      { a: undefined },
      { a: Number.NaN },
      { a: Number.POSITIVE_INFINITY },
      { a: [1, Number.NEGATIVE_INFINITY] },
      { a: new Date(0) },
      { a: () => 1 },
      { a: 1n },
      { a: [undefined] },
      // biome-ignore lint/suspicious/noSparseArray: a hole is what is being tested
      { a: [1, , 2] },
      new Map([["a", 1]]),
      { a: new Map() },
      new Point(),
      { a: new Point() },
      { a: { b: { c: Symbol("s") } } },
      new Date(0),
    ];
    for (const [i, v] of values.entries()) {
      expect(sysEcho.input.safeParse(v).success, `values[${i}]`).toBe(
        reference.safeParse(v).success,
      );
    }
  });

  it("refuses symbol keys, own __proto__ keys and hidden properties instead of dropping them", () => {
    expect(sysEcho.input.safeParse({ [Symbol("k")]: 1 }).success).toBe(false);
    expect(sysEcho.input.safeParse(JSON.parse('{"__proto__": {"polluted": true}}')).success).toBe(
      false,
    );
    const hidden = { a: 1 };
    Object.defineProperty(hidden, "b", { value: 2, enumerable: false });
    expect(sysEcho.input.safeParse({ nested: hidden }).success).toBe(false);
  });

  it("returns a deep copy: the outputs never alias the inputs", async () => {
    const inputs = { nested: { list: [1, { x: 2 }] } };
    const out = (await call(sysEcho, inputs)) as typeof inputs;
    expect(out).toEqual(inputs);
    expect(out.nested).not.toBe(inputs.nested);
    expect(out.nested.list).not.toBe(inputs.nested.list);
    expect(out.nested.list[1]).not.toBe(inputs.nested.list[1]);
  });

  it("publishes the JSON Schema of a JSON object", () => {
    const schema = z.toJSONSchema(sysEcho.input, { io: "input", unrepresentable: "any" }) as {
      type: string;
      additionalProperties: { $ref: string };
      $defs: Record<string, { anyOf: { type: string }[] }>;
    };
    expect(schema.type).toBe("object");
    const def = schema.$defs[schema.additionalProperties.$ref.replace("#/$defs/", "")];
    expect(def?.anyOf.map((s) => s.type)).toEqual([
      "string",
      "number",
      "boolean",
      "null",
      "array",
      "object",
    ]);
  });
});

describe("sys.sleep", () => {
  it("waits at least ms milliseconds", async () => {
    const started = Date.now();
    const out = (await call(sysSleep, { ms: 120 })) as { slept_ms: number };
    expect(Date.now() - started).toBeGreaterThanOrEqual(115);
    expect(out.slept_ms).toBeGreaterThanOrEqual(115);
  });

  it("stops when the signal aborts and fails with a retryable TIMEOUT", async () => {
    const started = Date.now();
    const err = await failure(call(sysSleep, { ms: 10_000 }, AbortSignal.timeout(80)));
    expect(err.code).toBe("TIMEOUT");
    expect(err.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("fails at once when the signal is already aborted", async () => {
    const ac = new AbortController();
    ac.abort();
    expect((await failure(call(sysSleep, { ms: 10_000 }, ac.signal))).code).toBe("TIMEOUT");
  });

  it("rejects negative and fractional durations", () => {
    expect(sysSleep.input.safeParse({ ms: -1 }).success).toBe(false);
    expect(sysSleep.input.safeParse({ ms: 1.5 }).success).toBe(false);
  });
});

describe("sys.fail", () => {
  it("fails non-retryably with code SYS_FAIL by default", async () => {
    const err = await failure(call(sysFail, { message: "boom" }));
    expect(err.message).toBe("boom");
    expect(err.code).toBe("SYS_FAIL");
    expect(err.retryable).toBe(false);
  });

  it("fails retryably, with the given code, when asked", async () => {
    const err = await failure(call(sysFail, { message: "flaky", retryable: true, code: "FLAKY" }));
    expect(err.code).toBe("FLAKY");
    expect(err.retryable).toBe(true);
  });
});

describe("sys.assert", () => {
  it("passes when that is exactly true", async () => {
    expect(await call(sysAssert, { that: true })).toEqual({ ok: true });
  });

  it.each([false, "true", 1, null, [], {}])(
    "fails non-retryably with ASSERTION_FAILED when that is %j",
    async (that) => {
      const err = await failure(call(sysAssert, { that }));
      expect(err.code).toBe("ASSERTION_FAILED");
      expect(err.retryable).toBe(false);
      expect(err.context.actual).toEqual(that);
    },
  );

  it("uses the given message", async () => {
    const err = await failure(call(sysAssert, { that: false, message: "x must exceed 3" }));
    expect(err.message).toBe("x must exceed 3");
  });
});

describe("sys.* declarations", () => {
  it("are LOW-risk reads, idempotent, with nothing to undo", () => {
    for (const cap of [sysEcho, sysSleep, sysFail, sysAssert]) {
      expect(cap, cap.name).toMatchObject({
        risk: "LOW",
        effect: "read",
        idempotent: true,
        undo: "none",
      });
    }
  });
});
