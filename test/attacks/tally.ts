/**
 * @module The attack suite's tally: each attack test file counts the attacks it tried, how
 * many were refused, how many stayed harmlessly inside (a spelling that only ever names
 * something in the root), and how many escaped, per family. Counts are written, one JSON line
 * per file and family, to the file the attacks project's global setup provides
 * (`test/attacks/totals-setup.ts`), whose teardown prints the table and fails the run if
 * anything escaped.
 *
 * An attack is counted by `attempt(label, escaped)` where `escaped` is the result of a real
 * check made on the attack's effect (bytes outside the root, a decision recorded, a secret in
 * an output), and the same check is asserted by the test itself: a test with an escape fails,
 * and the table says so as well. `refused(label)` counts an attack the product refused, after
 * the test asserted the refusal. `guard(label, check)` counts an attack whose refusal a block of
 * assertions checks: escaped when the block throws.
 */
import { appendFileSync } from "node:fs";
import { afterAll, inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** The file tallies are appended to (attacks project only). */
    attackTally: string;
  }
}

/** One line of the tally file. */
export interface TallyLine {
  readonly family: string;
  readonly file: string;
  readonly tried: number;
  readonly refused: number;
  readonly inside: number;
  readonly escaped: number;
  /** What escaped, by label. */
  readonly escapes: readonly string[];
}

/** The counts of one family in one test file. */
export interface Tally {
  /**
   * Counts one attack. `escaped` must come from a check of the attack's real effect; when it
   * is false the attack counts as refused, or as `inside` when the product acted but stayed
   * within what is allowed (`how`).
   */
  attempt(label: string, escaped: boolean, how?: "refused" | "inside"): void;
  /** Counts one attack the test has just asserted was refused. */
  refused(label: string): void;
  /**
   * Runs `check` (the assertions that the attack was refused) and counts one attack: escaped
   * if the check throws (it is rethrown, so the test fails too), refused otherwise. Any
   * failed assertion counts as an escape: the count errs toward reporting one.
   */
  guard<T>(label: string, check: () => T | Promise<T>): Promise<T>;
  /** What escaped so far (a test asserts this is empty). */
  readonly escapes: readonly string[];
  readonly tried: number;
}

/**
 * A tally for `family` in the test file `file` (its name, for the table), written when the
 * file's tests end. Outside the attacks project (no tally file provided) it only counts.
 */
export function tally(family: string, file: string): Tally {
  let tried = 0;
  let refused = 0;
  let inside = 0;
  const escapes: string[] = [];
  afterAll(() => {
    if (tried === 0) return;
    const target = tallyFile();
    if (target === undefined) return;
    const line: TallyLine = {
      family,
      file,
      tried,
      refused,
      inside,
      escaped: escapes.length,
      escapes,
    };
    appendFileSync(target, `${JSON.stringify(line)}\n`);
  });
  return {
    attempt(label, escaped, how = "refused") {
      tried += 1;
      if (escaped) escapes.push(label);
      else if (how === "inside") inside += 1;
      else refused += 1;
    },
    refused(_label) {
      tried += 1;
      refused += 1;
    },
    async guard(label, check) {
      try {
        const value = await check();
        this.attempt(label, false);
        return value;
      } catch (err) {
        this.attempt(label, true);
        throw err;
      }
    },
    get escapes() {
      return escapes;
    },
    get tried() {
      return tried;
    },
  };
}

function tallyFile(): string | undefined {
  try {
    return inject("attackTally");
  } catch {
    return undefined;
  }
}
