/**
 * @module Signed ledger checkpoints: a tree size and Merkle root in the text form of C2SP
 * tlog-checkpoint, signed with Ed25519 as a C2SP signed note. Keys come in as PEM text or
 * `KeyObject`s; reading and writing key files is the caller's business.
 *
 * ```text
 * airun ledger 3f9a…
 * 1234
 * <base64 of the 32-byte root>
 * time 1718000000000
 *
 * — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>
 * ```
 */
import * as crypto from "node:crypto";
import { AirunError } from "./errors.js";

/** A tree head of the ledger at one moment. */
export interface Checkpoint {
  /** Names the ledger, e.g. `airun ledger 3f9a…`: non-empty, one line. */
  readonly origin: string;
  /** Number of entries covered. */
  readonly treeSize: number;
  /** RFC 6962 root of those entries, 32 bytes. */
  readonly root: Uint8Array;
  /** When the checkpoint was made, in milliseconds since the Unix epoch. */
  readonly timestamp: number;
}

const EM_DASH = "\u2014";
const ED25519_KEY_TYPE = 0x01;
const KEY_ID_BYTES = 4;
const SIGNATURE_BYTES = 64;
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
/** A key name: non-empty, no whitespace (Unicode included), no `+` (signed-note rules). */
const KEY_NAME = /^[^\s+]+$/u;

/** The signed note body: origin, size, base64 root and `time` lines, each ending in `\n`. */
export function formatCheckpointBody(cp: Checkpoint): string {
  const bad = (what: string): never => {
    throw new AirunError("CHECKPOINT_INVALID_ARGUMENT", `cannot format checkpoint: ${what}`);
  };
  if (cp.origin === "" || cp.origin.includes("\n") || hasControl(cp.origin)) {
    bad(
      `origin ${JSON.stringify(cp.origin)} must be one non-empty line without control characters`,
    );
  }
  if (!isWellFormed(cp.origin)) bad("origin is not well-formed Unicode");
  if (!isCount(cp.treeSize)) bad(`tree size ${cp.treeSize} is not a non-negative safe integer`);
  if (!(cp.root instanceof Uint8Array) || cp.root.length !== 32) bad("root must be 32 bytes");
  if (!isCount(cp.timestamp)) bad(`timestamp ${cp.timestamp} is not a non-negative safe integer`);
  return `${cp.origin}\n${cp.treeSize}\n${base64(cp.root)}\ntime ${cp.timestamp}\n`;
}

/**
 * Signs a checkpoint with an Ed25519 private key (PKCS#8 PEM or `KeyObject`) and returns the
 * whole note text, ending in a newline.
 *
 * @example
 * const { privateKeyPem, publicKeyPem } = generateLedgerKeyPair();
 * const note = signCheckpoint({ origin: "airun ledger 3f9a", treeSize: 3, root, timestamp: Date.now() }, "airun", privateKeyPem);
 * verifyCheckpoint(note, publicKeyPem).treeSize; // 3
 */
export function signCheckpoint(
  cp: Checkpoint,
  keyName: string,
  privateKey: crypto.KeyObject | string,
): string {
  if (!KEY_NAME.test(keyName) || hasControl(keyName) || !isWellFormed(keyName)) {
    throw new AirunError(
      "CHECKPOINT_INVALID_ARGUMENT",
      `key name ${JSON.stringify(keyName)} must be non-empty, without whitespace or "+"`,
    );
  }
  const body = formatCheckpointBody(cp);
  const key = toKey(privateKey, "private");
  const signature = crypto.sign(null, Buffer.from(body, "utf8"), key);
  const blob = Buffer.concat([
    keyId(keyName, rawPublicKey(crypto.createPublicKey(key))),
    signature,
  ]);
  return `${body}\n${EM_DASH} ${keyName} ${base64(blob)}\n`;
}

/**
 * Parses a signed checkpoint without checking its signature. Strict: exactly the four body
 * lines, a blank line and one signature line, nothing else; throws `CHECKPOINT_MALFORMED`
 * naming the line and what is wrong.
 */
