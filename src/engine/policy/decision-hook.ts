/**
 * @module The optional external decision hook (config `policy_hook: { url, timeout }`): after the
 * policy answered, the engine POSTs the request to a local or allowed HTTP endpoint, which may
 * only make the decision STRICTER (ALLOW → REQUIRE_APPROVAL → DENY), never looser. Any failure
 * (connection error, timeout, non-2xx status, a body that is not `{ decision, reason? }` with a
 * known decision) fails CLOSED: the decision becomes DENY with a reason naming the hook failure.
 *
 * Wire format. Request: `POST <url>`, `content-type: application/json`, body = the
 * `PolicyRequest` (principal, roles, capability, risk, effect, undo, hasCompensation, inputs as
 * recorded with secrets masked) plus `policy: { decision, rule_ids, policy_hash, policy_source }`
 * (what the policy answered). Response: `{ "decision": "ALLOW" | "DENY" | "REQUIRE_APPROVAL",
 * "reason"?: string }`, at most 64 KiB.
 */
import type { ClientRequest } from "node:http";
import type { PolicyDecision, PolicyRequest } from "../../core/policy.js";
import { decisionRank } from "../../core/policy.js";
import type { Decision } from "../../core/status.js";

/** Largest hook answer read. */
const MAX_ANSWER_BYTES = 64 * 1024;
const DECISIONS: readonly string[] = ["ALLOW", "DENY", "REQUIRE_APPROVAL"];

/** Where the hook is and how long it may take. */
export interface DecisionHookOptions {
  readonly url: string;
  readonly timeoutMs: number;
}

/** A hook: given a request and the policy's decision, returns the final decision. */
export type DecisionHook = (
  req: PolicyRequest,
  decision: PolicyDecision,
) => Promise<PolicyDecision>;

/** A valid hook answer. */
interface HookAnswer {
  readonly decision: Decision;
  readonly reason: string | null;
}

/**
 * Creates a decision hook. A DENY from the policy is final and the hook is not asked (nothing is
 * stricter). The returned decision carries `hook: { url, decision, reason, applied, error }`.
 *
 * @example
 * const hook = createDecisionHook({ url: "http://127.0.0.1:9000/decide", timeoutMs: 2000 });
 * const final = await hook(request, policy.evaluate(request));
 */
export function createDecisionHook(opts: DecisionHookOptions): DecisionHook {
  const { url, timeoutMs } = opts;
  return async (req, decision) => {
    if (decision.decision === "DENY") return decision;
    let answer: HookAnswer;
    try {
      answer = await ask(url, timeoutMs, {
        ...req,
        policy: {
          decision: decision.decision,
          rule_ids: [...decision.ruleIds],
          policy_hash: decision.policyHash,
          policy_source: decision.policySource,
        },
      });
    } catch (err) {
      const error = (err as Error).message;
      return {
        ...decision,
        decision: "DENY",
        approvers: [],
        reason: `decision hook ${url} failed, so the call is denied (the hook fails closed): ${error}`,
        hook: { url, decision: null, reason: null, applied: true, error },
      };
    }
    const stricter = decisionRank(answer.decision) > decisionRank(decision.decision);
    const hook = {
      url,
      decision: answer.decision,
      reason: answer.reason,
      applied: stricter,
      error: null,
    };
    if (!stricter) return { ...decision, hook };
    const why = answer.reason ? `: ${answer.reason}` : "";
    return {
      ...decision,
      decision: answer.decision,
      // The hook names no approvers: the configured defaults apply when it asks for approval.
      approvers: answer.decision === "REQUIRE_APPROVAL" ? decision.approvers : [],
      reason: `decision hook ${url} answered ${answer.decision}${why} (the policy said ${decision.decision}: ${decision.reason})`,
      hook,
    };
  };
}

/** POSTs `body` and parses the answer; rejects on any failure, with a message for people. */
async function ask(url: string, timeoutMs: number, body: unknown): Promise<HookAnswer> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new Error(`invalid URL ${url}`);
  }
  // Loaded at the first call, not at start: node:https (with TLS) costs every command ~15 ms.
  const { request: send } =
    target.protocol === "https:" ? await import("node:https") : await import("node:http");
  return new Promise<HookAnswer>((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    let settled = false;
    let req: ClientRequest | undefined;
    const finish = (err: Error | null, value?: HookAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req?.destroy();
        reject(err);
      } else resolve(value as HookAnswer);
    };
    // One deadline for connect, send, answer and body together.
    const timer = setTimeout(
      () => finish(new Error(`no answer within ${timeoutMs}ms (timeout)`)),
      timeoutMs,
    );
    try {
      req = send(
        target,
        {
          method: "POST",
          agent: false,
          headers: {
            "content-type": "application/json",
            "content-length": payload.length,
            accept: "application/json",
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) {
              finish(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on("error", (err) => finish(new Error(`reading the answer: ${err.message}`)));
          res.on("end", () => {
            if (status < 200 || status > 299) {
              finish(new Error(`HTTP status ${status}`));
              return;
            }
            try {
              finish(null, parseAnswer(Buffer.concat(chunks).toString("utf8")));
            } catch (err) {
              finish(err as Error);
            }
          });
        },
      );
    } catch (err) {
      finish(err as Error);
      return;
    }
    req.on("error", (err) => finish(new Error(err.message)));
    req.end(payload);
  });
}

/** Parses `{ decision, reason? }`; throws on anything else. */
function parseAnswer(text: string): HookAnswer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`the answer is not JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error("the answer is not a JSON object with a decision");
  }
  const { decision, reason } = value as { decision?: unknown; reason?: unknown };
  if (typeof decision !== "string" || !DECISIONS.includes(decision)) {
    throw new Error(
      `unknown decision ${JSON.stringify(decision ?? null)} (expected ${DECISIONS.join(", ")})`,
    );
  }
  if (reason !== undefined && reason !== null && typeof reason !== "string") {
    throw new Error("the answer's reason must be a string");
  }
  return { decision: decision as Decision, reason: typeof reason === "string" ? reason : null };
}
