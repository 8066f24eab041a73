/**
 * @module Evidence packs, end to end below the CLI: a run's pack exported by a real Runtime, then
 * checked with nothing but the pack file (the home and database deleted, as on another machine);
 * every byte of it protected; a pack re-signed by someone else refused against the trusted key;
 * its content (spec, plan, policy text, context hashes) present; and no pack from a tampered ledger.
 */
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  generateLedgerKeyPair,
  parseCheckpoint,
  publicKeyFingerprint,
  signCheckpoint,
} from "../../src/core/checkpoint.js";
import { AirunError } from "../../src/core/errors.js";
import { type EvidencePack, verifyPack, writePack } from "../../src/core/evidence-pack.js";
import { canonicalJson, sha256Hex } from "../../src/core/hash.js";
import { inclusionProofs, leafHash, merkleRoot, toHex } from "../../src/core/merkle.js";
import type { Plan } from "../../src/core/plan.js";
import { computeSpecHash } from "../../src/core/plan-schema.js";
import { type Workspace, workspace } from "./helpers.js";

const POLICY = `version: 1
default: DENY
rules:
  - id: fs-ok
    principal: "agent:*"
    capability: "io.fs.*"
    decision: ALLOW
  - id: sys-ok
    principal: "agent:*"
    capability: "sys.*"
    decision: ALLOW
`;

const OTHER_RUN = `name: other
version: 1
principal: agent:pack
steps:
  - id: mk
    capability: io.fs.make_dir
    inputs: { path: other }
  - id: w
    capability: io.fs.write_file
    depends_on: [mk]
    inputs: { path: other/o.txt, content: "O" }
`;

/** The run whose pack is exported: one step, so its pack is small enough to flip every byte. */
const ONE_STEP = `name: one_step
version: 1
principal: agent:pack
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: report.txt, content: "evidence" }
`;

interface Exported {
  runId: string;
  /** The run's entries in the ledger when exported. */
  runEntries: number;
  ledgerEntries: number;
  contextHash: string;
  publicKeyPem: string;
  fingerprint: string;
}

const temps: string[] = [];
let exported: Exported;
/** The pack's text, read from the copy in a fresh folder (the workspace is gone by then). */
let packText: string;
let packCopy: string;

async function tempDir(prefix: string): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), prefix)));
  temps.push(dir);
  return dir;
}

beforeAll(async () => {
  const w = await workspace({ policy: POLICY });
  try {
    const rt = await w.open();
    let packFile: string;
    try {
      await rt.startRun({ specFile: await w.spec("other.yaml", OTHER_RUN) });
      const view = await rt.startRun({ specFile: await w.spec("one.yaml", ONE_STEP) });
      expect(view.status).toBe("COMPLETED");
      await rt.startRun({ specFile: join(w.dir, "other.yaml") }); // entries after the run's
      const key = await rt.ledgerPublicKey();
      const pack = await rt.exportEvidencePack(view.id);
      packFile = join(w.home, "pack.json");
      await writeFile(packFile, pack);
      const db = new Database(join(w.home, "airun.db"), { readonly: true });
      try {
        const count = (sql: string, ...p: unknown[]) =>
          (db.prepare(sql).get(...p) as { n: number }).n;
        exported = {
          runId: view.id,
          runEntries: count("SELECT count(*) AS n FROM events WHERE run_id = ?", view.id),
          ledgerEntries: count("SELECT count(*) AS n FROM events"),
          contextHash: view.steps[0]!.context_hash!,
          publicKeyPem: key.pem,
          fingerprint: key.fingerprint,
        };
      } finally {
        db.close();
      }
    } finally {
      await rt.close();
    }
    // Another machine's copy: only the pack file travels.
    packCopy = join(await tempDir("airun-pack-elsewhere-"), "pack.json");
    await copyFile(packFile, packCopy);
  } finally {
    await w.cleanup();
  }
  packText = await readFile(packCopy, "utf8");
});

afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
});

