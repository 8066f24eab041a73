/**
 * @module Which IP addresses `net.http.request` may connect to. Only globally routable unicast
 * addresses pass; private, loopback, link-local, unique-local, unspecified, multicast, carrier-grade
 * NAT, broadcast and reserved ranges are refused, including when they hide inside an IPv6 form
 * (IPv4-mapped `::ffff:10.0.0.1`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
 */
import ipaddr from "ipaddr.js";

/** The verdict on one address. */
export interface AddressVerdict {
  /** True when the address is globally routable unicast. */
  readonly public: boolean;
  /** The ipaddr.js range name that decided it (`unicast`, `loopback`, `private`, ...). */
  readonly range: string;
}

/** IPv6 ranges whose low bits carry an IPv4 address that must be checked instead. */
const EMBEDS_IPV4_LOW32 = new Set(["ipv4Mapped", "rfc6145", "rfc6052"]);

/**
 * Classifies an IP address literal (IPv4 or IPv6, zone ids allowed).
 *
 * @example
 * classifyAddress("10.1.2.3"); // { public: false, range: "private" }
 * classifyAddress("::ffff:127.0.0.1"); // { public: false, range: "ipv4Mapped/loopback" }
 */
export function classifyAddress(address: string): AddressVerdict {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, ""));
  } catch {
    return { public: false, range: "invalid" };
  }
  if (parsed.kind() === "ipv4") {
    const range = (parsed as ipaddr.IPv4).range();
    return { public: range === "unicast", range };
  }
  const v6 = parsed as ipaddr.IPv6;
  const range = v6.range();
  if (EMBEDS_IPV4_LOW32.has(range)) {
    const p = v6.parts;
    const inner = embeddedV4(p[6] ?? 0, p[7] ?? 0);
    return { public: inner.range() === "unicast", range: `${range}/${inner.range()}` };
  }
  if (range === "6to4") {
    const p = v6.parts;
    const inner = embeddedV4(p[1] ?? 0, p[2] ?? 0);
    return { public: inner.range() === "unicast", range: `6to4/${inner.range()}` };
  }
  return { public: range === "unicast", range };
}

function embeddedV4(hi: number, lo: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

/** True when `host` is an IP address literal (IPv6 with or without brackets) rather than a name. */
export function isIpLiteral(host: string): boolean {
  return ipaddr.isValid(host.replace(/^\[|\]$/g, ""));
}
