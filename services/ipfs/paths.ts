/** IPFS paths as Kubo parses them: `Qm…`, `/ipfs/Qm…/a/b` → root CID and the rest. */
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
