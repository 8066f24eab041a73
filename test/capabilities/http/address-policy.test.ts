import { describe, expect, it } from "vitest";
import { classifyAddress } from "../../../src/capabilities/http/address-policy.js";
import { hostAllowed } from "../../../src/capabilities/http/host-allowlist.js";

describe("classifyAddress", () => {
  it.each([
    ["10.1.2.3", "private"],
    ["172.16.5.4", "private"],
    ["192.168.1.1", "private"],
    ["127.0.0.1", "loopback"],
    ["169.254.169.254", "linkLocal"],
    ["100.64.0.1", "carrierGradeNat"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "linkLocal"],
    ["fe80::1%eth0", "linkLocal"],
    ["fc00::1", "uniqueLocal"],
    ["fd12:3456::1", "uniqueLocal"],
    ["ff02::1", "multicast"],
    ["::ffff:10.0.0.1", "ipv4Mapped/private"],
    ["::ffff:127.0.0.1", "ipv4Mapped/loopback"],
    ["64:ff9b::a9fe:a9fe", "rfc6052/linkLocal"],
    ["2002:7f00:1::1", "6to4/loopback"],
    ["not-an-ip", "invalid"],
  ])("refuses %s (%s)", (address, range) => {
    expect(classifyAddress(address)).toEqual({ public: false, range });
  });

  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
  ])("accepts public address %s", (address) => {
    expect(classifyAddress(address).public).toBe(true);
  });
});

describe("hostAllowed", () => {
  it("matches exact hosts case-insensitively, ignoring a trailing dot", () => {
    expect(hostAllowed("API.example.com.", ["api.example.com"])).toBe(true);
    expect(hostAllowed("api.example.com", ["API.EXAMPLE.COM"])).toBe(true);
    expect(hostAllowed("api.example.com.evil.net", ["api.example.com"])).toBe(false);
  });

  it("matches *.example.com against subdomains only, never a look-alike suffix", () => {
    const list = ["*.example.com"];
    expect(hostAllowed("a.example.com", list)).toBe(true);
    expect(hostAllowed("a.b.example.com", list)).toBe(true);
    expect(hostAllowed("example.com", list)).toBe(false);
    expect(hostAllowed("evilexample.com", list)).toBe(false);
    expect(hostAllowed("example.com.evil.net", list)).toBe(false);
  });

  it("allows nothing with an empty list, everything with *", () => {
    expect(hostAllowed("example.com", [])).toBe(false);
    expect(hostAllowed("example.com", ["*"])).toBe(true);
  });
});
