/**
 * The notifications source (ATPROTO_NOTIFICATIONS_POLL > 0): when neither the relay /
 * PDS firehose nor Jetstream is connected, each agent's
 * app.bsky.notification.listNotifications (through its PDS's AppView proxy) is polled
 * for `mention` and `reply` notifications. The newest indexedAt handled is the cursor,
 * kept in atproto_cursors (`notifications:<agent>`, ms since the epoch). A notification
 * is confirmed on its author's PDS (getRecord, the CID must match) before it is applied,
 * as Jetstream events are; rows are de-duplicated with the other sources by the
 * mention rows.
 */
import type { AppBskyNotificationListNotifications } from '@atproto/api';
import { clientOf, type AppContext } from '../../clients/context';
import type { MentionProcessor } from './mentions';
import type { PostRecord } from './relevance';
import { CursorTracker, TriggerCore, UnverifiedEvent, type Trigger } from './trigger';

export type ListNotifications = (agent: string, params: { limit: number; cursor?: string }) => Promise<AppBskyNotificationListNotifications.OutputSchema>;

/** One poll of one agent: pages back to the saved cursor, applies what is new, oldest first; returns how many were applied. */
export async function pollNotificationsOnce(core: TriggerCore, agent: string, list: ListNotifications): Promise<number> {
  const name = `notifications:${agent}`;
  const since = (await core.store.getCursor(name)) ?? 0;
  const fresh: AppBskyNotificationListNotifications.Notification[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10; page++) {
    const res = await list(agent, { limit: 50, cursor });
    let older = false;
    for (const n of res.notifications) {
      if (Date.parse(n.indexedAt) <= since) older = true;
      else if (n.reason === 'mention' || n.reason === 'reply') fresh.push(n);
    }
    cursor = res.cursor;
    if (older || !cursor || !res.notifications.length) break;
  }
  fresh.sort((a, b) => Date.parse(a.indexedAt) - Date.parse(b.indexedAt));
  let applied = 0;
  for (const n of fresh) {
    core.counters.events++;
    core.counters.relevant++;
    try {
      const found = await core.clients.findRecord<PostRecord>(n.uri);
      if (!found) throw new UnverifiedEvent(`${n.uri}: not on the author's PDS`);
      if (found.cid !== n.cid) throw new UnverifiedEvent(`${n.uri}: CID ${n.cid} does not match the PDS's ${found.cid}`);
      await core.apply({ action: 'create', did: n.author.did, uri: n.uri, cid: found.cid, record: found.value, time: new Date(n.indexedAt) });
      core.counters.verified++;
      applied++;
    } catch (err) {
      if (!(err instanceof UnverifiedEvent)) throw err;
      core.counters.unverified++;
      core.logger.warn('notification dropped: not verified', { agent, reason: err.message });
    }
    await core.store.setCursor(name, Date.parse(n.indexedAt));
  }
  return applied;
}

/**
 * Polls every ATPROTO_NOTIFICATIONS_POLL while `shouldPoll()` (the streaming source is
 * not connected). `list` defaults to the agents' own sessions through their PDS.
 */
export async function startNotificationsPoller(ctx: AppContext, processor: MentionProcessor, opts: { shouldPoll: () => boolean; list?: ListNotifications }): Promise<Trigger> {
  const clients = clientOf(ctx, 'atproto');
  const core = new TriggerCore(ctx, processor, new CursorTracker(1), 'notifications');
  await core.warm();
  const list: ListNotifications =
    opts.list ?? ((agent, params) => clients.withSession(agent, async (a) => (await a.app.bsky.notification.listNotifications(params)).data));
  let stopped = false;
  let busy: Promise<void> | undefined;
  const tick = async () => {
    if (stopped || !opts.shouldPoll()) return;
    for (const a of clients.accounts()) {
      try {
        await pollNotificationsOnce(core, a.name, list);
        core.connected = true;
      } catch (err) {
        core.connected = false;
        core.logger.debug('notifications poll failed', { agent: a.name, error: err });
      }
    }
  };
  const t = setInterval(() => {
    if (!busy) busy = tick().finally(() => (busy = undefined));
  }, ctx.config.atproto.live.notificationsPollMs);
  t.unref();
  return {
    stats: () => core.stats('notifications', clients.pdsUrl),
    async stop() {
      stopped = true;
      clearInterval(t);
      await Promise.race([busy, new Promise((r) => setTimeout(r, 2000).unref())]);
    },
  };
}
