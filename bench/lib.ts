/** Shared helpers for the benchmarks: load generation, percentiles, RSS sampling, tables. */
import fs from 'node:fs/promises';
import path from 'node:path';

export interface Sample {
  ms: number;
  ttftMs?: number;
  ok: boolean;
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

/** Runs `total` calls of `fn` with `concurrency` workers; samples RSS meanwhile. */
export async function load(fn: () => Promise<Omit<Sample, 'ms'> & { ms?: number }>, total: number, concurrency: number) {
  const samples: Sample[] = [];
  let next = 0;
  let peakRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 25);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const s0 = performance.now();
        try {
          const r = await fn();
          samples.push({ ms: r.ms ?? performance.now() - s0, ttftMs: r.ttftMs, ok: r.ok });
        } catch {
          samples.push({ ms: performance.now() - s0, ok: false });
        }
      }
    }),
  );
  const wall = performance.now() - t0;
  clearInterval(rssTimer);
  const lat = samples.filter((s) => s.ok).map((s) => s.ms);
  const ttft = samples.filter((s) => s.ok && s.ttftMs !== undefined).map((s) => s.ttftMs!);
  return {
    n: samples.length,
    errors: samples.filter((s) => !s.ok).length,
    p50: percentile(lat, 50),
    p95: percentile(lat, 95),
    ttftP50: ttft.length ? percentile(ttft, 50) : undefined,
    ttftP95: ttft.length ? percentile(ttft, 95) : undefined,
    rps: (samples.length / wall) * 1000,
    peakRssMb: peakRss / 1024 / 1024,
  };
}

export type LoadResult = Awaited<ReturnType<typeof load>>;

export function table(rows: Array<Record<string, string | number | undefined>>): string {
  const cols = Object.keys(rows[0] ?? {});
  const fmt = (v: unknown) => (v === undefined ? '-' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => fmt(r[c]).length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(cols), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map((r) => line(cols.map((c) => fmt(r[c]))))].join('\n');
}

export async function writeResult(name: string, data: unknown): Promise<string> {
  const dir = path.resolve(import.meta.dirname, 'results');
  await fs.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  await fs.writeFile(file, JSON.stringify({ bench: name, at: new Date().toISOString(), node: process.version, ...(data as object) }, null, 2));
  return file;
}

/** Reads an SSE/NDJSON body to the end; returns ms to the first chunk containing `marker`. */
export async function readStream(res: Response, marker: string, t0: number): Promise<number | undefined> {
  let ttft: number | undefined;
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (ttft === undefined && decoder.decode(chunk, { stream: true }).includes(marker)) ttft = performance.now() - t0;
  }
  return ttft;
}
