/**
 * @module Signed webhooks (SPEC §8). After an approval is requested or decided (and, when
 * configured, after a run ends) the engine POSTs a JSON event signed with HMAC-SHA256:
 * `Airun-Signature: t=<unix seconds>,v1=<hex HMAC of "<t>.<raw body>">`. Delivery happens in
 * the background, AFTER the state change is committed: it never blocks or fails a run. Each
 * attempt is retried with exponential backoff and jitter and recorded as a `webhook.delivery`
 * event of the approval's run. `verifyWebhook` is what receivers use to check a request.
 * Signing and verifying sit with delivery (hence the length): one format, one file.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { type Clock, systemClock } from "../core/clock.js";
import { DEFAULT_WEBHOOK_EVENTS, type WebhookEventType } from "../core/config.js";
import type { JsonObject } from "../core/json.js";
import type { Store } from "../store/store.js";
import { EventType, eventOp } from "./events.js";
import { retryDelayMs, sleep } from "./retry.js";

/** Header carrying the signature: `t=<unix seconds>,v1=<hex>`. */
export const SIGNATURE_HEADER = "Airun-Signature";
/** Header carrying the delivery id (the event id; the same on every retry: dedupe on it). */
export const DELIVERY_HEADER = "Airun-Delivery";
/** Environment variable read for the secret when the config names none. */
export const DEFAULT_WEBHOOK_SECRET_ENV = "AIRUN_WEBHOOK_SECRET";
/** How long `close()` waits for deliveries still in flight before it gives up on them. */
export const WEBHOOK_DRAIN_MS = 2_000;

/** The JSON body of a webhook. Everything in it was recorded already, so secrets are masked. */
export interface WebhookEvent {
  /** Unique per event; also sent as `Airun-Delivery`. */
  readonly id: string;
  readonly type: WebhookEventType;
  readonly run_id: string;
  readonly step_id: string | null;
  /** The approval as persisted after the change (approval events). */
  readonly approval?: JsonObject;
  /** The run's terminal status, outcome and reason (`run.finished`). */
  readonly run?: JsonObject;
  /** When the event happened (epoch milliseconds). */
  readonly at: number;
}

/**
 * The `Airun-Signature` value for a body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
 *
 * @example
 * const header = signWebhook(JSON.stringify(event), process.env.AIRUN_WEBHOOK_SECRET!);
 */
export function signWebhook(
  rawBody: string | Uint8Array,
  secret: string,
  now: number = Date.now(),
): string {
  const t = Math.floor(now / 1000);
  return `t=${t},v1=${hmacHex(t, rawBody, secret)}`;
}

/**
 * Checks a webhook request: the signature must be an HMAC-SHA256 of `"<t>.<rawBody>"` with
 * `secret`, and `t` within `toleranceSec` of `now` (either way). Pass the body exactly as
 * received, before any JSON parsing. Compares in constant time; false for anything malformed.
 *
 * @example
 * import { verifyWebhook } from "airun";
 * http.createServer((req, res) => {
 *   const chunks: Buffer[] = [];
 *   req.on("data", (c) => chunks.push(c)).on("end", () => {
 *     const raw = Buffer.concat(chunks);
 *     const ok = verifyWebhook(raw, String(req.headers["airun-signature"]), secret);
 *     res.writeHead(ok ? 204 : 401).end();
 *   });
 * });
 */
export function verifyWebhook(
  rawBody: string | Uint8Array,
  header: string,
  secret: string,
  toleranceSec = 300,
  now: number = Date.now(),
): boolean {
  if (typeof header !== "string" || secret.length === 0) return false;
  let t: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq <= 0) return false;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t") {
      if (t !== undefined || !/^\d{1,15}$/.test(value)) return false;
      t = Number(value);
    } else if (key === "v1") {
      if (!/^[0-9a-f]{64}$/i.test(value)) return false;
      signatures.push(value.toLowerCase());
    }
  }
  if (t === undefined || signatures.length === 0) return false;
  if (Math.abs(now / 1000 - t) > toleranceSec) return false;
  const expected = Buffer.from(hmacHex(t, rawBody, secret), "hex");
  let match = false;
  for (const sig of signatures) {
    const given = Buffer.from(sig, "hex");
    if (given.length === expected.length && timingSafeEqual(given, expected)) match = true;
  }
  return match;
}

function hmacHex(t: number, rawBody: string | Uint8Array, secret: string): string {
  return createHmac("sha256", secret).update(`${t}.`).update(rawBody).digest("hex");
}

