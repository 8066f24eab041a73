/**
 * @module The gatekeeper seam: before every step the engine asks it for ALLOW, DENY or
 * REQUIRE_APPROVAL and records the answer. The gatekeeper only answers (principle 9): it never
 * sees a mutable plan and never returns modified inputs.
 *
 * `PolicyGatekeeper` can hot-reload its policy file (SPEC §6): it watches the file's folder
 * (an atomic editor save renames a new file over the old one, which a watch on the file itself
 * would miss), debounces the events, and also compares the file's mtime/size/inode once per
 * second in the background, for platforms where watch events get lost. A changed file is read,
 * validated completely (`compilePolicy`) and swapped in atomically; a broken one is refused and
 * the old policy stays in force. Listeners (`onReload`) hear about both; the Runtime records them
 * as `policy.loaded` / `policy.reload_refused` events. Deciding never touches the filesystem.
 *
 * The file is read within `limits` (its size, YAML nesting and aliases) as strict UTF-8, and,
 * given the capability names there are, a rule naming none of them is a warning the policy
 * carries (`compiled.warnings`, and the `loaded` event's `warnings`).
 */
import { type FSWatcher, watch } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { formatProblem, ValidationError } from "../../core/errors.js";
import { sha256Hex } from "../../core/hash.js";
import { DEFAULT_LIMITS, LIMIT_KEYS, type Limits } from "../../core/limits.js";
import type { CompiledPolicy, PolicyDecision, PolicyRequest } from "../../core/policy.js";
import { builtinPolicy } from "../../core/policy.js";
import { compilePolicy } from "../../core/policy-compile.js";
import { decodeUtf8 } from "../../core/utf8.js";
import type { DecisionHook } from "./decision-hook.js";

/** Anything that can decide whether a step may run. */
export interface Gatekeeper {
  /**
   * Hash, source (file path or "builtin") and text of the policy in force, and its warnings
   * (`file:line:col: field: message`), if any.
   */
  readonly policy: {
    readonly hash: string;
    readonly source: string;
    readonly text: string;
    readonly warnings?: readonly string[];
  };
  /**
   * The decision for one call. Asynchronous because an external decision hook may be asked;
   * the policy itself is evaluated synchronously, at the moment of the call.
   */
  decide(request: PolicyRequest): Promise<PolicyDecision>;
  /** Stops watching (if it watches). Idempotent. */
  close?(): void;
}

/** What happened when the policy file changed. */
export type PolicyReload =
  | {
      readonly type: "loaded";
      readonly source: string;
      readonly hash: string;
      readonly previousHash: string;
      readonly ruleCount: number;
      /** What the new policy's author probably did not mean (see `CompiledPolicy.warnings`). */
      readonly warnings: readonly string[];
    }
  | {
      readonly type: "refused";
      readonly source: string;
      /** One line: the first problem, as `file:line:col: field: message`. */
      readonly error: string;
      /** Every problem, formatted the same way. */
      readonly problems: readonly string[];
      /** The hash of the policy that stays in force. */
      readonly keptHash: string;
    };

/** How a `PolicyGatekeeper` loads and watches its file. */
export interface GatekeeperOptions {
  /** Watch the policy file and hot-reload it (default false). */
  readonly watch?: boolean;
  /** Quiet time after the last change event before reloading (default 50 ms). */
  readonly debounceMs?: number;
  /** Fallback check of the file's mtime/size/inode (default every 1000 ms). */
  readonly pollMs?: number;
  /** Use `fs.watch` (default true); false leaves only the stat fallback (tests, odd platforms). */
  readonly fsWatch?: boolean;
  /** External decision hook asked after the policy (may only make decisions stricter). */
  readonly hook?: DecisionHook | null;
  /** Size and YAML limits of the file (default `DEFAULT_LIMITS`). */
  readonly limits?: Pick<Limits, "policyBytes" | "yamlDepth" | "yamlAliases">;
  /** Every capability name there is: a rule naming none of them is a warning. */
  readonly capabilities?: readonly string[];
}

/** The identity of a file version as `stat` sees it. */
interface FileStamp {
  readonly mtimeMs: number;
  readonly size: number;
  readonly ino: number;
}

function sameStamp(a: FileStamp | null, b: FileStamp | null): boolean {
  if (a === null || b === null) return a === b;
  return a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;
}

