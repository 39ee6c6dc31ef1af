/**
 * THE RECORDED-RESPONSES MODEL: an OpenAI-compatible Chat Completions server (JSON and
 * SSE, tool calls, usage) that the system under test uses as its model endpoint
 * (OPENAI_BASE_URL). Everything between the eval client and the model is the real code
 * path: the agent, its memory, its tools acting on the real services. Only the model's
 * turns come from cassettes.
 *
 * - replay: answer from the cassettes of `modelId`; a request with no recording gets
 *   HTTP 409 and a `miss` naming what changed ("cassette stale: tool schema changed…").
 * - record: ask the upstream (a real OpenAI-compatible endpoint, or THE SCRIPTED AUTHOR
 *   on machines without a model, see author.ts) and keep every turn for writing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { diagnoseMiss, fillTurn, maskRequest, readCassettes, templateTurn, type CassetteEntry, type Masked, type ModelTurn, type WireRequest } from './cassettes';

export type Upstream = (req: WireRequest, masked: Masked) => Promise<ModelTurn>;

export interface Miss {
  model: string;
  anchor: string;
  step: number;
  reason: string;
}

export interface RecordedModel {
  /** Base URL to configure as OPENAI_BASE_URL (ends in /v1). */
  url: string;
  modelIds: string[];
  misses: Miss[];
  /** Turns recorded in this session (record mode), by key. */
  recorded: Map<string, CassetteEntry>;
  /** How many requests were answered from cassettes. */
  hits: number;
  close(): Promise<void>;
}

export interface RecordedModelOptions {
  /** Every provider/model id the system may ask for (the request carries only the part after the slash). */
  modelIds: string[];
  mode: 'replay' | 'record';
  cassetteDir: string;
  /** Tool output fields that change run to run, by tool name (from the suites). */
  volatile: Record<string, string[]>;
  upstream?: (modelId: string) => Upstream;
}

/** Proxies to a real OpenAI-compatible endpoint (non-streaming; the reply is re-sent in the caller's format). */
export function httpUpstream(baseUrl: string, apiKey: string | undefined, timeoutMs = 120_000): Upstream {
  return async (req) => {
    const body: Record<string, unknown> = { ...req, stream: false };
    delete body.stream_options;
    const res = await fetch(`${baseUrl.replace(/\/$/, '')}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`upstream model answered HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const json = (await res.json()) as {
      choices: Array<{ message: { content?: string | null; tool_calls?: Array<{ function: { name: string; arguments: string } }> }; finish_reason?: string }>;
      usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
    };
    const choice = json.choices[0]!;
    const toolCalls = (choice.message.tool_calls ?? []).map((c) => ({ name: c.function.name, arguments: JSON.parse(c.function.arguments || '{}') as Record<string, unknown> }));
    const u = json.usage ?? {};
    return {
      text: choice.message.content ?? '',
      toolCalls,
      finishReason: toolCalls.length ? 'tool_calls' : ((choice.finish_reason as ModelTurn['finishReason']) ?? 'stop'),
      usage: { prompt_tokens: u.prompt_tokens ?? 0, completion_tokens: u.completion_tokens ?? 0, total_tokens: u.total_tokens ?? (u.prompt_tokens ?? 0) + (u.completion_tokens ?? 0) },
    };
  };
}

export async function startRecordedModel(opts: RecordedModelOptions): Promise<RecordedModel> {
  const entries = new Map<string, CassetteEntry>();
  const all: CassetteEntry[] = [];
  if (opts.mode === 'replay') {
    for (const id of opts.modelIds) {
      for (const f of await readCassettes(opts.cassetteDir, id)) {
        for (const e of f.entries) {
          entries.set(e.key, e);
          all.push({ ...e, model: id });
        }
      }
    }
  }
  const fullId = (requested: string) => opts.modelIds.find((id) => id === requested || id.slice(id.indexOf('/') + 1) === requested) ?? requested;
  const misses: Miss[] = [];
  const recorded = new Map<string, CassetteEntry>();
  let seq = 0;
  const state = { hits: 0 };

  const answer = async (req: WireRequest): Promise<{ status: number; turn?: ModelTurn; error?: string }> => {
    const model = fullId(req.model);
    const masked = maskRequest(req, opts.volatile, model);
    if (opts.mode === 'replay') {
      const e = entries.get(masked.key);
      if (!e) {
        const reason = diagnoseMiss(masked, all.filter((x) => x.model === model));
        misses.push({ model, anchor: masked.anchor, step: masked.step, reason });
        return { status: 409, error: reason };
      }
      state.hits++;
      return { status: 200, turn: fillTurn(e.response, masked.tokens) };
    }
    if (!opts.upstream) return { status: 500, error: 'record mode needs an upstream model' };
    const turn = await opts.upstream(model)(req, masked);
    const lastUser = [...req.messages].reverse().find((m) => m.role === 'user');
    recorded.set(masked.key, {
      model,
      key: masked.key,
      anchor: masked.anchor,
      step: masked.step,
      parts: masked.parts,
      summary: { lastUser: typeof lastUser?.content === 'string' ? lastUser.content.slice(0, 200) : '', tools: Object.keys(masked.parts.tools).sort() },
      response: templateTurn(turn, masked.tokens),
    });
    return { status: 200, turn };
  };

  const server = http.createServer(async (req, res) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'not found' } }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: WireRequest;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as WireRequest;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'bad JSON' } }));
      return;
    }
    let out: Awaited<ReturnType<typeof answer>>;
    try {
      out = await answer(body);
    } catch (err) {
      out = { status: 502, error: (err as Error).message };
    }
    if (!out.turn) {
      res.writeHead(out.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: out.error, type: 'recorded_model_error', code: out.status === 409 ? 'cassette_miss' : null } }));
      return;
    }
    writeTurn(res, body, out.turn, `chatcmpl-recorded-${++seq}`);
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    modelIds: opts.modelIds,
    misses,
    recorded,
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function writeTurn(res: http.ServerResponse, body: WireRequest, turn: ModelTurn, id: string) {
  const created = Math.floor(Date.now() / 1000);
  const toolCalls = turn.toolCalls.length
    ? turn.toolCalls.map((c, i) => ({ id: `${id}-call-${i}`, type: 'function' as const, function: { name: c.name, arguments: JSON.stringify(c.arguments) } }))
    : undefined;
  const finish = toolCalls ? 'tool_calls' : turn.finishReason;
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id,
        object: 'chat.completion',
        created,
        model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: turn.text || (toolCalls ? null : ''), tool_calls: toolCalls }, finish_reason: finish }],
        usage: turn.usage,
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (delta: Record<string, unknown>, finish_reason: string | null = null) =>
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason }] })}\n\n`);
  send({ role: 'assistant', content: '' });
  if (turn.text) for (const piece of turn.text.match(/\S+\s*|\s+/g) ?? []) send({ content: piece });
  toolCalls?.forEach((c, index) => send({ tool_calls: [{ index, ...c }] }));
  send({}, finish);
  if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage) {
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage: turn.usage })}\n\n`);
  }
  res.end('data: [DONE]\n\n');
}
