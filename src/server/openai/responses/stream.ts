/**
 * The Responses API's event stream (run.ts answers with one Response object otherwise).
 */
import type { Agent } from '@mastra/core/agent';
import type { Response } from 'express';
import type { Logger } from '../../../logger';
import { readAgentStream, type UsageLike } from '../agent-stream';
import type { OpenAIError } from '../errors';
import { startEventStream } from '../route-deps';
import { invalidModelOutput, type CompiledFormat } from '../structured-output';
import type { AgentMessage } from './input';
import { endOf, functionCalls, messageItem, responseObject, toResponseUsage, type Echo, type FunctionCallItem, type OutputMessage, type ResponseState } from './objects';

export interface StreamArgs {
  agent: Agent;
  messages: AgentMessage[];
  options: Record<string, unknown>;
  res: Response;
  abort: AbortController;
  echo: Echo;
  state: ResponseState;
  clientNames: Set<string>;
  /** text.format (json_object / json_schema): the whole text is checked before the response completes. */
  format: CompiledFormat | undefined;
  log: Logger;
  save: () => Promise<void>;
  fail: (err: unknown) => Promise<OpenAIError>;
  recordTurn: (reply: string) => Promise<void>;
  /** Releases the thread's run lease (before the closing events). */
  release: () => Promise<void>;
}

/**
 * The Responses event stream. As on chat completions, nothing is written until the
 * model produces its first output, so a model that fails at once still gets a proper
 * HTTP error status; after that a failure is a `response.failed` event followed by an
 * `error` event, and the stream ends.
 */
export async function streamResponse(a: StreamArgs) {
  const { res, state } = a;
  let seq = 0;
  const send = (type: string, data: Record<string, unknown>) => {
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: seq++ })}\n\n`);
  };
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    startEventStream(res);
    send('response.created', { response: responseObject(a.echo, state) });
    send('response.in_progress', { response: responseObject(a.echo, state) });
  };
  let message: OutputMessage | undefined;
  let messageIndex = 0;
  let text = '';
  const openMessage = () => {
    if (message) return;
    start();
    message = messageItem('', 'in_progress');
    message.content = [];
    messageIndex = state.output.length;
    state.output.push(message);
    send('response.output_item.added', { output_index: messageIndex, item: structuredClone(message) });
    send('response.content_part.added', { item_id: message.id, output_index: messageIndex, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
  };
  const closeMessage = (status: OutputMessage['status']) => {
    if (!message) return;
    const part = { type: 'output_text' as const, text, annotations: [], logprobs: [] };
    send('response.output_text.done', { item_id: message.id, output_index: messageIndex, content_index: 0, text, logprobs: [] });
    send('response.content_part.done', { item_id: message.id, output_index: messageIndex, content_index: 0, part });
    message.content = [part];
    message.status = status;
    send('response.output_item.done', { output_index: messageIndex, item: message });
  };

  let reason: string | undefined;
  let usage: UsageLike | undefined;
  const calls: FunctionCallItem[] = [];
  try {
    const read = await readAgentStream(a.agent, a.messages, a.options, a.abort.signal, {
      text(delta) {
        openMessage();
        text += delta;
        send('response.output_text.delta', { item_id: message!.id, output_index: messageIndex, content_index: 0, delta, logprobs: [] });
      },
      toolCall(part) {
        calls.push(...functionCalls([part], a.clientNames));
      },
    });
    if (!read.aborted) {
      ({ reason, usage } = read);
      const why = !calls.length && a.format ? a.format.check(text) : undefined;
      if (why) {
        a.log.warn('model reply does not conform to text.format', { why });
        state.usage = toResponseUsage(usage);
        throw invalidModelOutput(why, 'text.format');
      }
    }
  } catch (err) {
    // What was streamed so far stays in the (stored) output, marked incomplete.
    const keepPartial = () => {
      if (!message) return;
      message.content = [{ type: 'output_text', text, annotations: [], logprobs: [] }];
      message.status = 'incomplete';
    };
    if (a.abort.signal.aborted) {
      keepPartial();
      state.status = 'cancelled';
      await a.save();
      return;
    }
    keepPartial();
    const e = await a.fail(err);
    a.log.warn('model call failed', { status: e.status, code: e.code, error: err });
    await a.release();
    if (!started) throw e;
    send('response.failed', { response: responseObject(a.echo, state) });
    send('error', { code: e.code, message: e.message, param: null });
    res.end();
    return;
  }
  if (a.abort.signal.aborted) {
    if (message) {
      message.content = [{ type: 'output_text', text, annotations: [], logprobs: [] }];
      message.status = 'incomplete';
    }
    state.status = 'cancelled';
    await a.save();
    return;
  }
  const end = endOf(reason);
  if (!message && !calls.length) openMessage();
  start();
  closeMessage(end.status === 'completed' ? 'completed' : 'incomplete');
  for (const call of calls) {
    const index = state.output.length;
    state.output.push(call);
    send('response.output_item.added', { output_index: index, item: { ...call, status: 'in_progress', arguments: '' } });
    send('response.function_call_arguments.delta', { item_id: call.id, output_index: index, delta: call.arguments });
    send('response.function_call_arguments.done', { item_id: call.id, output_index: index, name: call.name, arguments: call.arguments });
    send('response.output_item.done', { output_index: index, item: call });
  }
  Object.assign(state, { status: end.status, incomplete: end.incomplete, completedAt: end.status === 'completed' ? new Date() : null, usage: toResponseUsage(usage) });
  await a.save();
  await a.release();
  send(end.status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseObject(a.echo, state) });
  res.end();
  await a.recordTurn(text);
}
