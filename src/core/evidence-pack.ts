/**
 * @module Evidence packs: one self-contained file proving what happened in a run, checkable
 * offline by someone who does not trust the sender. It holds the run's summary (checked against
 * the run's own entries, so it cannot tell another story than they do), its spec text,
 * the text of every policy its decisions name, the run's ledger entries (canonical text) with
 * RFC 6962 inclusion proofs, a signed checkpoint of the whole ledger those proofs lead to, and
 * the ledger's public key; the pack itself is signed with that key and written as canonical
 * JSON, so any byte changed anywhere fails verification. Pure: building the pack's content is
 * the engine's job (`engine/ledger.ts`), this file defines the format and checks it.
 */
import { createPublicKey, sign, verify } from "node:crypto";
import { publicKeyFingerprint, verifyCheckpoint } from "./checkpoint.js";
import { AirunError } from "./errors.js";
import { canonicalJson, sha256Hex } from "./hash.js";
import { isPlainObject, type JsonValue } from "./json.js";
import { type Recorded, RecordedRun, type RunEntry } from "./ledger-run.js";
import { fromHex, leafHash, toHex, verifyInclusion } from "./merkle.js";
import type { Plan } from "./plan.js";
import { computeSpecHash } from "./plan-schema.js";

/** The pack format this code writes and reads. */
export const PACK_FORMAT = "airun.evidence-pack.v1";

/** One ledger entry of the run, with its proof of inclusion in the checkpointed tree. */
export interface PackEntry {
  readonly seq: number;
  /** The entry's canonical JSON text, exactly as hashed (`core/ledger.ts`). */
  readonly entry: string;
  /** Hex audit path of leaf `seq - 1` in the tree of the checkpoint's size. */
  readonly proof: readonly string[];
}

/** The signed content of a pack. */
export interface EvidencePackBody {
  readonly format: typeof PACK_FORMAT;
  readonly created_at: number;
  readonly run: {
    readonly id: string;
    readonly kind: string;
    readonly name: string;
    readonly version: string;
    readonly principal: string;
    readonly status: string;
    readonly outcome: string | null;
    readonly reason: string | null;
    readonly spec_hash: string;
  };
  /**
   * The spec as written and as compiled. The run's `spec_hash` is the compiled plan's hash
   * (`core/plan-schema.ts`); the run's `run.created` entry records the SHA-256 of the text.
   */
  readonly spec: { readonly text: string; readonly plan: JsonValue };
  /** Every policy the run's decisions name; `text` null when it was never recorded. */
  readonly policies: readonly { readonly hash: string; readonly text: string | null }[];
  readonly entries: readonly PackEntry[];
  /** A signed checkpoint (`core/checkpoint.ts`) of the ledger the proofs lead to. */
  readonly checkpoint: string;
  /** PEM (SPKI) of the ledger key that signed the checkpoint and the pack. */
  readonly public_key: string;
}

/** A pack: its body plus an Ed25519 signature (base64) over the body's canonical JSON. */
export interface EvidencePack extends EvidencePackBody {
  readonly signature: string;
}

/** Signs a body and returns the pack's file text (canonical JSON and a newline). */
export function writePack(body: EvidencePackBody, privateKeyPem: string): string {
  const signature = sign(null, Buffer.from(canonicalJson(body)), privateKeyPem).toString("base64");
  return `${canonicalJson({ ...body, signature })}\n`;
}

/** What `verifyPack` found. */
export interface PackReport {
  readonly ok: boolean;
  /** Every problem found (empty when ok), each naming what is wrong. */
  readonly problems: readonly string[];
  readonly runId: string | null;
  readonly entries: number;
  readonly treeSize: number | null;
  /** `SHA256:…` of the key that signed the pack, to compare with the one you trust. */
  readonly keyFingerprint: string | null;
}

/**
 * Verifies a pack's file text offline: canonical bytes, signature, checkpoint signature, every
 * entry's inclusion proof, that every entry belongs to the run, the spec and policy hashes,
 * that every decision's policy is in the pack, and that the run's summary (kind, name, version,
 * principal, status, outcome, reason) is what its entries record. With `trustedKey` (PEM), the pack must have been
 * signed by that key (otherwise the embedded key is taken at its word: compare the fingerprint).
 */
