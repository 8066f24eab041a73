/**
 * @module What the runtime records about its policy: the text of every policy a run was
 * decided under (a blob keyed by the policy's hash, written with the first run that uses it,
 * for evidence packs and replay), and each hot reload, accepted or refused, as a ledger entry
 * without a run (`policy.loaded` / `policy.reload_refused`). It also finds the last policy
 * that loaded, from those records, for recovery when the policy file is broken.
 */
import { sha256Hex } from "../../core/hash.js";
import { isPlainObject, type JsonValue } from "../../core/json.js";
import type { EventRecord, Store, WriteOp } from "../../store/store.js";
import type { EngineContext } from "../context.js";
import { EventType, eventOp } from "../events.js";
import type { PolicyReload } from "../policy/gatekeeper.js";

/** A policy as recorded: its hash, where it came from, its text, when it was last in force. */
export interface RecordedPolicy {
  readonly hash: string;
  readonly source: string;
  readonly text: string;
  /** When the last entry naming it was recorded (epoch ms). */
  readonly at: number;
}

/** Entries read per page while looking for the last policy that loaded. */
const PAGE = 2_000;

/** The policy records of one runtime. */
export class PolicyRecords {
  readonly #ctx: EngineContext;
  /** Hashes of policy texts this runtime knows are stored. */
  readonly #stored = new Set<string>();
  /** Reload entries being committed (awaited by `drain`). */
  readonly #writes = new Set<Promise<void>>();

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
  }

  /**
   * The op storing a policy's text as a blob (its id is the policy hash), the first time this
   * runtime writes it. A policy with warnings (a rule naming no capability) also gets a
   * `policy.loaded` entry carrying them, so the ledger shows what the runs were decided under.
   * If the batch carrying them fails, call `notStored`.
   */
  blobOps(policy: {
    readonly hash: string;
    readonly source?: string;
    readonly text: string;
    readonly warnings?: readonly string[];
  }): WriteOp[] {
    if (this.#stored.has(policy.hash)) return [];
    this.#stored.add(policy.hash);
    const blob: WriteOp = {
      op: "putBlob",
      id: policy.hash,
      bytes: new TextEncoder().encode(policy.text),
    };
    const warnings = policy.warnings ?? [];
    if (warnings.length === 0) return [blob];
    const loaded = eventOp(
      EventType.POLICY_LOADED,
      null,
      null,
      {
        source: policy.source ?? null,
        hash: policy.hash,
        previous_hash: null,
        warnings: [...warnings],
      },
      this.#ctx.clock.now(),
    );
    return [blob, loaded];
  }

  /** The blob of `blobOps` went down with its batch. */
  notStored(hash: string): void {
    this.#stored.delete(hash);
  }

  /** Records a hot reload of the policy (accepted or refused), in the background. */
  recordReload(e: PolicyReload): void {
    const ctx = this.#ctx;
    const policy = ctx.gatekeeper.policy;
    const at = ctx.clock.now();
    const blob = e.type === "loaded" && policy.hash === e.hash ? this.blobOps(policy) : [];
    const op =
      e.type === "loaded"
        ? eventOp(
            EventType.POLICY_LOADED,
            null,
            null,
            {
              source: e.source,
              hash: e.hash,
              previous_hash: e.previousHash,
              rules: e.ruleCount,
              ...(e.warnings.length > 0 ? { warnings: [...e.warnings] } : {}),
            },
            at,
          )
        : eventOp(
            EventType.POLICY_RELOAD_REFUSED,
            null,
            null,
            {
              source: e.source,
              error: e.error,
              problems: [...e.problems],
              kept_hash: e.keptHash,
            },
            at,
          );
    const write: Promise<void> = ctx.store
      .commit([...blob, op])
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }

  /**
   * The last policy that loaded: of the policies named by `policy.loaded` (hot reloads) and
   * `run.created` (the policy each run started under) entries, the most recent one whose text
   * is stored and still hashes to its name. Null when there is none.
   */
  async lastRecorded(): Promise<RecordedPolicy | null> {
    const { store } = this.#ctx;
    // Distinct policies, oldest first by their last mention (there are few of them).
    const mentions = new Map<string, { source: string; at: number }>();
    for await (const e of eventsOfTypes(store, [EventType.POLICY_LOADED, EventType.RUN_CREATED])) {
      const d = isPlainObject(e.data) ? e.data : {};
      const loaded = e.type === EventType.POLICY_LOADED;
      const hash = loaded ? d.hash : d.policy_hash;
      const source = loaded ? d.source : d.policy_source;
      if (typeof hash !== "string" || typeof source !== "string") continue;
      mentions.delete(hash);
      mentions.set(hash, { source, at: e.at });
    }
    for (const [hash, m] of [...mentions].reverse()) {
      const bytes = await store.getBlob(hash);
      if (bytes === undefined) continue;
      const text = new TextDecoder().decode(bytes);
      if (sha256Hex(text) !== hash) continue;
      return { hash, source: m.source, text, at: m.at };
    }
    return null;
  }

  /** Waits for the reload entries being committed. */
  async drain(): Promise<void> {
    await Promise.all(this.#writes);
  }
}

/** Bounds of `policyHistory`: ledger numbers, both optional. */
export interface PolicyHistoryWindow {
  /** Only entries after this ledger number. */
  readonly afterSeq?: number;
  /** Only entries up to this ledger number. */
  readonly untilSeq?: number;
}

/** A `policy.loaded` or `policy.reload_refused` ledger entry. */
export interface PolicyHistoryEntry {
  readonly seq: number;
  readonly type: string;
  /** Epoch milliseconds. */
  readonly at: number;
  readonly data: JsonValue;
}

/** The policy's ledger entries within `window`, oldest first. */
export async function policyHistory(
  store: Store,
  window: PolicyHistoryWindow = {},
): Promise<PolicyHistoryEntry[]> {
  const out: PolicyHistoryEntry[] = [];
  const until = window.untilSeq ?? Number.POSITIVE_INFINITY;
  const types = [EventType.POLICY_LOADED, EventType.POLICY_RELOAD_REFUSED];
  for await (const e of eventsOfTypes(store, types, window.afterSeq ?? 0)) {
    if (e.seq > until) break;
    out.push({ seq: e.seq, type: e.type, at: e.at, data: e.data });
  }
  return out;
}

/** Every ledger entry of these types after `afterSeq`, in order, read a page at a time. */
async function* eventsOfTypes(
  store: Store,
  types: readonly string[],
  afterSeq = 0,
): AsyncGenerator<EventRecord> {
  let after = afterSeq;
  for (;;) {
    const page = await store.listEvents({ types, afterSeq: after, limit: PAGE });
    yield* page;
    if (page.length < PAGE) return;
    after = page[page.length - 1]?.seq ?? after;
  }
}
