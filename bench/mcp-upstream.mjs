// The upstream MCP server of the MCP bench (bench/mcp.mjs): the official SDK's McpServer over
// stdio. With no argument it has one read-only tool, `echo` (as test/fixtures/mcp/echo-server.mjs,
// without the description file); with a number N it has N generated tools instead, `tool_000` …,
// each with its own description and a small input schema (for tools/list latency).
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const n = Number(process.argv[2] ?? 0);
const server = new McpServer({ name: "bench-upstream", version: "1.0.0" });
if (n === 0) {
  server.registerTool(
    "echo",
    {
      description: "Echoes text.",
      inputSchema: { text: z.string() },
      outputSchema: { text: z.string() },
    },
    async ({ text }) => ({ content: [{ type: "text", text }], structuredContent: { text } }),
  );
}
for (let i = 0; i < n; i++) {
  const name = `tool_${String(i).padStart(3, "0")}`;
  server.registerTool(
    name,
    {
      description: `Generated tool ${i} of ${n}: looks up a record by id and returns its fields.`,
      inputSchema: {
        id: z.string(),
        limit: z.number().int().optional(),
        tag: z.string().optional(),
      },
    },
    async ({ id }) => ({ content: [{ type: "text", text: `${name} ${id}` }] }),
  );
}
await server.connect(new StdioServerTransport());