describe("an exported evidence pack, checked offline", () => {
  it("verifies from a lone copy of the file (no home, no database): right run, one entry per ledger entry of the run", () => {
    const report = verifyPack(packText);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.runId).toBe(exported.runId);
    expect(report.entries).toBe(exported.runEntries);
    expect(report.entries).toBeGreaterThanOrEqual(5); // created, started, decision, intent, …
    expect(report.treeSize).toBe(exported.ledgerEntries);
    expect(report.keyFingerprint).toBe(exported.fingerprint);
  });

  it("verifies against the right trusted key, and is refused against another key", () => {
    expect(verifyPack(packText, exported.publicKeyPem)).toMatchObject({ ok: true, problems: [] });
    const other = generateLedgerKeyPair();
    const report = verifyPack(packText, other.publicKeyPem);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      `the pack is signed by key ${exported.fingerprint}, not by the trusted key`,
    ]);
  });

  it("holds the spec text and plan, the policy text whose hash the decisions name, and entries carrying the context hash", () => {
    const pack = JSON.parse(packText) as EvidencePack;
    expect(pack.spec.text).toBe(ONE_STEP);
    expect(computeSpecHash(pack.spec.plan as unknown as Plan)).toBe(pack.run.spec_hash);
    expect(pack.run).toMatchObject({ id: exported.runId, name: "one_step", status: "COMPLETED" });

    expect(pack.policies).toEqual([{ hash: sha256Hex(POLICY), text: POLICY }]);
    const entries = pack.entries.map(
      (e) =>
        JSON.parse(e.entry) as {
          seq: number;
          type: string;
          run: string;
          data: Record<string, unknown>;
        },
    );
    expect(entries.map((e) => e.seq)).toEqual(pack.entries.map((e) => e.seq));
    expect(entries.every((e) => e.run === exported.runId)).toBe(true);
    const decisions = entries.filter((e) => e.type === "step.decision");
    expect(decisions).toHaveLength(1);
    expect(decisions[0]?.data).toMatchObject({ decision: "ALLOW", policy_hash: sha256Hex(POLICY) });
    const created = entries.find((e) => e.type === "run.created");
    expect(created?.data.spec_text_sha256).toBe(sha256Hex(ONE_STEP));
    for (const type of ["step.intent", "step.succeeded"]) {
      expect(entries.find((e) => e.type === type)?.data.context_hash).toBe(exported.contextHash);
    }
    expect(parseCheckpoint(pack.checkpoint).checkpoint.treeSize).toBe(exported.ledgerEntries);
  });
});

/** Printable ASCII other than `b`, as close to it as possible (`b ^ 1`: often the same alphabet). */
function neighbour(b: number): number {
  const flip = b ^ 1;
  return flip >= 0x20 && flip <= 0x7e ? flip : b === 0x41 ? 0x42 : 0x41;
}

/** A small deterministic PRNG (mulberry32), so a failure names reproducible positions. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Single-byte changes to try: every position of a small pack (≤ 8 KB) with its neighbour
 * character; for a larger one, windows over each part (entries, proofs, checkpoint, signature,
 * spec, policies, key) and the tail. Plus a random printable character at 2000 random positions.
 */
function changes(bytes: Buffer, rand: () => number): [position: number, replacement: number][] {
  const out: [number, number][] = [];
  if (bytes.length <= 8192) {
    for (let i = 0; i < bytes.length; i++) out.push([i, neighbour(bytes[i]!)]);
  } else {
    const text = bytes.toString("latin1");
    const set = new Set<number>();
    for (const marker of [
      '"entries":',
      '"proof":',
      '"checkpoint":',
      '"signature":',
      '"spec":',
      '"text":',
      '"policies":',
      '"public_key":',
    ]) {
      const at = text.indexOf(marker);
      for (let i = Math.max(0, at); i < Math.min(bytes.length, at + 400); i++) set.add(i);
    }
    for (let i = bytes.length - 200; i < bytes.length; i++) set.add(i);
    for (const i of [...set].sort((x, y) => x - y)) out.push([i, neighbour(bytes[i]!)]);
  }
  for (let n = 0; n < 2000; n++) {
    const i = Math.floor(rand() * bytes.length);
    let r: number;
    do r = 0x20 + Math.floor(rand() * 95);
    while (r === bytes[i]);
    out.push([i, r]);
  }
  return out;
}

