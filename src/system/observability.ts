/**
 * Mastra's observability for the runtime (src/system/runtime.ts): every agent run, model
 * call, tool call and workflow run becomes a trace with its spans.
 *
 * - Studio: spans are written in batches (MastraStorageExporter) to the observability
 *   domain of the storage, `PostgresStoreVNext`'s insert-only Postgres store (traces,
 *   logs, metrics, scores, feedback, discovery: everything Studio's Traces, Overview,
 *   Metrics, Logs and Review pages query). It lives in OBSERVABILITY_DATABASE_URL, or by
 *   default in the app's database under the schema `mastra_observability`, on its own
 *   small pool.
 * - Operators: with OTEL_EXPORTER_OTLP_ENDPOINT the same spans also go out over OTLP/HTTP
 *   (protobuf or JSON) through @mastra/otel-exporter, in batches.
 *
 * Nothing here runs on the request path: spans are buffered and flushed by timers.
 */
import { SamplingStrategyType, type ObservabilityExporter } from '@mastra/core/observability';
import { MastraStorageExporter, Observability } from '@mastra/observability';
import { OtelExporter } from '@mastra/otel-exporter';
import { PostgresStore, PostgresStoreVNext } from '@mastra/pg';
import { ChatStore, chatStore } from '../db/memory/memory';
import { ImageBytesFilter } from './trace-images';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Config, ObservabilityConfig } from '../config';
import { registerSecret } from '../logger';

/** Schema of the observability tables when they share the app's database. */
export const OBSERVABILITY_SCHEMA = 'mastra_observability';

/** `…/v1/traces` from an OTLP base endpoint; a URL already ending in /v1/traces is kept. */
export function otlpTracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}

/** A connection string that names its pool in pg_stat_activity (and so is not the primary's). */
function withApplicationName(url: string, name: string): string {
  const u = new URL(url);
  if (!u.searchParams.has('application_name')) u.searchParams.set('application_name', name);
  return u.toString();
}

/**
 * The Mastra storage: the app's Postgres for memory, workflows, scores…, and when tracing
 * is on, the v-next observability domain beside it (a PostgresStore subclass).
 */
/** The chat store (src/db/memory/memory.ts) on @mastra/pg's observability-capable store. */
class ChatStoreWithObservability extends chatStore(PostgresStoreVNext) {}

export function createStorage(databaseUrl: string, obs: ObservabilityConfig): PostgresStore & { freshRuns: ChatStore['freshRuns'] } {
  if (!obs.enabled) return new ChatStore({ id: 'one-agents-pg', connectionString: databaseUrl });
  const own = obs.databaseUrl;
  return new ChatStoreWithObservability({
    id: 'one-agents-pg',
    connectionString: databaseUrl,
    observability: {
      connectionString: withApplicationName(own ?? databaseUrl, 'one-agents-observability'),
      max: 4,
      ...(own ? {} : { schemaName: OBSERVABILITY_SCHEMA }),
    },
  });
}

/** Mastra's observability (undefined when TRACING=off). */
export function createObservability(config: Config): Observability | undefined {
  const obs = config.observability;
  if (!obs.enabled) return undefined;
  const exporters: ObservabilityExporter[] = [new MastraStorageExporter({ maxBatchWaitMs: obs.flushMs, logLevel: 'warn' })];
  if (obs.otlp) {
    for (const v of Object.values(obs.otlp.headers)) registerSecret(v);
    const url = otlpTracesUrl(obs.otlp.endpoint);
    const Exporter = obs.otlp.protocol === 'http/json' ? OTLPJsonTraceExporter : OTLPProtoTraceExporter;
    exporters.push(
      new OtelExporter({
        // Our own OTLP exporter, so the traces URL is used as given (the spec's
        // OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); the provider entry only satisfies the exporter.
        exporter: new Exporter({ url, headers: obs.otlp.headers, timeoutMillis: 10_000 }),
        provider: { custom: { endpoint: url, protocol: obs.otlp.protocol, headers: obs.otlp.headers } },
        signals: { traces: true, logs: false },
        resourceAttributes: { 'deployment.environment.name': config.env },
        logLevel: 'warn',
      }),
    );
  }
  return new Observability({
    configs: {
      default: {
        serviceName: obs.serviceName,
        exporters,
        // Images leave as placeholders, never their bytes (trace-images.ts).
        spanOutputProcessors: [new ImageBytesFilter()],
        // TRACING_SAMPLE_RATIO: below 1, a run outside the sample gets no-op spans (nothing built, filtered or written).
        ...(obs.sampleRatio < 1 ? { sampling: { type: SamplingStrategyType.RATIO, probability: obs.sampleRatio } } : {}),
        // Studio's Logs page: Mastra's own warnings and errors.
        logging: { enabled: true, level: 'warn' },
      },
    },
  });
}
