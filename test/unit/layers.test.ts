/**
 * The layers of src/ (README "Code map", docs/development.md): a module imports only from
 * its own layer or the ones below it. Layers are FOLDERS; the one named file is
 * src/mastra/index.ts, Mastra's Studio entry (an entry point by Mastra's convention).
 * A folder that does not exist is simply an empty layer.
 *
 * services/ (the embedded stand-ins) imports nothing from src/, and src/ reaches into
 * services/ only from the start-up layers (src/system/, the feature manifests
 * src/features/<name>/index.ts, the entry points) and only through each service's public
 * entry (SERVICES_PUBLIC). Read from the source files' import statements (type-only
 * imports count too).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

const under = (...dirs: string[]) => (f: string) => dirs.some((d) => f.startsWith(`src/${d}/`));
/** Lowest first. */
const LAYERS: Array<[name: string, test: (rel: string) => boolean]> = [
  ['foundation', (f) => ['src/logger.ts', 'src/errors.ts'].includes(f) || under('config', 'util', 'types', 'db')(f)],
  ['stores', under('stores')],
  ['clients', under('clients')],
  ['tools', under('tools')],
  ['workflows', under('workflows')],
  ['agents', (f) => under('mastra')(f) && f !== 'src/mastra/index.ts'],
  ['conversations', under('conversations')],
  ['server', under('server')],
  ['features', under('features')],
  ['system', under('system')],
  ['entry points', (f) => f === 'src/mastra/index.ts' || (/^src\/[^/]+\.ts$/.test(f) && !['src/logger.ts', 'src/errors.ts'].includes(f))],
];

/**
 * The files of services/ that src/ may import: each service's start-up entry and the
 * shared helpers. Everything else under services/ is that service's internals.
 */
const SERVICES_PUBLIC: Array<(rel: string) => boolean> = [
  (f) => /^services\/[^/]+\/embedded$/.test(f), // startEmbeddedX: services/<svc>/embedded.ts
  (f) => f === 'services/atproto/accounts', // the embedded PDS's agent accounts (ensure / read)
  (f) => /^services\/lib\/[^/]+$/.test(f), // shared helpers: data files, http, logger sink, net, powered-by
];
/** The src/ files that may import services/ at all: those that start things. */
const mayImportServices = (f: string) => f.startsWith('src/system/') || /^src\/features\/[^/]+\/index\.ts$/.test(f) || layerOf(f) === LAYERS.length - 1;

function files(dir: string): string[] {
  if (!fs.existsSync(path.join(ROOT, dir))) return [];
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return files(rel);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Every relative import of a file, resolved to a path under the root (without extension). */
export function importsOf(rel: string): string[] {
  return importsIn(fs.readFileSync(path.join(ROOT, rel), 'utf8'), rel);
}

function importsIn(src: string, rel: string): string[] {
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
    out.push(path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, rel)), (m[1] ?? m[2])!)));
  }
  return out;
}

/** The layer of an import target (a path without extension: a file or a folder's index.ts). */
function layerOf(target: string): number {
  // As the bundler resolves it: the file, else the folder's index.ts (a target that does not exist is taken as a file).
  const existing = [`${target}.ts`, `${target}/index.ts`].filter((c) => fs.existsSync(path.join(ROOT, c)));
  const candidates = target.endsWith('.ts') ? [target] : existing.length ? existing : [`${target}.ts`];
  for (const c of candidates) {
    const i = LAYERS.findIndex(([, t]) => t(c));
    if (i >= 0) return i;
  }
  return -1;
}

function upwardImports(f: string, imports: string[]): string[] {
  const own = layerOf(f);
  return imports
    .filter((t) => t.startsWith('src/') && layerOf(t) > own)
    .map((t) => `${f} (${LAYERS[own]![0]}) → ${t} (${LAYERS[layerOf(t)]![0]})`);
}

function servicesViolations(f: string, imports: string[]): string[] {
  return imports
    .filter((t) => t.startsWith('services/'))
    .filter((t) => !mayImportServices(f) || !SERVICES_PUBLIC.some((p) => p(t.replace(/\.ts$/, ''))))
    .map((t) => `${f} → ${t}`);
}

