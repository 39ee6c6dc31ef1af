/**
 * Summarises a V8 CPU profile (node --cpu-prof) of the bench server process: self time
 * grouped by package, and the top self-time functions.
 *   npx tsx bench/chat-overhead/profile.ts <file.cpuprofile> [requests]
 * With `requests`, the package table also shows ms per request.
 */
import fs from 'node:fs';
import { table } from '../lib';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
const [file, reqArg] = process.argv.slice(2);
const prof = JSON.parse(fs.readFileSync(file!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const requests = reqArg ? Number(reqArg) : undefined;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000));

export function packageOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : 'node (native)';
  if (url.startsWith('node:')) return 'node (internal)';
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/g);
  if (m) return m[m.length - 1]!.replace('node_modules/', '');
  if (url.includes('/src/')) return 'app (src/)';
  if (/\/(bench|harness)\//.test(url)) return 'bench + harness (scripted model)';
  return url;
}

const pkg = new Map<string, number>();
const fns = new Map<string, { pkg: string; ms: number }>();
let total = 0;
for (const [id, ms] of self) {
  const n = byId.get(id)!;
  const p = packageOf(n.callFrame.url, n.callFrame.functionName);
  total += ms;
  pkg.set(p, (pkg.get(p) ?? 0) + ms);
  const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-1)[0]}:${n.callFrame.lineNumber + 1}`;
  const f = fns.get(key) ?? { pkg: p, ms: 0 };
  f.ms += ms;
  fns.set(key, f);
}
const busy = total - (pkg.get('(idle)') ?? 0);
console.log(`total ${total.toFixed(0)} ms, busy (not idle) ${busy.toFixed(0)} ms${requests ? `, ${(busy / requests).toFixed(2)} ms busy per request` : ''}\n`);
console.log(
  table(
    [...pkg]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([p, ms]) => ({ package: p, 'self ms': +ms.toFixed(0), '% of busy': p === '(idle)' ? '-' : +((ms / busy) * 100).toFixed(1), ...(requests ? { 'ms / request': +(ms / requests).toFixed(3) } : {}) })),
  ),
);
console.log();
console.log(
  table(
    [...fns]
      .sort((a, b) => b[1].ms - a[1].ms)
      .filter(([k]) => !k.startsWith('(idle)'))
      .slice(0, 15)
      .map(([k, f]) => ({ function: k.slice(0, 70), package: f.pkg, 'self ms': +f.ms.toFixed(0), '% of busy': +((f.ms / busy) * 100).toFixed(1) })),
  ),
);
