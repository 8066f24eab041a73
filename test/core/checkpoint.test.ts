import * as crypto from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type Checkpoint,
  formatCheckpointBody,
  generateLedgerKeyPair,
  parseCheckpoint,
  publicKeyFingerprint,
  signCheckpoint,
  verifyCheckpoint,
} from "../../src/core/checkpoint.js";
import { AirunError } from "../../src/core/errors.js";

// The example key of Go's golang.org/x/mod/sumdb/note (the signed-note reference code):
// PRIVATE+KEY+PeterNeumann+c74f20a3+<base64(0x01 || seed)>, PeterNeumann+c74f20a3+<base64(0x01 || public key)>.
const GO_SEED = Buffer.from("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "base64").subarray(1);
const GO_PUBLIC = Buffer.from("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "base64").subarray(1);
const GO_TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_SIGNATURE =
  "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const GO_PRIVATE = crypto.createPrivateKey({
  key: Buffer.concat([PKCS8_ED25519_PREFIX, GO_SEED]),
  format: "der",
  type: "pkcs8",
});
const GO_PUBLIC_KEY = crypto.createPublicKey(GO_PRIVATE);

const CP: Checkpoint = {
  origin: "airun ledger 3f9a…",
  treeSize: 1234,
  root: crypto.createHash("sha256").update("root").digest(),
  timestamp: 1_718_000_000_000,
};
const NOTE = signCheckpoint(CP, "PeterNeumann", GO_PRIVATE);

/** Runs `fn`, expecting an AirunError; returns it. */
function refused(fn: () => unknown): AirunError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AirunError);
    return e as AirunError;
  }
  throw new Error("expected an AirunError, nothing was thrown");
}