describe("any byte changed fails", () => {
  it("refuses the pack for every byte position replaced by another printable character (a report, never a crash)", () => {
    const bytes = Buffer.from(packText, "utf8");
    const accepted: string[] = [];
    const threw: string[] = [];
    const tried = changes(bytes, prng(0x5eed));
    const started = Date.now();
    for (const [i, r] of tried) {
      const changed = Buffer.from(bytes);
      changed[i] = r;
      const what = () =>
        `byte ${i} ${JSON.stringify(String.fromCharCode(bytes[i]!))} -> ${JSON.stringify(String.fromCharCode(r))} near …${bytes.subarray(Math.max(0, i - 24), i + 8).toString("latin1")}`;
      try {
        if (verifyPack(changed.toString("utf8")).ok) accepted.push(what());
      } catch (err) {
        // A report is the contract: a damaged pack must be refused, not crash the checker.
        threw.push(`${what()}: ${(err as Error).message}`);
      }
    }
    console.log(
      `pack of ${bytes.length} bytes: ${tried.length} single-byte changes checked in ${Date.now() - started} ms; ${accepted.length} accepted, ${threw.length} threw`,
    );
    expect(new Set(tried.map(([i]) => i)).size).toBe(
      bytes.length <= 8192 ? bytes.length : expect.any(Number),
    );
    // Both lists are shown on failure (first 20 of each).
    expect({ accepted: accepted.slice(0, 20), threw: threw.slice(0, 20) }).toEqual({
      accepted: [],
      threw: [],
    });
    expect([accepted.length, threw.length]).toEqual([0, 0]);
  }, 120_000);

  it("refuses a pack whose signature was re-encoded to other base64 text decoding to the same bytes", () => {
    const pack = JSON.parse(packText) as EvidencePack;
    const sig = pack.signature;
    expect(sig).toMatch(/^[A-Za-z0-9+/]{86}==$/); // 64 bytes: the last character has 4 spare bits
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const last = alphabet.indexOf(sig[85]!);
    const sameBytes = `${sig.slice(0, 85)}${alphabet[last ^ 1]}==`;
    expect(Buffer.from(sameBytes, "base64").equals(Buffer.from(sig, "base64"))).toBe(true);
    const edited = packText.replace(`"signature":"${sig}"`, `"signature":"${sameBytes}"`);
    expect(edited).not.toBe(packText);
    const report = verifyPack(edited, exported.publicKeyPem);
    expect(report.ok).toBe(false);
  });

  it("refuses a pack whose signature padding was changed (the base64 decoder ignores it)", () => {
    const pack = JSON.parse(packText) as EvidencePack;
    const edited = packText.replace(
      `"signature":"${pack.signature}"`,
      `"signature":"${pack.signature.slice(0, -1)}<"`,
    );
    expect(verifyPack(edited).ok).toBe(false);
  });

  it.each([
    ["an entry whose entry field was renamed", '{"entry":"', '{"entrz":"'],
    ["an entry whose proof field was renamed", '"proof":[', '"proog":['],
    ["a proof hash with a non-hex character", '"proof":["', '"proof":["g'],
    ["a policy whose text field was renamed", '"text":"version: 1', '"texu":"version: 1'],
  ])("reports (does not throw on) %s", (_what, from, to) => {
    expect(packText).toContain(from);
    const edited = packText.replace(from, to);
    let report: ReturnType<typeof verifyPack> | undefined;
    expect(() => {
      report = verifyPack(edited);
    }).not.toThrow();
    expect(report?.ok).toBe(false);
    expect(report?.problems.length).toBeGreaterThan(0);
  });

  it("refuses the pack when its trailing newline is removed or doubled", () => {
    expect(verifyPack(packText.slice(0, -1)).ok).toBe(false);
    expect(verifyPack(`${packText}\n`).ok).toBe(false);
  });
});

