/** Shared by the IPFS tests: deterministic test bytes and the independent CID oracle. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Deterministic bytes that do not compress into repeated blocks. */
export function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** The CIDv0 Debian's `ipfs_cid` (an independent implementation) computes for `bytes`. */
export async function oracleCid(dir: string, bytes: Uint8Array): Promise<string> {
  const f = path.join(dir, `oracle-${bytes.length}-${bytes[0] ?? 'e'}.bin`);
  await fs.writeFile(f, bytes);
  const out = execFileSync('ipfs_cid', [f], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  return (JSON.parse(out) as { CIDv0: string }).CIDv0;
}
