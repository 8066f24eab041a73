/**
 * @module A run as its own ledger entries record it, pure: what its `run.created` entry says it
 * is (kind, name, version, principal, spec hash, the hashes of its spec text and inputs) and the
 * status, outcome, reason and reason detail its lifecycle entries announce, each with the entry
 * that said so. An evidence pack's summary is checked against it offline (`evidence-pack.ts`);
 * `airun ledger verify` and `ledger export` compare the runs table with it
 * (`engine/ledger/ledger-state.ts`). Entry types are the engine's vocabulary
 * (`engine/events.ts`), written out here because core imports no other layer.
 */
import { isPlainObject, type JsonValue } from "./json.js";

/** A value an entry recorded, with the entry (seq and type) that recorded it. */
export interface Recorded<T> {
  readonly value: T;
  readonly seq: number;
  readonly type: string;
}

/** What a run's `run.created` entry recorded. */
export interface RecordedCreation {
  readonly seq: number;
  /** When the run was created (the entry's time is the run's `created_at`). */
  readonly at: number;
  readonly kind: "workflow" | "session";
  readonly name: JsonValue;
  readonly version: JsonValue;
  readonly principal: JsonValue;
  readonly specHash: JsonValue;
  readonly specTextSha256: JsonValue;
  /** SHA-256 of the canonical JSON of the inputs; undefined in ledgers written before it was recorded. */
  readonly inputsSha256: JsonValue | undefined;
}

/** The run statuses that lifecycle entries announce. */
export const RUN_STATUS_BY_ENTRY: Readonly<Record<string, string>> = Object.freeze({
  "run.created": "RUNNING",
  "run.started": "RUNNING",
  "run.resumed": "RUNNING",
  "run.waiting_approval": "WAITING_APPROVAL",
  "run.compensating": "COMPENSATING",
  "run.completed": "COMPLETED",
  "run.rolled_back": "ROLLED_BACK",
  "run.failed": "FAILED",
});

/** Entries that end a run: their data records its status, outcome, reason and detail. */
const TERMINAL_ENTRIES: ReadonlySet<string> = new Set([
  "run.completed",
  "run.rolled_back",
  "run.failed",
]);

/** One entry of a run, as the fold needs it (`data` parsed). */
export interface RunEntry {
  readonly seq: number;
  readonly at: number;
  readonly type: string;
  readonly data: JsonValue;
}

/**
 * Folds a run's entries, in ledger order, into what they record about the run. A field is
 * null while no entry has recorded it, or once an entry changed it without recording the new
 * value (a `run.compensating` entry records the reason but not the outcome).
 */
export class RecordedRun {
  created: RecordedCreation | null = null;
  status: Recorded<string> | null = null;
  outcome: Recorded<JsonValue> | null = null;
  reason: Recorded<JsonValue> | null = null;
  detail: Recorded<JsonValue> | null = null;

  /** True when `type` is an entry this fold reads (others need not be parsed for it). */
  static reads(type: string): boolean {
    return RUN_STATUS_BY_ENTRY[type] !== undefined;
  }

  /** Takes the run's next entry into account. */
  push(e: RunEntry): void {
    const status = RUN_STATUS_BY_ENTRY[e.type];
    if (status === undefined) return;
    const at = <T>(value: T): Recorded<T> => ({ value, seq: e.seq, type: e.type });
    const data = isPlainObject(e.data) ? (e.data as Record<string, JsonValue>) : {};
    this.status = at(status);
    if (e.type === "run.created") {
      this.created = {
        seq: e.seq,
        at: e.at,
        kind: data.kind === "session" ? "session" : "workflow",
        name: data.name ?? null,
        version: data.version ?? null,
        principal: data.principal ?? null,
        specHash: data.spec_hash ?? null,
        specTextSha256: data.spec_text_sha256 ?? null,
        inputsSha256: data.inputs_sha256,
      };
      this.outcome = at(null);
      this.reason = at(null);
      this.detail = at(null);
    } else if (e.type === "run.compensating") {
      this.reason = at(data.reason ?? null);
      this.outcome = null;
      this.detail = null;
    } else if (TERMINAL_ENTRIES.has(e.type)) {
      this.outcome = at(data.outcome ?? null);
      this.reason = at(data.reason ?? null);
      this.detail = at(data.detail ?? null);
    }
  }
}
