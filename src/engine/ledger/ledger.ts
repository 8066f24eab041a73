/**
 * @module The ledger (TraceVault) as a service: the signing key kept under the home directory
 * (created by the first signature, never by a verification, which reads the public key alone),
 * signed checkpoints, whole-ledger verification (chain, checkpoints, state ↔ ledger agreement)
 * and evidence-pack export. The entry format and chain are `core/ledger.ts`; the store appends
 * entries in the same transaction as the state they record. One file (hence the length): the
 * key, checkpoints, verification and export share the key's life cycle and its checks.
 */
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  generateLedgerKeyPair,
  parseCheckpoint,
  readPublicKey,
  signCheckpoint,
  verifyCheckpoint,
} from "../../core/checkpoint.js";
import type { Clock } from "../../core/clock.js";
import { AirunError, NotFoundError } from "../../core/errors.js";
import { type EvidencePackBody, PACK_FORMAT, writePack } from "../../core/evidence-pack.js";
import { isPlainObject, type JsonValue } from "../../core/json.js";
import {
  ChainVerifier,
  entryText,
  type LedgerProblem,
  type LedgerRow,
  type RunChainProblem,
  RunChainVerifier,
} from "../../core/ledger.js";
import { inclusionProofs, MerkleAccumulator, merkleRoot, toHex } from "../../core/merkle.js";
import type { Store } from "../../store/store.js";
import { keySet, readKeyFile } from "../keys/key-files.js";
import { LedgerStateCheck, type StateReport } from "./ledger-state.js";
import type { StateMismatch } from "./state-compare.js";

/** Rows read from the store per page while walking the ledger. */
const PAGE = 5000;

/** Key name in signed notes. */
const KEY_NAME = "airun-ledger";

/** What a verification works with: the store, the home (checkpoints), the public key if any. */
export interface VerifyAccess {
  readonly store: Store;
  readonly home: string;
  readonly key: VerifyKey;
}

/** What the ledger service works with: the store, the home (checkpoints), the key, the clock. */
export interface LedgerAccess {
  readonly store: Store;
  readonly home: string;
  readonly key: LedgerKey;
  readonly clock: Clock;
}

/** The ledger's signing key, created under the home directory on first use. */
export interface LedgerKey {
  readonly privateKeyPem: string;
  readonly publicKeyPem: string;
  /** `SHA256:…`, for people to compare. */
  readonly fingerprint: string;
  /** The checkpoint origin line: names this ledger by its key. */
  readonly origin: string;
}

/**
 * Loads the ledger's key pair, `<home>/keys/ledger/ledger.ed25519` (PKCS#8 PEM, mode 0600) and
 * `ledger.ed25519.pub`, creating it on first use (`key-files.ts`: atomically, so two processes
 * starting together end up with the same pair).
 */
export async function loadLedgerKey(home: string): Promise<LedgerKey> {
  const files = await keySet(home, "ledger", [PRIVATE, PUBLIC], () => {
    const pair = generateLedgerKeyPair();
    return {
      [PRIVATE]: { content: pair.privateKeyPem, mode: 0o600 },
      [PUBLIC]: { content: pair.publicKeyPem, mode: 0o644 },
    };
  });
  const privateKeyPem = files[PRIVATE]!.toString("utf8");
  const publicKeyPem = files[PUBLIC]!.toString("utf8");
  // Each file read as a key, so that a damaged one is named (CHECKPOINT_INVALID_KEY, exit 7).
  const ofPrivate = readPublicKey(privateKeyPem, join(keyDir(home), PRIVATE));
  const { fingerprint } = readPublicKey(publicKeyPem, join(keyDir(home), PUBLIC));
  if (ofPrivate.fingerprint !== fingerprint) {
    throw new AirunError(
      "LEDGER_KEY_MISMATCH",
      `${keyDir(home)}: ${PUBLIC} is not the public key of ${PRIVATE}; restore the pair from a backup`,
      { home },
    );
  }
  return { privateKeyPem, publicKeyPem, fingerprint, origin: `airun ledger ${fingerprint}` };
}

const PRIVATE = "ledger.ed25519";
const PUBLIC = "ledger.ed25519.pub";

const keyDir = (home: string) => join(home, "keys", "ledger");

