import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AirunError } from "../../src/core/errors.js";
import {
  consistencyProof,
  fromHex,
  inclusionProof,
  inclusionProofs,
  leafHash,
  MerkleAccumulator,
  merkleRoot,
  nodeHash,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from "../../src/core/merkle.js";

// ---- an independent, naive reference written straight from RFC 6962 section 2.1 ----------

const sha = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const refNode = (l: Uint8Array, r: Uint8Array): Uint8Array => sha(Uint8Array.of(1), l, r);
const split = (n: number): number => 2 ** Math.ceil(Math.log2(n) - 1);

/** MTH(D[n]) over leaf hashes, recursively. */
function refRoot(d: readonly Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha();
  if (d.length === 1) return d[0] as Uint8Array;
  const k = split(d.length);
  return refNode(refRoot(d.slice(0, k)), refRoot(d.slice(k)));
}

/** PATH(m, D[n]). */
function refPath(m: number, d: readonly Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k
    ? [...refPath(m, d.slice(0, k)), refRoot(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), refRoot(d.slice(0, k))];
}

/** PROOF(m, D[n]) = SUBPROOF(m, D[n], true). */
function refProof(m: number, d: readonly Uint8Array[], b = true): Uint8Array[] {
  if (m === d.length) return b ? [] : [refRoot(d)];
  const k = split(d.length);
  return m <= k
    ? [...refProof(m, d.slice(0, k), b), refRoot(d.slice(k))]
    : [...refProof(m - k, d.slice(k), false), refRoot(d.slice(0, k))];
}

/** Folds an audit path along the RFC's recursive split of a tree of `n` leaves. */
function refVerifyInclusion(
  leaf: Uint8Array,
  m: number,
  n: number,
  path: Uint8Array[],
  root: Uint8Array,
) {
  const fold = (m: number, n: number, rest: Uint8Array[]): Uint8Array | undefined => {
    if (n === 1) return rest.length === 0 ? leaf : undefined;
    const x = rest[rest.length - 1];
    if (x === undefined) return undefined;
    const k = split(n);
    const inner = m < k ? fold(m, k, rest.slice(0, -1)) : fold(m - k, n - k, rest.slice(0, -1));
    if (inner === undefined) return undefined;
    return m < k ? refNode(inner, x) : refNode(x, inner);
  };
  if (m >= n) return false;
  const r = fold(m, n, path);
  return r !== undefined && toHex(r) === toHex(root);
}

/** Rebuilds both roots from a consistency proof along SUBPROOF's recursion (0 < m <= n). */
function refVerifyConsistency(
  m: number,
  n: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: Uint8Array[],
) {
  type Pair = [Uint8Array, Uint8Array] | undefined;
  const fold = (m: number, n: number, b: boolean, rest: Uint8Array[]): Pair => {
    if (m === n) {
      if (b) return rest.length === 0 ? [oldRoot, oldRoot] : undefined;
      return rest.length === 1 ? [rest[0] as Uint8Array, rest[0] as Uint8Array] : undefined;
    }
    const x = rest[rest.length - 1];
    if (x === undefined) return undefined;
    const k = split(n);
    if (m <= k) {
      const inner = fold(m, k, b, rest.slice(0, -1));
      return inner && [inner[0], refNode(inner[1], x)];
    }
    const inner = fold(m - k, n - k, false, rest.slice(0, -1));
    return inner && [refNode(x, inner[0]), refNode(x, inner[1])];
  };
  const r = fold(m, n, true, proof);
  return r !== undefined && toHex(r[0]) === toHex(oldRoot) && toHex(r[1]) === toHex(newRoot);
}

// ---- fixtures ------------------------------------------------------------------------------

const LEAVES = Array.from({ length: 70 }, (_, i) => leafHash(`entry ${i}`));
const hexes = (hs: readonly Uint8Array[]): string[] => hs.map(toHex);
const flipBit = (h: Uint8Array, bit: number): Uint8Array => {
  const c = Uint8Array.from(h);
  c[bit >> 3] = (c[bit >> 3] as number) ^ (1 << (bit & 7));
  return c;
};
const invalidArgument = (fn: () => unknown): void => {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(AirunError);
  expect((caught as AirunError).code).toBe("LEDGER_PROOF_INVALID_ARGUMENT");
};

describe("RFC 6962 hashing: known answers", () => {
  // transparency-dev/merkle testonly/constants.go (the certificate-transparency reference data).
  const INPUTS = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
  ];
  const LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
  ];
  const ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  ];
  const leaves = INPUTS.map((h) => leafHash(fromHex(h)));

  it("hashes the 8 reference leaves to the reference leaf hashes", () => {
    expect(hexes(leaves)).toEqual(LEAF_HASHES);
  });

  it("gives the reference root for every prefix of the 8 reference leaves, incrementally too", () => {
    const acc = new MerkleAccumulator();
    expect(toHex(acc.root())).toBe(ROOTS[0]);
    for (let n = 0; n <= 8; n++) {
      expect(toHex(merkleRoot(leaves.slice(0, n)))).toBe(ROOTS[n]);
      if (n > 0) {
        acc.push(leaves[n - 1] as Uint8Array);
        expect(toHex(acc.root())).toBe(ROOTS[n]);
      }
    }
  });

  it("hashes a string entry as its UTF-8 bytes and a node as 0x01 || left || right", () => {
    expect(toHex(leafHash("é€"))).toBe(toHex(sha(Uint8Array.of(0), Buffer.from("é€", "utf8"))));
    const [a, b] = leaves as [Uint8Array, Uint8Array];
    expect(toHex(nodeHash(a, b))).toBe(ROOTS[2]);
  });
});

