/**
 * @module The gateway's capabilities: each pinned tool of each upstream MCP server becomes the
 * capability `mcp.<upstream>.<tool>` (lower-case; other characters become `_`), governed like
 * any other: risk, effect class, idempotency and undo come from the config
 * (`mcp.upstreams.<name>.tools.<tool>`; an unmapped tool is HIGH risk, a write, irreversible),
 * never from the upstream's own annotations. Its input schema is the pinned one (so policy and
 * validation see the call's arguments), its description the pinned one unless the config
 * overrides it.
 *
 * Undo from the upstream's own tools (`undo: { capture, restore }`): before the call, `capture`
 * reads the target the call's `path` argument names (for the reference filesystem server,
 * `read_text_file`), and the text is kept as a sealed before-image; on undo, `restore` writes
 * it back (`write_file`), byte for byte — after checking that the target still holds what the
 * call wrote (else `UNDO_DRIFT`, unless forced). A target that did not exist before cannot be
 * removed through a server without a delete tool: that undo fails (`MCP_UNDO_UNSUPPORTED`) and
 * the rollback says so. The filesystem server reads and writes text: byte-exact for UTF-8 files.
 */
import { z } from "zod";
import type { AnyCapability, UndoPlan } from "../../core/capability.js";
import { type McpUpstreamConfig, UNMAPPED_UPSTREAM_TOOL } from "../../core/config.js";
import { CapabilityError, DriftError } from "../../core/errors.js";
import { sha256Hex } from "../../core/hash.js";
import { isPlainObject, type JsonValue } from "../../core/json.js";
import type { Lock, Pin } from "./pins.js";
import { resultText, type UpstreamPool } from "./upstream-pool.js";

/** The capability name of an upstream tool. */
export function upstreamCapabilityName(upstream: string, tool: string): string {
  let seg = tool.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  if (!/^[a-z]/.test(seg)) seg = `t_${seg}`;
  return `mcp.${upstream}.${seg}`;
}

/** The zod schema of a pinned JSON Schema (any object when it cannot be expressed). */
function inputOf(schema: JsonValue): z.ZodType {
  try {
    if (isPlainObject(schema))
      return z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  } catch {
    // fall through
  }
  return z.record(z.string(), z.unknown());
}

/** What a capture left: the text, or null when the target could not be read (absent). */
async function capture(
  pool: UpstreamPool,
  upstream: string,
  tool: Pin & { name: string },
  pathArg: string,
  resultField: string,
  target: string,
  signal?: AbortSignal,
): Promise<string | null> {
  const r = await pool.call(upstream, tool.name, { [pathArg]: target }, tool.sha256, signal);
  if (r.isError) return null;
  const structured = r.structuredContent;
  const v = isPlainObject(structured) ? structured[resultField] : undefined;
  return typeof v === "string" ? v : resultText(r);
}

