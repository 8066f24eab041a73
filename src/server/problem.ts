/**
 * @module Errors as RFC 9457 problem details (`application/problem+json`). The status comes from
 * the one error table (`core/error-codes.ts`, `surfaceAnswer`), never decided here; the body
 * carries the stable `code`, the message, the error's context (run, step, approval ids), and for
 * a validation error every problem with its file, line and field. Anything that is not an
 * `AirunError` is a bug of Airun: answered 500 `INTERNAL` without its message (which could hold
 * anything), and reported to the server's log.
 */
import { type ErrorCode, surfaceAnswer } from "../core/error-codes.js";
import { AirunError, ValidationError } from "../core/errors.js";

/** The problem document of an error. */
export interface ProblemDocument {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  readonly instance?: string;
  readonly [extension: string]: unknown;
}

/** The `type` URI of a code: a stable name a client may branch on, like `code`. */
export const problemType = (code: string) => `urn:airun:error:${code}`;

/** The problem document for a thrown value (see module doc). */
export function toProblem(err: unknown, instance?: string): ProblemDocument {
  if (!(err instanceof AirunError)) {
    return {
      type: problemType("INTERNAL"),
      title: "INTERNAL",
      status: 500,
      detail: "an internal error; the server's log has the details",
      code: "INTERNAL",
      ...(instance ? { instance } : {}),
    };
  }
  const status = surfaceAnswer(err.code).http;
  return {
    type: problemType(err.code),
    title: err.code,
    status,
    detail: err.message,
    code: err.code,
    ...(instance ? { instance } : {}),
    ...(Object.keys(err.context).length > 0 ? { context: err.context } : {}),
    ...(err instanceof ValidationError ? { problems: err.problems } : {}),
  };
}

/** A problem answer for a code of our own (auth, limits) with a message. */
export function problemOf(code: ErrorCode, detail: string, instance?: string): ProblemDocument {
  return toProblem(new AirunError(code, detail), instance);
}

/** The HTTP response of a problem document. */
export function problemResponse(
  p: ProblemDocument,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(p), {
    status: p.status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}
