/**
 * @module How capability names become MCP tool names. MCP tool names are `[A-Za-z0-9_.-]`, and
 * many clients refuse dots, so a capability's dots become underscores: `io.fs.write_file` is the
 * tool `io_fs_write_file`. The mapping is not reversible by itself (`a.b_c` and `a_b.c` would
 * both be `a_b_c`), so the server keeps a table built once from the catalogue and refuses to
 * start on a collision, naming both capabilities. The server's own tools start with `airun_`,
 * a prefix no capability may map to.
 */

/** The server's own tools (the session's meta-tools). */
export const META_TOOLS = Object.freeze({
  status: "airun_session_status",
  commit: "airun_session_commit",
  rollback: "airun_session_rollback",
  callStatus: "airun_call_status",
});

/** The tool name of a capability: dots become underscores. */
export function toolNameOf(capability: string): string {
  return capability.replaceAll(".", "_");
}

/** Tool name → capability, for every capability; throws on a collision or a reserved name. */
export function toolTable(capabilities: readonly string[]): ReadonlyMap<string, string> {
  const table = new Map<string, string>();
  for (const cap of capabilities) {
    const name = toolNameOf(cap);
    if (name.startsWith("airun_")) {
      throw new Error(`capability ${cap} maps to the reserved MCP tool name ${name} (airun_*)`);
    }
    const other = table.get(name);
    if (other !== undefined) {
      throw new Error(`capabilities ${other} and ${cap} both map to the MCP tool name ${name}`);
    }
    table.set(name, cap);
  }
  return table;
}