describe("signed checkpoints", () => {
  it("use the signed-note key: the Go example key signs its text to the published signature, key id c74f20a3", () => {
    // The fixture key is the reference key, and signed-note signatures are plain Ed25519.
    expect(Buffer.from(GO_PUBLIC_KEY.export({ format: "jwk" }).x as string, "base64url")).toEqual(
      GO_PUBLIC,
    );
    const goBlob = Buffer.from(GO_SIGNATURE, "base64");
    expect(crypto.sign(null, Buffer.from(GO_TEXT), GO_PRIVATE)).toEqual(goBlob.subarray(4));
    const parsed = parseCheckpoint(NOTE);
    expect(Buffer.from(parsed.keyId).toString("hex")).toBe("c74f20a3");
    expect(Buffer.from(parsed.keyId)).toEqual(goBlob.subarray(0, 4));
    expect(crypto.verify(null, Buffer.from(parsed.body), GO_PUBLIC_KEY, parsed.signature)).toBe(
      true,
    );
  });

  it("write the exact note layout and read back the same checkpoint, body and key name", () => {
    const b64root = Buffer.from(CP.root).toString("base64");
    const body = `airun ledger 3f9a…\n1234\n${b64root}\ntime 1718000000000\n`;
    expect(formatCheckpointBody(CP)).toBe(body);
    expect(NOTE.startsWith(`${body}\n\u2014 PeterNeumann `)).toBe(true);
    expect(NOTE.endsWith("\n")).toBe(true);
    expect(NOTE.split("\n")).toHaveLength(7);
    const parsed = parseCheckpoint(NOTE);
    expect(parsed.body).toBe(body);
    expect(parsed.keyName).toBe("PeterNeumann");
    expect(parsed.signature).toHaveLength(64);
    const cp = verifyCheckpoint(NOTE, GO_PUBLIC_KEY);
    expect({ ...cp, root: Buffer.from(cp.root) }).toEqual({ ...CP, root: Buffer.from(CP.root) });
    expect(Object.isFrozen(cp)).toBe(true);
  });

  it("round-trip with generated PEM keys, accepting the public key as PEM, KeyObject or from the private key", () => {
    const { privateKeyPem, publicKeyPem } = generateLedgerKeyPair();
    expect(privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    for (const cp of [
      CP,
      { ...CP, treeSize: 0, timestamp: 0 },
      { ...CP, treeSize: Number.MAX_SAFE_INTEGER },
    ]) {
      const note = signCheckpoint(cp, "airun.local/ledger", privateKeyPem);
      for (const key of [publicKeyPem, crypto.createPublicKey(publicKeyPem), privateKeyPem]) {
        const got = verifyCheckpoint(note, key);
        expect([got.origin, got.treeSize, got.timestamp]).toEqual([
          cp.origin,
          cp.treeSize,
          cp.timestamp,
        ]);
      }
    }
  });

  it("refuse every single-character change, deletion or insertion anywhere in the note", () => {
    const codes = new Set<string>();
    const check = (text: string, what: string): void => {
      const err = refused(() => verifyCheckpoint(text, GO_PUBLIC_KEY));
      expect(["CHECKPOINT_MALFORMED", "CHECKPOINT_BAD_SIGNATURE"], what).toContain(err.code);
      codes.add(err.code);
    };
    for (let i = 0; i < NOTE.length; i++) {
      const c = NOTE.charCodeAt(i);
      for (const replacement of [c ^ 1, c ^ 0x20, c + 1]) {
        check(
          NOTE.slice(0, i) + String.fromCharCode(replacement) + NOTE.slice(i + 1),
          `replace #${i}`,
        );
      }
      check(NOTE.slice(0, i) + NOTE.slice(i + 1), `delete #${i}`);
      check(`${NOTE.slice(0, i)}A${NOTE.slice(i)}`, `insert at #${i}`);
    }
    check(`${NOTE}x`, "append");
    expect([...codes].sort()).toEqual(["CHECKPOINT_BAD_SIGNATURE", "CHECKPOINT_MALFORMED"]);
  });

  it("refuse a checkpoint checked against another key, or signed by another key under the same name", () => {
    const other = generateLedgerKeyPair();
    expect(refused(() => verifyCheckpoint(NOTE, other.publicKeyPem)).code).toBe(
      "CHECKPOINT_BAD_SIGNATURE",
    );
    const impostor = signCheckpoint(CP, "PeterNeumann", other.privateKeyPem);
    const err = refused(() => verifyCheckpoint(impostor, GO_PUBLIC_KEY));
    expect(err.code).toBe("CHECKPOINT_BAD_SIGNATURE");
    expect(err.message).toMatch(/id [0-9a-f]{8}, but the given key's id for that name is c74f20a3/);
    // The right key id spliced onto the impostor's signature still fails, on the signature.
    const real = parseCheckpoint(NOTE);
    const fake = parseCheckpoint(impostor);
    const blob = Buffer.concat([real.keyId, fake.signature]).toString("base64");
    const spliced = `${real.body}\n\u2014 PeterNeumann ${blob}\n`;
    const err2 = refused(() => verifyCheckpoint(spliced, GO_PUBLIC_KEY));
    expect(err2.code).toBe("CHECKPOINT_BAD_SIGNATURE");
    expect(err2.message).toMatch(/does not verify/);
  });
});

describe("parseCheckpoint refuses malformed notes, naming the line", () => {
  const lines = NOTE.slice(0, -1).split("\n"); // [origin, size, root, time, "", signature]
  const withLine = (n: number, value: string): string =>
    `${lines.map((l, i) => (i === n - 1 ? value : l)).join("\n")}\n`;
  const root31 = Buffer.alloc(31, 7).toString("base64");
  const root32 = Buffer.from(CP.root).toString("base64");
  const cases: [string, string, number, RegExp][] = [
    ["empty text", "", 1, /missing origin/],
    ["empty origin", withLine(1, ""), 1, /origin is empty/],
    ["only origin and size", `${lines[0]}\n${lines[1]}\n`, 3, /missing root hash/],
    ["body without time line", `${lines.slice(0, 3).join("\n")}\n`, 4, /missing time line/],
    ["body and no blank line", `${lines.slice(0, 4).join("\n")}\n`, 5, /missing blank line/],
    ["no signature line", `${lines.slice(0, 5).join("\n")}\n`, 6, /missing signature line/],
    ...["12a", "-1", "012", "1e3", " 12", "", "99999999999999999999"].map(
      (s): [string, string, number, RegExp] => [
        `size ${JSON.stringify(s)}`,
        withLine(2, s),
        2,
        /not a decimal/,
      ],
    ),
    ["root not base64", withLine(3, "!!!!"), 3, /not canonical standard base64/],
    ["root without padding", withLine(3, root32.replace(/=+$/, "")), 3, /not canonical/],
    [
      "root with non-zero padding bits",
      withLine(3, root32.replace(/.=$/, "B=")),
      3,
      /not canonical/,
    ],
    ["root of 31 bytes", withLine(3, root31), 3, /31 bytes, expected 32/],
    ["time line without value", withLine(4, "time"), 4, /expected "time <ms since epoch>"/],
    ["negative time", withLine(4, "time -1"), 4, /time/],
    ["capitalized time", withLine(4, "Time 5"), 4, /time/],
    ["an extension line instead of the blank line", withLine(5, "ext"), 5, /expected a blank line/],
    [
      "signature with ASCII dashes",
      withLine(6, (lines[5] as string).replace("\u2014", "--")),
      6,
      /expected "— /,
    ],
    [
      "signature with a double space",
      withLine(6, (lines[5] as string).replace(" ", "  ")),
      6,
      /expected/,
    ],
    [
      "key name with a plus",
      withLine(6, (lines[5] as string).replace("PeterNeumann", "Peter+N")),
      6,
      /key name/,
    ],
    [
      "signature too short",
      withLine(6, `\u2014 PeterNeumann ${root32}`),
      6,
      /32 bytes, expected 68/,
    ],
    ["signature not base64", withLine(6, "\u2014 PeterNeumann ****"), 6, /base64/],
    [
      "a second signature line",
      `${NOTE}${lines[5]}\n`,
      7,
      /unexpected content after the signature/,
    ],
    ["a trailing blank line", `${NOTE}\n`, 7, /unexpected content/],
    ["trailing garbage without newline", `${NOTE}garbage`, 7, /does not end with a newline/],
    ["no final newline", NOTE.slice(0, -1), 6, /does not end with a newline/],
    ["CRLF line ends", NOTE.replaceAll("\n", "\r\n"), 1, /control character/],
    ["a lone surrogate", withLine(1, "ledger \ud800"), 1, /well-formed/],
  ];
  it.each(cases)("%s: line %#", (_what, text, line, message) => {
    const err = refused(() => parseCheckpoint(text));
    expect(err.code).toBe("CHECKPOINT_MALFORMED");
    expect(err.context.line).toBe(line);
    expect(err.message).toContain(`checkpoint line ${line}:`);
    expect(err.message).toMatch(message);
  });

  it("refuses a plain C2SP checkpoint, which has no time line, at line 4", () => {
    const c2sp =
      "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
    const err = refused(() => parseCheckpoint(c2sp));
    expect([err.code, err.context.line]).toEqual(["CHECKPOINT_MALFORMED", 4]);
  });
});

describe("signing refuses bad arguments and bad keys", () => {
  const { privateKeyPem, publicKeyPem } = generateLedgerKeyPair();
  it.each([
    ["an empty origin", { ...CP, origin: "" }],
    ["a two-line origin", { ...CP, origin: "a\n5" }],
    ["a tab in the origin", { ...CP, origin: "a\tb" }],
    ["a negative size", { ...CP, treeSize: -1 }],
    ["a fractional size", { ...CP, treeSize: 1.5 }],
    ["an unsafe size", { ...CP, treeSize: 2 ** 53 }],
    ["a 31-byte root", { ...CP, root: new Uint8Array(31) }],
    ["a NaN timestamp", { ...CP, timestamp: Number.NaN }],
  ])("with CHECKPOINT_INVALID_ARGUMENT for %s", (_what, cp) => {
    expect(refused(() => signCheckpoint(cp, "k", privateKeyPem)).code).toBe(
      "CHECKPOINT_INVALID_ARGUMENT",
    );
  });

  it.each(["", "two words", "a+b", "tab\there", "nbsp\u00a0name"])(
    "with CHECKPOINT_INVALID_ARGUMENT for key name %j",
    (name) => {
      expect(refused(() => signCheckpoint(CP, name, privateKeyPem)).code).toBe(
        "CHECKPOINT_INVALID_ARGUMENT",
      );
    },
  );

  it("with CHECKPOINT_INVALID_KEY for a public key, garbage or a non-Ed25519 key", () => {
    const ec = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    for (const key of [
      publicKeyPem,
      "not a key",
      ec.privateKey,
      crypto.createPublicKey(publicKeyPem),
    ]) {
      expect(refused(() => signCheckpoint(CP, "k", key)).code).toBe("CHECKPOINT_INVALID_KEY");
    }
    for (const key of ["not a key", ec.publicKey]) {
      expect(refused(() => verifyCheckpoint(NOTE, key)).code).toBe("CHECKPOINT_INVALID_KEY");
    }
  });
});

describe("publicKeyFingerprint", () => {
  it("is SHA256: and the unpadded base64 SHA-256 of the raw public key, the same from every key form", () => {
    const expected = `SHA256:${crypto.createHash("sha256").update(GO_PUBLIC).digest("base64").replace(/=+$/, "")}`;
    const pem = GO_PUBLIC_KEY.export({ format: "pem", type: "spki" }) as string;
    for (const key of [GO_PUBLIC_KEY, pem, GO_PRIVATE])
      expect(publicKeyFingerprint(key)).toBe(expected);
    expect(expected).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(publicKeyFingerprint(generateLedgerKeyPair().publicKeyPem)).not.toBe(expected);
  });
});
