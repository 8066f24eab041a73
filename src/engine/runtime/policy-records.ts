/**
 * @module What the runtime records about its policy: the text of every policy a run was
 * decided under (a blob keyed by the policy's hash, written with the first run that uses it,
 * for evidence packs and replay), and each hot reload, accepted or refused, as a ledger entry
 * without a run (`policy.loaded` / `policy.reload_refused`).
 */
import type { WriteOp } from "../../store/store.js";
import type { EngineContext } from "../context.js";
import { EventType, eventOp } from "../events.js";
import type { PolicyReload } from "../policy/gatekeeper.js";

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
   * runtime writes it. If the batch carrying it fails, call `notStored`.
   */
  blobOps(policy: { readonly hash: string; readonly text: string }): WriteOp[] {
    if (this.#stored.has(policy.hash)) return [];
    this.#stored.add(policy.hash);
    return [{ op: "putBlob", id: policy.hash, bytes: new TextEncoder().encode(policy.text) }];
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
            { source: e.source, hash: e.hash, previous_hash: e.previousHash, rules: e.ruleCount },
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

  /** Waits for the reload entries being committed. */
  async drain(): Promise<void> {
    await Promise.all(this.#writes);
  }
}
