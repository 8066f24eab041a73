/**
 * @module Approval steps: their settings (message, approvers, timeout, on-timeout decision,
 * webhook) read from the native keys or from the seed's `inputs` (`approval_message`,
 * `approval_timeout`, `approver_role`, ...).
 */
import { isPlainObject } from "./json.js";
import type { ApprovalSettings } from "./plan.js";
import { principalPatternProblem, roleNameProblem } from "./principal.js";
import { didYouMean, type SpecContext } from "./spec-context.js";
import { isTemplated, normalizeTemplateString, type TemplateScope } from "./spec-references.js";
import type { FieldPath } from "./yaml-source.js";

const APPROVAL_INPUT_KEYS = [
  "message",
  "approval_message",
  "webhook_url",
  "timeout",
  "approval_timeout",
  "approvers",
  "approver_role",
];
/** The pseudo-capability seed approval steps name; accepted and ignored. */
const SEED_APPROVAL_CAPABILITY = "human.approve";

/**
 * The settings of the approval step `raw` (at `path`). `stepTimeoutMs` is the step's own
 * timeout, which becomes the approval's expiry; the seed's `inputs.timeout` may give it instead.
 */
export function approvalSettings(
  ctx: SpecContext,
  raw: Record<string, unknown>,
  path: FieldPath,
  id: string | undefined,
  scope: TemplateScope,
  stepTimeoutMs: number | null,
): ApprovalSettings {
  const capName = raw.capability ?? raw.capability_name;
  if (capName !== undefined && capName !== SEED_APPROVAL_CAPABILITY) {
    const key = raw.capability !== undefined ? "capability" : "capability_name";
    ctx.report([...path, key], "an approval step calls no capability");
  }
  const ip = [...path, "inputs"];
  const ins = raw.inputs;
  let inputs: Record<string, unknown> = {};
  if (ins !== undefined && ins !== null) {
    if (!isPlainObject(ins)) ctx.report(ip, "inputs of an approval step must be a mapping");
    else {
      inputs = ins;
      for (const key of Object.keys(ins)) {
        if (!APPROVAL_INPUT_KEYS.includes(key)) {
          ctx.report(
            [...ip, key],
            `unknown approval input "${key}"${didYouMean(key, APPROVAL_INPUT_KEYS)} (supported: ${APPROVAL_INPUT_KEYS.join(", ")})`,
          );
        }
      }
    }
  }
  // Message: `message`, `inputs.message` or the seed's `inputs.approval_message`.
  const messages = (
    [
      [raw.message, [...path, "message"]],
      [inputs.message, [...ip, "message"]],
      [inputs.approval_message, [...ip, "approval_message"]],
    ] as const
  ).filter(([m]) => m !== undefined);
  let message = `Approve step "${id ?? "?"}"?`;
  if (messages.length > 1) ctx.report(messages[1]![1], "the approval message is given twice");
  const first = messages[0];
  if (first) {
    if (typeof first[0] !== "string" || !first[0].trim())
      ctx.report(first[1], "message must be a non-empty string");
    else message = normalizeTemplateString(ctx, first[0], first[1], scope);
  }

  let webhookUrl: string | null = null;
  if (inputs.webhook_url !== undefined && inputs.webhook_url !== null) {
    const wp = [...ip, "webhook_url"];
    const u = inputs.webhook_url;
    if (typeof u !== "string") ctx.report(wp, "webhook_url must be a string");
    else if (isTemplated(u)) webhookUrl = normalizeTemplateString(ctx, u, wp, scope);
    else if (!/^https?:\/\/\S+$/.test(u)) ctx.report(wp, "webhook_url must be an http(s) URL");
    else webhookUrl = u;
  }

  // Timeout: the step's `timeout`/`timeout_seconds`, or the seed's inputs.timeout /
  // inputs.approval_timeout (seconds).
  let timeoutMs = stepTimeoutMs;
  for (const key of ["timeout", "approval_timeout"]) {
    const t = inputs[key];
    if (t === undefined || t === null) continue;
    const tp = [...ip, key];
    if (timeoutMs !== null) ctx.report(tp, "the approval timeout is given twice");
    else if (typeof t !== "number" || !(t > 0) || !Number.isFinite(t)) {
      ctx.report(tp, `${key} must be a positive number of seconds`);
    } else timeoutMs = Math.round(t * 1000);
  }

  const approvers: string[] = [];
  const addApprovers = (v: unknown, p: FieldPath) => {
    const list = typeof v === "string" ? [v] : v;
    if (!Array.isArray(list)) {
      ctx.report(p, "approvers must be a list of principals or role:NAME");
      return;
    }
    list.forEach((a, j) => {
      const ap = typeof v === "string" ? p : [...p, j];
      const problem = principalPatternProblem(a);
      if (problem !== null) ctx.report(ap, `approver ${problem}`);
      else if (!approvers.includes(a as string)) approvers.push(a as string);
    });
  };
  if (raw.approvers !== undefined) addApprovers(raw.approvers, [...path, "approvers"]);
  if (inputs.approvers !== undefined) addApprovers(inputs.approvers, [...ip, "approvers"]);
  if (inputs.approver_role !== undefined) {
    const r = inputs.approver_role;
    const problem = roleNameProblem(r);
    if (problem !== null) ctx.report([...ip, "approver_role"], `approver_role: ${problem}`);
    else if (!approvers.includes(`role:${r}`)) approvers.push(`role:${r}`);
  }

  let onTimeout: "reject" | "approve" = "reject";
  if (raw.on_timeout !== undefined) {
    if (raw.on_timeout !== "reject" && raw.on_timeout !== "approve") {
      ctx.report([...path, "on_timeout"], 'on_timeout must be "reject" or "approve"');
    } else onTimeout = raw.on_timeout;
  }
  return { message, approvers, timeoutMs, onTimeout, webhookUrl };
}
