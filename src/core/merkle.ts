/**
 * @module RFC 6962 / RFC 9162 Merkle tree hashing over SHA-256: leaf and node hashes, tree
 * roots (one-shot and incremental), inclusion and consistency proofs and their verification.
 * Every `leaves` argument holds LEAF HASHES (outputs of {@link leafHash}), 32 bytes each.
 */
import * as crypto from "node:crypto";
import { AirunError } from "./errors.js";

const HASH_BYTES = 32;
const INVALID = "LEDGER_PROOF_INVALID_ARGUMENT";

// One-shot `crypto.hash` (Node >= 20.12) is about twice as fast as createHash for 65 bytes.
const oneShot = (
  crypto as unknown as {
    hash?: (alg: string, data: Uint8Array | string, enc: "buffer") => Buffer;
  }
).hash;
const sha256 = (data: Uint8Array | string): Uint8Array =>
  oneShot !== undefined
    ? oneShot("sha256", data, "buffer")
    : crypto.createHash("sha256").update(data).digest();

/** Scratch buffer for node hashes (0x01 || left || right); hashing is synchronous. */
const nodeInput = Buffer.alloc(1 + 2 * HASH_BYTES, 1);

/**
 * Scratch input of leaf hashes (0x00 || entry), reused: verifying a ledger hashes one entry
 * after another, and encoding each straight into this buffer saves a copy per entry.
 */
const leafInput = Buffer.alloc(64 * 1024);

/** RFC 6962 leaf hash: SHA-256(0x00 || entry); a string entry is hashed as UTF-8. */
export function leafHash(entry: Uint8Array | string): Uint8Array {
  if (typeof entry === "string") {
    // A UTF-16 code unit takes at most 3 UTF-8 bytes; longer entries take the general path.
    if (entry.length * 3 >= leafInput.length) return sha256(`\u0000${entry}`);
    const n = leafInput.write(entry, 1, "utf8");
    return sha256(leafInput.subarray(0, n + 1));
  }
  const input = Buffer.allocUnsafe(1 + entry.length);
  input[0] = 0;
  input.set(entry, 1);
  return sha256(input);
}

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  checkHash(left, "left child");
  checkHash(right, "right child");
  return hashPair(left, right);
}

/** {@link nodeHash} of two hashes already known to be 32 bytes. */
function hashPair(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + HASH_BYTES);
  return sha256(nodeInput);
}

/** Root of the empty tree: SHA-256 of the empty string. */
const emptyRoot = (): Uint8Array => sha256(new Uint8Array(0));

/**
 * Builds a tree root one leaf hash at a time, keeping only the roots of the perfect subtrees
 * that make up the tree so far (one per set bit of the size): O(log n) memory, so a verifier
 * can stream a million-entry ledger without holding its leaves.
 */
export class MerkleAccumulator {
  /** Perfect subtree roots, largest (leftmost) first. */
  readonly #stack: Uint8Array[] = [];
  #size = 0;

