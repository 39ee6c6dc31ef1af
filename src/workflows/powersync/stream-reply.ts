/**
 * Streams an agent's answer into its synced reply row while the model writes it, and
 * stops the model when a device asks (agent_runs.stop_requested).
 *
 * Throttle: the reply's text so far is written at most once every REPLY_FLUSH_MS, or at
 * once when REPLY_FLUSH_CHARS new characters wait; one write is in flight at a time, and
 * text that waits when the model pauses is written when the interval is over. Every write
 * is one UPDATE of the reply row (the whole text so far: idempotent, and a device that
 * connects mid-reply gets it whole).
 *
 * Stop: the run's row is read every STOP_POLL_MS (and every write of the reply checks it
 * too); a stop asked on any replica arrives through Postgres. The model's request is then
 * aborted (AbortSignal), nothing more is written to the reply, and it keeps the text the
 * devices already have.
 *
 * Tool calls: each call the model makes is an `agent_tool_calls` row ('running' when the
 * call arrives, 'done' / 'failed' with its result), written under the same condition as
 * the reply (the run still running, no stop asked).
 */
import type { Agent } from '@mastra/core/agent';
import type pg from 'pg';
import { stableId } from '../../clients/powersync/records';
import { flushReply, runSignal, toolCallEnded, toolCallStarted } from '../../stores/powersync/agent-runs';

/** At most one write of a streaming reply per this many milliseconds… */
export const REPLY_FLUSH_MS = 75;
/** …unless this many new characters are waiting (then at once, one write in flight at a time). */
export const REPLY_FLUSH_CHARS = 400;
/** How often a running run reads its stop_requested from Postgres. */
export const STOP_POLL_MS = 200;

export interface StreamedReply {
  text: string;
  stopped: boolean;
  inputTokens?: number;
  outputTokens?: number;
}

/** The model id an agent uses (recorded on its runs); null when it cannot be told. */
export async function modelIdOf(agent: Agent): Promise<string | null> {
  try {
    const m = (await agent.getModel()) as { modelId?: unknown; provider?: unknown };
    return typeof m.modelId === 'string' ? m.modelId.slice(0, 200) : null;
  } catch {
    return null;
  }
}

export async function streamReply(
  db: pg.Pool,
  agent: Agent,
  content: string,
  memory: { resource: string; thread: string },
  ids: { runId: string; replyId: string },
): Promise<StreamedReply> {
  const abort = new AbortController();
  let text = '';
  let flushed = 0; // length of the text the reply row holds
  let lastFlush = 0;
  let inFlight: Promise<void> | undefined;
  let trailing: NodeJS.Timeout | undefined;
  let pollFailed: unknown;
  let closed = false; // the model is done: only finishRun writes now
  const toolWrites = new Set<Promise<void>>();
  /** Tool-call rows are written in order per call (start before end); a failed write is dropped (the row only shows the run). */
  const toolChains = new Map<string, Promise<void>>();
  const toolWrite = (callId: string, write: () => Promise<void>) => {
    if (abort.signal.aborted) return;
    const p = (toolChains.get(callId) ?? Promise.resolve()).then(write).catch(() => {});
    toolChains.set(callId, p);
    toolWrites.add(p);
    void p.finally(() => toolWrites.delete(p));
  };
  const json = (v: unknown) => {
    try {
      return v === undefined ? null : JSON.stringify(v);
    } catch {
      return null;
    }
  };

  const stop = () => {
    if (!abort.signal.aborted) abort.abort(new Error('the run was stopped'));
  };
  const flush = () => {
    if (closed || inFlight || abort.signal.aborted || text.length === flushed) return;
    const upTo = text.length;
    lastFlush = Date.now();
    inFlight = flushReply(db, ids.runId, ids.replyId, text)
      .then((ok) => {
        if (ok) flushed = upTo;
        else stop(); // no longer this run's reply: stopped or taken over
      })
      .catch((err) => {
        pollFailed ??= err;
        stop();
      })
      .finally(() => {
        inFlight = undefined;
        maybeFlush();
      });
  };
  const maybeFlush = () => {
    if (closed || inFlight || abort.signal.aborted || text.length === flushed) return;
    const wait = lastFlush + REPLY_FLUSH_MS - Date.now();
    if (wait <= 0 || text.length - flushed >= REPLY_FLUSH_CHARS) {
      if (trailing) clearTimeout(trailing);
      trailing = undefined;
      flush();
    } else if (!trailing) {
      trailing = setTimeout(() => {
        trailing = undefined;
        maybeFlush();
      }, wait);
    }
  };

  const poll = setInterval(() => {
    runSignal(db, ids.runId)
      .then((s) => {
        if (s !== 'run') stop();
      })
      .catch(() => {}); // a failed read is retried at the next tick
  }, STOP_POLL_MS);

  let inputTokens: number | undefined;
  let outputTokens: number | undefined;
  try {
    try {
      const stream = await agent.stream(content, { memory, abortSignal: abort.signal } as never);
      for await (const part of stream.fullStream as AsyncIterable<{ type: string; payload?: Record<string, unknown> }>) {
        if (abort.signal.aborted) break;
        if (part.type === 'text-delta') {
          const delta = String(part.payload?.text ?? '');
          if (delta) {
            text += delta;
            maybeFlush();
          }
        } else if (part.type === 'tool-call') {
          const p = part.payload as { toolCallId?: string; toolName?: string; args?: Record<string, unknown> } | undefined;
          if (p?.toolCallId) {
            const { __mastraMetadata: _meta, ...args } = p.args ?? {};
            const id = stableId('tool-call', ids.runId, p.toolCallId);
            toolWrite(p.toolCallId, () => toolCallStarted(db, ids.runId, { id, name: String(p.toolName ?? ''), arguments: json(args) }));
          }
        } else if (part.type === 'tool-result' || part.type === 'tool-error') {
          const p = part.payload as { toolCallId?: string; result?: unknown; isError?: boolean } | undefined;
          if (p?.toolCallId) {
            const failed = part.type === 'tool-error' || p.isError === true;
            const id = stableId('tool-call', ids.runId, p.toolCallId);
            toolWrite(p.toolCallId, () => toolCallEnded(db, ids.runId, id, failed ? 'failed' : 'done', failed ? null : json(p.result)));
          }
        } else if (part.type === 'error') {
          throw (part.payload?.error as unknown) ?? new Error('model stream failed');
        } else if (part.type === 'finish') {
          const u = (part.payload as { output?: { usage?: { inputTokens?: number; outputTokens?: number } } } | undefined)?.output?.usage;
          inputTokens = u?.inputTokens ?? inputTokens;
          outputTokens = u?.outputTokens ?? outputTokens;
        }
      }
      if (!abort.signal.aborted) {
        const total = (await (stream as unknown as { totalUsage?: Promise<{ inputTokens?: number; outputTokens?: number }> }).totalUsage?.catch(() => undefined)) ?? undefined;
        inputTokens = total?.inputTokens ?? inputTokens;
        outputTokens = total?.outputTokens ?? outputTokens;
      }
    } catch (err) {
      // The abort surfaces as an error of the stream: a stop, not a failure.
      if (!abort.signal.aborted) throw err;
    }
  } finally {
    closed = true;
    clearInterval(poll);
    if (trailing) clearTimeout(trailing);
    while (inFlight) await inFlight;
    await Promise.all([...toolWrites]);
  }
  if (abort.signal.aborted && pollFailed) throw pollFailed;
  return { text, stopped: abort.signal.aborted, inputTokens, outputTokens };
}
