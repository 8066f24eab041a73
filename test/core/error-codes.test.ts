/**
 * The closed set of error codes: every code maps to an exit code, an HTTP status and an MCP
 * answer through one table; every code the source raises is in the set (built-in capabilities
 * included); the README documents each one.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ERROR_CODES,
  ErrorKind,
  errorKind,
  McpErrorCode,
  SURFACE,
  surfaceAnswer,
} from "../../src/core/error-codes.js";
import {
  AirunError,
  ApprovalError,
  CapabilityError,
  ConflictError,
  NotFoundError,
  ValidationError,
} from "../../src/core/errors.js";

const CODES = Object.keys(ERROR_CODES);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("error codes", () => {
  it("map every code to an exit code, an HTTP status and an MCP answer", () => {
    expect(CODES.length).toBeGreaterThan(90);
    for (const code of CODES) {
      const answer = surfaceAnswer(code);
      expect([1, 2, 7], code).toContain(answer.exit);
      expect(answer.http >= 400 && answer.http < 600, code).toBe(true);
      const mcpOk =
        answer.mcp === "tool_error" ||
        answer.mcp === McpErrorCode.INVALID_PARAMS ||
        answer.mcp === McpErrorCode.INTERNAL_ERROR;
      expect(mcpOk, code).toBe(true);
    }
    // Every kind has a row, and only the kinds that exist.
    expect(Object.keys(SURFACE).sort()).toEqual(Object.values(ErrorKind).sort());
  });

  it("keep a lost lease apart from usage errors, and failures of Airun apart from the caller's", () => {
    expect(surfaceAnswer(new ConflictError("lease lost").code)).toEqual({
      exit: 1,
      http: 409,
      mcp: "tool_error",
    });
    expect(surfaceAnswer("INVALID_STORE_URL").exit).toBe(2);
    expect(surfaceAnswer(new ValidationError([]).code)).toMatchObject({ exit: 2, http: 422 });
    expect(surfaceAnswer(new NotFoundError("run x").code)).toMatchObject({ exit: 2, http: 404 });
    expect(surfaceAnswer(new ApprovalError("SELF_APPROVAL", "no").code)).toMatchObject({
      exit: 2,
      http: 403,
    });
    expect(surfaceAnswer("LEDGER_INVALID")).toMatchObject({ exit: 7 });
    expect(surfaceAnswer("STORE_COMMIT_FAILED")).toMatchObject({ exit: 1, http: 503 });
    expect(surfaceAnswer(new AirunError("INTERNAL", "bug").code)).toMatchObject({
      exit: 1,
      http: 500,
      mcp: McpErrorCode.INTERNAL_ERROR,
    });
    // A plugin's own code is a failed call, never a usage error.
    expect(errorKind(new CapabilityError("CRM_QUOTA", "quota").code)).toBe("failed");
  });

  it("contain every code the source raises, built-in capabilities included", () => {
    const raised = new Map<string, string>();
    const patterns = [
      /new\s+\w*Error\(\s*"([A-Z][A-Z0-9_]+)"/g,
      /super\(\s*"([A-Z][A-Z0-9_]+)"/g,
      /fsError\(\s*"([A-Z][A-Z0-9_]+)"/g,
    ];
    for (const file of sources("src")) {
      const text = readFileSync(file, "utf8");
      for (const re of patterns) {
        for (const m of text.matchAll(re)) raised.set(m[1]!, file);
      }
    }
    expect(raised.size).toBeGreaterThan(60);
    const unknown = [...raised].filter(([code]) => !CODES.includes(code));
    expect(unknown).toEqual([]);
  });

  it("are each documented in the README with their kind", () => {
    const readme = readFileSync("README.md", "utf8");
    const missing = CODES.filter((code) => !readme.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });
});
