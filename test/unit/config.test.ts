import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, mayUseAgent } from '../../src/config';

const load = (env: Record<string, string>) => loadConfig(env);
const issuesOf = (env: Record<string, string>): string => {
  try {
    load(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('has working defaults for one machine', () => {
    const c = load({});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8787, logLevel: 'info', rateLimitRpm: 120 });
    expect(c.model.default).toBe('openai/gpt-4o-mini');
    expect(c.databaseUrl).toBeUndefined();
    expect(c.dataDir).toMatch(/\.data$/);
  });

  it('names the variable of a bad value, without echoing it', () => {
    expect(issuesOf({ PORT: 'eighty' })).toContain('PORT');
    expect(issuesOf({ PORT: '70000' })).toContain('PORT');
    expect(issuesOf({ OPENAI_BASE_URL: 'not a url' })).toContain('OPENAI_BASE_URL');
    expect(issuesOf({ MODEL: 'gpt-4o' })).toContain('MODEL: must look like provider/model');
    expect(issuesOf({ LOG_LEVEL: 'loud' })).toContain('LOG_LEVEL');
    const msg = issuesOf({ API_KEYS: 'sk-short' });
    expect(msg).toContain('API_KEYS');
    expect(msg).not.toContain('sk-short');
  });

  it('refuses a non-loopback address without API keys', () => {
    expect(issuesOf({ HOST: '0.0.0.0' })).toMatch(/HOST: refusing to listen on 0\.0\.0\.0 without API_KEYS/);
    expect(load({ HOST: '0.0.0.0', API_KEYS: 'sk-long-enough-key:alice' }).host).toBe('0.0.0.0');
  });

  it('selects features', () => {
    expect(load({}).features).toBe('all');
    expect(load({ FEATURES: 'none' }).features).toEqual([]);
    expect(load({ FEATURES: 'ipfs, powersync' }).features).toEqual(['ipfs', 'powersync']);
    // `sync`, the feature's earlier name, still works.
    expect(load({ FEATURES: 'ipfs, sync' }).features).toEqual(['ipfs', 'powersync']);
    expect(issuesOf({ FEATURES: 'ipfs,teleport' })).toContain('FEATURES: unknown feature(s) teleport');
  });

  it('parses API keys and per-agent model overrides', () => {
    const c = load({ API_KEYS: 'sk-aaaaaaaa:alice, sk-bbbbbbbb:bob', AGENT_MODEL_ASSISTANT: 'ollama/llama3.2', AGENT_MODEL_SOCIAL_BOT: 'openai/gpt-4o' });
    expect([...c.apiKeys]).toEqual([
      ['sk-aaaaaaaa', 'alice'],
      ['sk-bbbbbbbb', 'bob'],
    ]);
    expect(c.model.perAgent).toEqual({ assistant: 'ollama/llama3.2', 'social-bot': 'openai/gpt-4o' });
    expect(issuesOf({ AGENT_MODEL_ASSISTANT: 'nope' })).toContain('AGENT_MODEL_ASSISTANT');
  });
});

describe('AGENT_USERS_<NAME> (mayUseAgent)', () => {
  const keys = { API_KEYS: 'sk-aaaaaaaaaa:alice,sk-bbbbbbbbbb:ops' };
  it('limits AT Protocol agents to ADMIN_USERS by default, every other agent to every key owner', () => {
    const c = loadConfig({ ...keys, ADMIN_USERS: 'ops' });
    expect(mayUseAgent(c, 'alice', 'social')).toBe(false);
    expect(mayUseAgent(c, 'ops', 'social')).toBe(true);
    expect(mayUseAgent(c, 'alice', 'assistant')).toBe(true);
    expect(mayUseAgent(c, undefined, 'assistant')).toBe(false);
  });
  it('takes a comma list or * per agent (name: _ = -)', () => {
    const c = loadConfig({ ...keys, AGENT_USERS_SOCIAL: '*', AGENT_USERS_MY_AGENT: ' alice , bob ' });
    expect(mayUseAgent(c, 'alice', 'social')).toBe(true);
    expect(mayUseAgent(c, 'alice', 'my-agent')).toBe(true);
    expect(mayUseAgent(c, 'ops', 'my-agent')).toBe(false);
    expect(mayUseAgent(c, 'ops', 'constructor')).toBe(true);
  });
  it('allows everything without API_KEYS (keyless development)', () => {
    const c = loadConfig({ AGENT_USERS_SOCIAL: 'ops' });
    expect(mayUseAgent(c, undefined, 'social')).toBe(true);
  });
});
