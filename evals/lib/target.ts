/**
 * Where a case runs. Both targets return the same CaseRun: the reply, usage, latency,
 * and the turn as Mastra's scorers want it (input and output as MastraDBMessages).
 *
 * - in-process: the real system started here with startSystem (embedded Postgres, PDS,
 *   IPFS node…, its model pointed at the recorded-responses model or a real endpoint);
 *   cases call the Mastra agents directly, as Mastra's runEvals does.
 * - url: a running server. Cases go through the official OpenAI SDK to its /v1 (the API
 *   users call); the turn's tool calls are then read back from the server's memory
 *   (/api/memory/threads/:id/messages), which is what the agent actually did.
 */
import type { Agent, MastraDBMessage } from '@mastra/core/agent';
import type { ScorerRunInputForAgent } from '@mastra/core/evals';
import { mergeToolInvocations } from '@mastra/evals/scorers/utils';
import OpenAI from 'openai';
import type { System } from '../../src/system';
import type { EvalCase } from './suite';

export interface ToolCallRecord {
  name: string;
  args: Record<string, unknown>;
  result?: unknown;
  /** The tool threw, or returned `{ error }`. */
  error?: string;
}

export interface CaseRun {
  text: string;
  /** The run failed outright (model error, stale cassette, HTTP error). */
  error?: string;
  latencyMs: number;
  /** When the case started (epoch ms): side-effect scorers look for writes from then on. */
  startedAt?: number;
  usage: { input: number; output: number; total: number };
  threadId: string;
  /** The user the conversation ran as (the memory resource the tools act for). */
  resourceId: string;
  /** The agent's system prompt (instructions) as the model got it, for no-system-prompt. */
  systemPrompt?: string;
  scorerInput: ScorerRunInputForAgent;
  scorerOutput: MastraDBMessage[];
  toolCalls: ToolCallRecord[];
}

export interface ServiceEndpoints {
  pdsUrl?: string;
  ipfsApiUrl?: string;
  [k: string]: string | undefined;
}

export interface Target {
  kind: 'in-process' | 'url';
  describe: string;
  agentNames(): Promise<string[]>;
  /** Tool names the agent offers the model, discovered at run time. */
  toolNames(agent: string): Promise<string[]>;
  run(agent: string, c: EvalCase, ids: { threadId: string; resourceId: string }): Promise<CaseRun>;
  /** The agent's instructions (system prompt), when the target can tell. */
  instructions(agent: string): Promise<string | undefined>;
  services: ServiceEndpoints;
  system?: System;
}

export function toolCallsOf(output: MastraDBMessage[]): ToolCallRecord[] {
  const out: ToolCallRecord[] = [];
  for (const m of output) {
    if (m.role !== 'assistant') continue;
    for (const inv of mergeToolInvocations(m)) {
      const result = (inv as { result?: unknown }).result;
      // Tools here report failures as values: `{ error: "…" }` or `{ ok: false, error: { code, message } }`;
      // Mastra reports arguments that fail the tool's input schema as `{ error: true, message, validationErrors }`.
      const r = result && typeof result === 'object' ? (result as { ok?: unknown; error?: unknown; message?: unknown }) : undefined;
      const e = r?.error;
      const returnedError =
        typeof e === 'string'
          ? e
          : e === true
            ? (typeof r?.message === 'string' ? r.message : 'error')
            : e && typeof e === 'object'
              ? [(e as { code?: string }).code, (e as { message?: string }).message].filter(Boolean).join(': ') || 'error'
              : r?.ok === false
                ? 'ok: false'
                : undefined;
      const thrown = inv.state === 'output-error' || inv.isError ? (inv.errorText ?? 'tool failed') : undefined;
      out.push({ name: inv.toolName, args: (inv.args ?? {}) as Record<string, unknown>, result, error: thrown ?? returnedError });
    }
  }
  return out;
}

/** Mastra's instructions (a string, a system message, or a list of them) as plain text. */
export function instructionsText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(instructionsText).filter(Boolean).join('\n') || undefined;
  if (v && typeof v === 'object' && 'content' in v) return instructionsText((v as { content: unknown }).content);
  return undefined;
}

function textOfMessage(m: MastraDBMessage): string {
  const parts = (m.content as { parts?: Array<{ type: string; text?: string }> }).parts ?? [];
  const t = parts.filter((p) => p.type === 'text').map((p) => p.text ?? '').join('');
  return t || ((m.content as { content?: string }).content ?? '');
}

const emptyInput = (inputMessages: MastraDBMessage[] = [], rememberedMessages: MastraDBMessage[] = []): ScorerRunInputForAgent => ({
  inputMessages,
  rememberedMessages,
  systemMessages: [],
  taggedSystemMessages: {},
});

function failed(err: unknown, started: number, ids: { threadId: string; resourceId: string }): CaseRun {
  return {
    text: '',
    error: (err as Error)?.message ?? String(err),
    latencyMs: Date.now() - started,
    startedAt: started,
    usage: { input: 0, output: 0, total: 0 },
    ...ids,
    scorerInput: emptyInput(),
    scorerOutput: [],
    toolCalls: [],
  };
}

