/** `npm run bench [-- name ...]`: runs each benchmark (bench/<name>/run.ts) in its own process. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const dir = import.meta.dirname;
const all = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'run.ts')));
const pick = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = pick.length ? pick : all;
let failed = 0;
for (const name of names) {
  if (!all.includes(name)) {
    console.error(`unknown benchmark "${name}"; have: ${all.join(', ')}`);
    failed++;
    continue;
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, name, 'run.ts')], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
