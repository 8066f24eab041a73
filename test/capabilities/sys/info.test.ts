/** @module `sys.info.*`: time formats and zones, OS facts, the environment allowlist and masking. */
import { describe, expect, it } from "vitest";
import { createGetEnvVar, getOs, getTime, isoInZone } from "../../../src/capabilities/sys/info.js";
import type { AnyCapability } from "../../../src/core/capability.js";
import { SandboxError } from "../../../src/core/errors.js";
import { makeCtx } from "../helpers.js";

async function call(cap: AnyCapability, raw: unknown, envAllow: string[] = []): Promise<unknown> {
  return cap.execute(cap.input.parse(raw), makeCtx({ sandbox: { envAllow } }));
}

describe("sys.info.get_time", () => {
  it("answers ISO 8601 in UTC by default and Unix seconds when asked", async () => {
    const before = Date.now();
    const iso = (await call(getTime, {})) as { timestamp: string; unix_ms: number };
    expect(iso.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(iso.timestamp)).toBe(iso.unix_ms);
    expect(iso.unix_ms).toBeGreaterThanOrEqual(before);
    const unix = (await call(getTime, { format: "unix" })) as { timestamp: number };
    expect(Number.isInteger(unix.timestamp)).toBe(true);
  });

  it("writes a zone's local time with its offset, the same instant", () => {
    const d = new Date("2026-07-01T12:00:00.250Z");
    expect(isoInZone(d, "Europe/Paris")).toBe("2026-07-01T14:00:00.250+02:00");
    expect(isoInZone(d, "America/New_York")).toBe("2026-07-01T08:00:00.250-04:00");
    expect(Date.parse(isoInZone(d, "Asia/Kolkata"))).toBe(d.getTime());
    expect(getTime.input.safeParse({ timezone: "Mars/Olympus" }).success).toBe(false);
  });
});

describe("sys.info.get_os", () => {
  it("names the platform, architecture and Node version", async () => {
    expect(await call(getOs, {})).toMatchObject({
      platform: process.platform,
      arch: process.arch,
      node_version: process.versions.node,
    });
  });
});

describe("sys.info.get_env_var", () => {
  const cap = createGetEnvVar({ DEPLOY_ENV: "staging-secret-value", EMPTY: "" });

  it("reads only allowlisted variables and masks their value", async () => {
    expect(await call(cap, { name: "DEPLOY_ENV" }, ["DEPLOY_ENV", "MISSING"])).toEqual({
      name: "DEPLOY_ENV",
      found: true,
      value: "***",
    });
    expect(await call(cap, { name: "MISSING" }, ["MISSING"])).toEqual({
      name: "MISSING",
      found: false,
      value: null,
    });
  });

  it("refuses a variable outside sandbox.env.allow, set or not, before and during the call", async () => {
    const err = await cap.execute({ name: "DEPLOY_ENV" }, makeCtx()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).message).toMatch(/sandbox\.env\.allow/);
    await expect(cap.preflight?.({ name: "HOME" }, makeCtx())).rejects.toBeInstanceOf(SandboxError);
    expect(cap.input.safeParse({ name: "A-B" }).success).toBe(false);
  });
});
