/**
 * @module The gateway in front of other MCP servers (`mcp.upstreams`): its connections
 * (`upstream-pool.ts`), its pins (`pins.ts`) and the capabilities of the pinned tools
 * (`upstream-capabilities.ts`). The composition root registers the capabilities of what the
 * lock file pins without starting any upstream; an upstream is started at its first call.
 */
import type { AnyCapability } from "../../core/capability.js";
import type { McpUpstreamConfig } from "../../core/config.js";
import { definitionHash, definitionOf, type Lock, readLock, writeLock } from "./pins.js";
import { upstreamCapabilities, upstreamCapabilityName } from "./upstream-capabilities.js";
import { UpstreamPool } from "./upstream-pool.js";

/** What pinning did to one tool. */
export interface PinChange {
  readonly upstream: string;
  readonly tool: string;
  readonly capability: string;
  /** `pinned` (first use), `unchanged`, `changed` (left pinned as it was), `repinned`. */
  readonly status: "pinned" | "unchanged" | "changed" | "repinned";
  readonly sha256: string;
  readonly previous: string | null;
}

/** The gateway of one runtime. */
export class Gateway {
  readonly pool: UpstreamPool;
  readonly #configs: readonly McpUpstreamConfig[];
  /** Where the lock file lives: the config's folder. */
  readonly #dir: string;

  constructor(configs: readonly McpUpstreamConfig[], dir: string) {
    this.#configs = configs;
    this.#dir = dir;
    this.pool = new UpstreamPool(configs, dir);
  }

  /** The capabilities of the pinned tools (no upstream is started). */
  async capabilities(): Promise<AnyCapability[]> {
    return upstreamCapabilities(this.#configs, await readLock(this.#dir), this.pool);
  }

  /**
   * Lists the upstreams' tools and pins them: `new` pins only tools without a pin (first use)
   * and leaves a changed one as pinned (it is refused when called); `all` (a person re-pinning)
   * pins every tool as it is now. `only` limits it to some upstreams.
   */
  async pin(mode: "new" | "all", only: readonly string[] = []): Promise<PinChange[]> {
    const lock: Lock = await readLock(this.#dir);
    const changes: PinChange[] = [];
    const at = new Date().toISOString();
    for (const u of this.#configs) {
      if (only.length > 0 && !only.includes(u.name)) continue;
      const pins = { ...(lock.upstreams[u.name] ?? {}) };
      let listed: Awaited<ReturnType<UpstreamPool["listTools"]>>;
      try {
        listed = await this.pool.listTools(u.name);
      } catch (err) {
        // First use only: an upstream that is down now keeps its pins; its calls will say why.
        if (mode === "new") continue;
        throw err;
      }
      for (const tool of listed) {
        const definition = definitionOf(tool as Record<string, unknown>);
        const sha256 = definitionHash(definition);
        const old = pins[tool.name];
        let status: PinChange["status"];
        if (!old) status = "pinned";
        else if (old.sha256 === sha256) status = "unchanged";
        else status = mode === "all" ? "repinned" : "changed";
        if (status === "pinned" || status === "repinned") {
          pins[tool.name] = { sha256, definition, pinned_at: at };
        }
        changes.push({
          upstream: u.name,
          tool: tool.name,
          capability: upstreamCapabilityName(u.name, tool.name),
          status,
          sha256,
          previous: old?.sha256 ?? null,
        });
      }
      lock.upstreams[u.name] = pins;
    }
    if (changes.some((c) => c.status === "pinned" || c.status === "repinned")) {
      await writeLock(this.#dir, lock);
    }
    return changes;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
