/** @module A capability's own compensation written in the terms of the step that uses it. */
import { describe, expect, it } from "vitest";
import {
  type CapabilityCompensation,
  stepCompensationFor,
} from "../../src/core/declared-compensation.js";
import { ExpressionError } from "../../src/core/errors.js";
import { resolveTemplates } from "../../src/core/template.js";

function own(inputs: CapabilityCompensation["inputs"], defaults = {}): CapabilityCompensation {
  return { capability: "demo.thing.delete", inputs, defaults };
}

describe("stepCompensationFor", () => {
  it("writes outputs.* as the step's own outputs and keeps secrets", () => {
    expect(
      stepCompensationFor(
        "mk",
        {},
        own({ id: "${{ outputs.json.id }}", auth: "${{ secrets.TOKEN }}" }),
      ),
    ).toEqual({
      capability: "demo.thing.delete",
      inputs: { id: "${{ steps.mk.outputs.json.id }}", auth: "${{ secrets.TOKEN }}" },
    });
  });

  it("puts the step's literal inputs in place, keeping their type, and uses defaults", () => {
    const out = stepCompensationFor(
      "mk",
      { name: "a{", n: 3, tags: ["x"] },
      own(
        {
          name: "{{ inputs.name }}",
          label: "n={{ inputs.n }} {{ inputs.name }}{{ inputs.suffix }}",
          t: "${{ inputs.tags }}",
          first: "${{ inputs.tags[0] }}",
        },
        { suffix: "{.mark" },
      ),
    );
    expect(out.inputs).toEqual({
      name: "a{",
      // "a{" + "{.mark" would read as a template: the joined "{{" is written as one.
      label: "n=3 a${{ '{{' }}.mark",
      t: ["x"],
      first: "x",
    });
    expect(resolveTemplates(out.inputs, { vars: {} })).toMatchObject({ label: "n=3 a{{.mark" });
  });

  it("puts the step's templates in place: whole, inside text, and under a path", () => {
    const out = stepCompensationFor(
      "mk",
      { name: "m-${{ inputs.who }}", obj: "${{ steps.prev.outputs.data }}", n: "${{ inputs.n }}" },
      own({
        whole: "${{ inputs.name }}",
        text: "rm {{ inputs.name }}.mark",
        deep: "${{ inputs.obj.id }}",
        expr: "${{ inputs.n > 2 && outputs.ok }}",
      }),
    );
    expect(out.inputs).toEqual({
      whole: "m-${{ inputs.who }}",
      text: "rm m-${{ inputs.who }}.mark",
      deep: "${{ steps.prev.outputs.data.id }}",
      expr: "${{ (inputs.n) > 2 && steps.mk.outputs.ok }}",
    });
    const scope = {
      vars: {
        inputs: { who: "bob", n: 5 },
        steps: { prev: { outputs: { data: { id: 7 } } }, mk: { outputs: { ok: true } } },
      },
    };
    expect(resolveTemplates(out.inputs, scope)).toEqual({
      whole: "m-bob",
      text: "rm m-bob.mark",
      deep: 7,
      expr: true,
    });
  });

  it("reads an input the step leaves out (and has no default) as null", () => {
    expect(stepCompensationFor("mk", {}, own({ x: "${{ inputs.gone }}" })).inputs).toEqual({
      x: null,
    });
  });

  it("refuses an expression it cannot write in the step's terms", () => {
    expect(() =>
      stepCompensationFor(
        "mk",
        { name: "a-${{ inputs.who }}" },
        own({ x: "${{ len(inputs.name) > 2 }}" }),
      ),
    ).toThrow(ExpressionError);
  });
});
