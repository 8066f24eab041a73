/**
 * The PolicyGatekeeper's file watching on its own: the stat fallback catches changes when watch
 * events are lost, refusals are recorded once per broken version, an unchanged file is not a
 * reload, a vanished file keeps the policy, and reloads never overlap.
 */
import { mkdtemp, realpath, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/core/hash.js";
import type { PolicyRequest } from "../../src/core/policy.js";
import { PolicyGatekeeper, type PolicyReload } from "../../src/engine/policy/gatekeeper.js";

const V1 = "version: 1\nrules:\n  - { id: allow-echo, capability: sys.echo, decision: ALLOW }\n";
const V2 = "version: 1\nrules:\n  - { id: deny-echo, capability: sys.echo, decision: DENY }\n";
const BROKEN = "version: 1\nrules:\n  - { id: x, capability: sys.echo, decision: NOPE }\n";

const echo: PolicyRequest = {
  principal: "agent:a",
  roles: [],
  capability: "sys.echo",
  risk: "LOW",
  effect: "read",
  undo: "none",
  hasCompensation: false,
  inputs: {},
};

let dir: string;
let file: string;
let gk: PolicyGatekeeper | undefined;

beforeEach(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), "airun-gk-")));
  file = join(dir, "policies.yaml");
  await writeFile(file, V1);
});

afterEach(async () => {
  gk?.close();
  gk = undefined;
  await rm(dir, { recursive: true, force: true });
});

function collect(g: PolicyGatekeeper): PolicyReload[] {
  const events: PolicyReload[] = [];
  g.onReload((e) => events.push(e));
  return events;
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("PolicyGatekeeper hot reload", () => {
  it("catches a change through the mtime/size fallback when no watch event arrives", async () => {
    gk = await PolicyGatekeeper.load(file, { watch: true, fsWatch: false, pollMs: 100 });
    const events = collect(gk);
    expect((await gk.decide(echo)).decision).toBe("ALLOW");
    await writeFile(file, V2);
    await until("the poll to reload", () => events.length > 0);
    expect(events[0]).toMatchObject({ type: "loaded", hash: sha256Hex(V2) });
    expect((await gk.decide(echo)).decision).toBe("DENY");
  });

  it("records a broken version once, however often it is seen, and recovers when it is fixed", async () => {
    gk = await PolicyGatekeeper.load(file);
    const events = collect(gk);
    await writeFile(file, BROKEN);
    await gk.reload();
    await gk.reload();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "refused", keptHash: sha256Hex(V1) });
    expect((events[0] as { error: string }).error).toContain(`${file}:3:`);
    expect((await gk.decide(echo)).decision).toBe("ALLOW");
    expect(gk.policy.hash).toBe(sha256Hex(V1));

    await writeFile(file, V2);
    await gk.reload();
    expect(events.map((e) => e.type)).toEqual(["refused", "loaded"]);
    expect(gk.policy.hash).toBe(sha256Hex(V2));
  });

  it("does not count rewriting the same text as a reload", async () => {
    gk = await PolicyGatekeeper.load(file);
    const events = collect(gk);
    await writeFile(file, V1);
    await gk.reload();
    expect(events).toEqual([]);
  });

  it("keeps the policy when the file disappears, and says it could not read it", async () => {
    gk = await PolicyGatekeeper.load(file);
    const events = collect(gk);
    await unlink(file);
    await gk.reload();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: "refused" });
    expect((events[0] as { error: string }).error).toMatch(/cannot read the policy file.*ENOENT/);
    expect((await gk.decide(echo)).decision).toBe("ALLOW");
  });

  it("serializes concurrent reloads: the last version on disk wins", async () => {
    gk = await PolicyGatekeeper.load(file);
    const events = collect(gk);
    const first = gk.reload();
    await writeFile(file, V2);
    const second = gk.reload();
    await Promise.all([first, second]);
    expect(gk.policy.hash).toBe(sha256Hex(V2));
    expect(events.filter((e) => e.type === "loaded")).toHaveLength(1);
  });

  it("stops listening after close: later changes are neither loaded nor reported", async () => {
    gk = await PolicyGatekeeper.load(file, { watch: true, debounceMs: 10, pollMs: 50 });
    const events = collect(gk);
    gk.close();
    await writeFile(file, V2);
    await new Promise((r) => setTimeout(r, 250));
    await gk.reload();
    expect(events).toEqual([]);
    expect(gk.policy.hash).toBe(sha256Hex(V1));
  });
});
