/**
 * The shape the firehose and Jetstream readers share: the saved cursor read at start, a
 * CursorTracker and TriggerCore (relevance caches warmed from Postgres), one websocket
 * (@atproto/ws-client) that (re)connects from the safe cursor with exponential backoff up
 * to 30 s, whose 4 MiB high-water mark is the backpressure (a frame handler waiting on
 * CursorTracker.room stops the socket being read), the cursor saver, and a stop that
 * closes the socket, drains the work in flight and saves the cursor last.
 * Each reader supplies the URL for a cursor, its frame handler and its stats.
 */
import { websocket } from '@atproto/ws-client';
import { clientOf, type AppContext } from '../../clients/context';
import type { MentionProcessor } from './mentions';
import { CursorTracker, TriggerCore, type Trigger, type TriggerStats } from './trigger';

export interface StreamReaderSpec {
  /** `firehose` or `jetstream`: the stats' source and the log lines' prefix. */
  name: string;
  /** The service read (stats, logs). */
  service: string;
  /** Its row in atproto_cursors. */
  cursorName: string;
  dataMode: 'binary' | 'text';
  /** The URL to (re)connect to, from the safe cursor (undefined = live). */
  connectUrl(safeCursor: number | undefined): string;
  /** The frame handler, built once the core is ready; `hadCursor` = started from a saved cursor. */
  handler(r: { core: TriggerCore; tracker: CursorTracker; hadCursor: boolean }): (frame: Uint8Array | string) => Promise<void>;
  /** The reader's own additions to the stats. */
  stats?(base: TriggerStats): TriggerStats;
}

export async function startStreamReader(ctx: AppContext, processor: MentionProcessor, spec: StreamReaderSpec): Promise<Trigger> {
  const clients = clientOf(ctx, 'atproto');
  const live = ctx.config.atproto.live;
  const startCursor = await clients.store.getCursor(spec.cursorName);
  const tracker = new CursorTracker(live.maxPending, startCursor);
  const core = new TriggerCore(ctx, processor, tracker, spec.cursorName);
  await core.warm();
  const { logger } = core;
  const handle = spec.handler({ core, tracker, hadCursor: startCursor !== undefined });

  const abort = new AbortController();
  const stopSaver = core.startCursorSaver();
  const stream = websocket(() => spec.connectUrl(tracker.safe()), {
    dataMode: spec.dataMode,
    maxReconnectSeconds: 30,
    signal: abort.signal,
    highWaterMark: 4 * 1024 * 1024,
    onConnect: () => {
      core.connected = true;
    },
    onDisconnect: () => {
      core.connected = false;
    },
    onReconnect: (error, { attempt }) => logger.warn(`${spec.name} reconnecting`, { attempt, error }),
  });

  const loop = (async () => {
    try {
      for await (const frame of stream) await handle(frame as Uint8Array | string);
    } catch (err) {
      if (!abort.signal.aborted) logger.error(`${spec.name} stopped`, { error: err });
    }
  })();
  logger.info(`${spec.name} subscribed`, { service: spec.service, cursor: startCursor ?? 'live' });

  return {
    stats: () => {
      const base = core.stats(spec.name, spec.service);
      return spec.stats ? spec.stats(base) : base;
    },
    async stop() {
      abort.abort();
      await Promise.race([loop, new Promise((r) => setTimeout(r, 2000).unref())]);
      await core.drain();
      await stopSaver();
    },
  };
}
