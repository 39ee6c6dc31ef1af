/**
 * Drives interface-ipfs-core (the core-API conformance suite js-ipfs ran against
 * go-ipfs) with mocha, in this process, against the embedded node through
 * ipfs-http-client. Each of the suite's test groups spawns its own node
 * (`factory.spawn()` → a fresh repo in a temp dir on a free port) and
 * `factory.clean()` stops them and removes their repos.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Mocha from 'mocha';
import { startEmbeddedIpfs, type EmbeddedIpfs } from '../../services/ipfs/embedded';

export interface Skip {
  name: string;
  reason: string;
}
export interface SkipFile {
  /** Suites of interface-ipfs-core run (root, block, dag, pin, repo, miscellaneous …) with what each skips. */
  suites: Record<string, { skip: true; reason: string } | { skip: Skip[] }>;
}
export interface TestOutcome {
  suite: string;
  title: string;
  fullTitle: string;
  state: 'passed' | 'failed' | 'pending';
  error?: string;
}

function makeFactory(root: string) {
  const running: Array<{ node: EmbeddedIpfs; dir: string }> = [];
  let n = 0;
  return {
    async spawn() {
      const dir = path.join(root, `node-${n++}`);
      const node = await startEmbeddedIpfs({ dir });
      running.push({ node, dir });
      const { create } = await import('ipfs-http-client');
      const api = create({ url: `${node.apiUrl}/api/v0` });
      return { api, peerId: { id: node.node.identity.peerId }, apiAddr: node.apiUrl, stop: () => node.stop() };
    },
    async clean() {
      const all = running.splice(0);
      await Promise.all(all.map(async (r) => {
        await r.node.stop();
        await fs.rm(r.dir, { recursive: true, force: true });
      }));
    },
  };
}

/**
 * interface-ipfs-core reads fixture files (test/fixtures/…) that its npm package does
 * not ship, some of them as soon as it is imported. aegir's loader looks for them
 * under the working directory, so the run happens in a temp directory holding
 * generated stand-ins (a few lines of text naming the file; empty CAR files). Tests
 * that depend on the real fixtures' bytes or CIDs are in the skip list.
 */
async function prepareFixtures(root: string): Promise<void> {
  // Found the way Node finds it: node_modules of this directory or a parent.
  let pkgDir = '';
  for (let d = path.dirname(fileURLToPath(import.meta.url)); ; d = path.dirname(d)) {
    const candidate = path.join(d, 'node_modules', 'interface-ipfs-core');
    if (await fs.stat(candidate).catch(() => undefined)) {
      pkgDir = candidate;
      break;
    }
    if (path.dirname(d) === d) throw new Error('interface-ipfs-core is not installed');
  }
  const paths = new Set<string>();
  const visit = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.name.endsWith('.js')) for (const m of (await fs.readFile(p, 'utf8')).matchAll(/loadFixture\('([^']+)'/g)) paths.add(m[1]!);
    }
  };
  await visit(path.join(pkgDir, 'src'));
  for (const rel of paths) {
    const file = path.join(root, 'interface-ipfs-core', rel);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const text = rel.endsWith('.car') ? '' : `stand-in for ${rel}\n`.repeat(1 + (rel.length % 7));
    await fs.writeFile(file, text);
  }
}

let clamped = false;
function clampTimeouts(cap: number) {
  if (clamped) return;
  clamped = true;
  for (const proto of [Mocha.Runnable.prototype, Mocha.Suite.prototype] as Array<{ timeout: (ms?: number | string) => unknown }>) {
    const original = proto.timeout;
    proto.timeout = function (this: unknown, ms?: number | string) {
      if (ms === undefined) return original.call(this);
      const n = typeof ms === 'number' ? ms : Number.parseInt(String(ms), 10);
      return original.call(this, !Number.isFinite(n) || n <= 0 || n > cap ? cap : n);
    };
  }
}

export async function runConformance(skips: SkipFile, opts: { grep?: RegExp; timeoutMs?: number; onOutcome?: (o: TestOutcome) => void } = {}): Promise<TestOutcome[]> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ipfs-conformance-'));
  await prepareFixtures(root);
  const cwd = process.cwd();
  process.chdir(root);
  const factory = makeFactory(root);
  const outcomes: TestOutcome[] = [];
  const mocha = new Mocha({ timeout: opts.timeoutMs ?? 15_000, reporter: class {
    constructor(runner: Mocha.Runner) {
      const suiteOf = (t: Mocha.Test) => {
        let s: Mocha.Suite | undefined = t.parent;
        while (s?.parent && s.parent.title) s = s.parent;
        return s?.title ?? '';
      };
      const push = (o: TestOutcome) => {
        outcomes.push(o);
        opts.onOutcome?.(o);
      };
      runner.on('pass', (t) => push({ suite: suiteOf(t), title: t.title, fullTitle: t.fullTitle(), state: 'passed' }));
      runner.on('fail', (t, err) => push({ suite: suiteOf(t as Mocha.Test), title: t.title, fullTitle: t.fullTitle(), state: 'failed', error: String((err as Error)?.message ?? err).slice(0, 400) }));
      runner.on('pending', (t) => push({ suite: suiteOf(t), title: t.title, fullTitle: t.fullTitle(), state: 'pending' }));
    }
  } as never });
  if (opts.grep) mocha.grep(opts.grep);
  // The suite sets generous timeouts (up to 18 minutes, for slow CI of 2020). Here a
  // test gets at most `timeoutMs`: the whole run has to stay well under 3 minutes.
  clampTimeouts(opts.timeoutMs ?? 15_000);
  mocha.suite.emit('pre-require', globalThis, 'interface-ipfs-core', mocha);
  const tests = (await import('interface-ipfs-core')) as unknown as Record<string, (f: unknown, o: unknown) => void>;
  for (const [suite, conf] of Object.entries(skips.suites)) {
    // "pin.ls" is the ls suite of the pin suite (createSuite exposes its parts).
    let fn: unknown = tests;
    for (const part of suite.split('.')) fn = (fn as Record<string, unknown> | undefined)?.[part];
    if (typeof fn !== 'function') throw new Error(`interface-ipfs-core has no suite "${suite}"`);
    // A suite skipped whole is not even defined: some read their environment when defined.
    if ('reason' in conf) continue;
    (fn as (f: unknown, o: unknown) => void)(factory, { skip: conf.skip });
  }
  try {
    await new Promise<void>((resolve) => mocha.run(() => resolve()));
  } finally {
    await factory.clean();
    process.chdir(cwd);
    await fs.rm(root, { recursive: true, force: true });
    mocha.dispose();
  }
  return outcomes;
}