describe('layers', () => {
  it('every file under src/ belongs to a layer', () => {
    expect(files('src').filter((f) => layerOf(f) < 0)).toEqual([]);
  });

  it('no module imports from a layer above its own', () => {
    expect(files('src').flatMap((f) => upwardImports(f, importsOf(f)))).toEqual([]);
  });

  it('src/ imports services/ only from the start-up layers and only their public entries', () => {
    expect(files('src').flatMap((f) => servicesViolations(f, importsOf(f)))).toEqual([]);
  });

  it('services/ imports nothing from src/', () => {
    const bad = files('services').flatMap((f) => importsOf(f).filter((t) => t.startsWith('src/')).map((t) => `${f} → ${t}`));
    expect(bad).toEqual([]);
  });

  it('the checks themselves are not vacuous', () => {
    // The layers are assigned by folder, in this order.
    const sample: Array<[string, string]> = [
      ['src/config/index.ts', 'foundation'],
      ['src/db/leadership.ts', 'foundation'],
      ['src/util/outbound.ts', 'foundation'],
      ['src/stores/atproto/mentions.ts', 'stores'],
      ['src/clients/atproto/clients.ts', 'clients'],
      ['src/tools/atproto/post.ts', 'tools'],
      ['src/workflows/atproto/reply-to-mention.ts', 'workflows'],
      ['src/mastra/model.ts', 'agents'],
      ['src/mastra/agents/social.ts', 'agents'],
      ['src/conversations/threads.ts', 'conversations'],
      ['src/server/app.ts', 'server'],
      ['src/features/atproto/index.ts', 'features'],
      ['src/system/index.ts', 'system'],
      ['src/main.ts', 'entry points'],
      ['src/mastra/index.ts', 'entry points'],
    ];
    for (const [f, layer] of sample) expect(LAYERS[layerOf(f)]?.[0], f).toBe(layer);
    expect(layerOf('src/config')).toBe(0); // `'../config'` resolves to src/config/index.ts
    // The scan finds real imports, and src/ has files in (almost) every layer.
    expect(importsOf('src/features/atproto/index.ts')).toContain('src/tools/atproto');
    const populated = new Set(files('src').map(layerOf));
    for (const name of ['foundation', 'clients', 'tools', 'workflows', 'agents', 'server', 'features', 'system', 'entry points'])
      expect(populated.has(LAYERS.findIndex(([n]) => n === name)), name).toBe(true);
    expect(files('services').length).toBeGreaterThan(10);
    // An upward import is reported…
    expect(upwardImports('src/tools/atproto/post.ts', importsIn("import { x } from '../../features/atproto';", 'src/tools/atproto/post.ts'))).toHaveLength(1);
    expect(upwardImports('src/db/threads.ts', importsIn("import type { X } from '../conversations/threads';", 'src/db/threads.ts'))).toHaveLength(1);
    expect(upwardImports('src/server/app.ts', importsIn("import { x } from '../tools/atproto';", 'src/server/app.ts'))).toEqual([]);
    // …and so are services/ imports from a client, or of a service's internals.
    expect(servicesViolations('src/clients/powersync/keys.ts', importsIn("import { x } from '../../../services/lib/data-file';", 'src/clients/powersync/keys.ts'))).toHaveLength(1);
    expect(servicesViolations('src/features/ipfs/index.ts', importsIn("import { x } from '../../../services/ipfs/node';", 'src/features/ipfs/index.ts'))).toHaveLength(1);
    expect(servicesViolations('src/features/ipfs/tools.ts', importsIn("import { x } from '../../../services/ipfs/embedded';", 'src/features/ipfs/tools.ts'))).toHaveLength(1);
    expect(servicesViolations('src/features/ipfs/index.ts', importsIn("import { x } from '../../../services/ipfs/embedded';", 'src/features/ipfs/index.ts'))).toEqual([]);
    expect(servicesViolations('src/system/index.ts', importsIn("import { x } from '../../services/lib/powered-by';", 'src/system/index.ts'))).toEqual([]);
  });
});
