/**
 * @module Before-images sealed at rest. A file's previous bytes must be kept exactly for its
 * undo, and they may hold anything the file held (a credential a step then overwrote). So they
 * are stored encrypted and authenticated (AES-256-GCM, a fresh nonce per blob) with a key kept
 * under `<home>/keys/blobs/`, not in the database: a copy of the database file, its WAL or a
 * backup of them reveals none of the contents. A sealed blob changed in the database fails to
 * open (the undo refuses) instead of restoring forged bytes.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { AirunError } from "../../core/errors.js";
import { keySet } from "./key-files.js";

/** Seals and opens before-images. */
export interface BlobSeal {
  seal(bytes: Uint8Array): Uint8Array;
  /** The bytes sealed in `sealed`; throws `BLOB_TAMPERED` if they do not authenticate. */
  open(sealed: Uint8Array, id: string): Uint8Array;
}

/** Marks a sealed blob (format version 1): magic, 12-byte nonce, 16-byte tag, ciphertext. */
const MAGIC = Buffer.from("AIRUNBLOB1");
const NONCE = 12;
const TAG = 16;
const KEY_FILE = "blobs.aes256";

/** Loads the blob key of a home, creating it on first use. */
export async function loadBlobSeal(home: string): Promise<BlobSeal> {
  const files = await keySet(home, "blobs", [KEY_FILE], () => ({
    [KEY_FILE]: { content: randomBytes(32), mode: 0o600 },
  }));
  const key = files[KEY_FILE]!;
  if (key.length !== 32) {
    throw new AirunError("BLOB_KEY_INVALID", `${home}/keys/blobs/${KEY_FILE} is not a 32-byte key`);
  }
  return sealWith(key);
}

/**
 * A seal under a random key kept in memory only: for a runtime over a store that is itself
 * discarded (a read-only command on a home that does not exist yet), so nothing is written.
 */
export function ephemeralBlobSeal(): BlobSeal {
  return sealWith(randomBytes(32));
}

function sealWith(key: Buffer): BlobSeal {
  return {
    seal(bytes) {
      const nonce = randomBytes(NONCE);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      const body = Buffer.concat([cipher.update(bytes), cipher.final()]);
      return Buffer.concat([MAGIC, nonce, cipher.getAuthTag(), body]);
    },
    open(sealed, id) {
      const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
      // Written before blobs were sealed: kept as they were.
      if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) return sealed;
      const at = MAGIC.length;
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, buf.subarray(at, at + NONCE));
        decipher.setAuthTag(buf.subarray(at + NONCE, at + NONCE + TAG));
        return Buffer.concat([decipher.update(buf.subarray(at + NONCE + TAG)), decipher.final()]);
      } catch (cause) {
        throw new AirunError(
          "BLOB_TAMPERED",
          `before-image ${id} does not authenticate with this home's blob key (changed, or sealed by another home)`,
          { blobId: id },
          { cause },
        );
      }
    },
  };
}
