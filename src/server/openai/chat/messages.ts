/**
 * Chat Completions, the turn's input: the request's messages as conversation items
 * (../conversation.ts) and the agent's messages built from them, knowing whether the
 * thread already has history (only the messages after its last assistant turn are new).
 */
import { pgText } from '../../../util/text';
import { buildAgentInput, type BuildContext, type ConversationItem, type ItemPart } from '../conversation';
import { errors } from '../errors';
import { MAX_MESSAGES, textContent, type RequestMessage } from '../schema';

/** An assistant message's words for the history: its text, else the refusal it gave. */
function assistantText(m: Extract<RequestMessage, { role: 'assistant' }>): string {
  const text = textContent(m.content);
  return text || (m.refusal ?? '');
}

/**
 * Splits a Chat Completions request into system text and the conversation items
 * (conversation.ts), and builds the agent's messages from them. With an existing thread
 * only the messages after the last assistant one are new; the earlier ones only name
 * tool calls. A legacy assistant `function_call` gets the id `call_fn_<index>`.
 * - A conversation that ends in an assistant message without tool calls is a prefill: it
 *   is sent as the last message, so a model that supports prefill continues it (others
 *   answer after it), as OpenAI itself accepts such a conversation. An empty one is dropped.
 * - A conversation of system/developer messages only runs with them as the instructions
 *   and no turns (the model answers the instructions).
 */
export async function planMessages(messages: RequestMessage[], ctx: Omit<BuildContext, 'start' | 'listParam'> & { threadExists: boolean }) {
  const system = messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => textContent(m.content));
  const items: ConversationItem[] = [];
  messages.forEach((m, i) => {
    switch (m.role) {
      case 'user':
        items.push({
          role: 'user',
          content:
            typeof m.content === 'string'
              ? m.content
              : m.content.map((p, j): ItemPart =>
                  p.type === 'image_url'
                    ? { type: 'image', url: (p as { image_url: { url: string } }).image_url.url, param: `messages[${i}].content[${j}].image_url.url` }
                    : { type: 'text', text: (p as { text: string }).text },
                ),
        });
        break;
      case 'assistant':
        items.push({
          role: 'assistant',
          text: assistantText(m),
          toolCalls: [
            ...(m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
            ...(m.function_call ? [{ id: `call_fn_${i}`, name: m.function_call.name, arguments: m.function_call.arguments }] : []),
          ],
        });
        break;
      case 'tool':
        items.push({ role: 'tool', callId: m.tool_call_id, output: textContent(m.content), param: `messages[${i}].tool_call_id` });
        break;
      case 'function':
        items.push({ role: 'function', name: m.name, output: m.content ?? '', param: `messages[${i}].name` });
        break;
    }
  });
  const last = items.at(-1);
  let prefill: string | undefined;
  if (last?.role === 'assistant' && !last.toolCalls.length) {
    // An empty final assistant message prefills nothing (some providers refuse empty messages).
    if (!last.text) items.pop();
    else prefill = pgText(last.text);
  }
  const before = prefill !== undefined ? items.length - 1 : items.length;
  const start = ctx.threadExists ? items.slice(0, before).map((it) => it.role).lastIndexOf('assistant') + 1 : 0;
  if (items.length - start > MAX_MESSAGES) {
    throw errors.invalidBody(`Invalid value for 'messages': at most ${MAX_MESSAGES} new messages per request (got ${items.length - start}: a transcript is new unless its thread is known); continue a conversation with x-thread-id and only the new messages.`, 'messages');
  }
  const { messages: out, userTexts } = await buildAgentInput(items, { ...ctx, start, storedCalls: ctx.threadExists ? ctx.storedCalls : undefined, listParam: 'messages', allowPrefill: true });
  return {
    prefill,
    // NUL cannot be stored in Postgres text (memory, synced tables): it becomes U+FFFD.
    system: pgText(system.join('\n\n')) || undefined,
    messages: out,
    userTexts,
  };
}
