/**
 * @module Host allowlist matching for `net.http.request`. Entries are exact host names or globs
 * (`*.example.com`), compared case-insensitively and without a trailing dot. Ports are ignored.
 */
import picomatch from "picomatch";

/** Normalizes a URL host for comparison: lower case, no IPv6 brackets, no trailing dot. */
export function normalizeHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
    .replace(/\.$/, "");
}

/**
 * True when `host` matches one of the allowlist entries.
 *
 * An entry without `*`, `?` or `[` must equal the host. A glob uses picomatch semantics where a
 * host has no `/`: `*` matches any run of characters including dots, so `*.example.com` matches
 * every subdomain of `example.com` at any depth but not `example.com` itself, and `*` alone
 * matches every host. An empty allowlist matches nothing.
 *
 * @example
 * hostAllowed("API.Example.com", ["*.example.com"]); // true
 * hostAllowed("example.com", ["*.example.com"]); // false
 */
export function hostAllowed(host: string, allowlist: readonly string[]): boolean {
  const h = normalizeHost(host);
  if (h === "") return false;
  return allowlist.some((entry) => {
    const pattern = normalizeHost(entry);
    if (pattern === "") return false;
    if (!/[*?[]/.test(pattern)) return pattern === h;
    return picomatch.isMatch(h, pattern, { nocase: true, dot: true });
  });
}
