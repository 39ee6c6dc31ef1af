/**
 * Summarises a V8 CPU profile (node --cpu-prof) of the bench server process: self time
 * grouped by package, the top self-time functions, and the top total-time (inclusive:
 * the function and everything it called, each sample counted once per function even
 * when it recurses) functions, each with its installed file:line:column, so a frame
 * can be looked up in node_modules (dist chunk) and mapped to its upstream source.
 *   npx tsx bench/chat-overhead/profile.ts <file.cpuprofile> [requests]
 * With `requests`, the tables also show ms per request. PROFILE_TOP=<n> rows per
 * function table (15); PROFILE_MATCH=<regex> keeps only functions whose package or file
 * matches (e.g. `mastra|ai-sdk|zod|schema-compat|pg`). Frames in a package that ships
 * source maps (@mastra/*, @ai-sdk/*) also name their original source file:line (the
 * path in the package's repository, e.g. `src/loop/...` of mastra-ai/mastra packages/core).
 * Breakdowns (each prints one more table):
 *   PROFILE_CALLERS=<regex>   the stacks above the matching frames (PROFILE_DEPTH frames, 6)
 *   PROFILE_ORIGIN=<regex>    time under the matching frames by first caller outside node/pg
 *   PROFILE_BY_SOURCE=<regex> self time of the matching packages by original source file
 */
import fs from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { table } from '../lib';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
const [file, reqArg] = process.argv.slice(2);
const prof = JSON.parse(fs.readFileSync(file!, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const requests = reqArg ? Number(reqArg) : undefined;
const TOP = Number(process.env.PROFILE_TOP ?? 15);
const match = process.env.PROFILE_MATCH ? new RegExp(process.env.PROFILE_MATCH) : undefined;
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

/** The original source file:line of a bundled frame, from the `.map` file beside the installed file. */
const maps = new Map<string, SourceMap | null>();
function original(n: Node): string | undefined {
  const url = n.callFrame.url;
  if (!url.includes('node_modules/')) return undefined;
  let map = maps.get(url);
  if (map === undefined) {
    map = null;
    try {
      const file = url.startsWith('file:') ? fileURLToPath(url) : url;
      if (fs.existsSync(`${file}.map`)) map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')));
    } catch {}
    maps.set(url, map);
  }
  const e = map?.findEntry(n.callFrame.lineNumber, n.callFrame.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
  if (!e?.originalSource) return undefined;
  return `${e.originalSource.replace(/^(\.\.\/)+/, '').replace(/^file:\/\/.*?node_modules\//, '')}:${(e.originalLine ?? 0) + 1}`;
}
const where = (n: Node) => {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const i = url.lastIndexOf('node_modules/');
  const src = original(n);
  return `${i >= 0 ? url.slice(i + 'node_modules/'.length) : url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}:${n.callFrame.columnNumber + 1}${src ? ` ← ${src}` : ''}`;
};
const pkg = new Map<string, number>();
const fns = new Map<string, { pkg: string; ms: number }>();
let total = 0;
for (const [id, ms] of self) {
  const n = byId.get(id)!;
  const p = packageOf(n.callFrame.url, n.callFrame.functionName);
  total += ms;
  pkg.set(p, (pkg.get(p) ?? 0) + ms);
  const key = `${n.callFrame.functionName || '(anonymous)'} ${where(n)}`;
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
      .filter(([k, f]) => !match || match.test(f.pkg) || match.test(k))
      .slice(0, TOP)
      .map(([k, f]) => ({ 'function (self time)': k.slice(0, 160), package: f.pkg, 'self ms': +f.ms.toFixed(0), '% of busy': +((f.ms / busy) * 100).toFixed(1), ...(requests ? { 'ms / request': +(f.ms / requests).toFixed(3) } : {}) })),
  ),
);

// Total (inclusive) time: walk the call tree; a function's key is counted once per
// sample even if it appears several times on the stack (recursion, re-entrant streams).
const keyOf = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${where(n)}`;
const totals = new Map<string, { pkg: string; ms: number }>();
const parentOf = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
for (const [id, ms] of self) {
  if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) {
    const n = byId.get(cur)!;
    if (!n.callFrame.url) continue;
    const k = keyOf(n);
    if (seen.has(k)) continue;
    seen.add(k);
    const t = totals.get(k) ?? { pkg: packageOf(n.callFrame.url, n.callFrame.functionName), ms: 0 };
    t.ms += ms;
    totals.set(k, t);
  }
}
console.log();
console.log(
  table(
    [...totals]
      .filter(([k, f]) => !match || match.test(f.pkg) || match.test(k))
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, TOP)
      .map(([k, f]) => ({ 'function (total time)': k.slice(0, 160), package: f.pkg, 'total ms': +f.ms.toFixed(0), '% of busy': +((f.ms / busy) * 100).toFixed(1), ...(requests ? { 'ms / request': +(f.ms / requests).toFixed(3) } : {}) })),
  ),
);

// PROFILE_CALLERS=<regex>: for the frames whose function name + file match, the stacks
// (up to PROFILE_DEPTH frames, default 6) that spend their time, by total ms.
if (process.env.PROFILE_CALLERS) {
  const re = new RegExp(process.env.PROFILE_CALLERS);
  const depth = Number(process.env.PROFILE_DEPTH ?? 6);
  const stacks = new Map<string, number>();
  for (const [id, ms] of self) {
    const chain: Node[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) chain.push(byId.get(cur)!);
    const at = chain.findIndex((n) => re.test(keyOf(n)));
    if (at < 0) continue;
    const key = chain
      .slice(at, at + depth)
      .map((n) => keyOf(n).replace(/ \S*node_modules\//, ' '))
      .join('\n    ← ');
    stacks.set(key, (stacks.get(key) ?? 0) + ms);
  }
  console.log(`\ncallers of /${re.source}/:`);
  for (const [k, ms] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${ms.toFixed(0)} ms${requests ? ` (${(ms / requests).toFixed(3)} ms/request)` : ''}\n    ${k}`);
}