/** A gatekeeper answering from a compiled policy file, or the built-in default. */
export class PolicyGatekeeper implements Gatekeeper {
  #compiled: CompiledPolicy;
  readonly #path: string | null;
  readonly #hook: DecisionHook | null;
  #compileOptions: CompileOptions = { limits: DEFAULT_LIMITS };
  readonly #listeners = new Set<(event: PolicyReload) => void>();
  #watcher: FSWatcher | null = null;
  #poll: NodeJS.Timeout | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #debounceMs = 50;
  #stamp: FileStamp | null = null;
  #reloading: Promise<void> | null = null;
  #again = false;
  /** Text hash (or read error) of the last refused version: refused once, not at every poll. */
  #lastRefused: string | null = null;
  #closed = false;

  constructor(
    compiled: CompiledPolicy,
    opts: { readonly path?: string | null; readonly hook?: DecisionHook | null } = {},
  ) {
    this.#compiled = compiled;
    this.#path = opts.path ?? null;
    this.#hook = opts.hook ?? null;
  }

  /**
   * Loads the policy file at `path` (validated completely), or the built-in default when `path`
   * is null; with `watch: true`, keeps it hot-reloaded until `close()`.
   *
   * @throws ValidationError when the file is broken or cannot be read (nothing is loaded).
   * @example
   * const gk = await PolicyGatekeeper.load("/srv/policies.yaml", { watch: true });
   * gk.onReload((e) => console.log(e.type, e.source));
   * try { await gk.decide(request); } finally { gk.close(); }
   */
  static async load(path: string | null, opts: GatekeeperOptions = {}): Promise<PolicyGatekeeper> {
    const hook = opts.hook ?? null;
    if (!path) return new PolicyGatekeeper(builtinPolicy(), { hook });
    const compileOptions = compileOptionsOf(opts);
    let stamp: FileStamp;
    let bytes: Uint8Array;
    try {
      stamp = await stampOf(path);
      bytes = await readPolicyBytes(path, stamp.size, compileOptions.limits.policyBytes);
    } catch (err) {
      if (err instanceof ValidationError) throw err;
      throw new ValidationError([
        {
          file: path,
          line: 0,
          col: 0,
          field: "",
          message: `cannot read the policy file: ${(err as Error).message}`,
        },
      ]);
    }
    const text = decodeUtf8(path, bytes);
    const gk = new PolicyGatekeeper(compilePolicy(path, text, compileOptions), { path, hook });
    gk.#compileOptions = compileOptions;
    gk.#stamp = stamp;
    if (opts.watch) gk.#watch(opts.debounceMs ?? 50, opts.pollMs ?? 1000, opts.fsWatch ?? true);
    return gk;
  }

  get policy(): { hash: string; source: string; text: string; warnings: readonly string[] } {
    const { hash, source, text, warnings } = this.#compiled;
    return { hash, source, text, warnings: warnings ?? [] };
  }

  /** The compiled policy in force right now. */
  get compiled(): CompiledPolicy {
    return this.#compiled;
  }

  async decide(request: PolicyRequest): Promise<PolicyDecision> {
    // Evaluate against the policy in force NOW (a reload swaps it atomically between calls).
    const decision = this.#compiled.evaluate(request);
    return this.#hook === null ? decision : this.#hook(request, decision);
  }

