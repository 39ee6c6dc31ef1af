/**
 * bench/ipfs-pin: the embedded IPFS node through kubo-rpc-client (the tools' only
 * code path) next to the same Helia/unixfs stack called in-process (the floor).
 *   - 1000 × 1 KiB add+pin, sequential and 8 concurrent
 *   - one 50 MiB add (pinned) and cat
 * Targets: ≥ 300 small pins/s concurrent; ≥ 60 MiB/s large add; RPC overhead < 30%.
 * Prints a table and writes bench/results/ipfs-pin.json.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { create } from 'kubo-rpc-client';
import { startEmbeddedIpfs } from '../../services/ipfs/embedded';
import { IpfsNode, KUBO_CHUNK_SIZE } from '../../services/ipfs/node';
import { createLogger } from '../../src/logger';
import { table } from '../lib';

const SMALL = 1000;
const SMALL_SIZE = 1024;
const CONCURRENCY = 8;
const LARGE = 50 * 1024 * 1024;
const MiB = 1024 * 1024;

async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const settings = { cidVersion: 0 as const, rawLeaves: false, chunkSize: KUBO_CHUNK_SIZE, wrapWithDirectory: false, onlyHash: false, pin: true };

async function main() {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-ipfs-'));
  const logger = createLogger('silent');
  const smalls = Array.from({ length: SMALL * 2 }, () => randomBytes(SMALL_SIZE));
  const large = randomBytes(LARGE);
  const results: Record<string, Record<string, number>> = {};
  try {
    // ---- RPC: the embedded node over HTTP, through kubo-rpc-client
    const embedded = await startEmbeddedIpfs({ dir: path.join(root, 'rpc'), logger });
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
    const ipfs = create({ url: embedded.apiUrl, agent });
    try {
      const seq = await timed(async () => {
        for (let i = 0; i < SMALL; i++) await ipfs.add(smalls[i]!, { pin: true });
      });
      const conc = await timed(() => pool(SMALL, CONCURRENCY, (i) => ipfs.add(smalls[SMALL + i]!, { pin: true })));
      let cid = '';
      const add = await timed(async () => {
        cid = (await ipfs.add(large, { pin: true })).cid.toString();
      });
      let read = 0;
      const cat = await timed(async () => {
        for await (const c of ipfs.cat(cid, { timeout: 120_000 })) read += c.length;
      });
      if (read !== LARGE) throw new Error(`cat returned ${read} bytes, expected ${LARGE}`);
      results.rpc = { smallSeqPerS: SMALL / (seq / 1000), smallConcPerS: SMALL / (conc / 1000), largeAddMiBs: LARGE / MiB / (add / 1000), largeCatMiBs: LARGE / MiB / (cat / 1000) };
    } finally {
      agent.destroy();
      await embedded.stop();
    }

    // ---- In-process: the same node code (Helia + unixfs importer/exporter), no HTTP
    const node = await IpfsNode.open(path.join(root, 'inproc'));
    const one = (bytes: Uint8Array) =>
      (async () => {
        for await (const _ of node.add((async function* () {
          yield { path: '', content: bytes };
        })(), settings)) void _;
      })();
    try {
      const seq = await timed(async () => {
        for (let i = 0; i < SMALL; i++) await one(smalls[i]!);
      });
      const conc = await timed(() => pool(SMALL, CONCURRENCY, (i) => one(smalls[SMALL + i]!)));
      let cid = '';
      const add = await timed(async () => {
        for await (const r of node.add((async function* () {
          yield { path: '', content: large };
        })(), settings)) cid = r.cid.toString();
      });
      let read = 0;
      const cat = await timed(async () => {
        for await (const c of node.cat(cid)) read += c.length;
      });
      if (read !== LARGE) throw new Error(`in-process cat returned ${read} bytes`);
      results.inProcess = { smallSeqPerS: SMALL / (seq / 1000), smallConcPerS: SMALL / (conc / 1000), largeAddMiBs: LARGE / MiB / (add / 1000), largeCatMiBs: LARGE / MiB / (cat / 1000) };
    } finally {
      await node.close();
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }

  const rpc = results.rpc!;
  const ip = results.inProcess!;
  const overhead = (k: string) => (ip[k]! / rpc[k]! - 1) * 100; // extra time per op over the floor, %
  const rows = [
    ['1 KiB add+pin, sequential (ops/s)', 'smallSeqPerS', undefined],
    [`1 KiB add+pin, ${CONCURRENCY} concurrent (ops/s)`, 'smallConcPerS', 300],
    ['50 MiB add+pin (MiB/s)', 'largeAddMiBs', 60],
    ['50 MiB cat (MiB/s)', 'largeCatMiBs', undefined],
  ] as const;
  const out = rows.map(([label, k, target]) => ({
    measure: label,
    'kubo-rpc-client': rpc[k]!.toFixed(1),
    'in-process': ip[k]!.toFixed(1),
    'RPC overhead': `${overhead(k).toFixed(0)}%`,
    target: target ? `≥ ${target}` : '',
    met: target ? (rpc[k]! >= target ? 'yes' : 'NO') : '',
  }));
  console.log(`\nbench/ipfs-pin (${os.cpus().length} cores, node ${process.version})\n`);
  console.log(table(out));
  const json = {
    benchmark: 'ipfs-pin',
    at: new Date().toISOString(),
    machine: { cores: os.cpus().length, node: process.version },
    params: { small: SMALL, smallBytes: SMALL_SIZE, concurrency: CONCURRENCY, largeBytes: LARGE },
    rpc,
    inProcess: ip,
    overheadPercent: Object.fromEntries(rows.map(([, k]) => [k, Number(overhead(k).toFixed(1))])),
    targets: { smallConcPerS: 300, largeAddMiBs: 60, overheadPercentMax: 30 },
  };
  const dir = path.join(import.meta.dirname, '..', 'results');
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'ipfs-pin.json'), JSON.stringify(json, null, 2) + '\n');
}

await main();