describe("merkleRoot and MerkleAccumulator", () => {
  it("equal a naive recursive MTH for every size 0..70", () => {
    const acc = new MerkleAccumulator();
    for (let n = 0; n <= 70; n++) {
      const expected = toHex(refRoot(LEAVES.slice(0, n)));
      expect(toHex(merkleRoot(LEAVES.slice(0, n))), `size ${n}`).toBe(expected);
      expect(acc.size).toBe(n);
      expect(toHex(acc.root()), `accumulator size ${n}`).toBe(expected);
      if (n < 70) acc.push(LEAVES[n] as Uint8Array);
    }
  });

  it("refuses a leaf hash that is not 32 bytes", () => {
    invalidArgument(() => new MerkleAccumulator().push(new Uint8Array(31)));
    invalidArgument(() => merkleRoot([LEAVES[0] as Uint8Array, new Uint8Array(33)]));
    invalidArgument(() => nodeHash(new Uint8Array(32), new Uint8Array(0)));
  });
});

describe("inclusion proofs", () => {
  it("match RFC 6962 PATH and verify for every leaf of every size 1..70, one by one and in batch", () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = LEAVES.slice(0, n);
      const root = merkleRoot(leaves);
      const all = Array.from({ length: n }, (_, i) => i);
      const batch = inclusionProofs(leaves, all);
      for (const i of all) {
        const proof = inclusionProof(leaves, i);
        expect(hexes(proof), `size ${n} index ${i}`).toEqual(hexes(refPath(i, leaves)));
        expect(hexes(batch[i] as Uint8Array[])).toEqual(hexes(proof));
        expect(verifyInclusion(leaves[i] as Uint8Array, i, n, proof, root)).toBe(true);
      }
    }
  });

  it("fail on any flipped bit of the leaf, the root or a proof hash, and on a shortened or lengthened proof", () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = LEAVES.slice(0, n);
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const leaf = leaves[i] as Uint8Array;
        const proof = inclusionProof(leaves, i);
        const bit = (i * 37 + n) % 256;
        expect(verifyInclusion(flipBit(leaf, bit), i, n, proof, root)).toBe(false);
        expect(verifyInclusion(leaf, i, n, proof, flipBit(root, bit))).toBe(false);
        proof.forEach((p, j) => {
          const bad = proof.map((q, k) => (k === j ? flipBit(p, bit) : q));
          expect(verifyInclusion(leaf, i, n, bad, root)).toBe(false);
        });
        if (proof.length > 0) expect(verifyInclusion(leaf, i, n, proof.slice(1), root)).toBe(false);
        expect(verifyInclusion(leaf, i, n, [...proof, root], root)).toBe(false);
      }
    }
    const leaves = LEAVES.slice(0, 37);
    const proof = inclusionProof(leaves, 13);
    const root = merkleRoot(leaves);
    for (let bit = 0; bit < 256; bit++) {
      for (let j = 0; j < proof.length; j++) {
        const bad = proof.map((q, k) => (k === j ? flipBit(q, bit) : q));
        expect(verifyInclusion(leaves[13] as Uint8Array, 13, 37, bad, root)).toBe(false);
      }
    }
  });

  it("fail for every wrong index, and for a wrong tree size exactly when the RFC's own recursion fails", () => {
    let wrongSizeFailures = 0;
    for (let n = 1; n <= 33; n++) {
      const leaves = LEAVES.slice(0, n);
      const root = merkleRoot(leaves);
      for (let i = 0; i < n; i++) {
        const leaf = leaves[i] as Uint8Array;
        const proof = inclusionProof(leaves, i);
        for (let j = 0; j < n + 2; j++) {
          if (j !== i)
            expect(verifyInclusion(leaf, j, n, proof, root), `${n}/${i} as ${j}`).toBe(false);
        }
        // A proof does not bind the size (the signed checkpoint does): another size with the
        // same path shape verifies, which the naive fold agrees with; every other size fails.
        for (let m = 0; m <= 36; m++) {
          if (m === n) continue;
          const got = verifyInclusion(leaf, i, m, proof, root);
          expect(got, `${n}/${i} as size ${m}`).toBe(refVerifyInclusion(leaf, i, m, proof, root));
          if (!got) wrongSizeFailures++;
        }
      }
    }
    expect(wrongSizeFailures).toBeGreaterThan(10_000);
    expect(verifyInclusion(LEAVES[0] as Uint8Array, -1, 1, [], LEAVES[0] as Uint8Array)).toBe(
      false,
    );
    expect(verifyInclusion(LEAVES[0] as Uint8Array, 0, 1.5, [], LEAVES[0] as Uint8Array)).toBe(
      false,
    );
    expect(verifyInclusion(new Uint8Array(31), 0, 1, [], new Uint8Array(31))).toBe(false);
  });

  it("refuse an index outside the tree with LEDGER_PROOF_INVALID_ARGUMENT", () => {
    const leaves = LEAVES.slice(0, 5);
    for (const bad of [-1, 5, 1.5, Number.NaN]) {
      invalidArgument(() => inclusionProof(leaves, bad));
      invalidArgument(() => inclusionProofs(leaves, [0, bad]));
    }
    invalidArgument(() => inclusionProof([], 0));
    invalidArgument(() => inclusionProofs([LEAVES[0] as Uint8Array, new Uint8Array(3)], [0]));
  });

  it("extract hundreds of proofs from a 200,000-leaf tree in one pass, equal to single proofs", () => {
    const n = 200_000;
    const leaves = Array.from({ length: n }, (_, i) => leafHash(`e${i}`));
    const root = merkleRoot(leaves);
    const indexes = Array.from({ length: 300 }, (_, k) => (k * 7919 + 11) % n);
    const proofs = inclusionProofs(leaves, [...indexes, n - 1]);
    indexes.forEach((i, k) => {
      expect(verifyInclusion(leaves[i] as Uint8Array, i, n, proofs[k] as Uint8Array[], root)).toBe(
        true,
      );
    });
    expect(hexes(proofs[300] as Uint8Array[])).toEqual(hexes(inclusionProof(leaves, n - 1)));
    expect(hexes(proofs[5] as Uint8Array[])).toEqual(
      hexes(inclusionProof(leaves, indexes[5] as number)),
    );
  });
});

