/**
 * @module Bearer tokens of the HTTP API (`airun token create|list|revoke`, `airun serve`), kept
 * in `<home>/keys/tokens.json` (mode 0600) as SHA-256 hashes only: the token itself is shown
 * once, when it is created. A token names one principal and its scopes; the principal of every
 * request is the token's, never a field of the request. A token is `airun_<id>_<secret>`: the id
 * finds the record, the hash of the whole token is compared in constant time. The secret has
 * 256 bits, so one SHA-256 is enough (a slow password hash protects guessable secrets).
 *
 * The file is replaced atomically (temp file, fsync, rename), so a server reading it while a
 * command writes sees the old list or the new one; a server notices a change by its mtime and
 * size, so a revoked token stops working at its next request.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { AirunError, NotFoundError } from "../../core/errors.js";
import { requirePrincipal } from "../../core/principal.js";

/** What a token may do. `read`: every GET; `run`: start, cancel and undo runs, sessions, policy
 * checks, ledger checkpoints; `approve`: decide approvals (the engine's rules still apply). */
export const TOKEN_SCOPES = ["read", "run", "approve"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** A token as stored (no secret: only its hash). */
export interface TokenRecord {
  readonly id: string;
  readonly principal: string;
  readonly scopes: readonly TokenScope[];
  readonly hash: string;
  /** Epoch ms. */
  readonly created_at: number;
  readonly expires_at: number | null;
  readonly revoked_at: number | null;
  readonly label: string | null;
}

/** A token as listed: its record without the hash. */
export type TokenInfo = Omit<TokenRecord, "hash">;

/** Why a presented token was not accepted (the HTTP API answers 401 for each). */
export type TokenRefusal = "malformed" | "unknown" | "expired" | "revoked";

/** The answer of `authenticate`. */
export type Authentication =
  | { readonly ok: true; readonly token: TokenInfo }
  | { readonly ok: false; readonly why: TokenRefusal };

interface TokenFile {
  readonly version: 1;
  readonly tokens: TokenRecord[];
}

const TOKEN_RE = /^airun_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** The default scopes of a principal: people get all three, agents and services read and run. */
export function defaultScopes(principal: string): TokenScope[] {
  return principal.startsWith("user:") ? ["read", "run", "approve"] : ["read", "run"];
}

/** Checks a list of scope names (`--scope approve,run`). */
export function parseScopes(value: string): TokenScope[] {
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const bad = names.filter((n) => !(TOKEN_SCOPES as readonly string[]).includes(n));
  if (bad.length > 0 || names.length === 0) {
    throw new AirunError(
      "USAGE",
      `--scope: ${bad.length > 0 ? `unknown scope ${bad.join(", ")}` : "no scope given"} (one or more of ${TOKEN_SCOPES.join(", ")})`,
    );
  }
  return [...new Set(names)] as TokenScope[];
}

/** The tokens of one home directory. */
export class TokenRegistry {
  readonly #file: string;
  readonly #now: () => number;
  #cache: { mtimeMs: number; size: number; tokens: TokenRecord[] } | undefined;

  constructor(home: string, now: () => number = Date.now) {
    this.#file = join(home, "keys", "tokens.json");
    this.#now = now;
  }

  /**
   * Creates a token for `principal`; returns the token (shown once, never stored) and its record.
   *
   * @example
   * const { token } = await registry.create({ principal: "user:alice", expiresInMs: 30 * 86_400_000 });
   */
  async create(opts: {
    readonly principal: string;
    readonly scopes?: readonly TokenScope[];
    readonly expiresInMs?: number;
    readonly label?: string;
  }): Promise<{ readonly token: string; readonly info: TokenInfo }> {
    const principal = requirePrincipal(opts.principal, "--principal");
    const id = randomBytes(6).toString("hex");
    const token = `airun_${id}_${randomBytes(32).toString("base64url")}`;
    const now = this.#now();
    const record: TokenRecord = {
      id,
      principal,
      scopes: [...(opts.scopes ?? defaultScopes(principal))],
      hash: sha256(token),
      created_at: now,
      expires_at: opts.expiresInMs !== undefined ? now + opts.expiresInMs : null,
      revoked_at: null,
      label: opts.label ?? null,
    };
    const tokens = await this.#read();
    await this.#write([...tokens, record]);
    return { token, info: withoutHash(record) };
  }

  /** Every token, oldest first, without hashes. */
  async list(): Promise<TokenInfo[]> {
    return (await this.#read()).map(withoutHash);
  }

  /** Revokes a token by id (idempotent); NOT_FOUND for an unknown id. */
  async revoke(id: string): Promise<TokenInfo> {
    const tokens = await this.#read();
    const i = tokens.findIndex((t) => t.id === id);
    const found = tokens[i];
    if (!found) throw new NotFoundError(`token ${id}`);
    if (found.revoked_at !== null) return withoutHash(found);
    const revoked = { ...found, revoked_at: this.#now() };
    tokens[i] = revoked;
    await this.#write(tokens);
    return withoutHash(revoked);
  }

  /** Checks a presented token: the principal and scopes it carries, or why it is refused. */
  async authenticate(presented: string): Promise<Authentication> {
    const m = TOKEN_RE.exec(presented);
    if (!m) return { ok: false, why: "malformed" };
    const record = (await this.#read()).find((t) => t.id === m[1]);
    const given = Buffer.from(sha256(presented), "hex");
    // Compared even when the id is unknown, so timing does not tell which ids exist.
    const stored = Buffer.from(record?.hash ?? "0".repeat(64), "hex");
    if (!timingSafeEqual(given, stored) || !record) return { ok: false, why: "unknown" };
    if (record.revoked_at !== null) return { ok: false, why: "revoked" };
    if (record.expires_at !== null && record.expires_at <= this.#now()) {
      return { ok: false, why: "expired" };
    }
    return { ok: true, token: withoutHash(record) };
  }

  async #read(): Promise<TokenRecord[]> {
    let st: { mtimeMs: number; size: number };
    try {
      st = await stat(this.#file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const c = this.#cache;
    if (c && c.mtimeMs === st.mtimeMs && c.size === st.size) return [...c.tokens];
    const text = await readFile(this.#file, "utf8");
    let parsed: TokenFile;
    try {
      parsed = JSON.parse(text) as TokenFile;
    } catch (err) {
      throw new AirunError("VALIDATION_FAILED", `${this.#file}: not JSON (${String(err)})`);
    }
    if (parsed?.version !== 1 || !Array.isArray(parsed.tokens)) {
      throw new AirunError("VALIDATION_FAILED", `${this.#file}: not an Airun token file`);
    }
    this.#cache = { mtimeMs: st.mtimeMs, size: st.size, tokens: parsed.tokens };
    return [...parsed.tokens];
  }

  async #write(tokens: TokenRecord[]): Promise<void> {
    const dir = join(this.#file, "..");
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.#file}.${randomBytes(6).toString("hex")}.tmp`;
    const body: TokenFile = { version: 1, tokens };
    try {
      const f = await open(tmp, "wx", 0o600);
      try {
        await f.writeFile(`${JSON.stringify(body, null, 2)}\n`);
        await f.sync();
      } finally {
        await f.close();
      }
      await rename(tmp, this.#file);
    } finally {
      await rm(tmp, { force: true });
    }
    this.#cache = undefined;
  }
}

function withoutHash(t: TokenRecord): TokenInfo {
  const { hash: _hash, ...info } = t;
  return info;
}