export function verifyPack(text: string, trustedKey?: string): PackReport {
  const problems: string[] = [];
  const result = (extra: Partial<PackReport> = {}): PackReport => ({
    ok: problems.length === 0,
    problems,
    runId: null,
    entries: 0,
    treeSize: null,
    keyFingerprint: null,
    ...extra,
  });
  let pack: EvidencePack;
  try {
    pack = parsePack(text);
  } catch (err) {
    problems.push((err as Error).message);
    return result();
  }
  const { signature, ...body } = pack;
  let fingerprint: string | null = null;
  try {
    const key = createPublicKey(pack.public_key);
    fingerprint = publicKeyFingerprint(key);
    const sig = strictBase64(signature);
    if (sig === undefined || sig.length !== 64) {
      problems.push("signature: not the standard base64 of a 64-byte Ed25519 signature");
    } else if (!verify(null, Buffer.from(canonicalJson(body)), key, sig)) {
      problems.push("the pack's signature does not match its content");
    }
  } catch (err) {
    problems.push(`public_key: ${(err as Error).message}`);
  }
  if (trustedKey !== undefined) {
    let trusted: string | undefined;
    try {
      trusted = publicKeyFingerprint(trustedKey);
    } catch (err) {
      problems.push(`the trusted key: ${(err as Error).message}`);
    }
    if (trusted !== undefined && trusted !== fingerprint) {
      problems.push(`the pack is signed by key ${fingerprint}, not by the trusted key`);
    }
  }
  let treeSize: number | null = null;
  let root: Uint8Array | undefined;
  try {
    const cp = verifyCheckpoint(pack.checkpoint, pack.public_key);
    treeSize = cp.treeSize;
    root = cp.root;
  } catch (err) {
    problems.push(`checkpoint: ${(err as Error).message}`);
  }
  checkSpec(pack, problems);
  const policies = new Set<string>();
  for (const p of pack.policies) {
    if (p.text !== null && sha256Hex(p.text) !== p.hash) {
      problems.push(`policy ${p.hash}: its text does not hash to its id`);
    }
    policies.add(p.hash);
  }
  const hashes = new Map(pack.entries.map((e) => [e.seq, toHex(leafHash(e.entry))]));
  /** The run's entries that parse and belong to it, for the summary check. */
  const mine: RunEntry[] = [];
  for (const e of pack.entries) {
    const where = `entry ${e.seq}`;
    const parsed = safeParse(e.entry);
    if (parsed === undefined) {
      problems.push(`${where}: not a JSON object`);
      continue;
    }
    if (!isCanonical(parsed, e.entry)) problems.push(`${where}: not canonical JSON`);
    if (parsed.seq !== e.seq) problems.push(`${where}: its text says seq ${String(parsed.seq)}`);
    if (parsed.run !== pack.run.id) problems.push(`${where}: belongs to another run`);
    else if (parsed.seq === e.seq && typeof parsed.type === "string") {
      const at = typeof parsed.at === "number" ? parsed.at : 0;
      mine.push({ seq: e.seq, at, type: parsed.type, data: parsed.data ?? null });
    }
    const before = hashes.get(e.seq - 1);
    if (before !== undefined && parsed.prev !== before) {
      problems.push(
        `${where}: does not link to entry ${e.seq - 1} (its prev is not that entry's hash)`,
      );
    }
    const data = parsed.data;
    const policyHash = isPlainObject(data) ? data.policy_hash : undefined;
    if (parsed.type === "step.decision" && typeof policyHash === "string") {
      if (!policies.has(policyHash))
        problems.push(`${where}: policy ${policyHash} is not in the pack`);
    }
    if (root === undefined || treeSize === null) continue;
    const ok =
      e.seq >= 1 &&
      e.seq <= treeSize &&
      verifyInclusion(leafHash(e.entry), e.seq - 1, treeSize, e.proof.map(fromHex), root);
    if (!ok) problems.push(`${where}: its inclusion proof does not lead to the checkpoint's root`);
  }
  checkSummary(pack, mine, problems);
  return result({
    runId: pack.run.id,
    entries: pack.entries.length,
    treeSize,
    keyFingerprint: fingerprint,
  });
}

/**
 * The spec's text and plan against the run: the plan hashes to the run's spec hash, and the
 * text to the hash its `run.created` entry recorded (entries are proven separately).
 */
function checkSpec(pack: EvidencePack, problems: string[]): void {
  let planHash: string | undefined;
  try {
    // A session's plan grows by one step per call; its spec hash covers the plan it opened with.
    const plan = pack.spec.plan as unknown as Plan;
    planHash = computeSpecHash(pack.run.kind === "session" ? { ...plan, steps: [] } : plan);
  } catch {
    problems.push("spec: its compiled plan is malformed");
  }
  if (planHash !== undefined && planHash !== pack.run.spec_hash) {
    problems.push(
      `spec: the compiled plan hashes to ${planHash}, the run records ${pack.run.spec_hash}`,
    );
  }
  const created = pack.entries
    .map((e) => safeParse(e.entry))
    .find((e) => e?.type === "run.created" && e.run === pack.run.id);
  const data = created?.data;
  if (!isPlainObject(data ?? null)) {
    problems.push("spec: the run's run.created entry is not in the pack");
    return;
  }
  const recorded = (data as Record<string, JsonValue>).spec_text_sha256;
  if (recorded !== sha256Hex(pack.spec.text)) {
    problems.push("spec: its text does not hash to the value the run.created entry recorded");
  }
  if ((data as Record<string, JsonValue>).spec_hash !== pack.run.spec_hash) {
    problems.push("run: its spec hash differs from the one the run.created entry recorded");
  }
}

