/**
 * What every trigger source (relay/PDS firehose, Jetstream, notifications) shares:
 *   - TriggerCore.apply: a verified post (create or delete) becomes mention rows,
 *     thread-reply index rows or the agents' own post rows, with the intake decisions of
 *     the mention policy (src/workflows/atproto/mention-policy.ts: reply mode, age);
 *   - CursorTracker: the cursor that is safe to save (never past an unfinished relevant
 *     event), saved once a second and at stop, and backpressure (a source stops reading
 *     while `maxPending` relevant events are in work);
 *   - per-author ordering and retries of relevant work (a failed write is retried with
 *     backoff and holds the cursor; it is never skipped).
 */
import { clientOf, type AppContext } from '../../clients/context';
import type { NewMention } from '../../stores/atproto/store';
import type { MentionProcessor } from './mentions';
import { intakeSkipReason, isBacklog, mentionAgeMs, type MentionKind } from '../../workflows/atproto/mention-policy';
import { RelevanceFilter, type PostRecord } from './relevance';

export interface VerifiedPost {
  action: 'create' | 'delete';
  did: string;
  uri: string;
  cid?: string;
  record?: PostRecord;
  /** When the event happened (commit time / time_us); undefined = unknown. */
  time?: Date;
}

export interface TriggerStats {
  source: string;
  url: string;
  cursor: number | null;
  /** Now minus the time of the last event read (ms), null before the first. */
  lagMs: number | null;
  events: number;
  relevant: number;
  verified: number;
  /** Relevant events whose signature or PDS record did not check out: dropped, never answered. */
  unverified: number;
  pending: number;
  connected: boolean;
  caches: Record<string, number>;
}

export interface Trigger {
  stop(): Promise<void>;
  stats(): TriggerStats;
}

export class CursorTracker {
  private pending = new Set<number>();
  private waiters: Array<() => void> = [];
  last: number | undefined;

  constructor(
    readonly maxPending: number,
    start?: number,
  ) {
    this.last = start;
  }

  get inWork(): number {
    return this.pending.size;
  }

  /** An event that needs no work: the cursor may pass it. */
  seen(seq: number): void {
    if (this.last === undefined || seq > this.last) this.last = seq;
  }

  begin(seq: number): void {
    this.pending.add(seq);
    this.seen(seq);
  }

  end(seq: number): void {
    this.pending.delete(seq);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The highest cursor with every event up to it finished. */
  safe(): number | undefined {
    if (!this.pending.size) return this.last;
    let min = Infinity;
    for (const s of this.pending) if (s < min) min = s;
    return min - 1;
  }

  /** Resolves when another relevant event may start (backpressure). */
  async room(): Promise<void> {
    while (this.pending.size >= this.maxPending) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Wakes every waiter (at stop). */
  release(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Thrown by a source's verifier: the event is not what its author's repo says; drop it. */
export class UnverifiedEvent extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnverifiedEvent';
  }
}

export class TriggerCore {
  readonly filter: RelevanceFilter;
  readonly clients;
  readonly store;
  readonly logger;
  readonly counters = { events: 0, relevant: 0, verified: 0, unverified: 0 };
  lastEventTime: number | undefined;
  connected = false;
  private chains = new Map<string, Promise<void>>();
  private inflight = new Set<Promise<void>>();
  stopped = false;

  constructor(
    readonly ctx: AppContext,
    readonly processor: MentionProcessor,
    readonly tracker: CursorTracker,
    readonly cursorName: string,
  ) {
    this.clients = clientOf(ctx, 'atproto');
    this.store = this.clients.store;
    this.logger = ctx.logger.child({ feature: 'atproto', part: 'trigger' });
    this.filter = new RelevanceFilter(ctx.config.atproto.live.cacheSize);
    this.filter.setAgents(this.clients.accounts().map((a) => a.did));
  }

  /** Warms the relevance caches from Postgres (threads known before this start). */
  async warm(): Promise<void> {
    const n = this.filter.knownRoots.max;
    for (const uri of (await this.store.knownThreadRoots(n)).reverse()) this.filter.knownRoots.set(uri, true);
    for (const uri of (await this.store.indexedReplyUris(n)).reverse()) this.filter.indexedReplies.set(uri, true);
  }

  /**
   * Runs the work of one relevant event: after the earlier work of the same author, with
   * retries (backoff up to 30 s) until it succeeds or the trigger stops; the cursor does
   * not pass the event meanwhile. `work` throwing UnverifiedEvent drops the event.
   */
  async schedule(seq: number, did: string, work: () => Promise<void>): Promise<void> {
    await this.tracker.room();
    if (this.stopped) return;
    this.counters.relevant++;
    this.tracker.begin(seq);
    const prev = this.chains.get(did) ?? Promise.resolve();
    const p: Promise<void> = prev.then(async () => {
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          await work();
          this.counters.verified++;
          return;
        } catch (err) {
          if (err instanceof UnverifiedEvent) {
            this.counters.unverified++;
            this.logger.warn('event dropped: not verified', { did, reason: err.message });
            return;
          }
          this.logger.warn('relevant event failed; retrying', { did, attempt, error: err });
          await new Promise((r) => setTimeout(r, Math.min(30_000, 200 * 2 ** attempt)).unref());
        }
      }
    });
    const done = p.finally(() => {
      this.tracker.end(seq);
      this.inflight.delete(done);
      if (this.chains.get(did) === done) this.chains.delete(did);
    });
    this.chains.set(did, done);
    this.inflight.add(done);
  }

