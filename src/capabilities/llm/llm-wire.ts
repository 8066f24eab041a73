/**
 * @module The shape shared by the two wire formats `llm.chat` speaks (openai-wire.ts,
 * anthropic-wire.ts): how a call becomes an HTTP request, and how a provider's JSON answer
 * (or error body) is read back.
 */
import type { JsonObject } from "../../core/json.js";
import type { LlmProviderKind } from "../../core/llm-config.js";
import type { ChatRequest, ChatTarget } from "./llm-target.js";

/** A call as the wire formats see it. */
export interface ChatCall extends ChatRequest {
  readonly temperature?: number | undefined;
}

/** The HTTP request for one call. Headers may hold the API key: never record them. */
export interface WireRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: JsonObject;
}

/** What a successful answer carries; token counts are null when the provider did not say. */
export interface WireReply {
  readonly content: string;
  readonly stopReason: string | null;
  readonly inputTokens: number | null;
  readonly outputTokens: number | null;
  readonly totalTokens: number | null;
  readonly responseId: string | null;
  /** The model the provider says answered (may be a dated version of the one asked for). */
  readonly model: string | null;
}

/** One provider API. */
export interface WireFormat {
  readonly kind: LlmProviderKind;
  buildRequest(target: ChatTarget, call: ChatCall, apiKey: string | null): WireRequest;
  /** Reads a 2xx JSON body; throws a `TypeError` saying what is missing when it is malformed. */
  parseReply(json: unknown): WireReply;
}

/** `{ error: { type?, message } }`, the error body of both APIs, as `type: message`. */
export function providerErrorMessage(json: unknown): string | null {
  const error = (json as { error?: unknown } | null)?.error;
  if (typeof error === "string") return error;
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message !== "string") return null;
  const type = (error as { type?: unknown }).type;
  return typeof type === "string" && type !== "" ? `${type}: ${message}` : message;
}

/** A non-negative integer count, or null. */
export function count(v: unknown): number | null {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : null;
}

/** A string, or null. */
export function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}