type Turn = { role: 'user'; content: string } | { role: 'assistant'; content: string };
const turnsOf = (c: EvalCase): Turn[] => [...c.history, { role: 'user', content: c.input }].map((m): Turn => (m.role === 'user' ? { role: 'user', content: m.content } : { role: 'assistant', content: m.content }));

export function inProcessTarget(system: System, services: ServiceEndpoints): Target {
  const mastra = system.runtime.mastra;
  const agent = (name: string): Agent => mastra.getAgent(name as never) as Agent;
  return {
    kind: 'in-process',
    describe: `in-process system (${system.url})`,
    system,
    services,
    agentNames: async () => Object.keys(mastra.listAgents()),
    toolNames: async (name) => Object.keys(await agent(name).listTools()),
    instructions: async (name) => instructionsText(await agent(name).getInstructions()),
    async run(name, c, ids) {
      const started = Date.now();
      try {
        const result = await agent(name).generate(turnsOf(c), {
          memory: { resource: ids.resourceId, thread: ids.threadId },
          maxSteps: system.ctx.config.model.maxSteps,
          returnScorerData: true,
        });
        const latencyMs = Date.now() - started;
        const err = (result as { error?: unknown }).error;
        const usage = (result as { totalUsage?: { inputTokens?: number; outputTokens?: number; totalTokens?: number } }).totalUsage ?? result.usage;
        const scoring = result.scoringData;
        const output = scoring?.output ?? [];
        return {
          text: result.text,
          error: err ? ((err as Error).message ?? String(err)) : undefined,
          latencyMs,
          startedAt: started,
          usage: { input: usage?.inputTokens ?? 0, output: usage?.outputTokens ?? 0, total: usage?.totalTokens ?? (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0) },
          ...ids,
          scorerInput: scoring ? { ...scoring.input } : emptyInput(),
          scorerOutput: output,
          toolCalls: toolCallsOf(output),
        };
      } catch (err) {
        return failed(err, started, ids);
      }
    },
  };
}

/**
 * A running server at `baseUrl` (…/v1). `apiKey` is sent as the bearer key to /v1 and
 * /api. Side-effect scorers need the service URLs the server uses (`services`).
 */
export function urlTarget(baseUrl: string, apiKey: string | undefined, services: ServiceEndpoints): Target {
  const v1 = baseUrl.replace(/\/$/, '');
  const origin = v1.replace(/\/v1$/, '');
  const client = new OpenAI({ baseURL: v1, apiKey: apiKey ?? 'none', maxRetries: 0, timeout: 180_000 });
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  const api = async (p: string) => {
    const res = await fetch(`${origin}/api${p}`, { headers });
    if (!res.ok) throw new Error(`GET /api${p} answered HTTP ${res.status}`);
    return res.json() as Promise<unknown>;
  };
  return {
    kind: 'url',
    describe: `server at ${v1}`,
    services,
    agentNames: async () => (await client.models.list()).data.map((m) => m.id),
    toolNames: async (name) => Object.keys(((await api(`/agents/${encodeURIComponent(name)}`)) as { tools?: Record<string, unknown> }).tools ?? {}),
    instructions: async (name) => instructionsText(((await api(`/agents/${encodeURIComponent(name)}`).catch(() => ({}))) as { instructions?: unknown }).instructions),
    async run(name, c, ids) {
      const started = Date.now();
      try {
        const completion = await client.chat.completions.create(
          { model: name, messages: turnsOf(c), user: ids.resourceId },
          { headers: { 'x-thread-id': ids.threadId } },
        );
        const latencyMs = Date.now() - started;
        const page = (await api(`/memory/threads/${encodeURIComponent(ids.threadId)}/messages?agentId=${encodeURIComponent(name)}&perPage=200`)) as { messages?: MastraDBMessage[] };
        const messages = [...(page.messages ?? [])].sort((a, b) => new Date(a.createdAt).getTime() - new Date(b.createdAt).getTime());
        const lastUser = messages.map((m) => m.role).lastIndexOf('user');
        const output = messages.slice(lastUser + 1).filter((m) => m.role === 'assistant');
        const input = messages.slice(0, lastUser + 1);
        const u = completion.usage;
        // The server scopes the user under its key's owner (owner:user): the thread says which resource the tools acted for.
        const thread = (await api(`/memory/threads/${encodeURIComponent(ids.threadId)}?agentId=${encodeURIComponent(name)}`).catch(() => undefined)) as { resourceId?: unknown } | undefined;
        return {
          text: completion.choices[0]?.message.content ?? output.map(textOfMessage).join(''),
          latencyMs,
          startedAt: started,
          usage: { input: u?.prompt_tokens ?? 0, output: u?.completion_tokens ?? 0, total: u?.total_tokens ?? 0 },
          ...ids,
          resourceId: typeof thread?.resourceId === 'string' ? thread.resourceId : ids.resourceId,
          scorerInput: emptyInput(input.slice(-1), input.slice(0, -1)),
          scorerOutput: output,
          toolCalls: toolCallsOf(output),
        };
      } catch (err) {
        return failed(err, started, ids);
      }
    },
  };
}