  /** Applies one verified post. */
  async apply(evt: VerifiedPost): Promise<void> {
    const { clients, store } = this;
    const own = clients.accountByDid(evt.did);
    if (evt.action === 'delete') {
      if (!own) {
        await store.forgetThreadReply(evt.uri);
        this.filter.indexedReplies.delete(evt.uri);
      }
      return;
    }
    const record = evt.record ?? {};
    const uri = evt.uri;
    const cid = evt.cid!;
    const reply = record.reply?.root?.uri && record.reply.parent?.uri ? record.reply : undefined;
    if (own) {
      await store.recordPost({ uri, agent: own.name, did: evt.did, cid, text: typeof record.text === 'string' ? record.text : '', rootUri: reply?.root.uri, parentUri: reply?.parent.uri, createdAt: record.createdAt });
      this.filter.knownRoots.set(reply?.root.uri ?? uri, true);
      return;
    }
    const rel = this.filter.classify(record);
    const live = this.ctx.config.atproto.live;
    const time = evt.time ?? (record.createdAt && !Number.isNaN(Date.parse(record.createdAt)) ? new Date(record.createdAt) : undefined);
    const ageMs = mentionAgeMs(time);
    const targets = new Map<string, MentionKind>();
    for (const did of rel.mentioned) targets.set(did, 'mention');
    if (rel.repliedTo && !targets.has(rel.repliedTo)) targets.set(rel.repliedTo, 'reply');
    for (const [did, kind] of targets) {
      const acc = clients.accountByDid(did);
      if (!acc) continue;
      const skipped = intakeSkipReason(live, acc.name, kind, ageMs);
      const m: NewMention = {
        mention_uri: uri,
        agent: acc.name,
        agent_did: acc.did,
        author_did: evt.did,
        mention_cid: cid,
        root_uri: reply?.root.uri ?? uri,
        root_cid: reply?.root.cid ?? cid,
        text: typeof record.text === 'string' ? record.text : '',
      };
      this.filter.knownRoots.set(m.root_uri, true);
      if (await store.addMention(m, { eventTime: time, skipped })) {
        if (skipped) this.logger.info('mention skipped', { agent: acc.name, uri, reason: skipped });
        else {
          this.logger.debug('mention', { agent: acc.name, uri });
          this.processor.enqueue(uri, acc.name, { backlog: isBacklog(live, ageMs) });
        }
      }
    }
    // Other accounts' replies in the agents' threads: thread context without an AppView.
    if (reply && (rel.inThread || targets.size)) {
      const kept = await store.indexThreadReply({
        uri,
        did: evt.did,
        cid,
        text: typeof record.text === 'string' ? record.text : '',
        rootUri: reply.root.uri,
        parentUri: reply.parent.uri,
        automated: !!record.labels?.values?.some((l) => l.val === 'bot'),
      });
      if (kept) this.filter.indexedReplies.set(uri, true);
    }
  }

  private anchored = false;

  /**
   * Started without a saved cursor (first start: live), the first event's position is saved
   * before that event is handled, so a leader that dies within the first second leaves its
   * successor a cursor to resume from instead of another live start that would skip what
   * came in between. Later saves follow the safe cursor (startCursorSaver).
   */
  async anchor(position: number, hadCursor: boolean): Promise<void> {
    if (this.anchored) return;
    this.anchored = true;
    if (!hadCursor) await this.store.setCursor(this.cursorName, position - 1);
  }

  /** Saves the safe cursor every second until stopped. */
  startCursorSaver(): () => Promise<void> {
    let saved = this.tracker.safe();
    const save = async () => {
      const c = this.tracker.safe();
      if (c === undefined || c === saved) return;
      await this.store.setCursor(this.cursorName, c);
      saved = c;
    };
    const t = setInterval(() => void save().catch((err) => this.logger.warn('cursor save failed', { error: err })), 1000);
    t.unref();
    return async () => {
      clearInterval(t);
      await save().catch((err) => this.logger.warn('cursor save failed', { error: err }));
    };
  }

  /** Stops new work, waits (bounded) for work in flight. */
  async drain(ms = 2000): Promise<void> {
    this.stopped = true;
    this.tracker.release();
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, ms).unref())]);
  }

  stats(source: string, url: string): TriggerStats {
    return {
      source,
      url,
      cursor: this.tracker.safe() ?? null,
      lagMs: this.lastEventTime === undefined ? null : Math.max(0, Date.now() - this.lastEventTime),
      ...this.counters,
      pending: this.tracker.inWork,
      connected: this.connected,
      caches: { knownRoots: this.filter.knownRoots.size, indexedReplies: this.filter.indexedReplies.size },
    };
  }
}