  /** Appends one leaf hash (32 bytes). */
  push(leaf: Uint8Array): void {
    checkHash(leaf, "leaf");
    let node = leaf;
    // Each trailing set bit of the old size is a perfect subtree the new leaf completes.
    for (let n = this.#size; n % 2 === 1; n = Math.floor(n / 2)) {
      node = hashPair(this.#stack.pop() as Uint8Array, node);
    }
    this.#stack.push(node);
    this.#size++;
  }

  /** Number of leaves pushed so far. */
  get size(): number {
    return this.#size;
  }

  /** The RFC 6962 root of the leaves pushed so far (SHA-256("") when none). */
  root(): Uint8Array {
    const stack = this.#stack;
    if (stack.length === 0) return emptyRoot();
    let root = stack[stack.length - 1] as Uint8Array;
    for (let i = stack.length - 2; i >= 0; i--) root = hashPair(stack[i] as Uint8Array, root);
    return root;
  }
}

/** RFC 6962 Merkle Tree Hash of a list of leaf hashes; the empty tree hashes to SHA-256(""). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  return rangeRoot(leaves, 0, leaves.length);
}

/** MTH(D[start:end]) with O(log n) memory. */
function rangeRoot(leaves: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const acc = new MerkleAccumulator();
  for (let i = start; i < end; i++) acc.push(leaves[i] as Uint8Array);
  return acc.root();
}

/** The largest power of two strictly smaller than `n` (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Audit path for leaf `index` in the tree of all `leaves` (RFC 9162 2.1.3.1), ordered from the
 * leaf's sibling up to the root's child. O(n) hashing, O(log n) memory. For many proofs over
 * the same tree use {@link inclusionProofs}.
 */
export function inclusionProof(leaves: readonly Uint8Array[], index: number): Uint8Array[] {
  checkIndex(index, leaves.length);
  checkHash(leaves[index], "leaf");
  // Walk down the RFC's recursive split, remembering the subtree not taken at each level.
  const siblings: [number, number][] = [];
  let lo = 0;
  let hi = leaves.length;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      siblings.push([lo + k, hi]);
      hi = lo + k;
    } else {
      siblings.push([lo, lo + k]);
      lo += k;
    }
  }
  return siblings.reverse().map(([a, b]) => rangeRoot(leaves, a, b));
}

/**
 * Audit paths for several leaves of the same tree: hashes every level once (32 bytes per
 * interior node, contiguous) and reads each path off the levels. Same output as calling
 * {@link inclusionProof} for each index, in the order of `indexes`.
 */
export function inclusionProofs(
  leaves: readonly Uint8Array[],
  indexes: readonly number[],
): Uint8Array[][] {
  const n = leaves.length;
  for (const index of indexes) checkIndex(index, n);
  if (indexes.length === 0) return [];
  for (const leaf of leaves) checkHash(leaf, "leaf");
  // Level 0 is the leaves; level L+1 pairs level L, an unpaired last node moving up as is
  // (it is then the root of the right-edge subtree, exactly where RFC 6962 splits).
  const levels: { size: number; at: (i: number) => Uint8Array }[] = [
    { size: n, at: (i) => leaves[i] as Uint8Array },
  ];
  for (let below = levels[0]; below && below.size > 1; below = levels[levels.length - 1]) {
    const size = Math.ceil(below.size / 2);
    const buf = Buffer.allocUnsafe(size * HASH_BYTES);
    for (let j = 0; j < size; j++) {
      const l = below.at(2 * j);
      buf.set(2 * j + 1 < below.size ? hashPair(l, below.at(2 * j + 1)) : l, j * HASH_BYTES);
    }
    levels.push({ size, at: (i) => buf.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES) });
  }
  return indexes.map((index) => {
    const proof: Uint8Array[] = [];
    for (let level = 0, i = index; level < levels.length - 1; level++, i = Math.floor(i / 2)) {
      const { size, at } = levels[level] as (typeof levels)[number];
      const sibling = i % 2 === 1 ? i - 1 : i + 1;
      if (sibling < size) proof.push(Uint8Array.from(at(sibling)));
    }
    return proof;
  });
}

/**
 * Checks an audit path (RFC 9162 2.1.3.2): that `leaf` is at `index` in the tree of
 * `treeSize` leaves whose root is `root`. Never throws: any inconsistent input (index out of
 * range, wrong proof length, hash not 32 bytes) returns false.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isSize(treeSize) || !isSize(index) || index >= treeSize) return false;
  if (!isHash(leaf) || !isHash(root) || !proof.every(isHash)) return false;
  const up = climb(index, treeSize - 1, leaf, proof, false);
  return up !== undefined && equalBytes(up.sr, root);
}

/**
 * Consistency proof between the tree of the first `oldSize` leaves and the tree of all
 * `leaves` (RFC 9162 2.1.4.1). Empty when `oldSize` is 0 or equals the new size.
 */
