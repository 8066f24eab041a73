/**
 * @module `text.template.render`: fills `{{ expr }}` placeholders of a template from a set of
 * variables, with Airun's own safe expression evaluator (paths, literals, comparisons, `len`; no
 * code). Pure: no effect, nothing to undo.
 *
 * A template written inside a workflow step is resolved by the engine first (its `{{ }}` are the
 * spec's own templates): pass the template through an input or a file, or write a literal `{{`
 * as `${{ '{{' }}`.
 */
import { z } from "zod";
import type { CapabilityDefinition } from "../../core/capability.js";
import { CapabilityError, ExpressionError } from "../../core/errors.js";
import { isPlainObject, type JsonValue } from "../../core/json.js";
import { resolveTemplates, stringifyTemplateValue } from "../../core/template.js";
import { parseJsonText } from "../data/json.js";

/** Largest template, and largest rendered text (1 MiB and 4 MiB). */
export const MAX_TEMPLATE_BYTES = 1024 * 1024;
export const MAX_RENDERED_BYTES = 4 * 1024 * 1024;

const NAME = "text.template.render";

const input = z.strictObject({
  template: z.string().max(MAX_TEMPLATE_BYTES, `template larger than ${MAX_TEMPLATE_BYTES} bytes`),
  /** An object, or a JSON string holding one. */
  variables: z.union([z.record(z.string(), z.json()), z.string()]).default({}),
});

/** `text.template.render {template, variables}` → `{rendered}`. */
export const templateRender: CapabilityDefinition<
  z.output<typeof input>,
  { rendered: string }
> = Object.freeze({
  name: NAME,
  description: "Fills {{ name }} placeholders of a template from variables (no effect).",
  input,
  output: z.object({ rendered: z.string() }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  pure: true,
  async execute({ template, variables }: z.output<typeof input>) {
    const vars = typeof variables === "string" ? parseJsonText(variables, NAME) : variables;
    if (!isPlainObject(vars)) {
      throw new CapabilityError("TEMPLATE_FAILED", "variables must be an object", {
        context: { capability: NAME },
      });
    }
    let out: JsonValue;
    try {
      out = resolveTemplates(template, { vars: vars as Record<string, JsonValue> });
    } catch (err) {
      if (!(err instanceof ExpressionError)) throw err;
      throw new CapabilityError("TEMPLATE_FAILED", `cannot render: ${err.message}`, {
        context: { capability: NAME },
        cause: err,
      });
    }
    const rendered = stringifyTemplateValue(out);
    if (rendered.length > MAX_RENDERED_BYTES) {
      throw new CapabilityError(
        "TEMPLATE_FAILED",
        `the rendered text is larger than ${MAX_RENDERED_BYTES} bytes`,
        { context: { capability: NAME } },
      );
    }
    return { rendered };
  },
});