  /**
   * Calls `listener` after every reload, accepted or refused. Returns the unsubscribe function.
   * A listener must not throw (a throwing one is ignored).
   */
  onReload(listener: (event: PolicyReload) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Re-reads the policy file now (what the watcher does after a change): validates it and swaps
   * it in, or refuses it and keeps the current one. Resolves once done. No-op without a file.
   */
  async reload(): Promise<void> {
    if (this.#path === null || this.#closed) return;
    if (this.#reloading !== null) {
      this.#again = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      try {
        do {
          this.#again = false;
          await this.#reloadOnce(this.#path as string);
        } while (this.#again && !this.#closed);
      } finally {
        this.#reloading = null;
      }
    })();
    return this.#reloading;
  }

  /** Stops watching and polling. Idempotent; decisions keep working with the current policy. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    if (this.#poll !== null) clearInterval(this.#poll);
    this.#debounce = null;
    this.#poll = null;
    try {
      this.#watcher?.close();
    } finally {
      this.#watcher = null;
    }
  }

  #watch(debounceMs: number, pollMs: number, fsWatch: boolean): void {
    const path = this.#path as string;
    const name = basename(path);
    this.#debounceMs = debounceMs;
    if (fsWatch) this.#watchFolder(path, name);
    this.#poll = setInterval(() => {
      this.#checkStamp().catch(() => undefined);
    }, pollMs);
    this.#poll.unref();
  }

  #watchFolder(path: string, name: string): void {
    try {
      // The folder, not the file: a rename over the file (atomic save) replaces its inode.
      this.#watcher = watch(dirname(path), { persistent: false }, (_event, filename) => {
        if (filename === null || filename === name) this.#schedule();
      });
      this.#watcher.on("error", () => {
        // The folder went away or the platform gave up: the poll below still catches changes.
        this.#watcher?.close();
        this.#watcher = null;
      });
    } catch {
      this.#watcher = null;
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#debounce !== null) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      this.reload().catch(() => undefined);
    }, this.#debounceMs);
    this.#debounce.unref();
  }

  /** The fallback: a changed mtime, size or inode (or a vanished file) schedules a reload. */
  async #checkStamp(): Promise<void> {
    if (this.#closed || this.#reloading !== null) return;
    let now: FileStamp | null = null;
    try {
      now = await stampOf(this.#path as string);
    } catch {
      now = null;
    }
    if (!sameStamp(now, this.#stamp)) this.#schedule();
  }

  async #reloadOnce(path: string): Promise<void> {
    let bytes: Uint8Array;
    let text: string;
    try {
      this.#stamp = await stampOf(path);
      bytes = await readPolicyBytes(
        path,
        this.#stamp.size,
        this.#compileOptions.limits.policyBytes,
      );
      text = decodeUtf8(path, bytes);
    } catch (err) {
      if (err instanceof ValidationError) {
        const problems = err.problems.map(formatProblem);
        const s = this.#stamp;
        this.#refuse(
          `bytes:${s?.mtimeMs}:${s?.size}:${s?.ino}`,
          problems[0] ?? err.message,
          problems,
        );
        return;
      }
      this.#stamp = null;
      const message = `${path}: cannot read the policy file: ${(err as Error).message}`;
      this.#refuse(`read:${(err as NodeJS.ErrnoException).code ?? message}`, message, [message]);
      return;
    }
    const hash = sha256Hex(text);
    const current = this.#compiled;
    if (hash === current.hash) {
      this.#lastRefused = null;
      return;
    }
    let next: CompiledPolicy;
    try {
      next = compilePolicy(path, text, this.#compileOptions);
    } catch (err) {
      const problems =
        err instanceof ValidationError
          ? err.problems.map(formatProblem)
          : [`${path}: ${(err as Error).message}`];
      this.#refuse(hash, problems[0] ?? `${path}: invalid policy`, problems);
      return;
    }
    if (this.#closed) return;
    this.#compiled = next;
    this.#lastRefused = null;
    this.#emit({
      type: "loaded",
      source: next.source,
      hash: next.hash,
      previousHash: current.hash,
      ruleCount: next.ruleCount,
      warnings: next.warnings ?? [],
    });
  }

  #refuse(key: string, error: string, problems: readonly string[]): void {
    if (this.#closed || this.#lastRefused === key) return;
    this.#lastRefused = key;
    this.#emit({
      type: "refused",
      source: this.#path as string,
      error,
      problems,
      keptHash: this.#compiled.hash,
    });
  }

  #emit(event: PolicyReload): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure never affects the policy in force.
      }
    }
  }
}

/** How a gatekeeper compiles its file. */
interface CompileOptions {
  readonly limits: Pick<Limits, "policyBytes" | "yamlDepth" | "yamlAliases">;
  readonly capabilities?: readonly string[];
}

function compileOptionsOf(opts: GatekeeperOptions): CompileOptions {
  return {
    limits: opts.limits ?? DEFAULT_LIMITS,
    ...(opts.capabilities ? { capabilities: opts.capabilities } : {}),
  };
}

/** The policy file's bytes, refused (ValidationError) beyond `maxBytes` without reading them. */
async function readPolicyBytes(path: string, size: number, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = (n: number) =>
    new ValidationError([
      {
        file: path,
        line: 0,
        col: 0,
        field: "",
        message: `the policy file is ${n} bytes; the limit is ${maxBytes} bytes (${LIMIT_KEYS.policyBytes})`,
      },
    ]);
  if (size > maxBytes) throw tooLarge(size);
  const bytes = await readFile(path);
  if (bytes.length > maxBytes) throw tooLarge(bytes.length);
  return bytes;
}

async function stampOf(path: string): Promise<FileStamp> {
  const s = await stat(path);
  return { mtimeMs: s.mtimeMs, size: s.size, ino: s.ino };
}