export function parseCheckpoint(text: string): {
  checkpoint: Checkpoint;
  keyName: string;
  keyId: Uint8Array;
  signature: Uint8Array;
  body: string;
} {
  const lines = text.split("\n");
  function malformed(line: number, what: string): never {
    throw new AirunError("CHECKPOINT_MALFORMED", `checkpoint line ${line}: ${what}`, { line });
  }
  function line(n: number, what: string): string {
    return lines[n - 1] ?? malformed(n, `missing ${what}`);
  }
  if (lines.pop() !== "") malformed(lines.length + 1, "text does not end with a newline");
  lines.forEach((l, i) => {
    if (hasControl(l)) malformed(i + 1, "contains a control character");
    if (!isWellFormed(l)) malformed(i + 1, "is not well-formed Unicode");
  });

  const origin = line(1, "origin");
  if (origin === "") malformed(1, "origin is empty");
  const sizeText = line(2, "tree size");
  const treeSize = decimal(sizeText);
  if (treeSize === undefined) {
    malformed(2, `tree size ${JSON.stringify(sizeText)} is not a decimal integer`);
  }
  const root = strictBase64(line(3, "root hash"));
  if (root === undefined) malformed(3, "root hash is not canonical standard base64");
  if (root.length !== 32) malformed(3, `root hash is ${root.length} bytes, expected 32`);
  const timeText = line(4, "time line");
  const timestamp = timeText.startsWith("time ") ? decimal(timeText.slice(5)) : undefined;
  if (timestamp === undefined) {
    malformed(4, `expected "time <ms since epoch>", found ${JSON.stringify(timeText)}`);
  }
  const blank = line(5, "blank line ending the note body");
  if (blank !== "") {
    malformed(5, `expected a blank line ending the note body, found ${JSON.stringify(blank)}`);
  }

  const parts = line(6, "signature line").split(" ");
  if (parts.length !== 3 || parts[0] !== EM_DASH) {
    malformed(6, `expected "${EM_DASH} <key name> <base64 signature>"`);
  }
  const keyName = parts[1] ?? "";
  if (!KEY_NAME.test(keyName)) malformed(6, `key name ${JSON.stringify(keyName)} is not valid`);
  const blob = strictBase64(parts[2] ?? "");
  if (blob === undefined) malformed(6, "signature is not canonical standard base64");
  if (blob.length !== KEY_ID_BYTES + SIGNATURE_BYTES) {
    malformed(6, `signature is ${blob.length} bytes, expected ${KEY_ID_BYTES + SIGNATURE_BYTES}`);
  }
  if (lines.length > 6) malformed(7, "unexpected content after the signature line");

  return {
    checkpoint: Object.freeze({ origin, treeSize, root, timestamp }),
    keyName,
    keyId: blob.slice(0, KEY_ID_BYTES),
    signature: blob.slice(KEY_ID_BYTES),
    body: `${lines.slice(0, 4).join("\n")}\n`,
  };
}

/**
 * Parses a signed checkpoint and checks its Ed25519 signature against `publicKey` (SPKI PEM
 * or `KeyObject`; a private key is accepted and its public half used). Throws
 * `CHECKPOINT_MALFORMED` for bad text, `CHECKPOINT_BAD_SIGNATURE` when the key id (which binds
 * key name and public key) does not match or the signature does not verify.
 */
export function verifyCheckpoint(text: string, publicKey: crypto.KeyObject | string): Checkpoint {
  const parsed = parseCheckpoint(text);
  const key = toKey(publicKey, "public");
  const expectedId = keyId(parsed.keyName, rawPublicKey(key));
  if (Buffer.compare(expectedId, parsed.keyId) !== 0) {
    throw new AirunError(
      "CHECKPOINT_BAD_SIGNATURE",
      `checkpoint signed by key "${parsed.keyName}" with id ${hex(parsed.keyId)}, but the given key's id for that name is ${hex(expectedId)}`,
      { keyName: parsed.keyName },
    );
  }
  if (!crypto.verify(null, Buffer.from(parsed.body, "utf8"), key, parsed.signature)) {
    throw new AirunError(
      "CHECKPOINT_BAD_SIGNATURE",
      `checkpoint signature by key "${parsed.keyName}" does not verify`,
      { keyName: parsed.keyName },
    );
  }
  return parsed.checkpoint;
}