// PROFILE_ORIGIN=<regex>: the time under the matching frames (e.g. `^query pg/lib/client`),
// by the first caller outside node, pg, pg-pool and pg-protocol: who sent the statements.
if (process.env.PROFILE_ORIGIN) {
  const re = new RegExp(process.env.PROFILE_ORIGIN);
  const plumbing = /^(node \(|pg$|pg-pool|pg-protocol|\(garbage|\(program)/;
  const origins = new Map<string, number>();
  for (const [id, ms] of self) {
    const chain: Node[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) chain.push(byId.get(cur)!);
    const at = chain.findIndex((n) => re.test(keyOf(n)));
    if (at < 0) continue;
    const origin = chain.slice(at).find((n) => n.callFrame.url && !plumbing.test(packageOf(n.callFrame.url, n.callFrame.functionName)));
    const key = origin ? keyOf(origin).replace(/ \S*node_modules\//, ' ') : '(no caller outside the plumbing)';
    origins.set(key, (origins.get(key) ?? 0) + ms);
  }
  console.log(`\ntime under /${re.source}/ by first caller outside node and pg:`);
  for (const [k, ms] of [...origins].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${ms.toFixed(0).padStart(6)} ms${requests ? ` ${(ms / requests).toFixed(3)} ms/request` : ''}  ${k}`);
}

// PROFILE_BY_SOURCE=<regex of packages>: self time of those packages' frames grouped by the
// original source file (from the source maps), e.g. `@mastra/core` → src/workflows/default.ts.
if (process.env.PROFILE_BY_SOURCE) {
  const re = new RegExp(process.env.PROFILE_BY_SOURCE);
  const files = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    const p = packageOf(n.callFrame.url, n.callFrame.functionName);
    if (!re.test(p)) continue;
    const src = original(n)?.replace(/:\d+$/, '') ?? '(no source map)';
    const k = `${p} ${src}`;
    files.set(k, (files.get(k) ?? 0) + ms);
  }
  console.log(`\nself time by original source file (${re.source}):`);
  for (const [k, ms] of [...files].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${ms.toFixed(0).padStart(6)} ms${requests ? ` ${(ms / requests).toFixed(3)} ms/request` : ''}  ${k}`);
}
