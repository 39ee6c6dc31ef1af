/**
 * The conversation a request carries, turned into the messages the agent gets: user text
 * and images, assistant turns with their tool calls, and tool results paired with the
 * call they answer. API-neutral: Chat Completions (chat/) and the Responses API convert
 * their own shapes (messages / input items) into ConversationItem[], each item carrying
 * the param names its errors use.
 *
 * What Mastra's memory keeps of a client tool call (@mastra/core 1.71): the turn that made
 * it is stored as an assistant message with a tool-invocation part in state 'call' (no
 * result); such parts are left out of later prompts. A tool result added in the next turn
 * becomes a stored assistant message with the invocation in state 'result'; its arguments
 * come from the tool-result part's `input` when the call is not among that run's own
 * messages (MessageList looks only there), so `input` is always set here, from the
 * request's assistant message or from the thread. The model then sees the assistant
 * tool_call and the tool message with the same id (test/server/client-tools.test.ts).
 */
import type { Memory } from '@mastra/memory';
import { pgText } from '../../util/text';
import { parseArguments } from './client-tools';
import { errors } from './errors';
import { dataUrlBytes, decodeDataUrl, ImageHold, imagesBusy, imagesTooLarge, resolveImage, type ImageOptions, type ResolvedImage } from './images';

/** At most this many http(s) image URLs are fetched for one request. */
export const MAX_IMAGE_URLS = 8;

export type ItemPart = { type: 'text'; text: string } | { type: 'image'; url: string; param: string };

export type ConversationItem =
  | { role: 'user'; content: string | ItemPart[] }
  | { role: 'assistant'; text: string; toolCalls: Array<{ id: string; name: string; arguments: string }> }
  /** A tool result for the call `callId`; `param` names that id in errors. */
  | { role: 'tool'; callId: string; output: string; param: string }
  /** A legacy function result: answers the latest call of `name`; `param` names the name in errors. */
  | { role: 'function'; name: string; output: string; param: string };

/** The messages handed to the agent (AI SDK model-message shapes, which Mastra's MessageList takes). */
export type UserPart = { type: 'text'; text: string } | { type: 'image'; image: string; mediaType: string };
export type AgentMessage =
  | { role: 'user'; content: string | UserPart[] }
  | { role: 'assistant'; content: string | Array<{ type: 'text'; text: string } | { type: 'tool-call'; toolCallId: string; toolName: string; input: unknown }> }
  | { role: 'tool'; content: Array<{ type: 'tool-result'; toolCallId: string; toolName: string; output: { type: 'text'; value: string }; input: unknown }> };

/** A tool call known for this conversation (from the request or the thread's memory). */
export interface KnownCall {
  name: string;
  args: unknown;
}

export interface BuildContext {
  /** Items before this index are already in the thread's memory: they only name calls. */
  start: number;
  /** Tool calls stored in the thread, looked up only when a result answers a call the request does not carry; undefined without a thread. */
  storedCalls?: () => Promise<Map<string, KnownCall>>;
  images: ImageOptions;
  signal?: AbortSignal;
  /** What the request holds of the process's image bytes, released by the caller when the request ends; without it, released once resolved. */
  hold?: ImageHold;
  /** How the list is named in errors (`messages`, `input`). */
  listParam: string;
  /**
   * Chat Completions: a conversation may end in an assistant message without tool calls
   * (a prefill, sent last for the model to continue) or hold no messages but system ones.
   */
  allowPrefill?: boolean;
}

/**
 * The agent's messages for the new items (from `ctx.start`), and the user texts among
 * them. Throws a 400 naming the param for a result that answers no call, a bad image, or
 * a conversation that does not end with a user message or tool results.
 */
