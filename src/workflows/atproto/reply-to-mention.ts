/**
 * `reply-to-mention`: answer one post that mentions an agent or replies to it.
 *   claim → context → policy → draft → approve (optional suspend) → publish
 *
 * Exactly one reply per mention, even across crashes: the mention row in Postgres is
 * claimed with a lease before any work; the draft is saved once; the reply's record key
 * is fixed in the row before the write, and the PDS is asked for that record before
 * writing, so a run that died after the write finds the reply instead of posting again.
 * Dry-run runs every step and records the would-be reply instead of writing it.
 */
import { createStep, createWorkflow } from '@mastra/core/workflows';
import { z } from 'zod';
import { parseAtUri } from '../../clients/atproto/clients';
import { RateLimitedError, toAtprotoError } from '../../clients/atproto/errors';
import { fitsOnePost, MAX_GRAPHEMES, nextTid, publishPost, splitText } from '../../clients/atproto/posting';
import type { MentionRow } from '../../stores/atproto/store';
import { clientOf, type AppContext } from '../../clients/context';
import { secretIn } from '../../util/secrets';
import { readThreadFromRepos, type PostView } from '../../tools/atproto/read';
import { replyDecision } from './mention-policy';

export const MENTION_LEASE_MS = 60_000;
const MAX_ATTEMPTS = 5;

const stateSchema = z.object({
  mentionUri: z.string(),
  agent: z.string(),
  dryRun: z.boolean().optional(),
  done: z.boolean(),
  status: z.string().optional(),
  reason: z.string().optional(),
  /** A stable code when the run refused or failed (SECRET_DETECTED, TEXT_TOO_LONG, PDS_ERROR, …). */
  code: z.string().optional(),
  authorDid: z.string().optional(),
  rootUri: z.string().optional(),
  /** When the mentioning post was made (ISO), for ATPROTO_MAX_MENTION_AGE. */
  eventTime: z.string().optional(),
  thread: z.string().optional(),
  automatedAuthor: z.boolean().optional(),
  draft: z.string().optional(),
  replyUri: z.string().optional(),
});
type State = z.infer<typeof stateSchema>;

export const replyToMentionInput = z.object({
  mentionUri: z.string().describe('at:// URI of the post that mentions or answers the agent'),
  agent: z.string().default('social').describe('the agent that answers'),
  dryRun: z.boolean().optional().describe('record the reply instead of posting it (default: ATPROTO_DRY_RUN)'),
});

function renderThread(ancestors: PostView[], post: PostView, others: PostView[] = []): string {
  const line = (p: PostView) => `@${p.author.handle ?? p.author.did}${p.automated ? ' [automated]' : ''}: ${p.text}`;
  const chain = [...ancestors.map(line), `>>> ${line(post)}`].join('\n');
  return others.length ? `${chain}\n\nOther replies in this thread:\n${others.map(line).join('\n')}` : chain;
}

/**
 * The model's draft without wrapping quotes. Long text is handled as the post tool does
 * (ATPROTO_LONG_TEXT): `split` keeps it whole and it is posted as a self-reply thread;
 * `refuse` shortens it to one post (an autonomous run has nobody to ask to shorten it).
 */
export function cleanDraft(text: string, longText: 'split' | 'refuse' = 'split'): string {
  let t = text.trim().replace(/^["“](.*)["”]$/s, '$1').trim();
  if (longText === 'refuse' && !fitsOnePost(t)) t = splitText(t, MAX_GRAPHEMES - 1)[0]! + '…';
  return t;
}

/** The refusal of a draft holding key material: the secret is neither posted, stored nor echoed. */
export function secretRefusal(text: string | undefined): string | undefined {
  const e = secretIn('draft', text);
  return e ? `${e.code}: ${e.message}; nothing was posted` : undefined;
}

