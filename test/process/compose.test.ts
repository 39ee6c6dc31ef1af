/** docker-compose.yml must stay valid: checked with the Compose client (no engine needed). */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../..');

function composeCommand(): string[] {
  if (spawnSync('docker', ['compose', 'version']).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version']).status === 0) return ['docker-compose'];
  throw new Error('no Compose client: install docker-compose (scripts/test-prereqs.sh does on Debian)');
}

describe('docker-compose.yml', () => {
  it('passes `compose config` and names every service the architecture needs', () => {
    const [bin, ...pre] = composeCommand();
    const out = execFileSync(bin!, [...pre, '-f', 'docker-compose.yml', 'config'], { cwd: ROOT, env: { ...process.env, API_KEYS: 'sk-compose-check:ops' } }).toString();
    expect(out).toMatch(/\n {2}app:/);
    expect(out).toMatch(/\n {2}postgres:/);
    expect(out).toContain('wal_level=logical');
  });
});
