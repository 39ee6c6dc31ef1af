/**
 * IPFS paths as Kubo parses and resolves them: `Qm…`, `/ipfs/Qm…/a/b` → root CID and
 * the rest; UnixFS paths (cat, ls, get, pin) and IPLD paths (dag get/resolve).
 */
import * as dagPb from '@ipld/dag-pb';
import { exporter, type UnixFSEntry } from 'ipfs-unixfs-exporter';
import { CID } from 'multiformats/cid';
import { KuboError } from './errors';

/** `Qm…`, `/ipfs/Qm…/a/b` → root CID and the rest of the path. Kubo's wording on failure. */
export function parseIpfsPath(arg: string): { cid: CID; rest: string; path: string } {
  let p = arg.trim();
  if (p.startsWith('/ipfs/')) p = p.slice('/ipfs/'.length);
  else if (p.startsWith('/ipns/')) throw new KuboError(`invalid path "${arg}": IPNS names cannot be resolved by this node`);
  else if (p.startsWith('/')) throw new KuboError(`invalid path "${arg}": unknown namespace "${p.split('/')[1]}"`);
  const slash = p.indexOf('/');
  const head = slash === -1 ? p : p.slice(0, slash);
  const rest = slash === -1 ? '' : p.slice(slash + 1).replace(/\/+$/, '');
  if (!head) throw new KuboError(`invalid path "${arg}": path does not have enough components`);
  let cid: CID;
  try {
    cid = CID.parse(head);
  } catch (err) {
    throw new KuboError(`invalid path "${arg}": invalid cid: ${(err as Error).message}`);
  }
  return { cid, rest, path: rest ? `${cid}/${rest}` : cid.toString() };
}

/** `a//b/` → `a/b`, as the importer names paths. */
export function normalizePath(p: string): string {
  return p.split('/').filter(Boolean).join('/');
}

/** What path resolution needs from the node: one local block, or Kubo's error. */
export interface BlockSource {
  get(cid: CID, options?: { signal?: AbortSignal }): AsyncGenerator<Uint8Array>;
}

function translateExporterError(err: unknown, segment: string, under: CID, arg: string): never {
  if (err instanceof KuboError) throw err;
  const name = (err as Error).name;
  if (name === 'NotFoundError' || name === 'ERR_NOT_FOUND') throw new KuboError(`no link named "${segment}" under ${under}`);
  if (name === 'NoResolverError' || name === 'ERR_NO_RESOLVER') throw new KuboError(`unsupported codec in ${arg}`);
  throw err;
}

/**
 * A UnixFS path, one segment at a time, as Kubo's resolver walks it: a segment under
 * a directory (plain or HAMT-sharded) is a link name; a segment under a file (or a raw
 * block) is an error, `no link named "<segment>" under <cid>`. (The unixfs exporter,
 * asked for the whole path at once, answers the file itself for `<file>/<anything>`.)
 * Under a dag-cbor or dag-json node the rest of the path is handed to the exporter,
 * which walks the node's fields and links.
 */
export async function resolveUnixfsPath(arg: string, blocks: BlockSource, signal?: AbortSignal): Promise<UnixFSEntry> {
  const { cid, rest } = parseIpfsPath(arg);
  const opts = { signal, offline: true } as const;
  let entry: UnixFSEntry;
  try {
    entry = await exporter(cid, blocks as never, opts);
  } catch (err) {
    translateExporterError(err, cid.toString(), cid, arg);
  }
  const segments = rest ? rest.split('/').filter(Boolean) : [];
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (entry.type === 'object') {
      const remaining = segments.slice(i).join('/');
      try {
        return await exporter(`${entry.cid}/${remaining}`, blocks as never, opts);
      } catch (err) {
        translateExporterError(err, segment, entry.cid, arg);
      }
    }
    if (entry.type !== 'directory') throw new KuboError(`no link named "${segment}" under ${entry.cid}`);
    try {
      entry = await exporter(`${entry.cid}/${segment}`, blocks as never, opts);
    } catch (err) {
      translateExporterError(err, segment, entry.cid, arg);
    }
  }
  return entry;
}

/**
 * An IPLD path (`dag get`, `dag resolve`, `pin ls <path>`): field names inside
 * dag-cbor/dag-json nodes, link names inside dag-pb nodes (Links/Data name the node's
 * own fields), following CIDs from node to node. Returns the last node reached, the
 * value at the end of the path, and the part of the path inside that last node
 * (Kubo's `RemPath`).
 */
export async function resolveDagPath(
  arg: string,
  load: (cid: CID) => Promise<unknown>,
): Promise<{ cid: CID; value: unknown; remPath: string }> {
  const { cid, rest } = parseIpfsPath(arg);
  let current: CID = cid;
  let value: unknown = await load(current);
  let inside: string[] = [];
  const parts = rest ? rest.split('/').filter(Boolean) : [];
  for (const part of parts) {
    let next: unknown;
    if (current.code === dagPb.code && inside.length === 0) {
      const node = value as dagPb.PBNode;
      if (part === 'Links' || part === 'Data') next = (node as unknown as Record<string, unknown>)[part];
      else next = node.Links.find((l) => l.Name === part)?.Hash;
    } else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
      next = Object.prototype.hasOwnProperty.call(value, part) ? (value as Record<string, unknown>)[part] : undefined;
    }
    if (next === undefined) throw new KuboError(`no link named "${part}" under ${current}`);
    const asCid = CID.asCID(next);
    if (asCid) {
      current = asCid;
      value = await load(current);
      inside = [];
    } else {
      value = next;
      inside.push(part);
    }
  }
  return { cid: current, value, remPath: inside.join('/') };
}
