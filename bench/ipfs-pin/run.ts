/**
 * bench/ipfs-pin: the embedded IPFS node through kubo-rpc-client (the tools' only
 * code path) next to the same Helia/unixfs stack called in-process (the floor).
 *   - 1000 × 1 KiB add+pin, sequential and 8 concurrent
 *   - one 50 MiB add (pinned) and cat, three times each (median; a fresh file each time),
 *     the bytes handed to the client as 1 MiB views as the tools do (and, for reference,
 *     as one Uint8Array)
 * The RPC side runs twice: with the node in the benchmark's own process (as `npm start`
 * runs it, sharing one thread with the client) and with the node in a process of its
 * own (as Kubo runs beside the app). A third RPC target parses the upload and throws it
 * away: the ceiling kubo-rpc-client and HTTP alone put on the large add.
 * Targets: ≥ 300 small pins/s concurrent; ≥ 60 MiB/s large add; RPC overhead < 30%.
 * Prints a table and writes bench/results/ipfs-pin.json.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { create } from 'kubo-rpc-client';
import { startEmbeddedIpfs } from '../../services/ipfs/embedded';
import { uploadPieces } from '../../src/clients/ipfs/service';
import { IpfsNode, KUBO_CHUNK_SIZE } from '../../services/ipfs/node';
import { createLogger } from '../../src/logger';
import { table } from '../lib';

const SMALL = 1000;
const SMALL_SIZE = 1024;
const CONCURRENCY = 8;
const LARGE = 50 * 1024 * 1024;
const LARGE_RUNS = 3;
const MiB = 1024 * 1024;

type Measures = { smallSeqPerS: number; smallConcPerS: number; largeAddMiBs: number; largeCatMiBs: number; largeAddWholeMiBs?: number; largeAddRuns: number[]; largeCatRuns: number[] };

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mibs = (ms: number) => LARGE / MiB / (ms / 1000);

const settings = { cidVersion: 0 as const, rawLeaves: false, chunkSize: KUBO_CHUNK_SIZE, wrapWithDirectory: false, onlyHash: false, pin: true };

/** Everything through kubo-rpc-client against one API URL. */
async function rpcSuite(apiUrl: string, smalls: Uint8Array[], larges: Uint8Array[]): Promise<Measures> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
  const ipfs = create({ url: apiUrl, agent });
  try {
    const seq = await timed(async () => {
      for (let i = 0; i < SMALL; i++) await ipfs.add(smalls[i]!, { pin: true });
    });
    const conc = await timed(() => pool(SMALL, CONCURRENCY, (i) => ipfs.add(smalls[SMALL + i]!, { pin: true })));
    const adds: number[] = [];
    const cats: number[] = [];
    for (const large of larges) {
      let cid = '';
      // As the tools send it (IpfsService.pinBytes): the bytes as 1 MiB views.
      adds.push(
        await timed(async () => {
          cid = (await ipfs.add(uploadPieces(large), { pin: true })).cid.toString();
        }),
      );
      let read = 0;
      cats.push(
        await timed(async () => {
          for await (const c of ipfs.cat(cid, { timeout: 120_000 })) read += c.length;
        }),
      );
      if (read !== LARGE) throw new Error(`cat returned ${read} bytes, expected ${LARGE}`);
    }
    // The same files handed to the client as one Uint8Array each (re-added: same CIDs).
    const whole: number[] = [];
    for (const large of larges) whole.push(await timed(() => ipfs.add(large, { pin: true })));
    return {
      smallSeqPerS: SMALL / (seq / 1000),
      smallConcPerS: SMALL / (conc / 1000),
      largeAddMiBs: mibs(median(adds)),
      largeCatMiBs: mibs(median(cats)),
      largeAddWholeMiBs: mibs(median(whole)),
      largeAddRuns: adds.map(mibs),
      largeCatRuns: cats.map(mibs),
    };
  } finally {
    agent.destroy();
  }
}

