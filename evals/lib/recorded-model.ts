/**
 * THE RECORDED-RESPONSES MODEL: an OpenAI-compatible Chat Completions server (JSON and
 * SSE, tool calls, usage) that the system under test uses as its model endpoint
 * (OPENAI_BASE_URL). Everything between the eval client and the model is the real code
 * path: the agent, its memory, its tools acting on the real services. Only the model's
 * turns come from cassettes. The wire format is written by harness/openai-wire.ts, the
 * same writer THE SCRIPTED MODEL of tests and benchmarks uses.
 *
 * - replay: answer from the cassettes of `modelId`; a request with no recording gets
 *   HTTP 409 and a `miss` naming what changed ("cassette stale: tool schema changed…").
 * - record: ask the upstream (a real OpenAI-compatible endpoint, or THE SCRIPTED AUTHOR
 *   on machines without a model, see author.ts) and keep every turn for writing.
 */
import { serveChatCompletions, writeError, writeTurn, type ModelTurn, type WireRequest } from '../../harness/openai-wire';
import { diagnoseMiss, fillTurn, forRepeat, maskRequest, readCassettes, templateTurn, type CassetteEntry, type Masked } from './cassettes';

export type Upstream = (req: WireRequest, masked: Masked) => Promise<ModelTurn>;

export interface Miss {
  model: string;
  anchor: string;
  step: number;
  repeat: number;
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
  /**
   * `--repeat k`: the runner says which run of a case (by its anchor, the hash of its user
   * turns) comes next; that conversation's requests are then keyed for that repeat. Runs of
   * one case are sequential, and no two cases share an anchor, so this is unambiguous.
   */
  setRepeat(anchor: string, repeat: number): void;
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
  const repeats = new Map<string, number>();

  const answer = async (req: WireRequest): Promise<{ status: number; turn?: ModelTurn; error?: string }> => {
    const model = fullId(req.model);
    const plain = maskRequest(req, opts.volatile, model);
    const masked = forRepeat(plain, repeats.get(plain.anchor) ?? 0);
    if (opts.mode === 'replay') {
      const e = entries.get(masked.key);
      if (!e) {
        const reason = diagnoseMiss(masked, all.filter((x) => x.model === model));
        misses.push({ model, anchor: masked.anchor, step: masked.step, repeat: masked.repeat, reason });
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
      ...(masked.repeat ? { repeat: masked.repeat } : {}),
      parts: masked.parts,
      summary: { lastUser: typeof lastUser?.content === 'string' ? lastUser.content.slice(0, 200) : '', tools: Object.keys(masked.parts.tools).sort() },
      response: templateTurn(turn, masked.tokens),
    });
    return { status: 200, turn };
  };

  const server = await serveChatCompletions(async (body, res) => {
    let out: Awaited<ReturnType<typeof answer>>;
    try {
      out = await answer(body);
    } catch (err) {
      out = { status: 502, error: (err as Error).message };
    }
    if (!out.turn) return writeError(res, out.status, out.error ?? 'no turn', 'recorded_model_error', out.status === 409 ? 'cassette_miss' : null);
    await writeTurn(res, body, out.turn, { id: `chatcmpl-recorded-${++seq}` });
  });
  return {
    url: server.url,
    modelIds: opts.modelIds,
    misses,
    recorded,
    get hits() {
      return state.hits;
    },
    setRepeat: (anchor, repeat) => void repeats.set(anchor, repeat),
    close: server.close,
  };
}
