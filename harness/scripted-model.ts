/**
 * THE SCRIPTED LANGUAGE MODEL. No model is reachable from CI machines, so tests,
 * benchmarks and the dev harness point OPENAI_BASE_URL at this small HTTP server. It
 * speaks the OpenAI Chat Completions wire format (JSON and SSE, tool calls, usage), so
 * everything between the client and the upstream model is the real code path; only the
 * model's words come from a script. Every reply it writes starts from a script function
 * the test controls, and every request it received is kept for assertions. The wire
 * format is written by harness/openai-wire.ts, the same writer the evals'
 * recorded-responses model uses.
 */
import { serveChatCompletions, textOf, turnOf, writeError, writeTurn } from './openai-wire';

export { textOf };

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
  | {
      text: string;
      finishReason?: 'stop' | 'length';
      /** Pause between streamed content pieces of this reply (overrides the model's `chunkDelayMs`). */
      chunkDelayMs?: number;
      /** Streamed: after this many content pieces, wait for `hold` before the rest (a reply caught mid-stream, no timing). */
      holdAfter?: number;
      hold?: Promise<unknown>;
    }
  | { toolCalls: Array<{ name: string; arguments: Record<string, unknown> }> }
  | { error: { status: number; message: string } }
  /** A stream that sends `text` and then breaks off (the connection is cut: no finish, no [DONE]). */
  | { breakAfter: string }
  | { hang: true };

export type Script = (req: ChatRequest) => ScriptReply | Promise<ScriptReply>;

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

  const server = await serveChatCompletions(async (body, res) => {
    requests.push(body as ChatRequest);
    let reply: ScriptReply;
    try {
      reply = await script(body as ChatRequest);
    } catch (err) {
      reply = { error: { status: 500, message: `script threw: ${(err as Error).message}` } };
    }
    if ('hang' in reply) {
      res.on('close', () => aborted++);
      return;
    }
    if ('error' in reply) return writeError(res, reply.error.status, reply.error.message, 'scripted_error');
    if ('breakAfter' in reply) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: Record<string, unknown>) => `data: ${JSON.stringify({ id: `chatcmpl-scripted-${++seq}`, object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: body.model, choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: reply.breakAfter }));
      setTimeout(() => res.destroy(), 20);
      return;
    }
    res.on('close', () => {
      if (!res.writableFinished) aborted++;
    });
    const toolCalls = 'toolCalls' in reply ? reply.toolCalls : [];
    const text = 'text' in reply ? reply.text : '';
    const finish = 'text' in reply ? reply.finishReason : undefined;
    const pacing = 'text' in reply ? reply : undefined;
    await writeTurn(res, body, turnOf(body, text, toolCalls, finish), {
      id: `chatcmpl-scripted-${++seq}`,
      chunkDelayMs: pacing?.chunkDelayMs ?? opts.chunkDelayMs,
      ...(pacing?.hold ? { hold: { after: pacing.holdAfter ?? 0, until: pacing.hold } } : {}),
    });
  });
  return {
    url: server.url,
    requests,
    get aborted() {
      return aborted;
    },
    setScript: (s) => {
      script = s;
    },
    close: server.close,
  };
}
