/**
 * What a Chat Completions transcript carries for finding its thread again without
 * x-thread-id (src/conversations/transcript.ts has the keys): the X-OpenWebUI-Chat-Id
 * rule, the longer message list a resent transcript may have, and its opening exchange.
 */
import { assistantKeyText, type KeyedCall, type OpeningExchange } from '../../../conversations';
import { pgText } from '../../../util/text';
import { chatCompletionRequest, MAX_MESSAGES, textContent, type RequestMessage } from '../schema';

/** X-OpenWebUI-Chat-Id: Open WebUI's chat ids are UUIDs (temporary chats `local:…`); any printable ASCII up to 256. */
export const CHAT_ID = /^[\x21-\x7e]{1,256}$/;

/**
 * At most this many messages in a request whose history is resent (Open WebUI sends the
 * whole chat every turn). Only the messages after the last assistant message of a known
 * thread reach the agent, and those stay capped at MAX_MESSAGES (Mastra's quadratic
 * de-duplication, see schema.ts); validating a long list is linear.
 */
export const MAX_TRANSCRIPT_MESSAGES = 8 * MAX_MESSAGES;
/** The messages of a request longer than MAX_MESSAGES, each checked as in a short one. */
export const transcriptMessages = chatCompletionRequest.shape.messages.element.array().max(MAX_TRANSCRIPT_MESSAGES);

const norm = (c: RequestMessage['content']) => pgText(textContent(c ?? '')).trim();

/** The first user message and the first assistant message after it, as the key sees them. */
export function firstExchange(messages: RequestMessage[]): OpeningExchange | undefined {
  const u = messages.findIndex((m) => m.role === 'user');
  if (u < 0) return undefined;
  const a = messages.findIndex((m, i) => i > u && m.role === 'assistant');
  if (a < 0) return { user: norm(messages[u]!.content) };
  const m = messages[a] as Extract<RequestMessage, { role: 'assistant' }>;
  const calls: KeyedCall[] = [
    ...(m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
    // A legacy function_call carries no id: keyed by name and arguments only.
    ...(m.function_call ? [{ id: 'function_call', name: m.function_call.name, arguments: m.function_call.arguments }] : []),
  ];
  return { user: norm(messages[u]!.content), assistant: assistantKeyText(textContent(m.content) || (m.refusal ?? ''), calls) };
}
