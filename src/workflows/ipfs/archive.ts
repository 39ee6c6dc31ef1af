/**
 * Archives of an agent's data on IPFS (the `archives` table, synced to devices):
 *   - kind 'at-repo': the agent's AT Protocol repo as a CAR, from the PDS's
 *     com.atproto.sync.getRepo (only when a PDS is configured and the agent has a DID);
 *   - kind 'conversations': the agent's conversations and messages as JSON, from the
 *     synced conversations/messages tables (what the /v1 turns are mirrored into).
 * Each is added and pinned through ctx.clients.ipfs and recorded with CID, size and
 * time. Verification re-reads the content by CID, re-hashes it with the same import
 * settings (only-hash) and compares CID and size; success sets verified_at.
 */
import { randomUUID } from 'node:crypto';
import type { AppContext } from '../../clients/context';
import { IpfsError } from '../../clients/ipfs/errors';
import { IpfsPins } from '../../clients/ipfs/pins';
import type { IpfsService } from '../../clients/ipfs/service';
import { archiveById, insertArchive, markArchiveVerified } from '../../stores/ipfs/archives';
import { agentAccount } from '../../stores/powersync/agents';
import { agentConversations, conversationMessages } from '../../stores/powersync/conversation-export';

export type ArchiveKind = 'at-repo' | 'conversations';

export interface ArchiveRecord {
  id: string;
  ownerId: string;
  agent: string;
  kind: ArchiveKind;
  cid: string;
  sizeBytes: number;
  createdAt: string;
  verifiedAt: string | null;
  gatewayUrl: string;
}

function ipfsOf(ctx: AppContext): IpfsService {
  const s = ctx.clients.ipfs;
  if (!s) throw new IpfsError('UNAVAILABLE', 'the ipfs feature has not created its clients');
  return s;
}

/** The agent's DID: the agents table, the AT feature's accounts, else resolveHandle on the PDS. */
export async function resolveAgentDid(ctx: AppContext, agent: string): Promise<string | undefined> {
  const row = await agentAccount(ctx.db, agent);
  if (row?.did) return row.did;
  const acc = ctx.clients.atproto?.accounts().find((a) => a.name === agent);
  if (acc) return acc.did;
  const handle = row?.handle;
  if (handle && ctx.urls.pdsUrl) {
    const res = await fetch(`${ctx.urls.pdsUrl}/xrpc/com.atproto.identity.resolveHandle?handle=${encodeURIComponent(handle)}`, { signal: AbortSignal.timeout(10_000) });
    if (res.ok) return ((await res.json()) as { did?: string }).did;
  }
  return undefined;
}

async function fetchRepoCar(ctx: AppContext, did: string, limit: number): Promise<Uint8Array> {
  const url = `${ctx.urls.pdsUrl}/xrpc/com.atproto.sync.getRepo?did=${encodeURIComponent(did)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(ctx.config.ipfs.timeoutMs) });
  if (!res.ok) throw new IpfsError('BAD_INPUT', `the PDS refused the repo export of ${did}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length > limit) throw new IpfsError('TOO_LARGE', `the repo CAR is ${bytes.length} bytes; the limit is ${limit} (IPFS_MAX_PIN_BYTES)`);
  return bytes;
}

/** The agent's conversations (optionally of one owner) with their messages, oldest first. */
export async function exportConversations(ctx: AppContext, agent: string, ownerId?: string) {
  const convs = await agentConversations(ctx.db, agent, ownerId ?? null);
  const msgs = await conversationMessages(ctx.db, convs.map((c) => c.id));
  const byConv = new Map<string, unknown[]>();
  for (const m of msgs) {
    const list = byConv.get(m.conversation_id) ?? [];
    list.push({ id: m.id, role: m.role, content: m.content, createdAt: m.created_at.toISOString() });
    byConv.set(m.conversation_id, list);
  }
  return {
    format: 'one-agents/conversations@1',
    agent,
    ownerId: ownerId ?? null,
    exportedAt: new Date().toISOString(),
    conversations: convs.map((c) => ({
      id: c.id,
      ownerId: c.owner_id,
      threadId: c.thread_id,
      title: c.title,
      createdAt: c.created_at.toISOString(),
      updatedAt: c.updated_at.toISOString(),
      messages: byConv.get(c.id) ?? [],
    })),
  };
}

