/**
 * Before-images sealed at rest: what goes into the database is not the file's bytes, opens back
 * to exactly them, refuses to open once changed, and the key is created once per home (also by
 * two processes starting together).
 */
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadBlobSeal } from "../../src/engine/keys/blob-seal.js";

const home = () => mkdtempSync(join(tmpdir(), "airun-blob-seal-"));

describe("blob sealing", () => {
  it("seals bytes into something else and opens them back exactly", async () => {
    const seal = await loadBlobSeal(home());
    const secret = Buffer.from("token=canary-0123456789abcdef\n\u0000\u00ff", "latin1");
    const sealed = seal.seal(secret);
    expect(Buffer.from(sealed).includes(Buffer.from("canary"))).toBe(false);
    expect(Buffer.from(seal.open(sealed, "id"))).toEqual(secret);
    expect(Buffer.from(seal.seal(secret))).not.toEqual(Buffer.from(sealed)); // fresh nonce
    expect(Buffer.from(seal.open(seal.seal(new Uint8Array(0)), "id"))).toEqual(Buffer.alloc(0));
  });

  it("refuses a sealed blob with any byte changed, or sealed under another home's key", async () => {
    const seal = await loadBlobSeal(home());
    const sealed = Buffer.from(seal.seal(Buffer.from("before image")));
    for (let i = 10; i < sealed.length; i++) {
      const bad = Buffer.from(sealed);
      bad[i] = (bad[i] ?? 0) ^ 0x01;
      expect(() => seal.open(bad, "b1")).toThrow(
        expect.objectContaining({ code: "BLOB_TAMPERED" }),
      );
    }
    const other = await loadBlobSeal(home());
    expect(() => other.open(sealed, "b1")).toThrow(
      expect.objectContaining({ code: "BLOB_TAMPERED" }),
    );
  });

  it("opens blobs written before sealing existed as they are", async () => {
    const seal = await loadBlobSeal(home());
    const legacy = Buffer.from("plain before-image");
    expect(Buffer.from(seal.open(legacy, "old"))).toEqual(legacy);
  });

  it("creates one private key per home, the same for concurrent first uses", async () => {
    const h = home();
    const [a, b] = await Promise.all([loadBlobSeal(h), loadBlobSeal(h)]);
    const file = join(h, "keys", "blobs", "blobs.aes256");
    expect(readFileSync(file)).toHaveLength(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(b.open(a.seal(Buffer.from("x")), "id")).toString()).toBe("x");
  });
});