export async function buildAgentInput(items: ConversationItem[], ctx: BuildContext): Promise<{ messages: AgentMessage[]; userTexts: string[] }> {
  const fresh = items.slice(ctx.start);
  const lastItem = fresh[fresh.length - 1];
  const last = lastItem?.role;
  const prefill = ctx.allowPrefill && lastItem?.role === 'assistant' && !lastItem.toolCalls.length;
  const systemOnly = ctx.allowPrefill && !items.length;
  if (!systemOnly && !prefill && (!fresh.length || (last !== 'user' && last !== 'tool' && last !== 'function'))) {
    throw errors.invalidBody("The last message must be a user message, or tool results answering the assistant's tool calls (after any system messages).", ctx.listParam);
  }

  let stored: Map<string, KnownCall> | undefined;
  const fromStore = async () => (stored ??= ctx.storedCalls ? await ctx.storedCalls() : new Map<string, KnownCall>());
  /** The call `id` made before item `before` (in the request), or one stored in the thread. */
  const findCall = async (id: string, before: number): Promise<KnownCall | undefined> => {
    for (let k = before - 1; k >= 0; k--) {
      const it = items[k]!;
      if (it.role !== 'assistant') continue;
      const c = it.toolCalls.find((x) => x.id === id);
      if (c) return { name: c.name, args: parseArguments(c.arguments) };
    }
    return (await fromStore()).get(id);
  };
  /** The id of the latest call of `name` before item `before`, in the request or the thread. */
  const latestCallOf = async (name: string, before: number): Promise<{ id: string; call: KnownCall } | undefined> => {
    for (let k = before - 1; k >= 0; k--) {
      const it = items[k]!;
      if (it.role !== 'assistant') continue;
      const c = [...it.toolCalls].reverse().find((x) => x.name === name);
      if (c) return { id: c.id, call: { name, args: parseArguments(c.arguments) } };
    }
    let found: { id: string; call: KnownCall } | undefined;
    for (const [id, call] of await fromStore()) if (call.name === name) found = { id, call }; // the newest
    return found;
  };

  // Images of the new user messages, fetched/decoded at once (bounded count).
  const images = await resolveImages(
    fresh.flatMap((it) => (it.role === 'user' && typeof it.content !== 'string' ? it.content : [])),
    ctx,
  );

  const messages: AgentMessage[] = [];
  const userTexts: string[] = [];
  for (let k = ctx.start; k < items.length; k++) {
    const it = items[k]!;
    switch (it.role) {
      case 'user': {
        if (typeof it.content === 'string') {
          const text = pgText(it.content);
          userTexts.push(text);
          messages.push({ role: 'user', content: text });
          break;
        }
        const user = userMessage(it.content, images);
        userTexts.push(user.text);
        messages.push(user.message);
        break;
      }
      case 'assistant': {
        const text = pgText(it.text);
        if (!it.toolCalls.length) {
          messages.push({ role: 'assistant', content: text });
          break;
        }
        messages.push({
          role: 'assistant',
          content: [...(text ? [{ type: 'text' as const, text }] : []), ...it.toolCalls.map((c) => ({ type: 'tool-call' as const, toolCallId: c.id, toolName: c.name, input: parseArguments(c.arguments) }))],
        });
        break;
      }
      case 'tool': {
        const call = await findCall(it.callId, k);
        if (!call) throw errors.invalidBody(`Invalid value for '${it.param}': no tool call with the id ${JSON.stringify(it.callId.slice(0, 256))} precedes this tool result.`, it.param);
        messages.push({ role: 'tool', content: [{ type: 'tool-result', toolCallId: it.callId, toolName: call.name, output: { type: 'text', value: pgText(it.output) }, input: call.args }] });
        break;
      }
      case 'function': {
        const found = await latestCallOf(it.name, k);
        if (!found) throw errors.invalidBody(`Invalid value for '${it.param}': no function_call of \`${it.name.slice(0, 64)}\` precedes this function message.`, it.param);
        messages.push({ role: 'tool', content: [{ type: 'tool-result', toolCallId: found.id, toolName: it.name, output: { type: 'text', value: pgText(it.output) }, input: found.call.args }] });
        break;
      }
    }
  }
  return { messages, userTexts };
}

/**
 * Resolves the image parts among `parts` (data: URLs decoded, at most MAX_IMAGE_URLS
 * http(s) URLs fetched through the guard), all at once; keyed by each part's param.
 * Bounded before anything is decoded or fetched: the data: URLs' sizes (from their
 * length) must fit IMAGE_MAX_TOTAL_BYTES (413 images_too_large), and the bytes the request
 * may need (data: sizes, IMAGE_MAX_BYTES per URL) are taken from the process's
 * IMAGE_MAX_INFLIGHT_BYTES (503 images_busy); fetched images are counted again at their size.
 */
