/**
 * @module The policy a runtime decides under, loaded when a command first needs it. Reading
 * runs, approvals, the ledger or the catalogue decides nothing, so those commands never read
 * the policy file, and a broken file does not stop them (issue 13, finding 8); starting,
 * resuming or deciding loads it and refuses, naming the broken file, as before. Recovery may
 * instead decide under the last policy that loaded (its text is stored, keyed by its hash:
 * `policy-records.ts`), which the runtime installs here with `useRecorded`.
 *
 * It is the engine's `Gatekeeper` (`ctx.gatekeeper`): it answers with the policy loaded, and
 * refuses to answer (rethrowing why the file did not load) before one is.
 */
import { AirunError, formatProblem, ValidationError } from "../../core/errors.js";
import type { PolicyDecision, PolicyRequest } from "../../core/policy.js";
import type { Gatekeeper } from "../policy/gatekeeper.js";
import type { RecordedPolicy } from "./policy-records.js";

/** How to get the policy: a loader (the config's file), or a gatekeeper given as is. */
export type PolicySource =
  | { readonly load: () => Promise<Gatekeeper> }
  | { readonly gatekeeper: Gatekeeper };

/** The runtime's policy, loaded on first need (see module doc). */
export class PolicyInForce implements Gatekeeper {
  readonly #load: (() => Promise<Gatekeeper>) | null;
  #gatekeeper: Gatekeeper | null;
  /** The gatekeeper loaded from the file (not a recorded stand-in), once it loaded. */
  #fromFile: Gatekeeper | null;
  #loading: Promise<Gatekeeper> | null = null;
  /** Why the last load failed, rethrown if someone asks for a decision without a policy. */
  #loadError: unknown = null;
  /** Hash of the recorded policy standing in for a broken file, if one does. */
  #recordedHash: string | null = null;
  readonly #onLoad: ((gatekeeper: Gatekeeper) => void)[] = [];
  #closed = false;

  constructor(source: PolicySource) {
    if ("gatekeeper" in source) {
      this.#load = null;
      this.#gatekeeper = source.gatekeeper;
      this.#fromFile = source.gatekeeper;
    } else {
      this.#load = source.load;
      this.#gatekeeper = null;
      this.#fromFile = null;
    }
  }

  get policy(): { readonly hash: string; readonly source: string; readonly text: string } {
    return this.#require().policy;
  }

  decide(request: PolicyRequest): Promise<PolicyDecision> {
    return this.#require().decide(request);
  }

  /** The gatekeeper answering now (the file's, or a recorded stand-in), or null. */
  get current(): Gatekeeper | null {
    return this.#gatekeeper;
  }

  /** Hash of the recorded policy standing in for a broken file, or null. */
  get recordedHash(): string | null {
    return this.#recordedHash;
  }

  /**
   * The policy file's gatekeeper, loaded (and watched) the first time; a recorded stand-in is
   * replaced once the file loads. A failed load throws its error (a `ValidationError` naming
   * the file) and is tried again on the next call.
   */
  async load(): Promise<Gatekeeper> {
    if (this.#fromFile !== null) return this.#fromFile;
    if (this.#closed || this.#load === null) throw new AirunError("STORE_CLOSED", "runtime closed");
    this.#loading ??= this.#load().finally(() => {
      this.#loading = null;
    });
    try {
      const gatekeeper = await this.#loading;
      if (this.#fromFile === null) {
        if (this.#closed) {
          gatekeeper.close?.();
          throw new AirunError("STORE_CLOSED", "runtime closed");
        }
        this.#fromFile = gatekeeper;
        this.#gatekeeper = gatekeeper;
        this.#recordedHash = null;
        this.#loadError = null;
        for (const listener of this.#onLoad) listener(gatekeeper);
      }
      return this.#fromFile;
    } catch (err) {
      this.#loadError = err;
      throw err;
    }
  }

  /**
   * Decides under `gatekeeper`, a policy recorded earlier, until the file loads (recovery when
   * the file is broken). Never replaces a policy loaded from the file.
   */
  useRecorded(gatekeeper: Gatekeeper): void {
    if (this.#fromFile !== null) return;
    this.#gatekeeper?.close?.();
    this.#gatekeeper = gatekeeper;
    this.#recordedHash = gatekeeper.policy.hash;
  }

  /** Calls `listener` once the file's policy has loaded (at once if it has). */
  onLoad(listener: (gatekeeper: Gatekeeper) => void): void {
    this.#onLoad.push(listener);
    if (this.#fromFile !== null) listener(this.#fromFile);
  }

  /** Stops watching the file (if it was loaded); decisions keep the policy in force. */
  close(): void {
    this.#closed = true;
    this.#onLoad.length = 0;
    this.#gatekeeper?.close?.();
    if (this.#fromFile !== this.#gatekeeper) this.#fromFile?.close?.();
  }

  #require(): Gatekeeper {
    if (this.#gatekeeper !== null) return this.#gatekeeper;
    if (this.#loadError !== null) throw this.#loadError;
    throw new AirunError("INTERNAL", "a decision was asked for before the policy was loaded");
  }
}

/** What `loadOrLastRecorded` needs besides the policy. */
export interface StandInSource {
  /** The last policy that loaded, as recorded (`PolicyRecords.lastRecorded`). */
  lastRecorded(): Promise<RecordedPolicy | null>;
  /** A gatekeeper deciding under a recorded policy (may throw if the text no longer compiles). */
  build(policy: RecordedPolicy): Gatekeeper;
  /** Tells a person that a stand-in decides, which file is broken and which hash is used. */
  warn(message: string): void;
}

/**
 * Loads the policy file; if it is broken (or unreadable), installs the last policy that loaded
 * in its place and warns (once per stand-in). Without a usable recorded policy, rethrows why
 * the file does not load when `required`, else leaves the policy unloaded (a decision would
 * then refuse with that error).
 */
export async function loadOrLastRecorded(
  policy: PolicyInForce,
  required: boolean,
  source: StandInSource,
): Promise<void> {
  try {
    await policy.load();
    return;
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const recorded = await source.lastRecorded();
    let gatekeeper: Gatekeeper | null = null;
    try {
      gatekeeper = recorded === null ? null : source.build(recorded);
    } catch {
      // A recorded text this version no longer accepts: there is no stand-in.
    }
    if (recorded === null || gatekeeper === null || gatekeeper.policy.hash !== recorded.hash) {
      if (required) throw err;
      return;
    }
    if (policy.recordedHash === recorded.hash) return;
    policy.useRecorded(gatekeeper);
    const first = err.problems[0];
    source.warn(
      `the policy file does not load (${first ? formatProblem(first) : err.message}); deciding under the last policy that loaded instead: ${recorded.source}, sha256 ${recorded.hash}, last in force ${new Date(recorded.at).toISOString()}`,
    );
  }
}