/**
 * The pack's summary of the run against what the run's own entries record (`ledger-run.ts`):
 * a summary copied from an edited runs table must not pass for the run's story. Fields the
 * entries leave unknown (the outcome while the run is rolling back) are not compared.
 */
function checkSummary(pack: EvidencePack, entries: RunEntry[], problems: string[]): void {
  const recorded = new RecordedRun();
  for (const e of [...entries].sort((a, b) => a.seq - b.seq)) recorded.push(e);
  const created = recorded.created;
  if (created === null) return; // reported by checkSpec
  const fields: [keyof EvidencePack["run"], Recorded<JsonValue> | null][] = [
    ["kind", { value: created.kind, seq: created.seq, type: "run.created" }],
    ["name", { value: created.name, seq: created.seq, type: "run.created" }],
    ["version", { value: created.version, seq: created.seq, type: "run.created" }],
    ["principal", { value: created.principal, seq: created.seq, type: "run.created" }],
    ["status", recorded.status],
    ["outcome", recorded.outcome],
    ["reason", recorded.reason],
  ];
  for (const [field, said] of fields) {
    if (said === null) continue;
    const given = pack.run[field] as JsonValue;
    if (canonicalJson(given) === canonicalJson(said.value)) continue;
    problems.push(
      `run.${field}: the pack says ${JSON.stringify(given)}, its entries say ${JSON.stringify(said.value)} (entry ${said.seq}, ${said.type})`,
    );
  }
}

function safeParse(text: string): Record<string, JsonValue> | undefined {
  try {
    const v = JSON.parse(text) as JsonValue;
    return isPlainObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Parses a pack's text, refusing anything but its canonical form and the known format. */
function parsePack(text: string): EvidencePack {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw packError(`not JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(value as JsonValue)) throw packError("not a JSON object");
  if (!text.endsWith("\n") || !isCanonical(value, text.slice(0, -1))) {
    throw packError("its bytes are not the canonical form written by airun (the file was edited)");
  }
  const pack = value as unknown as EvidencePack;
  if (pack.format !== PACK_FORMAT) {
    throw packError(`unknown format ${JSON.stringify(pack.format)} (expected ${PACK_FORMAT})`);
  }
  const fields: [string, boolean][] = [
    ["run", isPlainObject(pack.run as unknown as JsonValue)],
    ["spec.text", typeof pack.spec?.text === "string"],
    ["spec.plan", isPlainObject((pack.spec?.plan ?? null) as JsonValue)],
    ["policies", Array.isArray(pack.policies)],
    ["entries", Array.isArray(pack.entries)],
    ["checkpoint", typeof pack.checkpoint === "string"],
    ["public_key", typeof pack.public_key === "string"],
    ["signature", typeof pack.signature === "string"],
  ];
  for (const [field, ok] of fields) {
    if (!ok) throw packError(`field "${field}" is missing or malformed`);
  }
  const run = pack.run as unknown as Record<string, unknown>;
  for (const f of ["id", "kind", "name", "version", "principal", "status", "spec_hash"]) {
    if (typeof run[f] !== "string") throw packError(`field "run.${f}" is missing or malformed`);
  }
  for (const f of ["outcome", "reason"]) {
    if (run[f] !== null && typeof run[f] !== "string") {
      throw packError(`field "run.${f}" must be a string or null`);
    }
  }
  pack.policies.forEach((p, i) => {
    if (!isPlainObject(p as unknown as JsonValue) || !HEX64.test(String(p.hash))) {
      throw packError(`field "policies[${i}].hash" is missing or malformed`);
    }
    if (p.text !== null && typeof p.text !== "string") {
      throw packError(`field "policies[${i}].text" must be a string or null`);
    }
  });
  pack.entries.forEach((e, i) => {
    const ok =
      isPlainObject(e as unknown as JsonValue) &&
      Number.isSafeInteger(e.seq) &&
      typeof e.entry === "string" &&
      Array.isArray(e.proof) &&
      e.proof.every((h) => typeof h === "string" && HEX64.test(h));
    if (!ok)
      throw packError(`entries[${i}]: needs seq (integer), entry (text) and proof (hex hashes)`);
  });
  return pack;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Whether `text` is the canonical JSON of `value` (false for values with no canonical form). */
function isCanonical(value: unknown, text: string): boolean {
  try {
    return canonicalJson(value) === text;
  } catch {
    return false;
  }
}

/** The bytes of standard, padded base64 written in its one canonical form; else undefined. */
function strictBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? bytes : undefined;
}

function packError(message: string): AirunError {
  return new AirunError("PACK_MALFORMED", `evidence pack: ${message}`);
}
