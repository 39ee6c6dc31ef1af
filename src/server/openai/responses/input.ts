/**
 * The Responses API, the turn's input: the request's items as the agent's messages, its
 * system text and the user texts (what the mirror records).
 */
import { pgText } from '../../../util/text';
import { resolveImages, userMessage, type ItemPart, type UserPart } from '../conversation';
import { errors } from '../errors';
import type { ImageHold, ImageOptions } from '../images';
import type { InputItem } from '../responses-schema';
import type { OutputItem } from './objects';

type ToolCallPart = { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown };
export type AgentMessage =
  | { role: 'user'; content: string | UserPart[] }
  | { role: 'assistant'; content: string | Array<{ type: 'text'; text: string } | ToolCallPart> }
  | { role: 'tool'; content: Array<{ type: 'tool-result'; toolCallId: string; toolName: string; output: { type: 'text'; value: string } }> };

const parseArgs = (s: string): unknown => {
  try {
    return JSON.parse(s);
  } catch {
    return {};
  }
};

/**
 * The request's items as messages for the agent, its system text and the user texts (what
 * the mirror records). With an existing thread only the items after the last assistant
 * message are new (earlier ones are in memory already). A function_call_output needs its
 * function_call: from this input, or from the previous response's output (a client-side
 * call is not kept in memory until its result arrives). input_image parts of the new user
 * messages are resolved as chat completions' image parts are (conversation.ts).
 */
export async function planTurn(
  items: InputItem[],
  instructions: string | null | undefined,
  threadExists: boolean,
  previousOutput: OutputItem[],
  images: { images: ImageOptions; signal?: AbortSignal; hold?: ImageHold },
) {
  const system = [instructions ?? '', ...items.flatMap((i) => (i.type === 'message' && (i.role === 'system' || i.role === 'developer') ? [textOf(i)] : []))]
    .filter(Boolean)
    .join('\n\n');
  let start = 0;
  if (threadExists) {
    for (let i = items.length - 1; i >= 0; i--) {
      const it = items[i]!;
      if (it.type === 'message' && it.role === 'assistant') {
        start = i + 1;
        break;
      }
    }
  }
  const fresh = items.slice(start).filter((i) => !(i.type === 'message' && (i.role === 'system' || i.role === 'developer')));
  const partsOf = (it: Extract<InputItem, { role: 'user' }>): ItemPart[] =>
    it.content.map((c, j) => (c.type === 'input_text' ? { type: 'text', text: c.text } : { type: 'image', url: c.image_url, param: `input[${items.indexOf(it)}].content[${j}].image_url` }));
  const resolved = await resolveImages(
    fresh.flatMap((i) => (i.type === 'message' && i.role === 'user' ? partsOf(i) : [])),
    images,
  );
  const userTexts: string[] = [];
  const calls = new Map<string, string>();
  for (const it of items) if (it.type === 'function_call') calls.set(it.call_id, it.name);
  const messages: AgentMessage[] = [];
  const pushCall = (part: ToolCallPart) => {
    const last = messages.at(-1);
    if (last?.role === 'assistant' && Array.isArray(last.content)) last.content.push(part);
    else messages.push({ role: 'assistant', content: [part] });
  };
  // Calls of the previous response whose results arrive now, re-sent ahead of them.
  const answered = new Set(fresh.flatMap((i) => (i.type === 'function_call_output' ? [i.call_id] : [])));
  const inFresh = new Set(fresh.flatMap((i) => (i.type === 'function_call' ? [i.call_id] : [])));
  for (const o of previousOutput) {
    if (o.type === 'function_call' && answered.has(o.call_id) && !inFresh.has(o.call_id)) {
      calls.set(o.call_id, o.name);
      pushCall({ type: 'tool-call', toolCallId: o.call_id, toolName: o.name, input: parseArgs(o.arguments) });
    }
  }
  fresh.forEach((it) => {
    const index = items.indexOf(it);
    if (it.type === 'message' && it.role === 'user') {
      const user = userMessage(partsOf(it), resolved);
      userTexts.push(user.text);
      messages.push(user.message);
    } else if (it.type === 'message') {
      messages.push({ role: 'assistant', content: textOf(it) });
    } else if (it.type === 'function_call') {
      pushCall({ type: 'tool-call', toolCallId: it.call_id, toolName: it.name, input: parseArgs(it.arguments) });
    } else {
      const name = calls.get(it.call_id);
      if (!name) throw errors.invalidBody(`Invalid value for 'input[${index}].call_id': no function_call with this call_id precedes it (in this input or the previous response).`, `input[${index}].call_id`);
      const result = { type: 'tool-result' as const, toolCallId: it.call_id, toolName: name, output: { type: 'text' as const, value: it.output } };
      const last = messages.at(-1);
      if (last?.role === 'tool') last.content.push(result);
      else messages.push({ role: 'tool', content: [result] });
    }
  });
  const last = messages.at(-1);
  if (!last || last.role === 'assistant') {
    throw errors.invalidBody('The input must end with a user message or a function_call_output (after any system or developer messages).', 'input');
  }
  return { system: pgText(system) || undefined, messages, userTexts };
}

const textOf = (m: Extract<InputItem, { type: 'message' }>) => m.content.map((c) => ('text' in c ? c.text : '')).join('');
