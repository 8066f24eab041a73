/**
 * @module Content encodings shared by the file capabilities: the `encoding` input field and
 * strict decoding of `content` (`utf8` text or `base64` bytes) into exact bytes.
 */
import { z } from "zod";

/** How `content` is encoded in inputs and outputs. */
export const encodingSchema = z.enum(["utf8", "base64"]).default("utf8");
/** `utf8` (text) or `base64` (any bytes). */
export type Encoding = z.infer<typeof encodingSchema>;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** True when `content` is canonical, padded base64 (what `decodeContent` accepts). */
export function isBase64(content: string): boolean {
  return BASE64.test(content);
}

/** True unless `content` claims base64 and is not (use as a zod refinement). */
export function contentDecodes(v: { content: string; encoding: Encoding }): boolean {
  return v.encoding !== "base64" || isBase64(v.content);
}

/** The issue reported when `contentDecodes` fails. */
export const CONTENT_ISSUE = { message: "content is not valid base64", path: ["content"] };

/** The exact bytes `content` stands for. */
export function decodeContent(content: string, encoding: Encoding): Buffer {
  return encoding === "base64" ? Buffer.from(content, "base64") : Buffer.from(content, "utf8");
}
