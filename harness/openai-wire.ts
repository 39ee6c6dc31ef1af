/**
 * THE ONE OpenAI Chat Completions wire writer of the development harness. Both stand-in
 * model endpoints use it: THE SCRIPTED MODEL (harness/scripted-model.ts, tests and
 * benchmarks) and THE RECORDED-RESPONSES MODEL (evals/lib/recorded-model.ts, cassettes).
 * Neither is a language model; this file only decides how a turn they chose is written
 * on the wire: a `chat.completion` JSON body, or `chat.completion.chunk` SSE events
 * (role, content pieces, tool_calls, finish_reason, optional usage chunk, [DONE]).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WireToolCall {
  id?: string;
  type?: 'function';
  function: { name: string; arguments: string };
}

export interface WireMessage {
  role: string;
  content?: string | Array<{ type: string; text?: string }> | null;
  tool_calls?: WireToolCall[];
  tool_call_id?: string;
  name?: string;
}

export interface WireRequest {
  model: string;
  messages: WireMessage[];
  tools?: Array<{ type: string; function: { name: string; description?: string; parameters?: unknown } }>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  [k: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** One model turn, independent of wire format (JSON or SSE). */
export interface ModelTurn {
  text: string;
  toolCalls: Array<{ name: string; arguments: Record<string, unknown> }>;
  finishReason: 'stop' | 'length' | 'tool_calls' | 'content_filter';
  usage: Usage;
}

export function textOf(content: WireMessage['content']): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => p.text ?? '').join('');
}

const countTokens = (s: string) => (s.match(/\S+/g) ?? []).length;

/** Whitespace-word token counts (no tokenizer: the stand-in models are not models). */
export function estimateUsage(messages: WireMessage[], text: string, toolCallCount: number): Usage {
  const prompt = messages.reduce((n, m) => n + countTokens(textOf(m.content)), 0);
  const completion = countTokens(text) + toolCallCount;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** A turn with its finish reason and estimated usage filled in. */
export function turnOf(req: WireRequest, text: string, toolCalls: ModelTurn['toolCalls'] = [], finishReason: 'stop' | 'length' = 'stop'): ModelTurn {
  return { text, toolCalls, finishReason: toolCalls.length ? 'tool_calls' : finishReason, usage: estimateUsage(req.messages, text, toolCalls.length) };
}

export function writeError(res: http.ServerResponse, status: number, message: string, type: string, code: string | null = null): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type, code } }));
}

export interface WriteOptions {
  /** The completion id (chatcmpl-…); tool call ids derive from it. */
  id: string;
  /** Pause between streamed content pieces. */
  chunkDelayMs?: number;
  /** Streamed: after `after` content pieces, wait for `until` before writing the rest (the client may go away meanwhile). */
  hold?: { after: number; until: Promise<unknown> };
}

/** Writes `turn` as the reply to `req`: JSON, or SSE when the request asked to stream. */
export async function writeTurn(res: http.ServerResponse, req: WireRequest, turn: ModelTurn, opts: WriteOptions): Promise<void> {
  const { id } = opts;
  const created = Math.floor(Date.now() / 1000);
  const toolCalls = turn.toolCalls.length
    ? turn.toolCalls.map((c, i) => ({ id: `${id}-call-${i}`, type: 'function' as const, function: { name: c.name, arguments: JSON.stringify(c.arguments) } }))
    : undefined;
  const finish = toolCalls ? 'tool_calls' : turn.finishReason;
  if (!req.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id,
        object: 'chat.completion',
        created,
        model: req.model,
        choices: [{ index: 0, message: { role: 'assistant', content: turn.text || (toolCalls ? null : ''), tool_calls: toolCalls }, finish_reason: finish }],
        usage: turn.usage,
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: req.model, choices, ...extra })}\n\n`);
  const send = (delta: Record<string, unknown>, finish_reason: string | null = null) => chunk([{ index: 0, delta, finish_reason }]);
  send({ role: 'assistant', content: '' });
  let sent = 0;
  const closed = new Promise<void>((r) => res.once('close', () => r()));
  for (const piece of turn.text ? (turn.text.match(/\S+\s*|\s+/g) ?? []) : []) {
    if (opts.hold && sent++ === opts.hold.after) await Promise.race([opts.hold.until, closed]);
    if (res.destroyed) return;
    send({ content: piece });
    if (opts.chunkDelayMs) await new Promise((r) => setTimeout(r, opts.chunkDelayMs));
  }
  toolCalls?.forEach((c, index) => send({ tool_calls: [{ index, ...c }] }));
  send({}, finish);
  if (req.stream_options?.include_usage) chunk([], { usage: turn.usage });
  res.end('data: [DONE]\n\n');
}

export interface ChatServer {
  /** Base URL to use as OPENAI_BASE_URL (ends in /v1). */
  url: string;
  close(): Promise<void>;
}

/**
 * An HTTP server on a free 127.0.0.1 port that answers POST …/chat/completions with
 * `handle(request, res)` (404 elsewhere, 400 on a body that is not JSON).
 */
export async function serveChatCompletions(handle: (req: WireRequest, res: http.ServerResponse) => Promise<void>): Promise<ChatServer> {
  const server = http.createServer(async (req, res) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) return writeError(res, 404, 'not found', 'invalid_request_error');
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      return void res.destroy(); // the client went away mid-body
    }
    let body: WireRequest;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as WireRequest;
    } catch {
      return writeError(res, 400, 'bad JSON', 'invalid_request_error');
    }
    await handle(body, res);
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
