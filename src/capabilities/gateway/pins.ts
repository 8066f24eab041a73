/**
 * @module Tool pinning (rug-pull and tool-poisoning defence). An upstream tool's definition —
 * name, description, input and output schemas, annotations — is hashed (SHA-256 over its RFC
 * 8785 canonical JSON, so a schema-only change is seen too) and pinned in a lock file next to
 * the config, `airun.mcp.lock.json`, keyed by upstream and tool name. A tool is pinned the first
 * time it is used (`airun mcp` pins the tools it has no pin for) and re-pinned only by a person
 * (`airun mcp pin`); a tool whose definition differs from its pin is refused
 * (`MCP_TOOL_CHANGED`). The lock keeps each pinned definition, so the capabilities are built
 * from what a person pinned, never from what the upstream says now.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hashJson } from "../../core/hash.js";
import { isPlainObject, type JsonValue } from "../../core/json.js";

/** The lock file's name, in the config's folder. */
export const LOCK_FILE = "airun.mcp.lock.json";

/** A tool definition as an upstream lists it (the fields that are pinned). */
export interface ToolDefinition {
  readonly name: string;
  readonly description: string | null;
  readonly inputSchema: JsonValue;
  readonly outputSchema: JsonValue | null;
  readonly annotations: JsonValue | null;
}

/** A pinned tool: its definition and its hash. */
export interface Pin {
  readonly sha256: string;
  readonly definition: ToolDefinition;
  readonly pinned_at: string;
}

/** The lock: pins by upstream, then tool name. */
export interface Lock {
  readonly version: 1;
  readonly upstreams: Record<string, Record<string, Pin>>;
}

/** The pinned fields of a listed tool (anything else it carries is not part of the pin). */
export function definitionOf(tool: Record<string, unknown>): ToolDefinition {
  return {
    name: String(tool.name),
    description: typeof tool.description === "string" ? tool.description : null,
    inputSchema: (tool.inputSchema ?? null) as JsonValue,
    outputSchema: (tool.outputSchema ?? null) as JsonValue,
    annotations: (tool.annotations ?? null) as JsonValue,
  };
}

/** The hash a definition is pinned by. */
export function definitionHash(def: ToolDefinition): string {
  return hashJson(def);
}

/** Reads the lock file of a config folder (empty when there is none). */
export async function readLock(dir: string): Promise<Lock> {
  let text: string;
  try {
    text = await readFile(join(dir, LOCK_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, upstreams: {} };
    throw err;
  }
  const parsed = JSON.parse(text) as unknown;
  if (!isPlainObject(parsed) || parsed.version !== 1 || !isPlainObject(parsed.upstreams)) {
    throw new Error(`${join(dir, LOCK_FILE)} is not an Airun MCP lock file (version 1)`);
  }
  return parsed as unknown as Lock;
}

/** Writes the lock file (atomically: a temp file renamed over it). */
export async function writeLock(dir: string, lock: Lock): Promise<void> {
  const file = join(dir, LOCK_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(lock, null, 2)}\n`);
  await rename(tmp, file);
}
