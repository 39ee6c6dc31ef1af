/**
 * Pure helpers of bench/workers: the process tree under a pid from /proc, and its resident
 * memory (VmRSS) grouped by what each process is (the app's node processes, the embedded
 * Postgres, anything else). Reading /proc is separated from the parsing so the parsing
 * can be tested on fixed text.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  rssKb: number;
}

/** The parent pid from /proc/<pid>/stat text ("pid (comm) state ppid ..."; comm may hold spaces and parentheses). */
export function parseStatPpid(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(rest[1]);
  if (!Number.isInteger(ppid)) throw new Error(`not a /proc stat line: ${stat.slice(0, 80)}`);
  return ppid;
}

/** VmRSS in kB from /proc/<pid>/status text (0 for a kernel thread or a zombie, which have none). */
export function parseStatusRssKb(status: string): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : 0;
}

/** `root` and every descendant of it in `procs`, root first. */
export function descendants(procs: ProcInfo[], root: number): ProcInfo[] {
  const byParent = new Map<number, ProcInfo[]>();
  for (const p of procs) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
  const out: ProcInfo[] = [];
  const self = procs.find((p) => p.pid === root);
  if (!self) return out;
  const seen = new Set<number>();
  const walk = (p: ProcInfo) => {
    if (seen.has(p.pid)) return;
    seen.add(p.pid);
    out.push(p);
    for (const c of byParent.get(p.pid) ?? []) walk(c);
  };
  walk(self);
  return out;
}

export interface TreeRss {
  /** The process started (the cluster's primary, or the single app process with WORKERS=1). */
  root_mb: number;
  /** Node processes below the root (the HTTP workers), each. Node 24 names its main thread
   * "MainThread", which is what /proc/<pid>/comm shows for a node process. */
  workers_mb: number[];
  /** Every `postgres` process below the root, summed (postmaster + its backends). */
  postgres_mb: number;
  postgres_processes: number;
  /** Anything else below the root, by name. */
  other: Array<{ comm: string; mb: number }>;
  total_mb: number;
}

const mb = (kb: number) => +(kb / 1024).toFixed(1);

/** Groups a process tree (as `descendants` returns it, root first) by kind. */
export function groupRss(tree: ProcInfo[]): TreeRss {
  const [root, ...rest] = tree;
  const workers = rest.filter((p) => p.comm === 'node' || p.comm === 'MainThread');
  const pg = rest.filter((p) => p.comm === 'postgres' || p.comm === 'postmaster');
  const other = rest.filter((p) => !workers.includes(p) && !pg.includes(p));
  return {
    root_mb: mb(root?.rssKb ?? 0),
    workers_mb: workers.map((p) => mb(p.rssKb)),
    postgres_mb: mb(pg.reduce((a, p) => a + p.rssKb, 0)),
    postgres_processes: pg.length,
    other: other.map((p) => ({ comm: p.comm, mb: mb(p.rssKb) })),
    total_mb: mb(tree.reduce((a, p) => a + p.rssKb, 0)),
  };
}

/** Every process now visible in /proc (those that vanish while being read are skipped). */
export function readProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      out.push({
        pid: Number(d),
        ppid: parseStatPpid(readFileSync(`/proc/${d}/stat`, 'utf8')),
        comm: readFileSync(`/proc/${d}/comm`, 'utf8').trim(),
        rssKb: parseStatusRssKb(readFileSync(`/proc/${d}/status`, 'utf8')),
      });
    } catch {}
  }
  return out;
}

/** RSS of the process tree under `root` now, grouped. */
export const treeRss = (root: number): TreeRss => groupRss(descendants(readProcs(), root));