/**
 * The public key a verification checks signatures with, read from the home and never created:
 * `ok`, `missing` (no key files: nothing was ever signed here, or they were removed) or
 * `unreadable` (a file that is not a usable Ed25519 key, named in `message`).
 */
export interface VerifyKey {
  readonly status: "ok" | "missing" | "unreadable";
  /** The key file read, or looked for. */
  readonly file: string;
  readonly publicKeyPem: string | null;
  readonly fingerprint: string | null;
  readonly message: string;
}

/**
 * Reads the ledger's public key for a verification, creating nothing: `ledger.ed25519.pub`,
 * else the public half of `ledger.ed25519` when only the public file is gone.
 */
export async function readLedgerPublicKey(home: string): Promise<VerifyKey> {
  const dir = keyDir(home);
  for (const name of [PUBLIC, PRIVATE]) {
    const file = join(dir, name);
    let bytes: Buffer | undefined;
    try {
      bytes = await readKeyFile(home, "ledger", name);
    } catch (err) {
      return unreadable(file, `${file}: cannot be read (${(err as Error).message})`);
    }
    if (bytes === undefined) continue;
    try {
      const key = readPublicKey(bytes.toString("utf8"), file);
      return {
        status: "ok",
        file,
        publicKeyPem: key.pem,
        fingerprint: key.fingerprint,
        message: `${file}: ${key.fingerprint}`,
      };
    } catch (err) {
      return unreadable(file, (err as Error).message);
    }
  }
  return {
    status: "missing",
    file: join(dir, PUBLIC),
    publicKeyPem: null,
    fingerprint: null,
    message: `no ledger key in ${dir}: no signature can be checked`,
  };
}

function unreadable(file: string, message: string): VerifyKey {
  return { status: "unreadable", file, publicKeyPem: null, fingerprint: null, message };
}

/** The verification key of a loaded key pair. */
export function verifyKeyOf(home: string, key: LedgerKey): VerifyKey {
  const file = join(keyDir(home), PUBLIC);
  return {
    status: "ok",
    file,
    publicKeyPem: key.publicKeyPem,
    fingerprint: key.fingerprint,
    message: `${file}: ${key.fingerprint}`,
  };
}

/** Walks the ledger rows after `from` (every row by default) in order, page by page. */
async function* ledgerRows(store: Store, from = 0): AsyncGenerator<LedgerRow> {
  let after = from;
  for (;;) {
    const rows = await store.ledgerRows(after, PAGE);
    yield* rows;
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1]!.seq;
  }
}

/** A signed checkpoint just written. */
export interface CheckpointResult {
  readonly text: string;
  readonly treeSize: number;
  readonly root: string;
  /** Where it was saved under the home directory. */
  readonly file: string;
}

/**
 * Verifies the ledger, then signs a checkpoint of it and saves it under
 * `<home>/checkpoints/` (every later `verify` checks it). Refuses a ledger that does not verify:
 * signing a tampered history would launder it.
 */
export async function writeCheckpoint(ledger: LedgerAccess): Promise<CheckpointResult> {
  const { store, home, key } = ledger;
  const report = await verifyLedger({ store, home, key: verifyKeyOf(home, key) }, []);
  if (!report.ok) {
    throw new AirunError(
      "LEDGER_INVALID",
      `the ledger does not verify, refusing to sign it: ${report.problems[0] ?? "unknown problem"}`,
    );
  }
  return saveCheckpoint(ledger, report.entries, report.root);
}

async function saveCheckpoint(
  { home, key, clock }: LedgerAccess,
  treeSize: number,
  rootHex: string,
): Promise<CheckpointResult> {
  const timestamp = clock.now();
  const root = Buffer.from(rootHex, "hex");
  const text = signCheckpoint(
    { origin: key.origin, treeSize, root, timestamp },
    KEY_NAME,
    key.privateKeyPem,
  );
  const dir = join(home, "checkpoints");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `checkpoint-${String(treeSize).padStart(12, "0")}-${timestamp}.txt`);
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
  return { text, treeSize, root: rootHex, file };
}

/** How one checkpoint compared with the ledger. */
export interface CheckpointCheck {
  /** The file it came from. */
  readonly source: string;
  readonly treeSize: number | null;
  /** `unchecked`: the chain breaks before it, or there is no usable key to check its signature. */
  readonly status: "consistent" | "rewritten" | "truncated" | "bad_signature" | "unchecked";
  readonly message: string;
}

