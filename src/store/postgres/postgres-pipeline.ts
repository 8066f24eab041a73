/**
 * @module One PostgreSQL transaction as the store runs it: statements sent on the connection
 * without waiting for the answers of those before them (the driver's pipeline mode, each with a
 * Sync of its own), so a batch costs one round trip per point where its next statement depends
 * on an answer, not one per statement. Each statement still runs alone, in order, with a
 * snapshot of its own taken when it starts (READ COMMITTED): one sent after a lock sees what
 * the lock's previous holder committed. Once a statement fails the transaction is aborted, so
 * the statements behind it fail too and a COMMIT behind it rolls back; the first failure in
 * the order sent is the batch's error.
 */
import type { LedgerHead } from "../ledger-chain.js";
import type { WakeReason } from "../store.js";
import type { PgClient, PgResult } from "./postgres-driver.js";

/** A statement sent and not yet awaited. */
interface Sent {
  readonly result: Promise<PgResult>;
  /** Looks at the answer before the transaction may commit; throws to refuse the batch. */
  readonly check: ((result: PgResult) => void) | undefined;
  /** The error to report for the statement's own failure (else the driver's). */
  readonly failure: ((cause: unknown) => unknown) | undefined;
}

/**
 * One open transaction: its connection, the statements sent on it and not yet answered, the
 * runs and run-chain heads it has locked, and the listening workers to wake when it commits
 * (NOTIFY is delivered at COMMIT, or never).
 */
export class PgTransaction {
  readonly client: PgClient;
  readonly heads = new Map<string, LedgerHead>();
  /**
   * The runs an `expectRun` of this transaction read `FOR UPDATE`: unless its check refuses the
   * batch, each exists and stays locked until the transaction ends.
   */
  readonly locked = new Set<string>();
  wake: Set<WakeReason> | undefined;
  #sent: Sent[] = [];

  constructor(client: PgClient) {
    this.client = client;
  }

  /**
   * Sends a statement behind those sent before, without waiting for its answer. `check` runs on
   * the answer at the next `flush` (before COMMIT); `failure` maps the statement's own error.
   * Every parameter is a string, number, null, Buffer or array of those, which the driver always
   * encodes: a statement sent reaches the server, so its failure aborts the transaction.
   */
  send(
    sql: string,
    params: unknown[] = [],
    check?: (result: PgResult) => void,
    failure?: (cause: unknown) => unknown,
  ): void {
    const result = this.client.query(sql, params);
    result.catch(() => undefined); // reported in order by `flush` or `settle`
    this.#sent.push({ result, check, failure });
  }

  /** Whether an answer sent is still to be checked (it must be, before COMMIT is sent). */
  get unchecked(): boolean {
    return this.#sent.some((s) => s.check !== undefined);
  }

  /**
   * Waits for every statement sent, then runs their checks in the order sent: throws the first
   * failure, a statement's or a check's.
   */
  async flush(): Promise<void> {
    const sent = this.#sent;
    this.#sent = [];
    const answers = await Promise.allSettled(sent.map((s) => s.result));
    for (const [i, s] of sent.entries()) {
      const answer = answers[i] as PromiseSettledResult<PgResult>;
      if (answer.status === "rejected") throw s.failure ? s.failure(answer.reason) : answer.reason;
      s.check?.(answer.value);
    }
  }

  /**
   * Like `flush`, but returns the first failure instead of throwing it: what refused the batch
   * before the op its work stopped at (statements sent go before it), if anything did.
   */
  async firstFailure(): Promise<unknown> {
    try {
      await this.flush();
      return undefined;
    } catch (err) {
      return err;
    }
  }
}
