/**
 * The layers of src/ (README "Code map"): a module imports only from its own layer or
 * the ones below it, and the embedded stand-ins under services/ import nothing from src/.
 * Read from the source files' import statements (type-only imports count too).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LAYERS: Array<[name: string, test: (rel: string) => boolean]> = [
  ['foundation', (f) => /^src\/(config|logger|errors)\.ts$/.test(f) || /^src\/(util|db|types)\//.test(f)],
  ['clients', (f) => f.startsWith('src/clients/')],
  ['tools', (f) => f.startsWith('src/tools/')],
  ['workflows', (f) => f.startsWith('src/workflows/')],
  ['agents', (f) => f.startsWith('src/mastra/agents/') || f === 'src/mastra/model.ts' || f === 'src/mastra/memory.ts' || f === 'src/mastra/memory-store.ts'],
  ['server', (f) => f.startsWith('src/server/')],
  ['features', (f) => f.startsWith('src/features/')],
  ['system', (f) => f.startsWith('src/system/')],
  ['entry points', (f) => ['src/main.ts', 'src/dev.ts', 'src/services.ts', 'src/mastra/index.ts'].includes(f)],
];

function files(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return files(rel);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Every relative import of a file, resolved to a path under the root (without extension). */
export function importsOf(rel: string): string[] {
  const src = fs.readFileSync(path.join(ROOT, rel), 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
    out.push(path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, rel)), (m[1] ?? m[2])!)));
  }
  return out;
}

function layerOf(target: string): number {
  const candidates = [target, `${target}.ts`, `${target}/index.ts`];
  for (const c of candidates) {
    const i = LAYERS.findIndex(([, t]) => t(c));
    if (i >= 0) return i;
  }
  return -1;
}

describe('layers', () => {
  it('every file under src/ belongs to a layer', () => {
    expect(files('src').filter((f) => layerOf(f) < 0)).toEqual([]);
  });

  it('no module imports from a layer above its own', () => {
    const upward: string[] = [];
    for (const f of files('src')) {
      const own = layerOf(f);
      for (const target of importsOf(f)) {
        if (!target.startsWith('src/')) continue;
        const theirs = layerOf(target);
        if (theirs > own) upward.push(`${f} (${LAYERS[own]![0]}) → ${target} (${LAYERS[theirs]![0]})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('services/ imports nothing from src/', () => {
    const bad = files('services').flatMap((f) => importsOf(f).filter((t) => t.startsWith('src/')).map((t) => `${f} → ${t}`));
    expect(bad).toEqual([]);
  });

  it('the check itself sees an upward import', () => {
    // A tool importing a feature manifest must be reported: the rule is not vacuous.
    expect(layerOf('src/features/atproto')).toBeGreaterThan(layerOf('src/tools/atproto/post.ts'));
    expect(importsOf('src/features/atproto/index.ts')).toContain('src/tools/atproto');
  });
});