describe("consistency proofs", () => {
  it("match RFC 6962 PROOF and verify for every pair of sizes up to 40", () => {
    for (let n = 0; n <= 40; n++) {
      const leaves = LEAVES.slice(0, n);
      const newRoot = merkleRoot(leaves);
      for (let m = 0; m <= n; m++) {
        const oldRoot = merkleRoot(LEAVES.slice(0, m));
        const proof = consistencyProof(leaves, m);
        const expected = m === 0 ? [] : refProof(m, leaves);
        expect(hexes(proof), `${m} -> ${n}`).toEqual(hexes(expected));
        expect(verifyConsistency(m, n, oldRoot, newRoot, proof), `${m} -> ${n}`).toBe(true);
      }
    }
  });

  it("fail on any flipped bit of either root or a proof hash, swapped roots, or a cut or padded proof", () => {
    for (let n = 1; n <= 30; n++) {
      const leaves = LEAVES.slice(0, n);
      const newRoot = merkleRoot(leaves);
      for (let m = 0; m <= n; m++) {
        const oldRoot = merkleRoot(LEAVES.slice(0, m));
        const proof = consistencyProof(leaves, m);
        const bit = (m * 31 + n * 7) % 256;
        if (m < n) {
          expect(verifyConsistency(m, n, flipBit(oldRoot, bit), newRoot, proof)).toBe(false);
          expect(verifyConsistency(m, n, newRoot, oldRoot, proof)).toBe(false);
        }
        expect(verifyConsistency(m, n, oldRoot, flipBit(newRoot, bit), proof)).toBe(m === 0);
        proof.forEach((p, j) => {
          const bad = proof.map((q, k) => (k === j ? flipBit(p, bit) : q));
          expect(verifyConsistency(m, n, oldRoot, newRoot, bad), `${m}->${n} #${j}`).toBe(false);
        });
        if (proof.length > 0)
          expect(verifyConsistency(m, n, oldRoot, newRoot, proof.slice(0, -1))).toBe(false);
        expect(verifyConsistency(m, n, oldRoot, newRoot, [...proof, newRoot])).toBe(false);
      }
    }
  });

  it("fail for wrong sizes exactly when a naive fold along SUBPROOF's recursion fails", () => {
    let failures = 0;
    for (let n = 1; n <= 20; n++) {
      const leaves = LEAVES.slice(0, n);
      const newRoot = merkleRoot(leaves);
      for (let m = 1; m <= n; m++) {
        const oldRoot = merkleRoot(LEAVES.slice(0, m));
        const proof = consistencyProof(leaves, m);
        for (let n2 = 1; n2 <= 22; n2++) {
          for (let m2 = 1; m2 <= n2; m2++) {
            if (m2 === m && n2 === n) continue;
            const got = verifyConsistency(m2, n2, oldRoot, newRoot, proof);
            expect(got, `${m}->${n} as ${m2}->${n2}`).toBe(
              refVerifyConsistency(m2, n2, oldRoot, newRoot, proof),
            );
            if (!got) failures++;
          }
        }
      }
    }
    expect(failures).toBeGreaterThan(40_000);
    const root = merkleRoot(LEAVES.slice(0, 4));
    expect(verifyConsistency(5, 4, root, root, [])).toBe(false);
    expect(verifyConsistency(0, 4, root, root, [])).toBe(false); // the empty root is SHA-256("")
  });

  it("refuse an old size outside 0..n with LEDGER_PROOF_INVALID_ARGUMENT", () => {
    for (const bad of [-1, 6, 2.5, Number.NaN])
      invalidArgument(() => consistencyProof(LEAVES.slice(0, 5), bad));
  });
});

describe("hex", () => {
  it("round-trips bytes and refuses odd length or a non-hex digit", () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(fromHex(toHex(bytes))).toEqual(bytes);
    expect(toHex(fromHex("00ABff"))).toBe("00abff");
    expect(toHex(fromHex(""))).toBe("");
    for (const bad of ["0", "abc", "zz", "0g", " 00", "00 ", "0x00"]) {
      expect(() => fromHex(bad), bad).toThrow(AirunError);
    }
  });
});

describe("leafHash of strings", () => {
  it("hashes a string as its UTF-8 bytes, short or longer than the scratch buffer, one after another", () => {
    for (const text of ["", "é€😀", "x".repeat(21_844), "é".repeat(30_000), "short again"]) {
      expect(Buffer.from(leafHash(text)).toString("hex")).toBe(
        Buffer.from(leafHash(Buffer.from(text, "utf8"))).toString("hex"),
      );
    }
  });
});
