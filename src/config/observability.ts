/**
 * Observability and Studio: traces, OpenTelemetry export, Studio's origins
 * (src/system/observability.ts; docs/configuration.md "Observability"). Read from the
 * same environment as the rest; a bad value is one issue.
 */
import { z } from 'zod';
import { bool, fraction, intFrom, optionalString, optionalUrl } from './fields';

/** Tracing settings (src/system/observability.ts). */
export interface ObservabilityConfig {
  /** Keep traces (agent runs, model calls, tool calls, workflow runs) for Studio. */
  enabled: boolean;
  /** Where Studio's traces, logs, metrics and feedback live; undefined = the app's database, schema `mastra_observability`. */
  databaseUrl?: string;
  /** `service.name` of exported spans. */
  serviceName: string;
  /** Longest wait before buffered spans are written (Studio) or sent (OTLP), in ms. */
  flushMs: number;
  /** Share of traces kept (0–1; 1 = every trace): each agent run, workflow run… is sampled as a whole. */
  sampleRatio: number;
  /** Browser origins allowed to call / and /api with API_KEYS set (Studio served elsewhere); keyless: any loopback origin. */
  studioOrigins: string[];
  /** OTLP/HTTP export of the same spans; undefined = none. */
  otlp?: {
    /** Base endpoint (`/v1/traces` is appended) or the full traces endpoint. */
    endpoint: string;
    protocol: 'http/protobuf' | 'http/json';
    /** From OTEL_EXPORTER_OTLP_HEADERS (`k=v,k2=v2`, values URL-decoded); may hold secrets. */
    headers: Record<string, string>;
  };
}

const observabilitySchema = z.object({
  TRACING: bool(true),
  OBSERVABILITY_DATABASE_URL: optionalUrl,
  TRACING_FLUSH_MS: intFrom(2000, 50, 60_000),
  TRACING_SAMPLE_RATIO: fraction(1),
  OTEL_SERVICE_NAME: z.string().trim().min(1).default('one-agents'),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_PROTOCOL: optionalString.pipe(z.enum(['http/protobuf', 'http/json']).optional()),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: optionalString.pipe(z.enum(['http/protobuf', 'http/json']).optional()),
  OTEL_EXPORTER_OTLP_HEADERS: optionalString,
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: optionalString,
  OTEL_TRACES_EXPORTER: optionalString.pipe(z.enum(['otlp', 'none']).optional()),
  STUDIO_ORIGINS: optionalString.transform((s) => (s ?? '').split(',').map((x) => x.trim().replace(/\/+$/, '')).filter(Boolean)),
});

/** `k=v,k2=v2` (the OTel spec's W3C-baggage-like list; values percent-decoded). */
export function parseOtlpHeaders(raw: string | undefined): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const part of (raw ?? '').split(',')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return out;
}

export function readObservabilityConfig(env: NodeJS.ProcessEnv, issues: string[]): ObservabilityConfig {
  const parsed = observabilitySchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) issues.push(`${issue.path.join('.')}: ${issue.message}`);
    return { enabled: false, serviceName: 'one-agents', flushMs: 2000, sampleRatio: 1, studioOrigins: [] };
  }
  const o = parsed.data;
  const headers = { ...parseOtlpHeaders(o.OTEL_EXPORTER_OTLP_HEADERS), ...parseOtlpHeaders(o.OTEL_EXPORTER_OTLP_TRACES_HEADERS) };
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'] as const) {
    if (!parseOtlpHeaders(o[name])) issues.push(`${name}: must be a comma list of key=value`);
  }
  for (const origin of o.STUDIO_ORIGINS) {
    if (!/^https?:\/\/[^/]+$/.test(origin)) issues.push('STUDIO_ORIGINS: each entry must be an origin such as https://studio.example.com');
  }
  const endpoint = o.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? o.OTEL_EXPORTER_OTLP_ENDPOINT;
  return {
    enabled: o.TRACING,
    databaseUrl: o.OBSERVABILITY_DATABASE_URL,
    serviceName: o.OTEL_SERVICE_NAME,
    flushMs: o.TRACING_FLUSH_MS,
    sampleRatio: o.TRACING_SAMPLE_RATIO,
    studioOrigins: o.STUDIO_ORIGINS,
    otlp:
      endpoint && o.OTEL_TRACES_EXPORTER !== 'none'
        ? { endpoint, protocol: o.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? o.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf', headers }
        : undefined,
  };
}