export async function resolveImages(parts: ItemPart[], ctx: Pick<BuildContext, 'images' | 'signal' | 'hold'>): Promise<Map<string, ResolvedImage>> {
  const jobs = parts.filter((p): p is Extract<ItemPart, { type: 'image' }> => p.type === 'image');
  const images = new Map<string, ResolvedImage>();
  if (!jobs.length) return images;
  const remote = jobs.filter((j) => !/^data:/i.test(j.url));
  if (remote.length > MAX_IMAGE_URLS) {
    const p = remote[MAX_IMAGE_URLS]!.param;
    throw errors.invalidBody(`Invalid value for '${p}': at most ${MAX_IMAGE_URLS} image URLs per request; send more as data: URLs.`, p);
  }
  const o = ctx.images;
  const maxTotal = o.maxTotalBytes ?? Infinity;
  let declared = 0;
  for (const j of jobs) {
    if (remote.includes(j)) continue;
    declared += Math.min(dataUrlBytes(j.url), o.maxBytes + 3); // one over the image limit is refused by its part anyway
    if (declared > maxTotal) throw imagesTooLarge(declared, maxTotal, j.param);
  }
  const hold = ctx.hold ?? new ImageHold(o.gate);
  // What the request may come to hold: never more than its own limit plus one image URL's worth (fetchRemote).
  const wanted = Math.min(declared + remote.length * o.maxBytes, remote.length ? maxTotal + o.maxBytes : maxTotal);
  if (!hold.take(wanted)) throw imagesBusy();
  try {
    let total = 0;
    for (const j of jobs) {
      if (remote.includes(j)) continue;
      const img = resolveDataImage(j.url, o, j.param);
      images.set(j.param, img);
      total += img.bytes;
      if (total > maxTotal) throw imagesTooLarge(total, maxTotal, j.param);
    }
    total = await fetchRemote(remote, images, total, maxTotal, o, ctx.signal);
    // Image URLs were counted at IMAGE_MAX_BYTES each: keep only what they hold.
    hold.give(Math.max(0, wanted - total));
  } finally {
    if (!ctx.hold) hold.release();
  }
  return images;
}

/** A data: URL's image (decoded once, synchronously). */
function resolveDataImage(url: string, o: ImageOptions, param: string): ResolvedImage {
  return decodeDataUrl(url, o.maxBytes, param);
}

/**
 * Fetches the image URLs, as many at once as the request's remaining IMAGE_MAX_TOTAL_BYTES
 * allows at IMAGE_MAX_BYTES each (at least one), so a request never holds much more than
 * its limit (at most one image URL's worth over it); the first image that takes the total
 * over the limit ends the request with 413 and cancels the fetches still running. Resolves
 * to the total bytes.
 */
function fetchRemote(jobs: Array<{ url: string; param: string }>, images: Map<string, ResolvedImage>, start: number, maxTotal: number, o: ImageOptions, signal?: AbortSignal): Promise<number> {
  if (!jobs.length) return Promise.resolve(start);
  const stop = new AbortController();
  const both = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const queue = [...jobs];
  let total = start;
  let running = 0;
  let done = false;
  return new Promise<number>((resolve, reject) => {
    const fail = (err: unknown) => {
      if (done) return;
      done = true;
      stop.abort();
      reject(err);
    };
    const next = () => {
      if (done) return;
      if (!queue.length && !running) {
        done = true;
        return resolve(total);
      }
      while (queue.length && (running === 0 || total + (running + 1) * o.maxBytes <= maxTotal)) {
        const j = queue.shift()!;
        running++;
        resolveImage(j.url, o, j.param, both).then(
          (img) => {
            running--;
            if (done) return;
            images.set(j.param, img);
            total += img.bytes;
            if (total > maxTotal) return fail(imagesTooLarge(total, maxTotal, j.param));
            next();
          },
          (err) => {
            running--;
            fail(err);
          },
        );
      }
    };
    next();
  });
}

/** A user message of text and (resolved) image parts, and its text alone (what the mirror records). */
export function userMessage(content: ItemPart[], images: Map<string, ResolvedImage>): { message: Extract<AgentMessage, { role: 'user' }>; text: string } {
  const parts = content.map((p): UserPart => {
    if (p.type === 'text') return { type: 'text', text: pgText(p.text) };
    const img = images.get(p.param)!;
    return { type: 'image', image: img.data, mediaType: img.mediaType };
  });
  const text = pgText(content.map((p) => (p.type === 'text' ? p.text : '')).join(''));
  // Text only: one string, as before images existed (what memory and the mirror store).
  return { message: { role: 'user', content: parts.every((p) => p.type === 'text') ? parts.map((p) => (p as { text: string }).text).join('') : parts }, text };
}

/** The tool calls stored in a thread (Mastra's tool-invocation parts), newest last. */
export async function storedToolCalls(memory: Memory, threadId: string, resourceId: string): Promise<Map<string, KnownCall>> {
  const out = new Map<string, KnownCall>();
  const { messages } = await memory.recall({ threadId, resourceId, perPage: 100, orderBy: { field: 'createdAt', direction: 'DESC' } });
  for (const msg of [...messages].reverse()) {
    if (msg.role !== 'assistant') continue;
    for (const p of msg.content.parts ?? []) {
      if (p.type !== 'tool-invocation') continue;
      const inv = p.toolInvocation;
      const prev = out.get(inv.toolCallId);
      // A result stored later may carry empty args; keep the call's own.
      const args = inv.args && Object.keys(inv.args as object).length ? inv.args : (prev?.args ?? {});
      out.delete(inv.toolCallId);
      out.set(inv.toolCallId, { name: inv.toolName, args });
    }
  }
  return out;
}
