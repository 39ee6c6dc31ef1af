/**
 * A Jetstream-protocol stand-in for tests: `/subscribe?wantedCollections=…&cursor=…`
 * over WebSocket, JSON events exactly as Jetstream sends them
 * (`{did, time_us, kind:"commit", commit:{rev, operation, collection, rkey, record, cid}}`,
 * identity and account kinds). Events are kept in order of time_us; a connection with a
 * cursor gets every kept event with time_us ≥ cursor first, then live ones.
 */
import { startWsServer, type WsConnection } from './ws-server';

export interface JetstreamEvent {
  did: string;
  time_us: number;
  kind: 'commit' | 'identity' | 'account';
  commit?: { rev: string; operation: 'create' | 'update' | 'delete'; collection: string; rkey: string; record?: Record<string, unknown>; cid?: string };
  identity?: { did: string; handle?: string; seq: number; time: string };
  account?: { active: boolean; did: string; seq: number; time: string; status?: string };
}

let lastUs = 0;
/** A strictly increasing time_us. */
export function nowUs(): number {
  lastUs = Math.max(lastUs + 1, Date.now() * 1000);
  return lastUs;
}

/** The Jetstream commit event of a record as it is on the PDS (uri, cid and value from getRecord). */
export function commitEvent(rec: { uri: string; cid: string; value: Record<string, unknown> }, operation: 'create' | 'update' = 'create', timeUs = nowUs()): JetstreamEvent {
  const [, , did, collection, rkey] = rec.uri.split('/');
  return { did: did!, time_us: timeUs, kind: 'commit', commit: { rev: `3l${timeUs.toString(36)}`, operation, collection: collection!, rkey: rkey!, record: rec.value, cid: rec.cid } };
}

export function deleteEvent(uri: string, timeUs = nowUs()): JetstreamEvent {
  const [, , did, collection, rkey] = uri.split('/');
  return { did: did!, time_us: timeUs, kind: 'commit', commit: { rev: `3l${timeUs.toString(36)}`, operation: 'delete', collection: collection!, rkey: rkey! } };
}

export interface FakeJetstream {
  url: string;
  /** Every subscribe request's query (cursor, wantedCollections), in order. */
  requests: URLSearchParams[];
  /** Keeps the event and sends it to every connected subscriber that wants it. */
  emit(evt: JetstreamEvent): Promise<void>;
  /** Keeps the event without sending it (it happened while nobody was connected). */
  keep(evt: JetstreamEvent): void;
  /** Drops every connection without a close frame. */
  dropAll(): void;
  connected(): number;
  close(): Promise<void>;
}

export async function startFakeJetstream(): Promise<FakeJetstream> {
  const events: JetstreamEvent[] = [];
  const requests: URLSearchParams[] = [];
  const subs = new Set<{ conn: WsConnection; wanted: string[] }>();
  const wants = (s: { wanted: string[] }, e: JetstreamEvent) => e.kind !== 'commit' || !s.wanted.length || s.wanted.includes(e.commit!.collection);
  const server = await startWsServer((conn) => {
    if (!conn.url.pathname.endsWith('/subscribe')) return conn.close();
    requests.push(conn.url.searchParams);
    const sub = { conn, wanted: conn.url.searchParams.getAll('wantedCollections') };
    const cursor = conn.url.searchParams.get('cursor');
    if (cursor !== null) for (const e of events) if (e.time_us >= Number(cursor) && wants(sub, e)) void conn.send(JSON.stringify(e));
    subs.add(sub);
    conn.onClose = () => subs.delete(sub);
  });
  return {
    url: server.url,
    requests,
    async emit(evt) {
      events.push(evt);
      for (const s of subs) if (wants(s, evt)) await s.conn.send(JSON.stringify(evt));
    },
    keep(evt) {
      events.push(evt);
    },
    dropAll() {
      for (const s of subs) s.conn.drop();
      subs.clear();
    },
    connected: () => subs.size,
    close: () => server.close(),
  };
}
