/**
 * @module An undici dispatcher whose connections go only to addresses that were checked, closing
 * the DNS-rebinding window between "resolve and check" and "connect".
 *
 * Node 20 bundles undici for the global `fetch` but does not expose it as a module (importing
 * `undici` needs the npm package). Once `fetch` has loaded, the global dispatcher (an undici
 * `Agent`) sits under `Symbol.for("undici.globalDispatcher.1")`; its constructor builds a private
 * `Agent` whose `connect.lookup` answers from the checked addresses. If that constructor is not
 * available (a host application replaced the global dispatcher with a proxy agent, or a future
 * Node changes the symbol), `createPinnedDispatcher` returns `undefined` and the caller falls back
 * to checking before connecting, which leaves the rebinding window open.
 */
import type { LookupAddress } from "node:dns";
import type { ResolvedAddress } from "./resolve-host.js";

/** The part of an undici dispatcher this module uses. */
export interface PinnedDispatcher {
  destroy(): Promise<void>;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

type AgentConstructor = new (options: {
  connect: { lookup: (host: string, opts: { all?: boolean }, cb: LookupCallback) => void };
}) => PinnedDispatcher;

const GLOBAL_DISPATCHER = Symbol.for("undici.globalDispatcher.1");

async function agentConstructor(): Promise<AgentConstructor | undefined> {
  const read = () => (globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER];
  if (read() === undefined) {
    // The first call to fetch loads Node's bundled undici and installs its global Agent.
    await fetch("data:,").then(
      (r) => r.arrayBuffer(),
      () => undefined,
    );
  }
  const ctor = (read() as { constructor?: unknown } | undefined)?.constructor;
  return typeof ctor === "function" && ctor.name === "Agent"
    ? (ctor as AgentConstructor)
    : undefined;
}

/**
 * Builds a dispatcher that connects to `host` only at the addresses `resolve(host)` returns
 * (resolve is expected to throw for hosts or addresses that are not allowed).
 * Returns `undefined` when Node's bundled undici `Agent` cannot be reached.
 */
export async function createPinnedDispatcher(
  resolve: (host: string) => Promise<readonly ResolvedAddress[]>,
): Promise<PinnedDispatcher | undefined> {
  const Agent = await agentConstructor();
  if (!Agent) return undefined;
  return new Agent({
    connect: {
      lookup(host, opts, cb) {
        resolve(host).then(
          (addrs) => {
            const first = addrs[0];
            if (opts.all)
              cb(
                null,
                addrs.map((a) => ({ address: a.address, family: a.family })),
              );
            else if (first) cb(null, first.address, first.family);
            else cb(Object.assign(new Error(`no address for ${host}`), { code: "ENOTFOUND" }), "");
          },
          (err: NodeJS.ErrnoException) => cb(err, ""),
        );
      },
    },
  });
}