/** How webhooks are sent (compiled from config `approvals.webhook`, defaulted). */
export interface WebhookSettings {
  /** Where to send when no step names its own URL; null: only step URLs are used. */
  readonly url: string | null;
  /** Environment variable holding the secret. */
  readonly secretEnv: string;
  readonly events: readonly WebhookEventType[];
  /** Attempts per delivery, the first included. */
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** Timeout of one attempt. */
  readonly timeoutMs: number;
}

/** Defaults of every setting, for a runtime configured without `approvals.webhook`. */
export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = Object.freeze({
  url: null,
  secretEnv: DEFAULT_WEBHOOK_SECRET_ENV,
  events: DEFAULT_WEBHOOK_EVENTS,
  maxAttempts: 5,
  backoffMs: 500,
  maxBackoffMs: 30_000,
  timeoutMs: 10_000,
});

/** One event to send. */
export interface WebhookRequest {
  readonly type: WebhookEventType;
  readonly runId: string;
  readonly stepId: string | null;
  readonly approval?: JsonObject;
  readonly run?: JsonObject;
  /** The step's own URL (seed `inputs.webhook_url`), overriding the configured one. */
  readonly url?: string | null;
  /** The same URL with secrets masked, as it may be recorded. */
  readonly recordUrl?: string | null;
}

/** Outcome of one recorded attempt. */
type AttemptOutcome = "delivered" | "retrying" | "failed" | "abandoned";

/** Statuses worth another attempt: the receiver may succeed later. */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Why a hook is not sent when its signing secret is missing. */
function unsignedReason(secretEnv: string): string {
  return `the signing secret environment variable ${secretEnv} is not set (webhooks are never sent unsigned)`;
}

/** A URL as recorded: no credentials and no query string (hook URLs often carry tokens). */
function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

/**
 * Sends webhooks in the background and records every attempt. One per Runtime; `close()`
 * waits (bounded) for deliveries in flight, then abandons them (the record says so).
 */
export class WebhookDispatcher {
  readonly settings: WebhookSettings;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #inFlight = new Set<Promise<void>>();
  /** Aborted when the runtime closes: pending attempts and backoffs stop. */
  readonly #shutdown = new AbortController();
  readonly #warn: (message: string) => void;
  /** Whether the missing signing secret was warned about (once per dispatcher). */
  #warnedUnsigned = false;
  #closed = false;

  constructor(
    store: Store,
    settings: WebhookSettings,
    env: Readonly<Record<string, string | undefined>>,
    clock: Clock = systemClock,
    warn: (message: string) => void = () => {},
  ) {
    this.#clock = clock;
    this.#warn = warn;
    this.#store = store;
    this.settings = settings;
    this.#env = env;
  }

