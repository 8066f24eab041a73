/**
 * @module Reading file bytes as UTF-8 text, strictly: a byte sequence that is not UTF-8 is a
 * validation error naming the file, line, column and byte offset, never a U+FFFD in its place
 * (a replaced byte would silently change a path, a principal or a pattern).
 */
import { ValidationError } from "./errors.js";

const strict = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes `bytes` as UTF-8 (a leading byte-order mark is dropped).
 *
 * @throws ValidationError at the first byte that is not UTF-8.
 * @example
 * const text = decodeUtf8("wf.yaml", await readFile("wf.yaml"));
 */
export function decodeUtf8(file: string, bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    const offset = firstInvalidByte(bytes);
    let lineStart = 0;
    let line = 1;
    for (let i = 0; i < offset; i++) {
      if (bytes[i] === 0x0a) {
        line += 1;
        lineStart = i + 1;
      }
    }
    const before = new TextDecoder().decode(bytes.subarray(lineStart, offset));
    const col = [...before].length + 1;
    const hex = (bytes[offset] ?? 0).toString(16).toUpperCase().padStart(2, "0");
    throw new ValidationError(
      [
        {
          file,
          line,
          col,
          field: "",
          message: `the file is not valid UTF-8: byte ${offset} is 0x${hex}; save it as UTF-8`,
        },
      ],
      { location: `${file}:${line}:${col}` },
    );
  }
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence. */
function firstInvalidByte(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    let n = 0;
    let min = 0;
    if (c < 0x80) {
      i += 1;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      min = 0x10000;
    } else {
      return i;
    }
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const cc = b[i + k];
      if (cc === undefined || (cc & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return b.length;
}
