/**
 * @module The MCP tool list: capability names become tool names (a collision or a reserved
 * name refused), annotations follow the capability's declaration, and the envelope filters.
 */
import { describe, expect, it } from "vitest";
import { createStandardRegistry, describeCapability } from "../../src/capabilities/registry.js";
import { compileGovernance } from "../../src/core/governance.js";
import { toolNameOf, toolTable } from "../../src/mcp/tool-names.js";
import { annotationsOf, listTools } from "../../src/mcp/tools.js";

const described = createStandardRegistry()
  .list()
  .map((c) => describeCapability(c));
const byName = (n: string) => described.find((d) => d.name === n)!;

describe("MCP tool names", () => {
  it("turn dots into underscores and refuse collisions and the reserved airun_ prefix", () => {
    expect(toolNameOf("io.fs.write_file")).toBe("io_fs_write_file");
    expect(toolTable(["io.fs.write_file", "sys.echo"]).get("io_fs_write_file")).toBe(
      "io.fs.write_file",
    );
    expect(() => toolTable(["a.b_c.d", "a_b.c.d"])).toThrow(
      /both map to the MCP tool name a_b_c_d/,
    );
    expect(() => toolTable(["airun.session.status"])).toThrow(/reserved/);
  });
});

describe("MCP tool annotations", () => {
  it("follow effect, risk, undo and idempotency", () => {
    expect(annotationsOf(byName("io.fs.read_file"))).toMatchObject({
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    });
    expect(annotationsOf(byName("io.fs.delete"))).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
    });
    expect(annotationsOf(byName("net.http.request"))).toMatchObject({ openWorldHint: true });
    expect(annotationsOf(byName("sys.exec.run"))).toMatchObject({
      destructiveHint: true,
      openWorldHint: true,
    });
  });

  it("list only what the envelope allows, with schemas, then the meta-tools", () => {
    const gov = compileGovernance({ tools: { allowed: ["io.fs.*"], forbidden: ["io.fs.delete"] } });
    const names = listTools(described, gov).map((t) => t.name);
    expect(names).toContain("io_fs_write_file");
    expect(names).not.toContain("io_fs_delete");
    expect(names).not.toContain("sys_echo");
    expect(names.slice(-4)).toEqual([
      "airun_session_status",
      "airun_session_commit",
      "airun_session_rollback",
      "airun_call_status",
    ]);
    const all = listTools(described, null);
    const write = all.find((t) => t.name === "io_fs_write_file")!;
    expect(write.inputSchema.type).toBe("object");
    expect(write.outputSchema?.type).toBe("object");
    expect(all.find((t) => t.name === "sys_echo")?.outputSchema).toBeUndefined();
  });
});