  /** Deliveries not finished yet. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * Queues an event for delivery and returns its id, or undefined when nothing is sent (no URL,
   * event type not configured, runtime closing). Never throws, never waits.
   */
  send(req: WebhookRequest): string | undefined {
    if (this.#shutdown.signal.aborted || !this.settings.events.includes(req.type)) return undefined;
    const url = req.url ?? this.settings.url;
    if (!url) return undefined;
    const at = Date.now();
    const event: WebhookEvent = {
      id: `whd_${randomUUID()}`,
      type: req.type,
      run_id: req.runId,
      step_id: req.stepId,
      ...(req.approval ? { approval: req.approval } : {}),
      ...(req.run ? { run: req.run } : {}),
      at,
    };
    const recordUrl = displayUrl(req.url ? (req.recordUrl ?? req.url) : url);
    if (!this.#env[this.settings.secretEnv] && !this.#warnedUnsigned) {
      this.#warnedUnsigned = true;
      this.#warn(
        `webhook ${req.type} to ${recordUrl} not sent: ${unsignedReason(this.settings.secretEnv)}; the attempt is recorded in the run's events`,
      );
    }
    const p = this.#deliver(event, url, recordUrl).catch(() => undefined);
    this.#inFlight.add(p);
    void p.finally(() => this.#inFlight.delete(p));
    return event.id;
  }

  /**
   * Waits up to `graceMs` for deliveries in flight, then abandons the rest (each records an
   * `abandoned` attempt). Later events are not sent.
   */
  async close(graceMs: number = WEBHOOK_DRAIN_MS): Promise<void> {
    if (this.#inFlight.size > 0) await settledWithin([...this.#inFlight], graceMs);
    this.#shutdown.abort(new Error("the runtime closed before the delivery finished"));
    // Abandoned attempts record themselves right away; give those writes a moment.
    if (this.#inFlight.size > 0) await settledWithin([...this.#inFlight], 500);
    this.#closed = true;
  }

  async #deliver(event: WebhookEvent, url: string, recordUrl: string): Promise<void> {
    const body = JSON.stringify(event);
    const record = (attempt: number, outcome: AttemptOutcome, fields: JsonObject) =>
      this.#record(event, recordUrl, attempt, outcome, fields);
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
      await record(1, "failed", {
        error: `refused: webhook URL must be http(s), got ${parsed ? parsed.protocol : "an invalid URL"}`,
        duration_ms: 0,
      });
      return;
    }
    const secret = this.#env[this.settings.secretEnv];
    if (!secret) {
      await record(1, "failed", {
        error: `not sent: ${unsignedReason(this.settings.secretEnv)}`,
        duration_ms: 0,
      });
      return;
    }
    const policy = {
      maxAttempts: this.settings.maxAttempts,
      backoff: "exponential" as const,
      initialDelayMs: this.settings.backoffMs,
      maxDelayMs: this.settings.maxBackoffMs,
    };
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      const result = await this.#attempt(parsed, body, event, secret);
      const duration_ms = Date.now() - started;
      if (result.abandoned) {
        await record(attempt, "abandoned", { error: result.error ?? "abandoned", duration_ms });
        return;
      }
      const ok = result.status !== undefined && result.status >= 200 && result.status < 300;
      const canRetry =
        !ok &&
        attempt < policy.maxAttempts &&
        (result.status === undefined || retryableStatus(result.status));
      const fields: JsonObject =
        result.status !== undefined
          ? { status: result.status, duration_ms }
          : { error: result.error ?? "unknown error", duration_ms };
      if (!canRetry) {
        await record(attempt, ok ? "delivered" : "failed", fields);
        return;
      }
      const delay = retryDelayMs(policy, attempt + 1);
      await record(attempt, "retrying", { ...fields, next_delay_ms: delay });
      try {
        await sleep(delay, this.#shutdown.signal);
      } catch (err) {
        await record(attempt + 1, "abandoned", { error: (err as Error).message, duration_ms: 0 });
        return;
      }
    }
  }

  /** One POST, bounded by the attempt timeout and by shutdown. */
  async #attempt(
    url: URL,
    body: string,
    event: WebhookEvent,
    secret: string,
  ): Promise<{ status?: number; error?: string; abandoned?: boolean }> {
    const ac = new AbortController();
    const timeoutMs = this.settings.timeoutMs;
    const timer = setTimeout(
      () => ac.abort(new Error(`no response within ${timeoutMs}ms`)),
      timeoutMs,
    );
    const onShutdown = () => ac.abort(this.#shutdown.signal.reason);
    this.#shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    try {
      const res = await fetch(url, {
        method: "POST",
        redirect: "manual",
        signal: ac.signal,
        headers: {
          "content-type": "application/json",
          "user-agent": "airun-webhooks",
          [SIGNATURE_HEADER]: signWebhook(body, secret),
          [DELIVERY_HEADER]: event.id,
          "airun-event": event.type,
        },
        body,
      });
      await res.body?.cancel().catch(() => undefined);
      return { status: res.status };
    } catch (err) {
      if (this.#shutdown.signal.aborted) {
        return { abandoned: true, error: (this.#shutdown.signal.reason as Error).message };
      }
      if (ac.signal.aborted) return { error: (ac.signal.reason as Error).message };
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return { error: cause?.code ?? cause?.message ?? (err as Error).message };
    } finally {
      clearTimeout(timer);
      this.#shutdown.signal.removeEventListener("abort", onShutdown);
    }
  }

  /** Appends one `webhook.delivery` event to the run's history; a failure to record is dropped. */
  async #record(
    event: WebhookEvent,
    url: string,
    attempt: number,
    outcome: AttemptOutcome,
    fields: JsonObject,
  ): Promise<void> {
    if (this.#closed) return;
    const approvalId = event.approval?.id;
    try {
      await this.#store.commit([
        eventOp(
          EventType.WEBHOOK_DELIVERY,
          event.run_id,
          event.step_id,
          {
            delivery_id: event.id,
            event: event.type,
            ...(typeof approvalId === "string" ? { approval_id: approvalId } : {}),
            url,
            attempt,
            outcome,
            ...fields,
          },
          this.#clock.now(),
        ),
      ]);
    } catch {
      // The store is closing or failing: the delivery itself must not fail the runtime.
    }
  }
}

/** Resolves when every promise settled or `ms` passed, whichever comes first. */
async function settledWithin(promises: readonly Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise<void>((r) => {
      timer = setTimeout(r, ms);
    }),
  ]);
  clearTimeout(timer);
}