export function consistencyProof(leaves: readonly Uint8Array[], oldSize: number): Uint8Array[] {
  const n = leaves.length;
  if (!isSize(oldSize) || oldSize > n) {
    throw new AirunError(INVALID, `old tree size ${oldSize} is not an integer in 0..${n}`);
  }
  if (oldSize === 0 || oldSize === n) return [];
  // Iterative SUBPROOF(m, D[lo:hi], b): collect the ranges in recursion order, then reverse.
  const ranges: [number, number][] = [];
  let lo = 0;
  let hi = n;
  let m = oldSize;
  let complete = true; // RFC's b: the old tree is exactly D[0:m] so far
  while (m !== hi - lo) {
    const k = splitPoint(hi - lo);
    if (m <= k) {
      ranges.push([lo + k, hi]);
      hi = lo + k;
    } else {
      ranges.push([lo, lo + k]);
      lo += k;
      m -= k;
      complete = false;
    }
  }
  if (!complete) ranges.push([lo, hi]);
  return ranges.reverse().map(([a, b]) => rangeRoot(leaves, a, b));
}

/**
 * Checks a consistency proof (RFC 9162 2.1.4.2): that the tree of `oldSize` leaves with root
 * `oldRoot` is a prefix of the tree of `newSize` leaves with root `newRoot`. Never throws:
 * any inconsistent input returns false. From the empty tree, the proof must be empty and
 * `oldRoot` must be SHA-256("").
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize) return false;
  if (!isHash(oldRoot) || !isHash(newRoot) || !proof.every(isHash)) return false;
  if (oldSize === newSize) return proof.length === 0 && equalBytes(oldRoot, newRoot);
  if (oldSize === 0) return proof.length === 0 && equalBytes(oldRoot, emptyRoot());
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) [fn, sn] = [(fn - 1) / 2, Math.floor(sn / 2)];
  const up = climb(fn, sn, path[0] as Uint8Array, path.slice(1), true);
  return up !== undefined && equalBytes(up.fr, oldRoot) && equalBytes(up.sr, newRoot);
}

/**
 * The walk up the tree shared by RFC 9162's two verifiers: `fn`/`sn` are the positions of the
 * old (or proven) node and of the last node; `sr` ends as the new root, `fr` (tracked when
 * `withOld`) as the old root. Undefined when the path is too long or too short.
 */
function climb(
  fn: number,
  sn: number,
  seed: Uint8Array,
  path: readonly Uint8Array[],
  withOld: boolean,
): { fr: Uint8Array; sr: Uint8Array } | undefined {
  let fr = seed;
  let sr = seed;
  for (const c of path) {
    if (sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      if (withOld) fr = hashPair(c, fr);
      sr = hashPair(c, sr);
      while (fn % 2 === 0 && fn !== 0) [fn, sn] = [fn / 2, Math.floor(sn / 2)];
    } else {
      sr = hashPair(sr, c);
    }
    [fn, sn] = [Math.floor(fn / 2), Math.floor(sn / 2)];
  }
  return sn === 0 ? { fr, sr } : undefined;
}

/** Lowercase hex of bytes. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** Bytes of a hex string (either case); throws `INVALID_HEX` on odd length or a non-hex digit. */
export function fromHex(s: string): Uint8Array {
  const bad = s.length % 2 !== 0 ? `odd length ${s.length}` : /[^0-9a-fA-F]/.exec(s)?.index;
  if (bad !== undefined) {
    const what = typeof bad === "string" ? bad : `a non-hex character at offset ${bad}`;
    throw new AirunError("INVALID_HEX", `hex string has ${what}`);
  }
  return Uint8Array.from(Buffer.from(s, "hex"));
}

const isSize = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
const isHash = (h: unknown): h is Uint8Array => h instanceof Uint8Array && h.length === HASH_BYTES;
function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function checkIndex(index: number, size: number): void {
  if (!isSize(index) || index >= size) {
    throw new AirunError(INVALID, `leaf index ${index} is not an integer in 0..${size - 1}`, {
      index,
      treeSize: size,
    });
  }
}

function checkHash(h: unknown, what: string): void {
  if (!isHash(h)) {
    const got = h instanceof Uint8Array ? `${h.length} bytes` : typeof h;
    throw new AirunError(INVALID, `${what} hash must be 32 bytes, got ${got}`);
  }
}