describe("a pack re-signed by another key", () => {
  it("with an entry changed and every proof, the checkpoint and the pack re-signed by another key: self-consistent, but refused against the trusted key", () => {
    const pack = JSON.parse(packText) as EvidencePack;
    const { signature: _dropped, ...body } = pack;
    const other = generateLedgerKeyPair();
    // The forger rewrites the decision's reason, re-links the run's later entries to it (each
    // entry names the hash of the one before), and rebuilds a tree around the run's entries.
    const entries: { seq: number; entry: string; proof: readonly string[] }[] = [];
    for (const e of pack.entries) {
      const parsed = JSON.parse(e.entry) as Record<string, unknown>;
      if (parsed.type === "step.decision") {
        parsed.data = { ...(parsed.data as object), reason: "approved by the CISO" };
      }
      const before = entries.at(-1);
      if (before !== undefined && before.seq === e.seq - 1) {
        parsed.prev = toHex(leafHash(before.entry));
      }
      entries.push({ ...e, entry: canonicalJson(parsed) });
    }
    expect(entries.map((e) => e.entry)).not.toEqual(pack.entries.map((e) => e.entry));
    const treeSize = parseCheckpoint(pack.checkpoint).checkpoint.treeSize;
    const leaves: Uint8Array[] = Array.from({ length: treeSize }, () => randomBytes(32));
    for (const e of entries) leaves[e.seq - 1] = leafHash(e.entry);
    const proofs = inclusionProofs(
      leaves,
      entries.map((e) => e.seq - 1),
    );
    const checkpoint = signCheckpoint(
      {
        origin: `airun ledger ${publicKeyFingerprint(other.publicKeyPem)}`,
        treeSize,
        root: merkleRoot(leaves),
        timestamp: Date.now(),
      },
      "airun-ledger",
      other.privateKeyPem,
    );
    const forged = writePack(
      {
        ...body,
        entries: entries.map((e, i) => ({ ...e, proof: proofs[i]!.map(toHex) })),
        checkpoint,
        public_key: other.publicKeyPem,
      },
      other.privateKeyPem,
    );

    const untrusting = verifyPack(forged);
    expect(untrusting).toMatchObject({ ok: true, runId: exported.runId });
    expect(untrusting.keyFingerprint).not.toBe(exported.fingerprint);

    const trusting = verifyPack(forged, exported.publicKeyPem);
    expect(trusting.ok).toBe(false);
    expect(trusting.problems).toContain(
      `the pack is signed by key ${publicKeyFingerprint(other.publicKeyPem)}, not by the trusted key`,
    );
  });
});

describe("export from a tampered ledger", () => {
  let w: Workspace;
  afterAll(async () => {
    await w?.cleanup();
  });

  it("is refused with LEDGER_INVALID naming the entry, and no checkpoint of it is signed", async () => {
    w = await workspace({ policy: POLICY });
    let runId: string;
    const rt = await w.open();
    try {
      runId = (await rt.startRun({ specFile: await w.spec("one.yaml", ONE_STEP) })).id;
    } finally {
      await rt.close();
    }
    const db = new Database(join(w.home, "airun.db"));
    let k: number;
    try {
      k = (
        db.prepare("SELECT seq FROM events WHERE type = 'step.decision'").get() as { seq: number }
      ).seq;
      db.prepare(
        `UPDATE events SET data = replace(data, '"ALLOW"', '"REQUIRE_APPROVAL"') WHERE seq = ?`,
      ).run(k);
    } finally {
      db.close();
    }
    const again = await w.open();
    try {
      const failure = await again.exportEvidencePack(runId).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(AirunError);
      expect(failure).toMatchObject({ code: "LEDGER_INVALID" });
      expect((failure as Error).message).toContain(`entry ${k}`);
      await expect(again.checkpointLedger()).rejects.toMatchObject({ code: "LEDGER_INVALID" });
      await expect(again.exportEvidencePack("no-such-run")).rejects.toMatchObject({
        code: "NOT_FOUND",
      });
    } finally {
      await again.close();
    }
    await expect(readFile(join(w.home, "checkpoints"), "utf8")).rejects.toMatchObject({
      code: "ENOENT",
    });
  });
});