async function record(ctx: AppContext, r: { ownerId: string; agent: string; kind: ArchiveKind; cid: string; size: number }): Promise<ArchiveRecord> {
  const id = randomUUID();
  const createdAt = await insertArchive(ctx.db, { id, ownerId: r.ownerId, agent: r.agent, kind: r.kind, cid: r.cid, sizeBytes: r.size });
  return { id, ownerId: r.ownerId, agent: r.agent, kind: r.kind, cid: r.cid, sizeBytes: r.size, createdAt: createdAt.toISOString(), verifiedAt: null, gatewayUrl: ipfsOf(ctx).gatewayUrl(r.cid) };
}

export interface ArchiveOutcome {
  agent: string;
  ownerId: string;
  did: string | null;
  archives: ArchiveRecord[];
  notes: string[];
}

export async function archiveAgent(ctx: AppContext, input: { agent: string; ownerId?: string; includeRepo?: boolean }): Promise<ArchiveOutcome> {
  // The archives' pins belong to the archive rows' owner (ipfs_pins), like tool pins.
  const ipfs = new IpfsPins(ctx.db, ipfsOf(ctx));
  const ownerId = input.ownerId ?? `agent:${input.agent}`;
  const notes: string[] = [];
  const archives: ArchiveRecord[] = [];
  const stamp = new Date().toISOString();
  let did: string | undefined;

  if (input.includeRepo === false) notes.push('AT repo skipped: not requested');
  else if (!ctx.urls.pdsUrl) notes.push('AT repo skipped: no PDS is configured, so only conversations were archived');
  else {
    did = await resolveAgentDid(ctx, input.agent);
    if (!did) notes.push(`AT repo skipped: the agent "${input.agent}" has no DID (no AT account)`);
    else {
      const car = await fetchRepoCar(ctx, did, ctx.config.ipfs.maxPinBytes);
      const pinned = await ipfs.pinBytes(ownerId, car, { name: `archive/${input.agent}/at-repo/${stamp}`, metadata: { agent: input.agent, kind: 'at-repo', did } });
      archives.push(await record(ctx, { ownerId, agent: input.agent, kind: 'at-repo', cid: pinned.cid, size: car.length }));
    }
  }

  const conv = await exportConversations(ctx, input.agent, input.ownerId);
  const json = new TextEncoder().encode(JSON.stringify(conv, null, 2));
  const pinned = await ipfs.pinBytes(ownerId, json, { name: `archive/${input.agent}/conversations/${stamp}`, metadata: { agent: input.agent, kind: 'conversations' } });
  archives.push(await record(ctx, { ownerId, agent: input.agent, kind: 'conversations', cid: pinned.cid, size: json.length }));
  if (!conv.conversations.length) notes.push('no conversations were found for this agent: the conversations archive is empty');
  return { agent: input.agent, ownerId, did: did ?? null, archives, notes };
}

export interface VerifyOutcome {
  id: string;
  cid: string;
  ok: boolean;
  sizeBytes: number;
  readBytes: number;
  recomputedCid: string | null;
  reason?: string;
  verifiedAt: string | null;
}

/** Re-reads an archive by CID, re-hashes it and compares; records verified_at on success. */
export async function verifyArchive(ctx: AppContext, id: string): Promise<VerifyOutcome> {
  const ipfs = ipfsOf(ctx);
  const a = await archiveById(ctx.db, id);
  if (!a) throw new IpfsError('NOT_FOUND', `no archive has the id ${id}`);
  const size = Number(a.size_bytes);
  const fail = (reason: string, readBytes = 0, recomputedCid: string | null = null): VerifyOutcome => ({ id, cid: a.cid, ok: false, sizeBytes: size, readBytes, recomputedCid, reason, verifiedAt: null });
  let bytes: Uint8Array;
  try {
    bytes = await ipfs.readExact(a.cid, size);
  } catch (err) {
    return fail(`could not read ${a.cid}: ${(err as Error).message}`);
  }
  if (bytes.length !== size) return fail(`read ${bytes.length} bytes, the archive recorded ${size}`, bytes.length);
  const again = await ipfs.hashOnly(bytes);
  if (again !== a.cid) return fail(`the content hashes to ${again}, not ${a.cid}`, bytes.length, again);
  const verifiedAt = await markArchiveVerified(ctx.db, id);
  return { id, cid: a.cid, ok: true, sizeBytes: size, readBytes: bytes.length, recomputedCid: again, verifiedAt: verifiedAt.toISOString() };
}
