/**
 * MODEL FALLBACKS (MODEL_FALLBACKS, AGENT_FALLBACKS_<NAME>): one chat model that tries
 * the agent's model and, when it fails BEFORE ITS FIRST TOKEN with an error another
 * model may not have (429, 5xx, a timeout, a context-length refusal), the next one.
 *
 * Why not Mastra's own `model: [{ model, maxRetries }]` list: Mastra falls over to the
 * next model whenever the stream throws, also after text has gone to the client, so an
 * answer could start with one model and end with another. Here the switch is decided
 * while nothing has been emitted: the wrapper reads the stream's first parts (the
 * `stream-start` and `response-metadata` bookkeeping) until the first content part
 * or an error, and only then hands the stream on. Once content has flowed, an error is
 * the caller's error, as without fallbacks.
 *
 * Each switch is reported through `onFallback` (the agents log it). Not yet done: the
 * response's `model` field, usage rows and traces naming the model that answered.
 */
import { noteAnsweringModel } from './answering-model';
import type { createOpenAICompatible } from '@ai-sdk/openai-compatible';

export type ChatModel = ReturnType<ReturnType<typeof createOpenAICompatible>['chatModel']>;
type StreamOptions = Parameters<ChatModel['doStream']>[0];
type StreamResult = Awaited<ReturnType<ChatModel['doStream']>>;
type StreamPart = StreamResult['stream'] extends ReadableStream<infer P> ? P : never;

export type FallbackReason = 'rate_limited' | 'upstream_error' | 'timeout' | 'context_length';

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

function textOf(err: unknown): string {
  const e = err as { message?: unknown; responseBody?: unknown; name?: unknown } | null;
  return `${typeof e?.name === 'string' ? e.name : ''} ${typeof e?.message === 'string' ? e.message : ''} ${typeof e?.responseBody === 'string' ? e.responseBody.slice(0, 4096) : ''}`;
}

/**
 * Why another model might succeed where this one failed, or undefined when it would
 * not help (a 400 for a bad request, a 401, the caller going away).
 */
export function fallbackReason(err: unknown, callerAborted: boolean): FallbackReason | undefined {
  if (callerAborted) return undefined;
  const status = statusOf(err);
  const text = textOf(err);
  if (status === 429) return 'rate_limited';
  if (status !== undefined && status >= 500) return 'upstream_error';
  if (/context_length_exceeded|maximum context length|context window|too many tokens|prompt is too long/i.test(text)) return 'context_length';
  if (status === undefined && /TimeoutError|timed? ?out|ETIMEDOUT|UND_ERR_.*TIMEOUT/i.test(text)) return 'timeout';
  // The connection failed (refused, reset, DNS) before any answer: the next model may be elsewhere.
  if (status === undefined && /ECONNREFUSED|ECONNRESET|ENOTFOUND|fetch failed|socket hang up|terminated/i.test(text)) return 'upstream_error';
  return undefined;
}

/** Parts that are bookkeeping, not answer: reading past them commits to nothing. */
const PREAMBLE = new Set(['stream-start', 'response-metadata']);

export interface FallbackEntry {
  /** `provider/model` as configured. */
  id: string;
  model: ChatModel;
}

/**
 * The chain as one model. With a single entry the model itself is returned: no
 * wrapper, no behaviour change for agents without fallbacks.
 */
export function withFallbacks(chain: FallbackEntry[], onFallback?: (from: string, to: string, reason: FallbackReason) => void): ChatModel {
  if (chain.length === 0) throw new Error('withFallbacks: empty chain');
  if (chain.length === 1) return chain[0]!.model;
  const primary = chain[0]!.model;

  const noteFailure = (i: number, reason: FallbackReason) => onFallback?.(chain[i]!.id, chain[i + 1]!.id, reason);

  const wrapper: ChatModel = Object.create(primary);
  Object.defineProperties(wrapper, {
    doGenerate: {
      value: async (options: Parameters<ChatModel['doGenerate']>[0]) => {
        for (let i = 0; ; i++) {
          try {
            const result = await chain[i]!.model.doGenerate(options);
            noteAnsweringModel(chain[i]!.id, i);
            return result;
          } catch (err) {
            const reason = i < chain.length - 1 ? fallbackReason(err, options.abortSignal?.aborted === true) : undefined;
            if (!reason) throw err;
            noteFailure(i, reason);
          }
        }
      },
    },
    doStream: {
      value: async (options: StreamOptions): Promise<StreamResult> => {
        for (let i = 0; ; i++) {
          const last = i === chain.length - 1;
          let result: StreamResult;
          try {
            result = await chain[i]!.model.doStream(options);
          } catch (err) {
            const reason = last ? undefined : fallbackReason(err, options.abortSignal?.aborted === true);
            if (!reason) throw err;
            noteFailure(i, reason);
            continue;
          }
          if (last) {
            noteAnsweringModel(chain[i]!.id, i);
            return result;
          }
          // Read up to the first content part; decide there.
          const reader = result.stream.getReader();
          const head: StreamPart[] = [];
          let failure: FallbackReason | undefined;
          let ended = false;
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) {
                ended = true;
                break;
              }
              if (value.type === 'error') {
                failure = fallbackReason(value.error, options.abortSignal?.aborted === true);
                if (!failure) head.push(value);
                break;
              }
              head.push(value);
              if (!PREAMBLE.has(value.type)) break;
            }
          } catch (err) {
            failure = fallbackReason(err, options.abortSignal?.aborted === true);
            if (!failure) throw err;
          }
          // A stream that ended with nothing but bookkeeping broke off before its first token.
          if (!failure && ended && head.every((p) => PREAMBLE.has(p.type))) failure = 'upstream_error';
          if (failure) {
            await reader.cancel().catch(() => {});
            noteFailure(i, failure);
            continue;
          }
          noteAnsweringModel(chain[i]!.id, i);
          let pending = head;
          const stream = new ReadableStream<StreamPart>({
            async pull(controller) {
              if (pending.length) {
                for (const p of pending) controller.enqueue(p);
                pending = [];
                if (ended) controller.close();
                return;
              }
              try {
                const { done, value } = await reader.read();
                if (done) controller.close();
                else controller.enqueue(value);
              } catch (err) {
                controller.error(err);
              }
            },
            cancel(reason) {
              return reader.cancel(reason);
            },
          });
          return { ...result, stream };
        }
      },
    },
  });
  return wrapper;
}
