/**
 * `atproto-read-thread` and `atproto-read-profile`: reading without an AppView. A post
 * and its ancestors up to the thread root come from the authors' own PDSes (found via
 * their DID documents); a profile is the actor's profile record plus their latest post
 * records. Without an AppView, the replies listed are the agents' own (atproto_posts) and
 * other accounts' replies seen on the firehose in the agents' threads
 * (atproto_thread_replies). With APPVIEW_URL set, the AppView's views are used instead
 * (they also know replies the firehose trigger never saw, and counts).
 */
import { createTool } from '@mastra/core/tools';
import { z } from 'zod';
import type { AtprotoClients, RecordView } from '../../clients/atproto/clients';
import { parseAtUri } from '../../clients/atproto/clients';
import { toAtprotoError } from '../../clients/atproto/errors';
import { run, type AtprotoToolDeps } from './common';
import { toolResult } from '../result';

export const postView = z.object({
  uri: z.string(),
  cid: z.string(),
  author: z.object({ did: z.string(), handle: z.string().optional() }),
  text: z.string(),
  createdAt: z.string().optional(),
  langs: z.array(z.string()).optional(),
  embed: z.string().optional().describe('the embed type, if any'),
  automated: z.boolean().describe('the post carries the "bot" self-label'),
  replyTo: z.string().optional().describe('URI of the parent post'),
});
export type PostView = z.infer<typeof postView>;

interface PostRecord {
  text?: string;
  createdAt?: string;
  langs?: string[];
  embed?: { $type?: string };
  labels?: { values?: Array<{ val: string }> };
  reply?: { root: { uri: string }; parent: { uri: string } };
}

export function isAutomatedRecord(v: { labels?: { values?: Array<{ val: string }> } }): boolean {
  return !!v.labels?.values?.some((l) => l.val === 'bot');
}

export async function toPostView(clients: AtprotoClients, r: RecordView<PostRecord>): Promise<PostView> {
  const did = parseAtUri(r.uri).host;
  return {
    uri: r.uri,
    cid: r.cid,
    author: { did, handle: await clients.resolveHandleOf(did).catch(() => undefined) },
    text: r.value.text ?? '',
    createdAt: r.value.createdAt,
    langs: r.value.langs,
    embed: r.value.embed?.$type,
    automated: isAutomatedRecord(r.value),
    replyTo: r.value.reply?.parent.uri,
  };
}

/** The post and its ancestors, root first (at most `depth` ancestors). */
export async function readThreadFromRepos(clients: AtprotoClients, uri: string, depth: number): Promise<{ post: PostView; ancestors: PostView[]; rootUri: string; truncated: boolean }> {
  parseAtUri(uri, 'app.bsky.feed.post');
  const rec = await clients.getRecord<PostRecord>(uri);
  const post = await toPostView(clients, rec);
  const ancestors: PostView[] = [];
  let parent = rec.value.reply?.parent.uri;
  const rootUri = rec.value.reply?.root.uri ?? rec.uri;
  let truncated = false;
  while (parent) {
    if (ancestors.length >= depth) {
      truncated = true;
      break;
    }
    const p = await clients.findRecord<PostRecord>(parent);
    if (!p) {
      ancestors.unshift({ uri: parent, cid: '', author: { did: parseAtUri(parent).host }, text: '(deleted or unavailable)', automated: false });
      break;
    }
    ancestors.unshift(await toPostView(clients, p));
    parent = p.value.reply?.parent.uri;
  }
  return { post, ancestors, rootUri, truncated };
}

export function createReadThreadTool(d: AtprotoToolDeps) {
  return createTool({
    id: 'atproto-read-thread',
    description: 'Read a post (at:// URI) with its thread context: the posts above it up to the thread root, and known replies.',
    inputSchema: z.object({ uri: z.string().describe('at:// URI of the post'), depth: z.number().int().min(0).max(50).default(10).describe('how many ancestors to read') }),
    outputSchema: toolResult({
      post: postView,
      ancestors: z.array(postView),
      replies: z.array(z.object({ uri: z.string(), text: z.string(), author: z.string(), automated: z.boolean().optional() })).describe('direct replies: from the AppView, else those known here (the agents\' own and other accounts\' seen on the firehose)'),
      rootUri: z.string(),
      truncated: z.boolean(),
      source: z.enum(['repos', 'appview']),
    }),
    execute: async ({ uri, depth }) =>
      run(d, 'atproto-read-thread', async () => {
        const t = await readThreadFromRepos(d.clients, uri, depth ?? 10);
        if (d.clients.appView) {
          try {
            const res = await d.clients.appView.app.bsky.feed.getPostThread({ uri: t.post.uri, depth: 1, parentHeight: 0 });
            const thread = res.data.thread as { replies?: Array<{ post?: { uri: string; author: { handle: string }; record: { text?: string } } }> };
            const replies = (thread.replies ?? []).flatMap((r) => (r.post ? [{ uri: r.post.uri, text: r.post.record.text ?? '', author: r.post.author.handle }] : []));
            return { ...t, replies, source: 'appview' as const };
          } catch (err) {
            d.logger.warn('AppView thread read failed; using repos', { error: toAtprotoError(err, 'getPostThread') });
          }
        }
        const known = await d.store.repliesTo(t.post.uri);
        return { ...t, replies: known, source: 'repos' as const };
      }),
  });
}

export function createReadProfileTool(d: AtprotoToolDeps) {
  return createTool({
    id: 'atproto-read-profile',
    description: "Read an account's profile (handle or DID) and its most recent posts.",
    inputSchema: z.object({ actor: z.string().min(1).describe('handle or DID'), limit: z.number().int().min(0).max(50).default(10).describe('how many recent posts') }),
    outputSchema: toolResult({
      did: z.string(),
      handle: z.string().optional(),
      displayName: z.string().optional(),
      description: z.string().optional(),
      automated: z.boolean(),
      posts: z.array(postView),
    }),
    execute: async ({ actor, limit }) =>
      run(d, 'atproto-read-profile', async () => {
        const did = await d.clients.resolveDid(actor);
        const handle = await d.clients.resolveHandleOf(did);
        const profile = await d.clients.findRecord<{ displayName?: string; description?: string; labels?: { values?: Array<{ val: string }> } }>(`at://${did}/app.bsky.actor.profile/self`);
        const posts = (limit ?? 10) > 0 ? await d.clients.listRecords<PostRecord>(did, 'app.bsky.feed.post', limit ?? 10) : { records: [] };
        return {
          did,
          handle,
          displayName: profile?.value.displayName,
          description: profile?.value.description,
          automated: profile ? isAutomatedRecord(profile.value) : false,
          posts: await Promise.all(posts.records.map((r) => toPostView(d.clients, r))),
        };
      }),
  });
}
