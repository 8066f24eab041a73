/**
 * @module OpenTelemetry export for the `airun` command (`telemetry:` in `airun.yaml`): a tracer
 * provider that sends the spans the engine already creates (`engine/telemetry.ts`) over
 * OTLP/HTTP (JSON) to the configured endpoint, in batches, flushed before the command exits.
 *
 * Bundled on its own (`dist/airun-otel.cjs`, `scripts/bundle.mjs`) and required only when the
 * config asks for telemetry (`cli/telemetry.ts`): the exporter and the SDK are not parsed on any
 * other start, so the cold start of every command stays what it was.
 */
import type { TracerProvider } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";

/** What the command needs to export: where, with which headers, as which service. */
export interface OtelExportOptions {
  /** The OTLP/HTTP traces URL (`http://collector:4318/v1/traces`). */
  readonly endpoint: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly serviceName: string;
  readonly serviceVersion: string;
}

/** A provider to register as the global one, and how to send what it still holds. */
export interface OtelExport {
  readonly provider: TracerProvider;
  /**
   * Exports the spans not sent yet and stops; never rejects. Resolves to why an export failed
   * (the last failure), or undefined when every batch was accepted.
   */
  shutdown(): Promise<string | undefined>;
}

type ExportCallback = Parameters<SpanExporter["export"]>[1];

/** The OTLP exporter, remembering the last failure so the command can say so. */
class ReportingExporter implements SpanExporter {
  failure: string | undefined;
  readonly #inner: SpanExporter;

  constructor(inner: SpanExporter) {
    this.#inner = inner;
  }

  export(spans: ReadableSpan[], done: ExportCallback): void {
    this.#inner.export(spans, (result) => {
      // ExportResultCode.SUCCESS is 0.
      if (result.code !== 0) {
        this.failure = `${spans.length} span(s) not exported: ${result.error?.message ?? "the endpoint refused them"}`;
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Builds the provider: one batch processor in front of the OTLP/HTTP exporter. */
export function startOtelExport(options: OtelExportOptions): OtelExport {
  // A collector that does not answer delays the end of a command by at most this much.
  const exporter = new ReportingExporter(
    new OTLPTraceExporter({
      url: options.endpoint,
      headers: { ...options.headers },
      timeoutMillis: 2_000,
    }),
  );
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      "service.name": options.serviceName,
      "service.version": options.serviceVersion,
    }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  return {
    provider,
    shutdown: () =>
      provider.shutdown().then(
        () => exporter.failure,
        (err: unknown) => String((err as Error)?.message ?? err),
      ),
  };
}