/** The capabilities of every pinned upstream tool. */
export function upstreamCapabilities(
  upstreams: readonly McpUpstreamConfig[],
  lock: Lock,
  pool: UpstreamPool,
): AnyCapability[] {
  const caps: AnyCapability[] = [];
  for (const u of upstreams) {
    const pins = lock.upstreams[u.name] ?? {};
    const pinned = (name: string): Pin & { name: string } => {
      const p = pins[name];
      if (!p) {
        throw new CapabilityError(
          "MCP_TOOL_UNPINNED",
          `upstream ${u.name} tool ${name} is not pinned (airun mcp pin ${u.name})`,
        );
      }
      return { ...p, name };
    };
    for (const [tool, pin] of Object.entries(pins)) {
      const t = u.tools[tool] ?? UNMAPPED_UPSTREAM_TOOL;
      const undo = typeof t.undo === "object" ? t.undo : null;
      const call = async (input: Record<string, unknown>, signal?: AbortSignal) => {
        const r = await pool.call(u.name, tool, input, pin.sha256, signal);
        if (r.isError) {
          throw new CapabilityError("MCP_TOOL_ERROR", `${u.name}/${tool}: ${resultText(r)}`, {
            context: { upstream: u.name, tool },
          });
        }
        return (
          isPlainObject(r.structuredContent) ? r.structuredContent : { content: resultText(r) }
        ) as Record<string, unknown>;
      };
      const cap: AnyCapability = {
        name: upstreamCapabilityName(u.name, tool),
        description:
          t.description ?? pin.definition.description ?? `${tool} (MCP upstream ${u.name})`,
        input: inputOf(pin.definition.inputSchema),
        risk: t.risk,
        effect: t.effect,
        idempotent: t.idempotent,
        undo: typeof t.undo === "object" ? "builtin" : t.undo,
        nondeterministic: true,
        execute: (input: Record<string, unknown>, ctx) => call(input, ctx.signal),
      };
      if (!undo) {
        caps.push(cap);
        continue;
      }
      const targetOf = (input: Record<string, unknown>): string => {
        const v = input[undo.path];
        if (typeof v !== "string") {
          throw new CapabilityError(
            "MCP_UNDO_UNSUPPORTED",
            `${u.name}/${tool}: argument ${undo.path} (the target to capture) is not a string`,
          );
        }
        return v;
      };
      const read = (target: string, signal?: AbortSignal) =>
        capture(pool, u.name, pinned(undo.capture), undo.path, undo.result, target, signal);
      caps.push({
        ...cap,
        async prepare(input: Record<string, unknown>, ctx): Promise<UndoPlan> {
          const target = targetOf(input);
          const before = await read(target, ctx.signal);
          const written = input[undo.content];
          return {
            data: {
              target,
              existed: before !== null,
              before_sha256: before === null ? null : sha256Hex(before),
              after_sha256: typeof written === "string" ? sha256Hex(written) : null,
            },
            blobs: before === null ? {} : { before: Buffer.from(before, "utf8") },
          };
        },
        async revert(ctx) {
          const d = (isPlainObject(ctx.data) ? ctx.data : {}) as Record<string, unknown>;
          const target = String(d.target);
          if (!ctx.force && typeof d.after_sha256 === "string") {
            const now = await read(target, ctx.signal);
            if (now === null || sha256Hex(now) !== d.after_sha256) {
              throw new DriftError(
                `${target} changed since ${u.name}/${tool} wrote it; not restored (force to overwrite)`,
                { upstream: u.name, tool },
              );
            }
          }
          if (d.existed !== true) {
            throw new CapabilityError(
              "MCP_UNDO_UNSUPPORTED",
              `${target} did not exist before ${u.name}/${tool}; upstream ${u.name} has no tool to delete it with`,
              { context: { upstream: u.name, tool } },
            );
          }
          const before = Buffer.from(ctx.blobs.before ?? new Uint8Array()).toString("utf8");
          const restore = pinned(undo.restore);
          const r = await pool.call(
            u.name,
            restore.name,
            { [undo.path]: target, [undo.content]: before },
            restore.sha256,
            ctx.signal,
          );
          if (r.isError) {
            throw new CapabilityError(
              "MCP_TOOL_ERROR",
              `${u.name}/${restore.name} could not restore ${target}: ${resultText(r)}`,
              { retryable: true },
            );
          }
        },
        async reconcile(input: Record<string, unknown>, plan, ctx) {
          const d = (isPlainObject(plan?.data) ? plan.data : {}) as Record<string, unknown>;
          const now = await read(targetOf(input), ctx.signal).catch(() => undefined);
          if (now === undefined) return "unknown";
          const h = now === null ? null : sha256Hex(now);
          if (h !== null && h === d.after_sha256) return "applied";
          if (h === d.before_sha256) return "not_applied";
          return "unknown";
        },
      } as AnyCapability);
    }
  }
  return caps;
}