/** A fresh Ed25519 key pair as PEM text: PKCS#8 private key, SPKI public key. */
export function generateLedgerKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519", {
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/**
 * A short text for people to compare keys: `SHA256:` and the unpadded base64 of the SHA-256
 * of the raw 32-byte public key (shaped like an OpenSSH fingerprint, but not equal to one:
 * OpenSSH hashes its own key encoding). A private key gives its public key's fingerprint.
 */
export function publicKeyFingerprint(publicKey: crypto.KeyObject | string): string {
  const digest = crypto
    .createHash("sha256")
    .update(rawPublicKey(toKey(publicKey, "public")))
    .digest();
  return `SHA256:${digest.toString("base64").replace(/=+$/, "")}`;
}

/**
 * The Ed25519 public key a key file holds (SPKI PEM; a private key gives its public half), as
 * SPKI PEM with its fingerprint. Throws `CHECKPOINT_INVALID_KEY` naming `source` (the file) when
 * the text is not such a key, so that whoever reads the error knows which file is damaged.
 */
export function readPublicKey(text: string, source: string): { pem: string; fingerprint: string } {
  try {
    const key = toKey(text, "public");
    return {
      pem: key.export({ type: "spki", format: "pem" }) as string,
      fingerprint: publicKeyFingerprint(key),
    };
  } catch (err) {
    throw new AirunError(
      "CHECKPOINT_INVALID_KEY",
      `${source}: not a usable Ed25519 public key (${(err as Error).message})`,
      { file: source },
      { cause: err },
    );
  }
}

/** signed-note Ed25519 key id: SHA-256(name || 0x0A || 0x01 || public key)[0:4]. */
function keyId(keyName: string, rawKey: Uint8Array): Uint8Array {
  const h = crypto.createHash("sha256");
  h.update(keyName, "utf8").update(Uint8Array.of(0x0a, ED25519_KEY_TYPE)).update(rawKey);
  return h.digest().subarray(0, KEY_ID_BYTES);
}

/** An Ed25519 KeyObject of the wanted kind (a private key yields its public half). */
function toKey(key: crypto.KeyObject | string, kind: "private" | "public"): crypto.KeyObject {
  let obj: crypto.KeyObject;
  try {
    if (typeof key !== "string") {
      obj = kind === "public" && key.type === "private" ? crypto.createPublicKey(key) : key;
    } else obj = kind === "private" ? crypto.createPrivateKey(key) : crypto.createPublicKey(key);
  } catch (cause) {
    throw new AirunError("CHECKPOINT_INVALID_KEY", `cannot read the ${kind} key`, {}, { cause });
  }
  if (obj.type !== kind || obj.asymmetricKeyType !== "ed25519") {
    throw new AirunError(
      "CHECKPOINT_INVALID_KEY",
      `expected an Ed25519 ${kind} key, got ${obj.asymmetricKeyType ?? "a"} ${obj.type} key`,
    );
  }
  return obj;
}

/** The raw 32-byte Ed25519 public key. */
function rawPublicKey(key: crypto.KeyObject): Uint8Array {
  const x = key.export({ format: "jwk" }).x;
  if (typeof x !== "string") throw new AirunError("CHECKPOINT_INVALID_KEY", "no public key");
  return Buffer.from(x, "base64url");
}

/** Decodes standard base64 with padding, refusing anything that does not re-encode identically. */
function strictBase64(s: string): Uint8Array | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return undefined;
  const bytes = Buffer.from(s, "base64");
  return bytes.toString("base64") === s ? Uint8Array.from(bytes) : undefined;
}

const decimal = (s: string): number | undefined => {
  if (!DECIMAL.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
};
/** True when `s` holds an ASCII control character other than newline (banned in signed notes). */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return true;
  }
  return false;
}
const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
const base64 = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
/** `String.prototype.isWellFormed` (ES2024, native in Node 20): no lone surrogates. */
const isWellFormed = (s: string): boolean =>
  (s as unknown as { isWellFormed(): boolean }).isWellFormed();
