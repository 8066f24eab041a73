/**
 * @module Maps Node.js filesystem errors to typed `CapabilityError`s with stable `FS_*` codes,
 * so a capability never leaks a raw `ENOENT` and the engine can tell transient failures
 * (retryable) from permanent ones.
 */
import { basename, isAbsolute, normalize, sep } from "node:path";
import type { ErrorCode } from "../../core/error-codes.js";
import { AirunError, CapabilityError, type ErrorContext } from "../../core/errors.js";

/** errno → [code, retryable]. Anything not listed becomes `FS_IO_ERROR`, not retryable. */
const ERRNO_CODES: Readonly<Record<string, readonly [ErrorCode, boolean]>> = {
  ENOENT: ["FS_NOT_FOUND", false],
  EEXIST: ["FS_EXISTS", false],
  ENOTEMPTY: ["FS_NOT_EMPTY", false],
  EISDIR: ["FS_IS_DIR", false],
  ENOTDIR: ["FS_NOT_DIR", false],
  EACCES: ["FS_PERMISSION_DENIED", false],
  EPERM: ["FS_PERMISSION_DENIED", false],
  EROFS: ["FS_READ_ONLY", false],
  EXDEV: ["FS_CROSS_DEVICE", false],
  ENOSPC: ["FS_NO_SPACE", false],
  EDQUOT: ["FS_NO_SPACE", false],
  EFBIG: ["FS_TOO_LARGE", false],
  ENAMETOOLONG: ["FS_NAME_TOO_LONG", false],
  EINVAL: ["FS_INVALID", false],
  ELOOP: ["FS_SYMLINK_LOOP", false],
  EBUSY: ["FS_BUSY", true],
  EAGAIN: ["FS_BUSY", true],
  EWOULDBLOCK: ["FS_BUSY", true],
  EINTR: ["FS_BUSY", true],
  EMFILE: ["FS_BUSY", true],
  ENFILE: ["FS_BUSY", true],
  ETIMEDOUT: ["FS_BUSY", true],
  EIO: ["FS_IO_ERROR", true],
};

/** The `code` of a Node.js system error (`ENOENT`...), if it is one. */
export function errnoOf(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/**
 * Converts anything thrown by a filesystem call into an `AirunError`. Airun errors pass
 * through unchanged; system errors get an `FS_*` code and the path in their context.
 */
export function toFsError(err: unknown, context: ErrorContext = {}): AirunError {
  if (err instanceof AirunError) return err;
  const errno = errnoOf(err);
  const [code, retryable] = (errno && ERRNO_CODES[errno]) || ["FS_IO_ERROR", false];
  const message =
    (errno === "ENOENT" ? notFoundMessage(err, context.path) : undefined) ??
    (err instanceof Error ? err.message : String(err));
  return new CapabilityError(code, message, {
    retryable,
    context: { ...context, ...(errno ? { errno } : {}) },
    cause: err,
  });
}

/**
 * For a relative user path that does not exist, a message saying where it was looked for and
 * why: paths are relative to the first sandbox root, so `ws/a.txt` with the root `…/ws` is
 * `…/ws/ws/a.txt` (and `a.txt` was probably meant). Undefined when the error is about another
 * path than the one the user gave (a parent, a temp file).
 */
function notFoundMessage(err: unknown, userPath: unknown): string | undefined {
  const full = (err as { path?: unknown }).path;
  if (typeof userPath !== "string" || typeof full !== "string" || isAbsolute(userPath)) {
    return undefined;
  }
  const given = normalize(userPath);
  if (!full.endsWith(`${sep}${given}`)) return undefined;
  const root = full.slice(0, full.length - given.length - 1);
  const [first, ...rest] = given.split(sep);
  const twice = first === basename(root) && rest.length > 0;
  return `"${userPath}" does not exist: it resolves to ${full}, because paths are relative to the first sandbox root (${root})${twice ? `; did you mean "${rest.join("/")}"?` : ""}`;
}

/** Runs `fn`, converting every filesystem error it throws with `toFsError`. */
export async function withFsErrors<T>(context: ErrorContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toFsError(err, context);
  }
}

/** Throws a retryable `ABORTED` error when the call's signal has fired (timeout or cancel). */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) {
    throw new CapabilityError("ABORTED", "the call was aborted (timeout or cancellation)", {
      retryable: true,
      cause: signal.reason,
    });
  }
}
