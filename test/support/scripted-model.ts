/**
 * THE SCRIPTED LANGUAGE MODEL. No model is reachable from CI machines, so tests,
 * benchmarks and offline evals point OPENAI_BASE_URL at this small HTTP server. It
 * speaks the OpenAI Chat Completions wire format (JSON and SSE, tool calls, usage), so
 * everything between the client and the upstream model is the real code path; only the
 * model's words come from a script. Every reply it writes starts from a script function
 * the test controls, and every request it received is kept for assertions.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content?: string | Array<{ type: string; text?: string }> | null;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
  name?: string;
}

export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tools?: Array<{ type: 'function'; function: { name: string; description?: string; parameters?: unknown } }>;
  temperature?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[];
  [k: string]: unknown;
}

export type ScriptReply =
  | { text: string; finishReason?: 'stop' | 'length' }
  | { toolCalls: Array<{ name: string; arguments: Record<string, unknown> }> }
  | { error: { status: number; message: string } }
  | { hang: true };

export type Script = (req: ChatRequest) => ScriptReply | Promise<ScriptReply>;

export function textOf(content: ChatMessage['content']): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => p.text ?? '').join('');
}

export function lastUserText(req: ChatRequest): string {
  for (let i = req.messages.length - 1; i >= 0; i--) {
    const m = req.messages[i]!;
    if (m.role === 'user') return textOf(m.content);
  }
  return '';
}

/** The last message, if it is a tool result (the model is being asked to continue after a tool ran). */
export function pendingToolResult(req: ChatRequest): { name: string; content: string } | undefined {
  const last = req.messages[req.messages.length - 1];
  if (last?.role !== 'tool') return undefined;
  let name = last.name ?? '';
  for (const m of req.messages) for (const c of m.tool_calls ?? []) if (c.id === last.tool_call_id) name = c.function.name;
  return { name, content: textOf(last.content) };
}

/** Default script: answers "Echo: <last user text>", and reports a tool result after a tool call. */
export const echoScript: Script = (req) => {
  const tool = pendingToolResult(req);
  if (tool) return { text: `Tool ${tool.name} returned: ${tool.content}` };
  return { text: `Echo: ${lastUserText(req)}` };
};

const countTokens = (s: string) => (s.match(/\S+/g) ?? []).length;

export interface ScriptedModel {
  /** Base URL to use as OPENAI_BASE_URL (ends in /v1). */
  url: string;
  requests: ChatRequest[];
  /** Requests whose client (our server) went away before the reply was complete. */
  readonly aborted: number;
  setScript(script: Script): void;
  close(): Promise<void>;
}

export async function startScriptedModel(opts: { script?: Script; chunkDelayMs?: number } = {}): Promise<ScriptedModel> {
  let script = opts.script ?? echoScript;
  const requests: ChatRequest[] = [];
  let seq = 0;
  let aborted = 0;

  const server = http.createServer(async (req, res) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatRequest;
    requests.push(body);
    let reply: ScriptReply;
    try {
      reply = await script(body);
    } catch (err) {
      reply = { error: { status: 500, message: `script threw: ${(err as Error).message}` } };
    }
    if ('hang' in reply) {
      res.on('close', () => aborted++);
      return;
    }
    if ('error' in reply) {
      res.writeHead(reply.error.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: reply.error.message, type: 'scripted_error', code: null } }));
      return;
    }
    res.on('close', () => {
      if (!res.writableFinished) aborted++;
    });
    const id = `chatcmpl-scripted-${++seq}`;
    const created = Math.floor(Date.now() / 1000);
    const promptTokens = body.messages.reduce((n, m) => n + countTokens(textOf(m.content)), 0);
    const toolCalls =
      'toolCalls' in reply
        ? reply.toolCalls.map((c, i) => ({
            id: `call_${seq}_${i}`,
            type: 'function' as const,
            function: { name: c.name, arguments: JSON.stringify(c.arguments) },
          }))
        : undefined;
    const text = 'text' in reply ? reply.text : '';
    const finish = toolCalls ? 'tool_calls' : 'text' in reply ? (reply.finishReason ?? 'stop') : 'stop';
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: countTokens(text) + (toolCalls?.length ?? 0),
      total_tokens: promptTokens + countTokens(text) + (toolCalls?.length ?? 0),
    };

    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: toolCalls ? null : text, tool_calls: toolCalls }, finish_reason: finish }],
          usage,
        }),
      );
      return;
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const send = (delta: Record<string, unknown>, finish_reason: string | null = null) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason }] })}\n\n`);
    send({ role: 'assistant', content: '' });
    if (toolCalls) {
      toolCalls.forEach((c, index) => send({ tool_calls: [{ index, ...c }] }));
    } else {
      const pieces = text.match(/\S+\s*|\s+/g) ?? [];
      for (const p of pieces) {
        if (res.destroyed) return;
        send({ content: p });
        if (opts.chunkDelayMs) await new Promise((r) => setTimeout(r, opts.chunkDelayMs));
      }
    }
    send({}, finish);
    if (body.stream_options?.include_usage) {
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get aborted() {
      return aborted;
    },
    setScript: (s) => {
      script = s;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
