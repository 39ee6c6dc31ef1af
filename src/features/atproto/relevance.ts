/**
 * The trigger's relevance filter: decides from as little as possible whether a post
 * concerns the agents, before any signature check or DID resolution (docs/atproto.md
 * "Relevance filter"). A post is relevant when
 *   - an agent wrote it (their own posts are indexed),
 *   - it mentions an agent (facet DID) or replies to an agent's post (parent DID), or
 *   - it is a reply in a thread the agents take part in: its root or parent is an
 *     agent's post, or its root is a known thread root (an agent posted under it, or an
 *     agent was mentioned under it),
 * and a deletion is relevant when it removes a reply the trigger indexed. Every cache
 * here is an LRU with a fixed number of entries.
 */
import type { CacheResult, DidCache, DidDocument } from '@atproto/identity';

/** A Map-backed LRU: `get`/`has` refresh an entry, the oldest entry goes when full. */
export class Lru<K, V> {
  private map = new Map<K, V>();
  constructor(readonly max: number) {}
  get size(): number {
    return this.map.size;
  }
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  has(key: K): boolean {
    return this.get(key) !== undefined;
  }
  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }
  delete(key: K): void {
    this.map.delete(key);
  }
  clear(): void {
    this.map.clear();
  }
}

/** A DID-document cache for @atproto/identity with a maximum size (its MemoryCache has none). */
export class LruDidCache implements DidCache {
  private lru: Lru<string, { doc: DidDocument; updatedAt: number }>;
  constructor(
    max: number,
    private staleTtlMs = 5 * 60_000,
    private maxTtlMs = 60 * 60_000,
  ) {
    this.lru = new Lru(max);
  }
  async cacheDid(did: string, doc: DidDocument): Promise<void> {
    this.lru.set(did, { doc, updatedAt: Date.now() });
  }
  async refreshCache(did: string, getDoc: () => Promise<DidDocument | null>): Promise<void> {
    const doc = await getDoc();
    if (doc) await this.cacheDid(did, doc);
  }
  async checkCache(did: string): Promise<CacheResult | null> {
    const v = this.lru.get(did);
    if (!v) return null;
    const now = Date.now();
    const expired = now > v.updatedAt + this.maxTtlMs;
    const stale = now > v.updatedAt + this.staleTtlMs;
    return { did, doc: v.doc, updatedAt: v.updatedAt, stale, expired };
  }
  async clearEntry(did: string): Promise<void> {
    this.lru.delete(did);
  }
  async clear(): Promise<void> {
    this.lru.clear();
  }
  get size(): number {
    return this.lru.size;
  }
}

export interface PostRecord {
  text?: string;
  createdAt?: string;
  facets?: Array<{ features?: Array<{ $type?: string; did?: string }> }>;
  reply?: { root: { uri: string; cid: string }; parent: { uri: string; cid: string } };
  labels?: { values?: Array<{ val: string }> };
}

/** What a post means to the agents. */
export interface Relevance {
  /** Agents (by DID) mentioned in a facet. */
  mentioned: string[];
  /** The agent (by DID) whose post this one answers directly. */
  repliedTo?: string;
  /** A reply inside a thread the agents take part in (to be indexed). */
  inThread: boolean;
}

const didOfUri = (uri: string | undefined) => (uri?.startsWith('at://') ? uri.slice(5).split('/')[0] : undefined);

export class RelevanceFilter {
  /** Agent DIDs as bytes, for the byte scan of a commit's blocks. */
  private agentDidBytes: Buffer[] = [];
  private agentDids = new Set<string>();
  readonly knownRoots: Lru<string, true>;
  readonly indexedReplies: Lru<string, true>;
  private static ROOT_KEY = Buffer.from([0x64, ...Buffer.from('root')]); // CBOR text "root"

  constructor(cacheSize: number) {
    this.knownRoots = new Lru(cacheSize);
    this.indexedReplies = new Lru(cacheSize);
  }

  setAgents(dids: string[]): void {
    this.agentDids = new Set(dids);
    this.agentDidBytes = dids.map((d) => Buffer.from(d));
  }

  isAgent(did: string): boolean {
    return this.agentDids.has(did);
  }

  /**
   * The cheap pre-check on a commit's raw CAR bytes (a post create by someone else):
   * false means the post cannot concern the agents, without decoding anything. True
   * means "decode the record and classify it".
   */
  mayConcern(blocks: Uint8Array): boolean {
    const buf = Buffer.from(blocks.buffer, blocks.byteOffset, blocks.byteLength);
    for (const d of this.agentDidBytes) if (buf.indexOf(d) >= 0) return true;
    return this.knownRoots.size > 0 && buf.indexOf(RelevanceFilter.ROOT_KEY) >= 0;
  }

  /** Classifies a decoded post record by someone else. */
  classify(record: PostRecord): Relevance {
    const mentioned = new Set<string>();
    for (const f of Array.isArray(record.facets) ? record.facets : [])
      for (const feat of Array.isArray(f?.features) ? f.features : [])
        if (feat?.$type === 'app.bsky.richtext.facet#mention' && typeof feat.did === 'string' && this.agentDids.has(feat.did)) mentioned.add(feat.did);
    const parentDid = didOfUri(record.reply?.parent?.uri);
    const rootUri = record.reply?.root?.uri;
    const repliedTo = parentDid && this.agentDids.has(parentDid) ? parentDid : undefined;
    const rootDid = didOfUri(rootUri);
    const inThread = !!record.reply && !!rootUri && (!!repliedTo || (!!rootDid && this.agentDids.has(rootDid)) || this.knownRoots.has(rootUri));
    return { mentioned: [...mentioned], repliedTo, inThread };
  }

  isRelevant(r: Relevance): boolean {
    return r.mentioned.length > 0 || !!r.repliedTo || r.inThread;
  }
}
