/**
 * harness/compose.ts, which test/process/topology.test.ts uses to start docker-compose.yml's
 * services as plain processes: a missing required variable, an override of a variable the
 * compose file does not set, and a compose value not of the expected form all fail loudly
 * (so a wrong or missing compose variable fails the topology test).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { applyOverrides, composeEnv, dockerfile, interpolate, parseDotEnv, type ComposeFile } from '../../harness/compose';

const ROOT = path.resolve(import.meta.dirname, '../..');
const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as ComposeFile;

describe('compose environment', () => {
  it('interpolates like docker compose: defaults, required variables, $$', () => {
    expect(interpolate('a${X:-d}b', {}, 'w')).toBe('adb');
    expect(interpolate('a${X:-d}b', { X: '' }, 'w')).toBe('adb');
    expect(interpolate('a${X-d}b', { X: '' }, 'w')).toBe('ab');
    expect(interpolate('${X}', { X: 'v' }, 'w')).toBe('v');
    expect(interpolate('$$HOME', {}, 'w')).toBe('$HOME');
    expect(() => interpolate('${X:?set X - run it}', {}, 'svc.K')).toThrow('svc.K: required variable X is missing a value: set X - run it');
    expect(() => interpolate('${X:?set X}', { X: '' }, 'w')).toThrow(/required variable X/);
  });

  it('parses a .env as gen-secrets writes it (quoted JSON kept whole)', () => {
    expect(parseDotEnv(`# c\nA=1\nB='{"k":"v w"}'\n\nC=\n`)).toEqual({ A: '1', B: '{"k":"v w"}', C: '' });
  });

  it('without the secrets, the app, pds and postgres environments name the missing variable', () => {
    expect(() => composeEnv(compose, 'app', {})).toThrow(/POSTGRES_PASSWORD/);
    expect(() => composeEnv(compose, 'pds', { POSTGRES_PASSWORD: 'x' })).toThrow(/PDS_HOSTNAME/);
    expect(() => composeEnv(compose, 'nope', {})).toThrow(/no environment/);
  });

  it('an override must name a variable compose sets, and a swap must find its host', () => {
    const env = { DATABASE_URL: 'postgres://u:p@postgres:5432/db', PORT: '1' };
    expect(applyOverrides('s', env, { DATABASE_URL: { swap: ['@postgres:5432/', '@127.0.0.1:9/'] }, PORT: { set: '2' } })).toEqual({ DATABASE_URL: 'postgres://u:p@127.0.0.1:9/db', PORT: '2' });
    expect(applyOverrides('s', env, { PORT: { drop: true } })).toEqual({ DATABASE_URL: env.DATABASE_URL });
    expect(() => applyOverrides('s', env, { MISSING: { set: 'x' } })).toThrow('s.MISSING: overridden, but docker-compose.yml does not set it');
    expect(() => applyOverrides('s', env, { DATABASE_URL: { swap: ['@db:5432/', '@x/'] } })).toThrow(/expected "@db:5432\/"/);
    expect(() => applyOverrides('s', env, { PORT: { add: '3' } })).toThrow(/compose now sets it/);
    expect(applyOverrides('s', env, { NEW: { add: '3' } }).NEW).toBe('3');
  });

  it("reads the PLC Dockerfile's ENV and CMD", () => {
    const d = dockerfile(fs.readFileSync(path.join(ROOT, 'services', 'plc', 'Dockerfile'), 'utf8'));
    expect(d.env).toMatchObject({ NODE_ENV: 'production', PORT: '2582' });
    expect(d.cmd).toEqual(['node', '--enable-source-maps', 'node_modules/@did-plc/server/dist/bin.js']);
  });
});
