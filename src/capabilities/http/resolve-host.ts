/**
 * @module Resolves a host name for `net.http.request` and refuses it when any address it resolves
 * to is not public (unless private addresses are allowed). All addresses are checked, not just the
 * first, so a name that mixes a public and a private record is refused.
 */
import { promises as dns } from "node:dns";
import { SandboxError } from "../../core/errors.js";
import { classifyAddress, isIpLiteral } from "./address-policy.js";
import { normalizeHost } from "./host-allowlist.js";

/** One resolved address, in the shape `dns.lookup` reports with `all: true`. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/**
 * Resolves `host` (a name or an IP literal) to every address it has and checks each one.
 * Throws `SandboxError` when an address is not public and `allowPrivate` is false; DNS failures
 * propagate as the `dns` module's errors (with `code` such as `ENOTFOUND` or `EAI_AGAIN`).
 */
export async function resolveCheckedHost(
  host: string,
  allowPrivate: boolean,
): Promise<ResolvedAddress[]> {
  const name = normalizeHost(host);
  const addresses: ResolvedAddress[] = isIpLiteral(name)
    ? [{ address: name, family: name.includes(":") ? 6 : 4 }]
    : (await dns.lookup(name, { all: true, verbatim: true })).map((a) => ({
        address: a.address,
        family: a.family === 6 ? 6 : 4,
      }));
  if (addresses.length === 0) {
    throw Object.assign(new Error(`no address for ${name}`), { code: "ENOTFOUND" });
  }
  if (!allowPrivate) {
    for (const a of addresses) {
      const verdict = classifyAddress(a.address);
      if (!verdict.public) {
        throw new SandboxError(
          `host "${name}" resolves to ${a.address} (${verdict.range}), which is not a public address`,
          { host: name, address: a.address, range: verdict.range },
        );
      }
    }
  }
  return addresses;
}
