/**
 * The mention policy: whether an agent answers a post that mentions it or replies to it.
 * Decided in two places, both from here:
 *   - at intake (src/features/atproto/trigger.ts): reply mode (ATPROTO_REPLY_MODE[_<NAME>])
 *     and age (ATPROTO_MAX_MENTION_AGE) decide whether the mention row is recorded as
 *     skipped; the age also says whether it is catch-up backlog (ATPROTO_CATCHUP_LAG);
 *   - before drafting (the `policy` step of reply-to-mention.ts): a paused agent holds the
 *     mention; age again (held while paused, or retried late), the agent's own post, the
 *     blocklist, the loop guard for automated accounts, the per-thread and hourly limits.
 */
import { replyModeOf, type AtprotoConfig, type AtprotoLiveConfig } from '../../config';
import type { AtprotoStore } from '../../stores/atproto/store';

/** How the post reaches the agent: it names the agent, or it only replies to one of its posts. */
export type MentionKind = 'mention' | 'reply';

/** How long ago a post was made (0 when unknown). */
export function mentionAgeMs(time: Date | string | undefined, now = Date.now()): number {
  if (time === undefined) return 0;
  return now - (typeof time === 'string' ? Date.parse(time) : time.getTime());
}

/** At intake: why the mention is recorded as skipped, or undefined when it is queued for an answer. */
export function intakeSkipReason(live: AtprotoLiveConfig, agent: string, kind: MentionKind, ageMs: number): string | undefined {
  const mode = replyModeOf(live, agent);
  if (mode === 'off') return 'reply mode off (ATPROTO_REPLY_MODE)';
  if (mode === 'mentions' && kind === 'reply') return 'reply mode "mentions": a reply to the agent without a mention is not answered';
  if (live.maxMentionAgeMs > 0 && ageMs > live.maxMentionAgeMs)
    return `too old: seen ${Math.round(ageMs / 1000)} s after it was posted (ATPROTO_MAX_MENTION_AGE ${Math.round(live.maxMentionAgeMs / 1000)} s)`;
  return undefined;
}

/** A mention seen this late is catch-up backlog: answered, but paced (ATPROTO_CATCHUP_INTERVAL). */
export function isBacklog(live: AtprotoLiveConfig, ageMs: number): boolean {
  return ageMs > live.catchupLagMs;
}

export type ReplyDecision = { action: 'answer' } | { action: 'hold'; reason: string } | { action: 'skip'; reason: string };

export interface ReplyPolicyInput {
  agent: string;
  /** The DID of the agent's account. */
  agentDid: string;
  authorDid: string;
  rootUri: string;
  /** When the mentioning post was made (ISO). */
  eventTime?: string;
  /** The author labels itself (or the post) as automated. */
  automatedAuthor?: boolean;
}

export interface ReplyPolicyDeps {
  config: Pick<AtprotoConfig, 'blocklist' | 'maxRepliesPerThread' | 'maxPostsPerHour' | 'live'>;
  store: Pick<AtprotoStore, 'isPaused' | 'repliesToAuthorInThread' | 'repliesInThread' | 'postsInLastHour'>;
  /** The author's handle, undefined when it cannot be resolved. */
  handleOf(did: string): Promise<string | undefined>;
}

/** Before drafting: answer, hold (the agent is paused: answered after resume) or skip, with why. */
export async function replyDecision(m: ReplyPolicyInput, deps: ReplyPolicyDeps): Promise<ReplyDecision> {
  const { config: cfg, store } = deps;
  const skip = (reason: string): ReplyDecision => ({ action: 'skip', reason });
  if (await store.isPaused(m.agent)) return { action: 'hold', reason: 'held: the agent is paused' };
  const maxAge = cfg.live.maxMentionAgeMs;
  const ageMs = mentionAgeMs(m.eventTime);
  if (maxAge > 0 && ageMs > maxAge) return skip(`too old: ${Math.round(ageMs / 1000)} s after it was posted (ATPROTO_MAX_MENTION_AGE ${Math.round(maxAge / 1000)} s)`);
  if (m.authorDid === m.agentDid) return skip('the post is the agent’s own');
  const handle = await deps.handleOf(m.authorDid);
  if (cfg.blocklist.includes(m.authorDid.toLowerCase()) || (handle && cfg.blocklist.includes(handle.toLowerCase()))) return skip('author is on the blocklist');
  // Automated accounts (ours or others'): answer at most once per thread, never back and forth.
  if (m.automatedAuthor && (await store.repliesToAuthorInThread(m.agent, m.rootUri, m.authorDid)) >= 1)
    return skip('loop guard: already answered this automated account in this thread');
  if (cfg.maxRepliesPerThread > 0 && (await store.repliesInThread(m.agent, m.rootUri)) >= cfg.maxRepliesPerThread)
    return skip(`per-thread limit reached (${cfg.maxRepliesPerThread})`);
  if (cfg.maxPostsPerHour > 0 && (await store.postsInLastHour(m.agent)) >= cfg.maxPostsPerHour) return skip(`hourly limit reached (${cfg.maxPostsPerHour} posts)`);
  return { action: 'answer' };
}
