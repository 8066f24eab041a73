// The runaway example's one tool, as an Airun plugin: an offline stand-in for a web search.
// It counts the searches it really served (`stats.searches`), so the agent script can show
// that the call which would have breached the budget never reached it.
import { defineCapability } from "airun";
import { z } from "zod";

/** Searches served by this process (the agent imports the same module instance). */
export const stats = { searches: 0 };

const CORPUS = [
  "checkout-api 503s correlate with db pool saturation",
  "pool.max was lowered from 20 to 5 in release 4.18.2",
  "similar incident INC-0871 was fixed by restoring pool.max",
  "database allows 100 connections per service",
];

export const search = defineCapability({
  name: "research.web.search",
  description: "Offline stand-in for a web search: a few canned snippets per query",
  input: z.object({ query: z.string().min(1) }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  async execute(input) {
    stats.searches += 1;
    const n = stats.searches % CORPUS.length;
    return { query: input.query, results: [CORPUS[n], CORPUS[(n + 1) % CORPUS.length]] };
  },
});
