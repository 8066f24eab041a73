// Writes the README's table of error codes (between its error-codes markers) from the one table
// in src/core/error-codes.ts, so the documented set is the set the code raises. Run after a
// build: `node scripts/error-table.mjs`, then `npm run format` (Biome aligns the table).
import { readFileSync, writeFileSync } from "node:fs";
import { ERROR_CODES, SURFACE } from "../dist/core/error-codes.js";

const START = "<!-- error-codes:start -->";
const END = "<!-- error-codes:end -->";

/** The table, one row per kind of error. */
export function errorTable() {
  const byKind = {};
  for (const [code, [kind]] of Object.entries(ERROR_CODES)) {
    byKind[kind] ??= [];
    byKind[kind].push(code);
  }
  let out = "| kind | exit | HTTP | MCP | codes |\n| --- | --- | --- | --- | --- |\n";
  for (const [kind, s] of Object.entries(SURFACE)) {
    const mcp = s.mcp === "tool_error" ? "tool error" : `JSON-RPC ${s.mcp}`;
    const codes = (byKind[kind] ?? []).map((c) => `\`${c}\``).join(", ");
    out += `| ${kind} | ${s.exit} | ${s.http} | ${mcp} | ${codes} |\n`;
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const readme = readFileSync("README.md", "utf8");
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${START} … ${END} section`);
  const next = `${readme.slice(0, a + START.length)}\n${errorTable()}${readme.slice(b)}`;
  writeFileSync("README.md", next);
}
