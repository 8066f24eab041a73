import { symlink } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  locateBinary,
  resolveAllowedBinary,
  sameBinary,
} from "../../../src/capabilities/exec/executable-allowlist.js";
import { SandboxError } from "../../../src/core/errors.js";
import { tempDir } from "../helpers.js";

describe("executable allowlist", () => {
  it("accepts a symlink to an allowlisted binary when it has the same file name", async () => {
    const dir = await tempDir();
    await symlink("/bin/echo", join(dir, "echo"));
    const located = await resolveAllowedBinary(join(dir, "echo"), ["/bin/echo"]);
    expect(located.path).toBe(join(dir, "echo"));
  });

  it("refuses a symlink to an allowlisted binary under another name (multi-call binaries)", async () => {
    const dir = await tempDir();
    await symlink("/bin/echo", join(dir, "rm"));
    await expect(resolveAllowedBinary(join(dir, "rm"), ["/bin/echo"])).rejects.toBeInstanceOf(
      SandboxError,
    );
  });

  it("looks bare names up on the given PATH only", async () => {
    const dir = await tempDir();
    await symlink("/bin/echo", join(dir, "myecho"));
    expect(await locateBinary("myecho", "/usr/bin")).toBeUndefined();
    expect((await locateBinary("myecho", `relative:${dir}`))?.path).toBe(join(dir, "myecho"));
    await expect(resolveAllowedBinary("myecho", ["myecho"], "/usr/bin")).rejects.toBeInstanceOf(
      SandboxError,
    );
  });

  it("treats two paths as the same binary when their canonical locations match", () => {
    const a = { path: "/bin/x", location: "/usr/bin/x", real: "/usr/bin/x" };
    const b = { path: "/usr/bin/x", location: "/usr/bin/x", real: "/usr/bin/x" };
    const multi = { path: "/usr/bin/rm", location: "/usr/bin/rm", real: "/usr/bin/coreutils" };
    const multi2 = { path: "/usr/bin/true", location: "/usr/bin/true", real: "/usr/bin/coreutils" };
    expect(sameBinary(a, b)).toBe(true);
    expect(sameBinary(multi, multi2)).toBe(false);
  });
});