export function createReplyToMentionWorkflow(ctx: AppContext) {
  const clients = () => clientOf(ctx, 'atproto');
  const store = clients().store;
  const cfg = ctx.config.atproto;
  const logger = ctx.logger.child({ feature: 'atproto', workflow: 'reply-to-mention' });

  /** Ends the run: the mention row gets its final status and why; the run's state says the same. */
  const end = async (s: State, status: Exclude<MentionRow['status'], 'running' | 'awaiting_approval'>, o: { reason?: string; code?: string; replyUri?: string } = {}): Promise<State> => {
    await store.finishMention(s.mentionUri, s.agent, status, { reason: o.reason, replyUri: o.replyUri });
    if (status === 'skipped') logger.info('mention skipped', { agent: s.agent, uri: s.mentionUri, code: o.code, reason: o.code === 'SECRET_DETECTED' ? 'key material in the draft' : o.reason });
    // A refused draft is neither kept in the state nor handed on.
    return { ...s, ...(o.code === 'SECRET_DETECTED' ? { draft: undefined } : {}), done: true, status, ...o };
  };
  const refuseSecret = (s: State, text: string | undefined) => {
    const refused = secretRefusal(text);
    return refused ? end(s, 'skipped', { code: 'SECRET_DETECTED', reason: refused }) : undefined;
  };

  const claim = createStep({
    id: 'claim',
    inputSchema: replyToMentionInput,
    outputSchema: stateSchema,
    execute: async ({ inputData, runId }) => {
      const { mentionUri, agent } = inputData;
      const base: State = { mentionUri, agent: agent ?? 'social', dryRun: inputData.dryRun, done: false };
      const account = clients().account(base.agent);
      parseAtUri(mentionUri, 'app.bsky.feed.post');
      let row = await store.getMention(mentionUri, base.agent);
      if (!row) {
        // Started by hand (API/Studio) for a post the firehose has not seen: record it first.
        const rec = await clients().getRecord<{ text?: string; reply?: { root: { uri: string; cid: string } } }>(mentionUri);
        const authorDid = parseAtUri(rec.uri).host;
        await store.addMention({
          mention_uri: rec.uri,
          agent: base.agent,
          agent_did: account.did,
          author_did: authorDid.startsWith('did:') ? authorDid : await clients().resolveDid(authorDid),
          mention_cid: rec.cid,
          root_uri: rec.value.reply?.root.uri ?? rec.uri,
          root_cid: rec.value.reply?.root.cid ?? rec.cid,
          text: rec.value.text ?? '',
        });
        row = await store.getMention(mentionUri, base.agent);
      }
      const claimed = await store.claimMention(mentionUri, base.agent, runId, MENTION_LEASE_MS);
      if (!claimed) return { ...base, done: true, status: row?.status ?? 'unknown', reason: 'already handled or being handled by another run' };
      return { ...base, authorDid: claimed.author_did, rootUri: claimed.root_uri, draft: claimed.draft ?? undefined, eventTime: claimed.event_time ? new Date(claimed.event_time).toISOString() : undefined };
    },
  });

  const context = createStep({
    id: 'context',
    inputSchema: stateSchema,
    outputSchema: stateSchema,
    execute: async ({ inputData: s }) => {
      if (s.done) return s;
      // The chain to the root, the replies known elsewhere in the thread (the agents' and, from
      // the firehose, other accounts') and the author's profile are read side by side.
      const [t, known, profile] = await Promise.all([
        readThreadFromRepos(clients(), s.mentionUri, 8),
        store.threadPosts(s.rootUri!, 10),
        clients()
          .findRecord<{ labels?: { values?: Array<{ val: string }> } }>(`at://${s.authorDid}/app.bsky.actor.profile/self`)
          .catch(() => null),
      ]);
      const automated = t.post.automated || !!profile?.value.labels?.values?.some((l) => l.val === 'bot');
      const inChain = new Set([t.post.uri, ...t.ancestors.map((p) => p.uri)]);
      const others = await Promise.all(
        known
          .filter((p) => !inChain.has(p.uri))
          .map(async (p): Promise<PostView> => ({ uri: p.uri, cid: '', text: p.text, automated: p.automated, author: { did: p.did, handle: await clients().resolveHandleOf(p.did).catch(() => undefined) } })),
      );
      return { ...s, thread: renderThread(t.ancestors, t.post, others), automatedAuthor: automated };
    },
  });

  const policy = createStep({
    id: 'policy',
    inputSchema: stateSchema,
    outputSchema: stateSchema,
    execute: async ({ inputData: s }) => {
      if (s.done) return s;
      // Autonomy controls (mention-policy.ts): a paused agent holds the mention (pending, answered
      // after resume); one older than ATPROTO_MAX_MENTION_AGE by now is skipped, and so on.
      const decision = await replyDecision(
        { agent: s.agent, agentDid: clients().account(s.agent).did, authorDid: s.authorDid!, rootUri: s.rootUri!, eventTime: s.eventTime, automatedAuthor: s.automatedAuthor },
        { config: cfg, store, handleOf: (did) => clients().resolveHandleOf(did).catch(() => undefined) },
      );
      if (decision.action === 'hold') {
        await store.finishMention(s.mentionUri, s.agent, 'pending', { reason: decision.reason });
        return { ...s, done: true, status: 'pending', reason: decision.reason };
      }
      if (decision.action === 'skip') return end(s, 'skipped', { reason: decision.reason });
      return s;
    },
  });

  const draft = createStep({
    id: 'draft',
    inputSchema: stateSchema,
    outputSchema: stateSchema,
    execute: async ({ inputData: s, mastra }) => {
      if (s.done || s.draft) return s;
      const agent = mastra.getAgent(s.agent);
      const prompt =
        `Someone on Bluesky wrote to you. The thread, oldest first (>>> marks the post to answer):\n\n${s.thread}\n\n` +
        `Write your reply to the marked post: one short post (at most ${MAX_GRAPHEMES} characters), reply text only.`;
      const res = await agent.generate([{ role: 'user', content: prompt }], {
        memory: { resource: `atproto:${s.authorDid}`, thread: `atproto:${s.agent}:${s.rootUri}` },
        toolChoice: 'none',
        activeTools: [],
        maxSteps: 1,
      });
      const text = cleanDraft(res.text ?? '', cfg.longText);
      // Not saved as the draft, not handed to a reviewer, not posted.
      const refused = refuseSecret(s, text);
      if (refused) return refused;
      if (!text) return end(s, 'skipped', { reason: 'the agent drafted nothing' });
      await store.saveDraft(s.mentionUri, s.agent, text);
      const saved = await store.getMention(s.mentionUri, s.agent);
      return { ...s, draft: saved?.draft ?? text };
    },
  });

  const approve = createStep({
    id: 'approve',
    inputSchema: stateSchema,
    outputSchema: stateSchema,
    resumeSchema: z.object({ approved: z.boolean(), text: z.string().optional().describe('replacement reply text') }),
    suspendSchema: z.object({ mentionUri: z.string(), agent: z.string(), thread: z.string().optional(), draft: z.string().optional() }),
    execute: async ({ inputData: s, resumeData, suspend }) => {
      if (s.done || !cfg.requireApproval) return s;
      if (!resumeData) {
        await store.finishMention(s.mentionUri, s.agent, 'awaiting_approval');
        return await suspend({ mentionUri: s.mentionUri, agent: s.agent, thread: s.thread, draft: s.draft });
      }
      if (!resumeData.approved) return end(s, 'skipped', { reason: 'rejected by a reviewer' });
      const text = resumeData.text ? cleanDraft(resumeData.text, cfg.longText) : s.draft;
      return (await refuseSecret(s, text)) ?? { ...s, draft: text };
    },
  });

  const publish = createStep({
    id: 'publish',
    inputSchema: stateSchema,
    outputSchema: stateSchema,
    execute: async ({ inputData: s }) => {
      if (s.done) return s;
      // A draft saved before this check existed (or edited elsewhere) is checked again here.
      const refused = refuseSecret(s, s.draft);
      if (refused) return refused;
      const dryRun = s.dryRun ?? cfg.dryRun;
      // Long drafts become a self-reply thread, as with the post tool (ATPROTO_LONG_TEXT).
      const deps = { clients: clients(), store, longText: cfg.longText, dryRun };
      if (dryRun) {
        await publishPost(deps, s.agent, { text: s.draft!, replyTo: s.mentionUri, dryRun: true });
        return end(s, 'dry_run', { reason: 'dry run: recorded, not posted' });
      }
      const account = clients().account(s.agent);
      const rkey = await store.fixReplyKey(s.mentionUri, s.agent, nextTid());
      const replyUri = `at://${account.did}/app.bsky.feed.post/${rkey}`;
      const posted = () => end(s, 'posted', { replyUri });
      try {
        // Every part's record key follows the fixed first key; `resume` keeps the parts an
        // earlier attempt wrote and writes only the missing ones (exactly once, also for threads).
        await publishPost(deps, s.agent, { text: s.draft!, replyTo: s.mentionUri, rkey, resume: true });
        return posted();
      } catch (err) {
        // A concurrent attempt may have written a one-post reply after all (a thread's missing
        // parts are written by the next attempt, which keeps those already there).
        if (fitsOnePost(s.draft!) && (await clients().findRecord(replyUri).catch(() => null))) return posted();
        const e = toAtprotoError(err, 'posting the reply');
        if (e instanceof RateLimitedError) {
          // Over the PDS's write limit (our budget or its 429): held, answered after retryAt
          // by the recovery sweep; a decision row with reason `rate` meanwhile.
          await store.holdForRate(s.mentionUri, s.agent, e.retryAt);
          logger.info('reply held: rate limit', { agent: s.agent, uri: s.mentionUri, retryAt: e.retryAt.toISOString() });
          return { ...s, done: true, status: 'pending', reason: 'rate', code: e.code };
        }
        const row = await store.getMention(s.mentionUri, s.agent);
        const final = e.code !== 'PDS_ERROR' || (row?.attempts ?? 0) >= MAX_ATTEMPTS;
        logger.warn('reply failed', { agent: s.agent, uri: s.mentionUri, error: e, final });
        return end(s, final ? 'failed' : 'pending', { code: e.code, reason: e.message });
      }
    },
  });

  return createWorkflow({
    id: 'reply-to-mention',
    description: 'Answer a post that mentions an agent (or replies to it) once: context, policy, draft, optional approval, post.',
    inputSchema: replyToMentionInput,
    outputSchema: stateSchema,
  })
    .then(claim)
    .then(context)
    .then(policy)
    .then(draft)
    .then(approve)
    .then(publish)
    .commit();
}

