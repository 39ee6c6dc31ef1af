/** bench/workers's process-tree helpers on fixed /proc text (and once on this process's own tree). */
import { describe, expect, it } from 'vitest';
import { descendants, groupRss, parseStatPpid, parseStatusRssKb, readProcs, type ProcInfo } from '../../bench/workers/proc';

describe('bench/workers proc helpers', () => {
  it('reads the parent pid after a command name holding spaces and parentheses', () => {
    expect(parseStatPpid('4242 (node) S 17 4242 4242 0 -1 4194560 ...')).toBe(17);
    expect(parseStatPpid('99 (we(ird) name) R 1 99 99 0 -1')).toBe(1);
    expect(() => parseStatPpid('garbage')).toThrow();
  });

  it('reads VmRSS in kB, and 0 when a status has none (kernel thread, zombie)', () => {
    expect(parseStatusRssKb('Name:\tnode\nVmPeak:\t  900000 kB\nVmRSS:\t  204800 kB\nRssAnon:\t 1 kB\n')).toBe(204800);
    expect(parseStatusRssKb('Name:\tkthreadd\nState:\tS (sleeping)\n')).toBe(0);
  });

  it('groups a tree: the root, node workers, postgres summed, other processes by name; strangers left out', () => {
    const procs: ProcInfo[] = [
      { pid: 1, ppid: 0, comm: 'init', rssKb: 1000 },
      { pid: 10, ppid: 1, comm: 'node', rssKb: 300 * 1024 },
      { pid: 11, ppid: 10, comm: 'node', rssKb: 200 * 1024 },
      { pid: 12, ppid: 10, comm: 'MainThread', rssKb: 210 * 1024 },
      { pid: 13, ppid: 10, comm: 'postgres', rssKb: 30 * 1024 },
      { pid: 14, ppid: 13, comm: 'postgres', rssKb: 10 * 1024 },
      { pid: 15, ppid: 13, comm: 'postgres', rssKb: 10 * 1024 },
      { pid: 16, ppid: 10, comm: 'ipfs', rssKb: 50 * 1024 },
      { pid: 20, ppid: 1, comm: 'postgres', rssKb: 999 * 1024 },
    ];
    const tree = descendants(procs, 10);
    expect(tree.map((p) => p.pid).sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16]);
    expect(tree[0]!.pid).toBe(10);
    expect(groupRss(tree)).toEqual({
      root_mb: 300,
      workers_mb: [200, 210],
      postgres_mb: 50,
      postgres_processes: 3,
      other: [{ comm: 'ipfs', mb: 50 }],
      total_mb: 810,
    });
    expect(descendants(procs, 12345)).toEqual([]);
  });

  it('finds this process in /proc with a resident size', () => {
    const me = readProcs().find((p) => p.pid === process.pid);
    expect(me?.ppid).toBe(process.ppid);
    expect(me!.rssKb).toBeGreaterThan(0);
  });
});
