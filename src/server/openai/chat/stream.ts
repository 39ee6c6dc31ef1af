/**
 * Chat Completions as server-sent events: `chat.completion.chunk`s ending in
 * `data: [DONE]` (answer.ts writes the JSON answer).
 */
import { responseModel } from '../../../mastra/answering-model';
import type { UsageLike } from '../agent-stream';
import { readAgentStream } from '../agent-stream';
import { clientToolCalls, type ClientToolCall } from '../client-tools';
import { upstreamError } from '../errors';
import { startEventStream } from '../route-deps';
import { invalidModelOutput } from '../structured-output';
import { finishReason, type AnswerArgs, type FinishReason } from './answer';

/** What the stream writer needs: the answer's arguments with the request reduced to what a chunk names. */
export type StreamArgs = Omit<AnswerArgs, 'body' | 'prefill'> & {
  model: string;
  includeUsage: boolean;
  /** Hand back at most one call. */
  single: boolean;
};

/**
 * Headers are held back until the model produces its first token, so a model that
 * fails at once still gets a proper HTTP error status; after that, a failure is sent
 * as an error event in the stream (as OpenAI does) and the stream ends.
 *
 * Client tool calls are sent as `tool_calls` deltas (each call whole: index, id, type,
 * name, arguments) as the model makes them; the last chunk's finish_reason is then
 * "tool_calls". With a response_format, the text streams as it comes and is checked at
 * the end: a reply that does not conform ends the stream with an error event
 * (`invalid_model_output`) instead of the finish chunk.
 */
export async function streamCompletion(a: StreamArgs) {
  const { res } = a;
  const chunk = (delta: Record<string, unknown>, finish: FinishReason | null = null, extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id: a.id, object: 'chat.completion.chunk', created: a.created, model: responseModel(a.model), choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(a.includeUsage ? { usage: null } : {}), ...extra })}\n\n`;
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    startEventStream(res);
    res.write(chunk({ role: 'assistant', content: '', refusal: null }));
  };

  let text = '';
  let reason: string | undefined;
  let usage: UsageLike | undefined;
  const calls: ClientToolCall[] = [];
  // Tokens of the steps finished so far: what is known when the client goes away mid-run.
  const stepped = { inputTokens: 0, outputTokens: 0, totalTokens: 0 };
  try {
    const read = await readAgentStream(a.agent, a.messages, a.options, a.abort.signal, {
      text(delta) {
        start();
        text += delta;
        res.write(chunk({ content: delta }));
      },
      toolCall(part) {
        const [call] = clientToolCalls([part], a.clientNames);
        if (!call || (a.single && calls.length)) return;
        start();
        const index = calls.length;
        calls.push(call);
        res.write(
          chunk(
            a.legacy
              ? { function_call: { name: call.name, arguments: call.arguments } }
              : { tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }] },
          ),
        );
      },
      stepUsage(u) {
        stepped.inputTokens += u?.inputTokens ?? 0;
        stepped.outputTokens += u?.outputTokens ?? 0;
        stepped.totalTokens += u?.totalTokens ?? (u?.inputTokens ?? 0) + (u?.outputTokens ?? 0);
      },
    });
    if (read.aborted) return void (await a.count(stepped));
    ({ reason, usage } = read);
    if (!calls.length && a.format) {
      const why = a.format.check(text);
      if (why) {
        a.log.warn('model reply does not conform to response_format', { why });
        await a.count(usage);
        throw invalidModelOutput(why);
      }
    }
  } catch (err) {
    await a.count(stepped);
    if (a.abort.signal.aborted) return;
    const e = upstreamError(err);
    a.log.warn('model call failed', { status: e.status, code: e.code, error: err });
    if (!started) throw e;
    res.write(`data: ${JSON.stringify(e.toJSON())}\n\n`);
    res.end();
    return;
  }
  await a.beforeReply(text, usage, calls);
  start();
  res.write(chunk({}, calls.length ? (a.legacy ? 'function_call' : 'tool_calls') : finishReason(reason)));
  if (a.includeUsage) {
    const u = { prompt_tokens: usage?.inputTokens ?? 0, completion_tokens: usage?.outputTokens ?? 0, total_tokens: usage?.totalTokens ?? (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0) };
    res.write(`data: ${JSON.stringify({ id: a.id, object: 'chat.completion.chunk', created: a.created, model: responseModel(a.model), choices: [], usage: u })}\n\n`);
  }
  res.write('data: [DONE]\n\n');
  res.end();
  if (!calls.length) await a.recordTurn(text);
}