/** What `verifyLedger` found. */
export interface LedgerReport {
  readonly ok: boolean;
  /** Entries verified (the whole ledger when ok). */
  readonly entries: number;
  /** Chain hash of the last verified entry. */
  readonly head: string;
  /** Hex RFC 6962 root of the verified entries. */
  readonly root: string;
  /** The first broken entry, if any. */
  readonly chain: LedgerProblem | null;
  /** The first broken link of a run chain (integrated or pending entries), if any. */
  readonly runChain: RunChainProblem | null;
  /**
   * Entries committed but not yet integrated (no number, no chain hash, no checkpoint can
   * cover them yet): their run chains were checked. Zero unless an integration was refused or
   * entries were committed during the verification.
   */
  readonly pending: number;
  readonly checkpoints: readonly CheckpointCheck[];
  /** Committed state that the ledger does not explain, or the reverse, field by field. */
  readonly state: readonly StateMismatch[];
  /** Every problem above, one line each (empty when ok). */
  readonly problems: readonly string[];
  /**
   * What could not be checked, and why; not a failure (a run older than the inputs hash, no
   * ledger key where nothing was ever signed).
   */
  readonly notes: readonly string[];
  /** The public key signatures were checked with: read from the home, never created. */
  readonly key: Omit<VerifyKey, "publicKeyPem">;
}

/**
 * Verifies the whole ledger: every entry's chain hash (an edit, deletion, insertion or
 * reordering breaks it at the first bad entry), every checkpoint saved under the home directory
 * plus `extraCheckpoints` (signature, then the root of the first `treeSize` entries: a rewritten
 * history or a truncated ledger no longer matches), and the agreement of every recorded field
 * of runs, steps and compensations with their entries (`ledger-state.ts`), fed in the same walk.
 */