/** The embedded node in a child process (bench/ipfs-pin/node-process.ts). */
async function startNodeProcess(dir: string) {
  const child = spawn(process.execPath, [...process.execArgv, path.join(import.meta.dirname, 'node-process.ts'), dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = readline.createInterface({ input: child.stdout });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`node process exited (${code}) before it was ready`)));
  });
  lines.close();
  const urls = JSON.parse(first) as { apiUrl: string; nullUrl: string };
  return {
    ...urls,
    async stop() {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

async function main() {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-ipfs-'));
  const logger = createLogger('silent');
  const smalls = Array.from({ length: SMALL * 2 }, () => randomBytes(SMALL_SIZE));
  const larges = Array.from({ length: LARGE_RUNS }, () => randomBytes(LARGE));
  const results: Record<string, Measures> = {};
  const ceiling: number[] = [];
  try {
    // ---- RPC, node in this process (as `npm start` runs it)
    const embedded = await startEmbeddedIpfs({ dir: path.join(root, 'rpc'), logger });
    try {
      results.rpc = await rpcSuite(embedded.apiUrl, smalls, larges);
    } finally {
      await embedded.stop();
    }

    // ---- RPC, node in a process of its own (as Kubo runs), and the upload ceiling
    const child = await startNodeProcess(path.join(root, 'rpc-own'));
    try {
      results.rpcOwnProcess = await rpcSuite(child.apiUrl, smalls, larges);
      const agent = new http.Agent({ keepAlive: true });
      const nul = create({ url: child.nullUrl, agent });
      for (const large of larges) ceiling.push(mibs(await timed(() => nul.add(uploadPieces(large)))));
      agent.destroy();
    } finally {
      await child.stop();
    }

    // ---- In-process: the same node code (Helia + unixfs importer/exporter), no HTTP
    const node = await IpfsNode.open(path.join(root, 'inproc'));
    const addOne = async (bytes: Uint8Array) => {
      let cid = '';
      for await (const r of node.add((async function* () {
        yield { path: '', content: bytes };
      })(), settings)) cid = r.cid.toString();
      return cid;
    };
    try {
      const seq = await timed(async () => {
        for (let i = 0; i < SMALL; i++) await addOne(smalls[i]!);
      });
      const conc = await timed(() => pool(SMALL, CONCURRENCY, (i) => addOne(smalls[SMALL + i]!)));
      const adds: number[] = [];
      const cats: number[] = [];
      for (const large of larges) {
        let cid = '';
        adds.push(
          await timed(async () => {
            cid = await addOne(large);
          }),
        );
        let read = 0;
        cats.push(
          await timed(async () => {
            for await (const c of node.cat(cid)) read += c.length;
          }),
        );
        if (read !== LARGE) throw new Error(`in-process cat returned ${read} bytes`);
      }
      results.inProcess = {
        smallSeqPerS: SMALL / (seq / 1000),
        smallConcPerS: SMALL / (conc / 1000),
        largeAddMiBs: mibs(median(adds)),
        largeCatMiBs: mibs(median(cats)),
        largeAddRuns: adds.map(mibs),
        largeCatRuns: cats.map(mibs),
      };
    } finally {
      await node.close();
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }

  const rpc = results.rpc!;
  const own = results.rpcOwnProcess!;
  const ip = results.inProcess!;
  type Key = 'smallSeqPerS' | 'smallConcPerS' | 'largeAddMiBs' | 'largeCatMiBs';
  const overhead = (m: Measures, k: Key) => (ip[k] / m[k] - 1) * 100; // extra time per op over the floor, %
  const rows: ReadonlyArray<readonly [string, Key, number | undefined]> = [
    ['1 KiB add+pin, sequential (ops/s)', 'smallSeqPerS', undefined],
    [`1 KiB add+pin, ${CONCURRENCY} concurrent (ops/s)`, 'smallConcPerS', 300],
    [`50 MiB add+pin (MiB/s, median of ${LARGE_RUNS})`, 'largeAddMiBs', 60],
    [`50 MiB cat (MiB/s, median of ${LARGE_RUNS})`, 'largeCatMiBs', undefined],
  ];
  const out = rows.map(([label, k, target]) => ({
    measure: label,
    'RPC, node in-proc': rpc[k].toFixed(1),
    'RPC, node own proc': own[k].toFixed(1),
    'Helia in-process': ip[k].toFixed(1),
    overhead: `${overhead(rpc, k).toFixed(0)}% / ${overhead(own, k).toFixed(0)}%`,
    target: target ? `≥ ${target}, < 30%` : '< 30%',
  }));
  out.push({
    measure: '50 MiB add+pin, one Uint8Array to the client (MiB/s)',
    'RPC, node in-proc': rpc.largeAddWholeMiBs!.toFixed(1),
    'RPC, node own proc': own.largeAddWholeMiBs!.toFixed(1),
    'Helia in-process': '',
    overhead: `${((ip.largeAddMiBs / rpc.largeAddWholeMiBs! - 1) * 100).toFixed(0)}% / ${((ip.largeAddMiBs / own.largeAddWholeMiBs! - 1) * 100).toFixed(0)}%`,
    target: 'how the client was called before',
  });
  out.push({
    measure: '50 MiB upload parsed and discarded (MiB/s)',
    'RPC, node in-proc': '',
    'RPC, node own proc': median(ceiling).toFixed(1),
    'Helia in-process': '',
    overhead: '',
    target: 'client + HTTP ceiling',
  });
  console.log(`\nbench/ipfs-pin (${os.cpus().length} cores, node ${process.version}, load ${os.loadavg()[0]!.toFixed(2)})\n`);
  console.log(table(out));
  const json = {
    benchmark: 'ipfs-pin',
    at: new Date().toISOString(),
    machine: { cores: os.cpus().length, node: process.version, loadAvg1m: os.loadavg()[0] },
    params: { small: SMALL, smallBytes: SMALL_SIZE, concurrency: CONCURRENCY, largeBytes: LARGE, largeRuns: LARGE_RUNS },
    rpc,
    rpcOwnProcess: own,
    inProcess: ip,
    uploadCeilingMiBs: { median: median(ceiling), runs: ceiling },
    overheadPercent: {
      rpc: Object.fromEntries(rows.map(([, k]) => [k, Number(overhead(rpc, k).toFixed(1))])),
      rpcOwnProcess: Object.fromEntries(rows.map(([, k]) => [k, Number(overhead(own, k).toFixed(1))])),
    },
    targets: { smallConcPerS: 300, largeAddMiBs: 60, overheadPercentMax: 30 },
  };
  const dir = path.join(import.meta.dirname, '..', 'results');
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'ipfs-pin.json'), JSON.stringify(json, null, 2) + '\n');
}

await main();
