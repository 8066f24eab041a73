/**
 * @module The command's OpenTelemetry switch: with `telemetry:` in the config, the spans of the
 * runs a command drives are exported over OTLP/HTTP (`otel-export.ts`, its own bundle, loaded
 * only then); without it nothing is loaded and every span stays a no-op. Export problems (a
 * collector that is down) are warnings on stderr, never a failed command.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { DiagLogLevel, diag, trace } from "@opentelemetry/api";
import { bundleDir } from "../core/bundle-launch.js";
import type { TelemetryConfig } from "../core/config.js";
import { TRACER_VERSION } from "../engine/telemetry.js";
import type { OtelExport, OtelExportOptions } from "./otel-export.js";

/** The file of the exporter bundle, next to the CLI bundle. */
const OTEL_BUNDLE = "airun-otel.cjs";

/**
 * Starts exporting when `config` asks for it; returns what flushes and stops the export (call it
 * before the process ends), or undefined when telemetry is off. Header values may name
 * environment variables (`${OTEL_API_KEY}`).
 */
export function startTelemetry(
  config: TelemetryConfig | null,
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void,
): (() => Promise<void>) | undefined {
  if (config === null) return undefined;
  const dir = bundleDir();
  if (dir === undefined) {
    warn("telemetry: is set but this process is not the airun command; spans are not exported");
    return undefined;
  }
  const load = createRequire(join(dir, OTEL_BUNDLE));
  const { startOtelExport } = load(join(dir, OTEL_BUNDLE)) as {
    startOtelExport(options: OtelExportOptions): OtelExport;
  };
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.headers)) {
    headers[k] = v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? "");
  }
  diag.setLogger(
    {
      error: (message) => warn(`telemetry: ${message}`),
      warn: (message) => warn(`telemetry: ${message}`),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    DiagLogLevel.WARN,
  );
  const exported = startOtelExport({
    endpoint: config.endpoint,
    headers,
    serviceName: config.serviceName,
    serviceVersion: TRACER_VERSION,
  });
  trace.setGlobalTracerProvider(exported.provider);
  return async () => {
    const failure = await exported.shutdown();
    trace.disable();
    if (failure !== undefined) warn(`telemetry: ${failure} (endpoint ${config.endpoint})`);
  };
}