export async function verifyLedger(
  { store, home, key }: VerifyAccess,
  extraCheckpoints: readonly { readonly source: string; readonly text: string }[],
): Promise<LedgerReport> {
  const checks: CheckpointCheck[] = [];
  const pending = new Map<number, { source: string; root: string; at: number }[]>();
  const checkpoints = [...(await savedCheckpoints(home)), ...extraCheckpoints];
  for (const cp of checkpoints) {
    if (key.publicKeyPem === null) {
      // Without the key a checkpoint proves nothing: anyone could have written it.
      checks.push({
        source: cp.source,
        treeSize: safeTreeSize(cp.text),
        status: "unchecked",
        message: `${cp.source}: signature not checked: ${key.message}`,
      });
      continue;
    }
    try {
      const c = verifyCheckpoint(cp.text, key.publicKeyPem);
      const list = pending.get(c.treeSize) ?? [];
      list.push({ source: cp.source, root: toHex(c.root), at: c.timestamp });
      pending.set(c.treeSize, list);
    } catch (err) {
      const size = safeTreeSize(cp.text);
      checks.push({
        source: cp.source,
        treeSize: size,
        status: "bad_signature",
        message: `${cp.source}: ${(err as Error).message}`,
      });
    }
  }
  const chain = new ChainVerifier();
  const runs = new RunChainVerifier();
  const tree = new MerkleAccumulator();
  const stateCheck = new LedgerStateCheck();
  const compare = () => {
    for (const cp of pending.get(tree.size) ?? []) {
      const root = toHex(tree.root());
      const same = root === cp.root;
      checks.push({
        source: cp.source,
        treeSize: tree.size,
        status: same ? "consistent" : "rewritten",
        message: same
          ? `${cp.source}: the first ${tree.size} entries match the checkpoint of ${new Date(cp.at).toISOString()}`
          : `${cp.source}: history rewritten: the first ${tree.size} entries no longer hash to the root signed at ${new Date(cp.at).toISOString()}`,
      });
    }
    pending.delete(tree.size);
  };
  compare();
  /**
   * Integrates what is pending (readers see every entry committed before), then walks (on from
   * the last verified entry) to the ledger's current end, checking the run chains on the way.
   */
  const walk = async () => {
    await store.integrateLedger();
    for await (const row of ledgerRows(store, chain.size)) {
      const leaf = chain.push(row);
      if (leaf === undefined) break;
      runs.push(row);
      tree.push(leaf);
      stateCheck.observe(row);
      compare();
    }
  };
  await walk();
  // Past a broken link nothing is proven: state is only compared with a whole, verified ledger.
  const state = chain.problem
    ? { mismatches: [], notes: [] }
    : await settleState(store, stateCheck, walk, () => chain.problem !== undefined);
  for (const [size, list] of pending) {
    for (const cp of list) {
      checks.push(
        chain.problem
          ? {
              source: cp.source,
              treeSize: size,
              status: "unchecked",
              message: `${cp.source}: not checked: the chain breaks before entry ${size}`,
            }
          : {
              source: cp.source,
              treeSize: size,
              status: "truncated",
              message: `${cp.source}: the ledger was truncated: the checkpoint covers ${size} entries, the ledger has ${chain.size}`,
            },
      );
    }
  }
  // Entries still pending (an integration refused, or committed meanwhile): their run chains,
  // continued from the integrated entries' (only over a whole ledger: past a break, unproven).
  let pendingCount = 0;
  if (!chain.problem) {
    for (let after = 0; ; ) {
      const rows = await store.pendingLedgerRows(after, PAGE);
      for (const row of rows) {
        pendingCount++;
        runs.push(row);
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.id;
    }
  }
  const problems = [
    ...(key.status === "unreadable" ? [key.message] : []),
    ...(chain.problem ? [chain.problem.message] : []),
    ...(runs.problem && !chain.problem ? [runs.problem.message] : []),
    ...checks.filter((c) => c.status !== "consistent").map((c) => c.message),
    ...state.mismatches.map((m) => m.message),
  ];
  return {
    ok: problems.length === 0,
    entries: chain.size,
    head: chain.head,
    root: toHex(tree.root()),
    chain: chain.problem ?? null,
    runChain: runs.problem ?? null,
    pending: pendingCount,
    checkpoints: checks,
    state: state.mismatches,
    problems,
    notes: [
      ...(key.status === "missing" && checkpoints.length === 0
        ? [`${key.message} (and there is no checkpoint to check)`]
        : []),
      ...state.notes,
    ],
    key: {
      status: key.status,
      file: key.file,
      fingerprint: key.fingerprint,
      message: key.message,
    },
  };
}

/** How many times a run another process keeps changing is compared again before it counts. */
const SETTLE_ROUNDS = 20;

/**
 * Compares state with the entries walked so far, allowing for other processes: rows are read
 * after the entries, so a run changed in between disagrees for that reason alone (each change
 * commits its entry with it). A run that disagrees is compared again once `walk` has read the
 * entries appended since; if it has none, nothing changed it since its rows were read and the
 * disagreement is real. Every change of a run appends an entry, so a run that keeps changing
 * shows it, and is compared again (up to `SETTLE_ROUNDS` times).
 */
async function settleState(
  store: Store,
  check: LedgerStateCheck,
  walk: () => Promise<void>,
  broken: () => boolean,
): Promise<StateReport> {
  let report = await check.compare(store);
  for (let round = 0; round < SETTLE_ROUNDS && report.mismatches.length > 0; round++) {
    const suspects = [...new Set(report.mismatches.map((m) => m.runId))];
    const before = suspects.map((id) => check.lastSeq(id));
    await walk();
    if (broken()) break;
    const moved = suspects.filter((id, i) => check.lastSeq(id) !== before[i]);
    if (moved.length === 0) break;
    const again = await check.compare(store, moved);
    report = {
      mismatches: [
        ...report.mismatches.filter((m) => !moved.includes(m.runId)),
        ...again.mismatches,
      ],
      notes: report.notes,
    };
  }
  return report;
}

/** The tree size a checkpoint text claims, if it parses. */
function safeTreeSize(text: string): number | null {
  try {
    return parseCheckpoint(text).checkpoint.treeSize;
  } catch {
    return null;
  }
}

/** Checkpoints saved under `<home>/checkpoints/`, oldest first. */
async function savedCheckpoints(home: string): Promise<{ source: string; text: string }[]> {
  const dir = join(home, "checkpoints");
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".txt")).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return Promise.all(
    names.map(async (n) => ({ source: join(dir, n), text: await readFile(join(dir, n), "utf8") })),
  );
}

