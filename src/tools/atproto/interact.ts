/**
 * `atproto-like`, `atproto-repost`, `atproto-follow`, `atproto-unfollow`: the small
 * records an agent writes about others (a strong ref to a post, or a DID).
 */
import { createTool } from '@mastra/core/tools';
import { z } from 'zod';
import { parseAtUri } from '../../clients/atproto/clients';
import { AtprotoError, toAtprotoError } from '../../clients/atproto/errors';
import { nextTid } from '../../clients/atproto/posting';
import { actingAgent, run, type AtprotoToolDeps } from './common';
import { toolResult } from '../result';

const writeShape = { uri: z.string().nullable(), cid: z.string().nullable(), dryRun: z.boolean() };

async function writeRecord(d: AtprotoToolDeps, agent: string, collection: string, record: Record<string, unknown>, what: string) {
  if (d.dryRun) {
    await d.store.recordDryRun({ agent, kind: collection.split('.').pop()!, text: what, record });
    return { uri: null, cid: null, dryRun: true };
  }
  const did = d.clients.account(agent).did;
  try {
    const res = await d.clients.withSession(agent, async (a) => (await a.com.atproto.repo.createRecord({ repo: did, collection, rkey: nextTid(), record })).data);
    return { uri: res.uri, cid: res.cid, dryRun: false };
  } catch (err) {
    throw toAtprotoError(err, what);
  }
}

function subjectTool(d: AtprotoToolDeps, id: 'atproto-like' | 'atproto-repost', collection: string, verb: string) {
  return createTool({
    id,
    description: `${verb} a post (given by its at:// URI) as this agent.`,
    inputSchema: z.object({ uri: z.string().describe('at:// URI of the post') }),
    outputSchema: toolResult(writeShape),
    execute: async ({ uri }, context) =>
      run(d, id, async () => {
        const agent = actingAgent(d, context);
        parseAtUri(uri, 'app.bsky.feed.post');
        const post = await d.clients.getRecord(uri);
        return writeRecord(d, agent, collection, { $type: collection, subject: { uri: post.uri, cid: post.cid }, createdAt: new Date().toISOString() }, `${verb.toLowerCase()} ${uri}`);
      }),
  });
}

export const createLikeTool = (d: AtprotoToolDeps) => subjectTool(d, 'atproto-like', 'app.bsky.feed.like', 'Like');
export const createRepostTool = (d: AtprotoToolDeps) => subjectTool(d, 'atproto-repost', 'app.bsky.feed.repost', 'Repost');

export function createFollowTool(d: AtprotoToolDeps) {
  return createTool({
    id: 'atproto-follow',
    description: 'Follow an account (handle such as alice.example.com, or a DID) as this agent.',
    inputSchema: z.object({ actor: z.string().min(1).describe('handle or DID') }),
    outputSchema: toolResult({ ...writeShape, did: z.string(), alreadyFollowing: z.boolean() }),
    execute: async ({ actor }, context) =>
      run(d, 'atproto-follow', async () => {
        const agent = actingAgent(d, context);
        const did = await d.clients.resolveDid(actor);
        const existing = await findFollow(d, agent, did);
        if (existing) return { uri: existing, cid: null, dryRun: false, did, alreadyFollowing: true };
        const r = await writeRecord(d, agent, 'app.bsky.graph.follow', { $type: 'app.bsky.graph.follow', subject: did, createdAt: new Date().toISOString() }, `follow ${actor}`);
        return { ...r, did, alreadyFollowing: false };
      }),
  });
}

/** The agent's follow record for `did`, if any (reads its own repo: no AppView needed). */
async function findFollow(d: AtprotoToolDeps, agent: string, did: string): Promise<string | undefined> {
  const own = d.clients.account(agent).did;
  let cursor: string | undefined;
  for (let page = 0; page < 50; page++) {
    const res = await d.clients.listRecords<{ subject: string }>(own, 'app.bsky.graph.follow', 100, cursor);
    const hit = res.records.find((r) => r.value.subject === did);
    if (hit) return hit.uri;
    if (!res.cursor || res.records.length === 0) return undefined;
    cursor = res.cursor;
  }
  return undefined;
}

export function createUnfollowTool(d: AtprotoToolDeps) {
  return createTool({
    id: 'atproto-unfollow',
    description: 'Stop following an account (handle or DID) as this agent.',
    inputSchema: z.object({ actor: z.string().min(1).describe('handle or DID') }),
    outputSchema: toolResult({ did: z.string(), removed: z.boolean(), dryRun: z.boolean() }),
    execute: async ({ actor }, context) =>
      run(d, 'atproto-unfollow', async () => {
        const agent = actingAgent(d, context);
        const did = await d.clients.resolveDid(actor);
        const follow = await findFollow(d, agent, did);
        if (!follow) return { did, removed: false, dryRun: d.dryRun };
        if (d.dryRun) {
          await d.store.recordDryRun({ agent, kind: 'unfollow', text: `unfollow ${actor}`, record: { delete: follow } });
          return { did, removed: false, dryRun: true };
        }
        const u = parseAtUri(follow);
        await d.clients.withSession(agent, (a) => a.com.atproto.repo.deleteRecord({ repo: u.host, collection: u.collection, rkey: u.rkey }));
        return { did, removed: true, dryRun: false };
      }),
  });
}

export function createDeletePostTool(d: AtprotoToolDeps) {
  return createTool({
    id: 'atproto-delete-post',
    description: "Delete one of this agent's own posts (at:// URI). Posts of other accounts cannot be deleted.",
    inputSchema: z.object({ uri: z.string().describe('at:// URI of the post') }),
    outputSchema: toolResult({ uri: z.string(), deleted: z.boolean(), dryRun: z.boolean() }),
    execute: async ({ uri }, context) =>
      run(d, 'atproto-delete-post', async () => {
        const agent = actingAgent(d, context);
        const u = parseAtUri(uri, 'app.bsky.feed.post');
        const account = d.clients.account(agent);
        const host = u.host.startsWith('did:') ? u.host : await d.clients.resolveDid(u.host);
        if (host !== account.did) throw new AtprotoError('NOT_OWN_POST', `${uri} belongs to ${host}, not to this agent (${account.handle})`);
        const existing = await d.clients.findRecord(uri);
        if (!existing) throw new AtprotoError('RECORD_NOT_FOUND', `no post at ${uri}`);
        if (d.dryRun) {
          await d.store.recordDryRun({ agent, kind: 'delete', text: `delete ${uri}`, record: { delete: uri } });
          return { uri, deleted: false, dryRun: true };
        }
        await d.clients.withSession(agent, (a) => a.com.atproto.repo.deleteRecord({ repo: account.did, collection: u.collection, rkey: u.rkey }));
        await d.store.forgetPost(`at://${account.did}/${u.collection}/${u.rkey}`);
        return { uri, deleted: true, dryRun: false };
      }),
  });
}