/**
 * Builds a run's evidence pack (`core/evidence-pack.ts`): verifies the whole ledger while
 * collecting its leaves and the run's state against its entries (refusing, `LEDGER_STATE_MISMATCH`,
 * a run whose rows tell another story than its entries: the pack's summary is taken from them),
 * signs and saves a fresh checkpoint, proves each of the run's entries against it, and signs the
 * pack. Returns the pack's file text.
 */
export async function exportEvidencePack(ledger: LedgerAccess, runId: string): Promise<string> {
  const { store, key } = ledger;
  const run = await store.getRun(runId);
  if (run === undefined) throw new NotFoundError(`run ${runId}`, { runId });
  const chain = new ChainVerifier();
  const runs = new RunChainVerifier();
  const stateCheck = new LedgerStateCheck(runId);
  const leaves: Uint8Array[] = [];
  const mine: { row: LedgerRow; prev: string }[] = [];
  const walk = async () => {
    await store.integrateLedger();
    for await (const row of ledgerRows(store, chain.size)) {
      const prev = chain.head;
      const leaf = chain.push(row);
      if (leaf === undefined) break;
      runs.push(row);
      leaves.push(leaf);
      if (row.runId === runId) {
        mine.push({ row, prev });
        stateCheck.observe(row);
      }
    }
  };
  const refuseBroken = () => {
    const problem = chain.problem ?? runs.problem;
    if (!problem) return;
    throw new AirunError(
      "LEDGER_INVALID",
      `the ledger does not verify, refusing to export evidence from it: ${problem.message}`,
    );
  };
  await walk();
  refuseBroken();
  const { mismatches } = await settleState(
    store,
    stateCheck,
    walk,
    () => chain.problem !== undefined,
  );
  refuseBroken();
  if (mismatches.length > 0) {
    throw new AirunError(
      "LEDGER_STATE_MISMATCH",
      `run ${runId} disagrees with its ledger, refusing to export evidence of it: ${mismatches.map((m) => m.message).join("; ")}`,
      { runId, fields: [...new Set(mismatches.map((m) => m.field))] },
    );
  }
  const checkpoint = await saveCheckpoint(ledger, leaves.length, toHex(merkleRoot(leaves)));
  const proofs = inclusionProofs(
    leaves,
    mine.map((m) => m.row.seq - 1),
  );
  const policyHashes = new Set<string>();
  for (const { row } of mine) {
    const data = JSON.parse(row.data) as JsonValue;
    if (!isPlainObject(data)) continue;
    if (typeof data.policy_hash === "string") policyHashes.add(data.policy_hash);
  }
  const policies = await Promise.all(
    [...policyHashes].sort().map(async (hash) => {
      const bytes = await store.getBlob(hash);
      return { hash, text: bytes === undefined ? null : new TextDecoder().decode(bytes) };
    }),
  );
  // The summary tells what the entries tell (the rows agree; a run still moving in another
  // process may have gone further than the entries in the pack): the status, outcome and
  // reason they record, the row's only where they leave it unknown.
  const recorded = stateCheck.recorded(runId);
  const row = (await store.getRun(runId)) ?? run;
  const text = (v: JsonValue | undefined, fallback: string | null) =>
    v === undefined ? fallback : typeof v === "string" ? v : null;
  const body: EvidencePackBody = {
    format: PACK_FORMAT,
    created_at: ledger.clock.now(),
    run: {
      id: run.id,
      kind: run.kind,
      name: run.name,
      version: run.specVersion,
      principal: run.principal,
      status: recorded?.status?.value ?? row.status,
      outcome: text(recorded?.outcome?.value, row.outcome),
      reason: text(recorded?.reason?.value, row.reason),
      spec_hash: run.specHash,
    },
    spec: { text: run.specText, plan: run.plan },
    policies,
    entries: mine.map(({ row, prev }, i) => ({
      seq: row.seq,
      entry: entryText(row, prev),
      proof: proofs[i]!.map(toHex),
    })),
    checkpoint: checkpoint.text,
    public_key: key.publicKeyPem,
  };
  return writePack(body, key.privateKeyPem);
}
