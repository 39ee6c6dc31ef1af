import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, mayUseAgent, parseOtlpHeaders } from '../../src/config';

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

  it('WORKERS: 0 (the default) is one per core, a number is taken as it is, a bad one names the variable', () => {
    expect(load({}).workers).toBe(availableParallelism());
    expect(load({ WORKERS: '0' }).workers).toBe(availableParallelism());
    expect(load({ WORKERS: '3' }).workers).toBe(3);
    expect(issuesOf({ WORKERS: 'lots' })).toContain('WORKERS');
    expect(issuesOf({ WORKERS: '65' })).toContain('WORKERS');
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

describe('config: every documented default (docs/configuration.md)', () => {
  it('an empty environment', () => {
    const c = load({});
    expect(c).toMatchObject({
      features: 'all',
      env: 'development',
      host: '127.0.0.1',
      port: 8787,
      logLevel: 'info',
      embeddedPgPort: 0,
      rateLimitRpm: 120,
      bodyLimit: '1mb',
      images: { maxBytes: 5 * 1024 * 1024, fetchTimeoutMs: 10_000, maxTotalBytes: 16 * 1024 * 1024, maxInFlightBytes: 64 * 1024 * 1024 },
      leadershipPollMs: 2000,
      outboundAllowHosts: [],
    });
    expect(c.dataDir).toBe(path.resolve('./.data'));
    expect(c.apiKeys.size).toBe(0);
    expect(c.adminUsers.size).toBe(0);
    expect(c.agentUsers.size).toBe(0);
    expect(c.model).toEqual({ default: 'openai/gpt-4o-mini', baseUrl: undefined, apiKey: undefined, timeoutMs: 120_000, maxRetries: 1, maxSteps: 8, perAgent: {}, fallbacks: [], perAgentFallbacks: {} });
    expect(c.atproto).toEqual({
      pdsUrl: undefined,
      plcUrl: undefined,
      relayUrl: undefined,
      appViewUrl: undefined,
      appViewDid: undefined,
      embeddedPdsPort: 0,
      handleDomain: 'agents.test',
      agents: ['social'],
      credentials: {},
      autoReply: true,
      dryRun: false,
      requireApproval: false,
      maxPostsPerHour: 30,
      maxRepliesPerThread: 5,
      writePointsPerHour: 5000,
      writePointsPerDay: 35000,
      blocklist: [],
      longText: 'split',
      schedule: undefined,
      feedGeneratorDid: undefined,
      live: {
        jetstreamUrl: undefined,
        jetstreamRewindMs: 5000,
        notificationsPollMs: 0,
        maxMentionAgeMs: 3_600_000,
        catchupIntervalMs: 20_000,
        catchupLagMs: 120_000,
        defaultReplyMode: 'mentions+threads',
        replyModes: {},
        cacheSize: 100_000,
        maxPending: 256,
      },
    });
    expect(c.powersync).toEqual({
      url: undefined,
      publicUrl: undefined,
      embeddedPort: 0,
      audience: 'one-agents-powersync',
      privateJwk: undefined,
      tokenTtlSeconds: 900,
      keepaliveSeconds: 20,
      slotName: 'one_agents_powersync',
      answerMessages: true,
      answerMaxPerUser: 2,
      answerMaxInFlight: 8,
    });
    expect(c.ipfs).toEqual({
      apiUrl: undefined,
      clusterUrl: undefined,
      clusterBasicAuth: undefined,
      gatewayUrl: undefined,
      embeddedPort: 0,
      embeddedClusterPort: 0,
      maxPinBytes: 104_857_600,
      maxReadBytes: 1_048_576,
      timeoutMs: 30_000,
      replicationMin: 0,
      replicationMax: 0,
      filesDir: path.resolve('./.data/files'),
    });
    expect(c.observability).toEqual({ enabled: true, databaseUrl: undefined, serviceName: 'one-agents', flushMs: 2000, sampleRatio: 1, studioOrigins: [], otlp: undefined });
  });

  it('empty or blank values mean the default', () => {
    const c = load({ PORT: '', RATE_LIMIT_RPM: '  ', OPENAI_API_KEY: '  ', ATPROTO_DRY_RUN: '', DATABASE_URL: ' ', API_KEYS: '' });
    expect([c.port, c.rateLimitRpm, c.model.apiKey, c.atproto.dryRun, c.databaseUrl, c.apiKeys.size]).toEqual([8787, 120, undefined, false, undefined, 0]);
  });

  it('takes every value as given (trimmed)', () => {
    const c = load({
      NODE_ENV: 'production',
      HOST: ' localhost ',
      PORT: ' 9000 ',
      DATA_DIR: '/tmp/one-agents-data',
      LOG_LEVEL: 'silent',
      DATABASE_URL: 'postgres://u@db:5432/x',
      OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1',
      OPENAI_API_KEY: ' sk-upstream ',
      BODY_LIMIT: ' 512KB ',
      MODEL: ' ollama/llama3.2 ',
      ADMIN_USERS: ' ops , root ,',
      ATPROTO_HANDLE_DOMAIN: ' Agents.Example.COM ',
      ATPROTO_AGENTS: 'Social, news ,',
      ATPROTO_BLOCKLIST: 'Spam.bsky.social, did:plc:abc',
      ATPROTO_LONG_TEXT: 'refuse',
      ATPROTO_SCHEDULE: 'social|every 6h|news',
      FEEDGEN_DID: 'did:web:feeds.example.com',
      ATPROTO_PASSWORD_SOCIAL: ' app-pass ',
      ATPROTO_IDENTIFIER_SOCIAL: ' social.example.com ',
      ATPROTO_PASSWORD_NEWS_BOT: 'pw2',
      ATPROTO_PASSWORD_EMPTY: '  ',
      IPFS_CLUSTER_BASIC_AUTH: 'admin:pa:ss',
      IPFS_FILES_DIR: '/srv/files',
      POWERSYNC_SLOT: ' my_slot_1 ',
      POWERSYNC_JWT_AUDIENCE: ' aud ',
      OUTBOUND_ALLOW_HOSTS: 'pds.internal:2583, https://plc.internal/ ,[::1]:8080,http://x:1',
    });
    expect(c).toMatchObject({ env: 'production', host: 'localhost', port: 9000, dataDir: '/tmp/one-agents-data', logLevel: 'silent', bodyLimit: '512kb' });
    expect(c.databaseUrl).toBe('postgres://u@db:5432/x');
    expect(c.model.baseUrl).toBe('http://127.0.0.1:11434/v1');
    expect(c.model.apiKey).toBe('sk-upstream');
    expect(c.model.default).toBe('ollama/llama3.2');
    expect([...c.adminUsers]).toEqual(['ops', 'root']);
    expect(c.atproto.handleDomain).toBe('agents.example.com');
    expect(c.atproto.agents).toEqual(['social', 'news']);
    expect(c.atproto.blocklist).toEqual(['spam.bsky.social', 'did:plc:abc']);
    expect(c.atproto.longText).toBe('refuse');
    expect(c.atproto.schedule).toBe('social|every 6h|news');
    expect(c.atproto.feedGeneratorDid).toBe('did:web:feeds.example.com');
    expect(c.atproto.credentials).toEqual({ social: { identifier: 'social.example.com', password: 'app-pass' }, 'news-bot': { identifier: undefined, password: 'pw2' } });
    expect(c.ipfs.clusterBasicAuth).toBe('admin:pa:ss');
    expect(c.ipfs.filesDir).toBe('/srv/files');
    expect(c.powersync.slotName).toBe('my_slot_1');
    expect(c.powersync.audience).toBe('aud');
    expect(c.outboundAllowHosts).toEqual(['pds.internal:2583', 'https://plc.internal/', '[::1]:8080', 'http://x:1']);
  });
});

describe('config: whole numbers and their bounds', () => {
  const bounds: Array<[name: string, min: number, max: number | undefined]> = [
    ['PORT', 0, 65535],
    ['EMBEDDED_PG_PORT', 0, 65535],
    ['RATE_LIMIT_RPM', 0, undefined],
    ['MODEL_TIMEOUT_MS', 100, undefined],
    ['MODEL_MAX_RETRIES', 0, 10],
    ['AGENT_MAX_STEPS', 1, 100],
    ['LEADERSHIP_POLL_MS', 100, 60_000],
    ['EMBEDDED_PDS_PORT', 0, 65535],
    ['ATPROTO_MAX_POSTS_PER_HOUR', 0, undefined],
    ['ATPROTO_MAX_REPLIES_PER_THREAD', 0, undefined],
    ['ATPROTO_WRITE_POINTS_PER_HOUR', 1, undefined],
    ['ATPROTO_WRITE_POINTS_PER_DAY', 1, undefined],
    ['POWERSYNC_PORT', 0, 65535],
    ['POWERSYNC_TOKEN_TTL_S', 30, 86_400],
    ['POWERSYNC_ANSWER_MAX_PER_USER', 0, 1000],
    ['IMAGE_MAX_TOTAL_BYTES', 1024, 1024 * 1024 * 1024],
    ['IMAGE_MAX_INFLIGHT_BYTES', 1024, 16 * 1024 * 1024 * 1024],
    ['POWERSYNC_ANSWER_MAX_IN_FLIGHT', 1, 10_000],
    ['POWERSYNC_KEEPALIVE_S', 1, 300],
    ['IPFS_EMBEDDED_PORT', 0, 65535],
    ['IPFS_EMBEDDED_CLUSTER_PORT', 0, 65535],
    ['IPFS_MAX_PIN_BYTES', 1, undefined],
    ['IPFS_MAX_READ_BYTES', 1, undefined],
    ['IPFS_TIMEOUT_MS', 100, undefined],
    ['IPFS_REPLICATION_MIN', 0, 1000],
    ['IPFS_REPLICATION_MAX', 0, 1000],
    ['TRACING_FLUSH_MS', 50, 60_000],
  ];
  it.each(bounds)('%s from %i to %s', (name, min, max) => {
    expect(() => load({ [name]: String(min) }), `${name}=${min}`).not.toThrow();
    expect(issuesOf({ [name]: String(min - 1) })).toContain(`${name}: must be a whole number from ${min} to ${max ?? Number.MAX_SAFE_INTEGER}`);
    if (max !== undefined) {
      expect(() => load({ [name]: String(max) }), `${name}=${max}`).not.toThrow();
      expect(issuesOf({ [name]: String(max + 1) })).toContain(`${name}: must be a whole number from ${min} to ${max}`);
    }
    expect(issuesOf({ [name]: `${min + 1}.5` })).toContain(name);
    expect(issuesOf({ [name]: 'ten' })).toContain(name);
  });
  it('reads the number itself', () => {
    const c = load({ RATE_LIMIT_RPM: '0', MODEL_MAX_RETRIES: '10', AGENT_MAX_STEPS: '1', IPFS_REPLICATION_MIN: '2', IPFS_REPLICATION_MAX: '3', TRACING_FLUSH_MS: ' 50 ' });
    expect([c.rateLimitRpm, c.model.maxRetries, c.model.maxSteps, c.ipfs.replicationMin, c.ipfs.replicationMax, c.observability.flushMs]).toEqual([0, 10, 1, 2, 3, 50]);
    expect(load({ RATE_LIMIT_RPM: '1e3' }).rateLimitRpm).toBe(1000);
    const a = load({ ATPROTO_WRITE_POINTS_PER_HOUR: '9', ATPROTO_WRITE_POINTS_PER_DAY: '100' }).atproto;
    expect([a.writePointsPerHour, a.writePointsPerDay]).toEqual([9, 100]);
  });
});

describe('config: booleans', () => {
  const flags: Array<[name: string, read: (c: ReturnType<typeof load>) => boolean]> = [
    ['ATPROTO_AUTOREPLY', (c) => c.atproto.autoReply],
    ['ATPROTO_DRY_RUN', (c) => c.atproto.dryRun],
    ['ATPROTO_REQUIRE_APPROVAL', (c) => c.atproto.requireApproval],
    ['POWERSYNC_ANSWER_MESSAGES', (c) => c.powersync.answerMessages],
    ['TRACING', (c) => c.observability.enabled],
  ];
  it.each(flags)('%s takes 1/0, true/false, yes/no, on/off and nothing else', (name, read) => {
    for (const v of ['1', 'true', 'yes', 'on', ' true ']) expect(read(load({ [name]: v })), `${name}=${v}`).toBe(true);
    for (const v of ['0', 'false', 'no', 'off']) expect(read(load({ [name]: v })), `${name}=${v}`).toBe(false);
    for (const v of ['2', 'maybe', 'TRUE ish', 'y']) expect(issuesOf({ [name]: v })).toContain(name);
  });
});

describe('config: API_KEYS', () => {
  it('keys are at least 8 characters', () => {
    expect(load({ API_KEYS: '12345678:alice' }).apiKeys.get('12345678')).toBe('alice');
    expect(issuesOf({ API_KEYS: '1234567:alice' })).toContain('API_KEYS: every key must be at least 8 characters');
    expect(issuesOf({ API_KEYS: 'sk-long-enough:alice,1234567:bob' })).toContain('at least 8 characters');
  });
  it('every entry is key:user with a user of letters, digits, _ . @ -', () => {
    expect([...load({ API_KEYS: ' k-aaaaaaaa:a.b_c@d-e , ,k-bbbbbbbb:Bob9 ' }).apiKeys]).toEqual([
      ['k-aaaaaaaa', 'a.b_c@d-e'],
      ['k-bbbbbbbb', 'Bob9'],
    ]);
    for (const bad of ['k-aaaaaaaa', 'k-aaaaaaaa:', 'k-aaaaaaaa:al ice', 'k-aaaaaaaa:a/b', 'k-aaaaaaaa:a:b'])
      expect(issuesOf({ API_KEYS: bad }), bad).toContain('API_KEYS: each entry must be key:user with a user id of letters, digits, _ . @ or -');
    expect(issuesOf({ API_KEYS: 'k-secret-key-value' })).not.toContain('k-secret-key-value');
  });
  it('keyless only on loopback', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1']) expect(load({ HOST: host }).host).toBe(host);
    for (const host of ['0.0.0.0', '::', '192.168.1.5']) expect(issuesOf({ HOST: host })).toContain(`HOST: refusing to listen on ${host} without API_KEYS`);
  });
});

describe('config: the other formats', () => {
  it('refuses malformed values, naming the variable', () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
      [{ HOST: ' ' }, 'HOST'],
      [{ DATA_DIR: '  ' }, 'DATA_DIR'],
      [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL'],
      [{ BODY_LIMIT: '1gb' }, 'BODY_LIMIT: must be a size such as 512kb or 2mb'],
      [{ BODY_LIMIT: 'mb' }, 'BODY_LIMIT'],
      [{ BODY_LIMIT: '1mb2' }, 'BODY_LIMIT'],
      [{ BODY_LIMIT: 'x1mb' }, 'BODY_LIMIT'],
      [{ MODEL: 'openai/ ' }, 'MODEL'],
      [{ MODEL: 'open ai/gpt' }, 'MODEL'],
      [{ MODEL: '/gpt' }, 'MODEL'],
      [{ MODEL: 'openai/gpt 4o' }, 'MODEL'],
      [{ ATPROTO_HANDLE_DOMAIN: 'x_y.test' }, 'ATPROTO_HANDLE_DOMAIN'],
      [{ IPFS_CLUSTER_BASIC_AUTH: ':a:b' }, 'IPFS_CLUSTER_BASIC_AUTH'],
      [{ IPFS_CLUSTER_BASIC_AUTH: 'user:pass\nword' }, 'IPFS_CLUSTER_BASIC_AUTH'],
      [{ OUTBOUND_ALLOW_HOSTS: 'pds.internal' }, 'OUTBOUND_ALLOW_HOSTS: must be a comma-separated list of host:port or http(s)://host[:port]'],
      [{ OUTBOUND_ALLOW_HOSTS: 'ftp://x:21' }, 'OUTBOUND_ALLOW_HOSTS'],
      [{ OUTBOUND_ALLOW_HOSTS: 'https://x/path' }, 'OUTBOUND_ALLOW_HOSTS'],
      [{ OUTBOUND_ALLOW_HOSTS: 'x:123456' }, 'OUTBOUND_ALLOW_HOSTS'],
      [{ OUTBOUND_ALLOW_HOSTS: 'ok:1,x y:2' }, 'OUTBOUND_ALLOW_HOSTS'],
      [{ OUTBOUND_ALLOW_HOSTS: ' a:1' + ',pre a:1' }, 'OUTBOUND_ALLOW_HOSTS'],
      [{ ATPROTO_HANDLE_DOMAIN: 'localhost' }, 'ATPROTO_HANDLE_DOMAIN: must be a domain such as agents.test'],
      [{ ATPROTO_HANDLE_DOMAIN: 'a.b_c' }, 'ATPROTO_HANDLE_DOMAIN'],
      [{ ATPROTO_HANDLE_DOMAIN: 'x.agents.test.' }, 'ATPROTO_HANDLE_DOMAIN'],
      [{ ATPROTO_AGENTS: 'social,news bot' }, 'agent names are letters, digits and -'],
      [{ ATPROTO_LONG_TEXT: 'truncate' }, 'ATPROTO_LONG_TEXT'],
      [{ POWERSYNC_SLOT: 'My-Slot' }, 'POWERSYNC_SLOT: must be lower-case letters, digits and _'],
      [{ POWERSYNC_SLOT: 'a'.repeat(64) }, 'POWERSYNC_SLOT'],
      [{ POWERSYNC_SLOT: 'x slot' }, 'POWERSYNC_SLOT'],
      [{ POWERSYNC_JWT_AUDIENCE: ' ' }, 'POWERSYNC_JWT_AUDIENCE'],
      [{ IPFS_CLUSTER_BASIC_AUTH: 'adminonly' }, 'IPFS_CLUSTER_BASIC_AUTH: must be user:password'],
      [{ IPFS_CLUSTER_BASIC_AUTH: ':pw' }, 'IPFS_CLUSTER_BASIC_AUTH'],
      [{ IPFS_CLUSTER_BASIC_AUTH: 'user:' }, 'IPFS_CLUSTER_BASIC_AUTH'],
      [{ IPFS_API_URL: 'nope' }, 'IPFS_API_URL'],
      [{ PDS_URL: 'nope' }, 'PDS_URL'],
      [{ POWERSYNC_URL: 'nope' }, 'POWERSYNC_URL'],
      [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
      [{ OTEL_TRACES_EXPORTER: 'jaeger' }, 'OTEL_TRACES_EXPORTER'],
      [{ OTEL_SERVICE_NAME: ' ' }, 'OTEL_SERVICE_NAME'],
      [{ STUDIO_ORIGINS: 'studio.example.com' }, 'STUDIO_ORIGINS: each entry must be an origin'],
      [{ STUDIO_ORIGINS: 'https://studio.example.com/path' }, 'STUDIO_ORIGINS'],
      [{ OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }, 'OTEL_EXPORTER_OTLP_HEADERS: must be a comma list of key=value'],
      [{ OTEL_EXPORTER_OTLP_TRACES_HEADERS: '=v' }, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS'],
    ];
    for (const [env, expected] of cases) expect(issuesOf(env), JSON.stringify(env)).toContain(expected);
  });

  it('accepts every documented value of the enumerations', () => {
    for (const v of ['development', 'production', 'test'] as const) expect(load({ NODE_ENV: v }).env).toBe(v);
    for (const v of ['debug', 'info', 'warn', 'error', 'silent'] as const) expect(load({ LOG_LEVEL: v }).logLevel).toBe(v);
    for (const v of ['split', 'refuse'] as const) expect(load({ ATPROTO_LONG_TEXT: v }).atproto.longText).toBe(v);
    for (const v of ['http/protobuf', 'http/json'] as const) {
      expect(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://o:4318', OTEL_EXPORTER_OTLP_PROTOCOL: v }).observability.otlp?.protocol).toBe(v);
      expect(load({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://o:4318', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: v }).observability.otlp?.protocol).toBe(v);
    }
  });

  it('ConfigError lists one issue a line and is named', () => {
    let err: unknown;
    try {
      load({ PORT: 'x', LOG_LEVEL: 'loud' });
    } catch (e) {
      err = e;
    }
    expect((err as Error).name).toBe('ConfigError');
    expect((err as ConfigError).issues).toHaveLength(2);
    expect((err as Error).message).toBe(`Invalid configuration:\n  - ${(err as ConfigError).issues.join('\n  - ')}`);
    expect((err as ConfigError).issues.map((i) => i.split(':')[0]).sort()).toEqual(['LOG_LEVEL', 'PORT']);
    expect(issuesOf({ TRACING_FLUSH_MS: '1' })).toContain('TRACING_FLUSH_MS: must be a whole number from 50 to 60000');
    for (const bad of ['1.5', '-0.1', 'half', 'NaN', 'Infinity', '1e400']) {
      expect(issuesOf({ TRACING_SAMPLE_RATIO: bad })).toContain('TRACING_SAMPLE_RATIO: must be a number from 0 to 1');
    }
    expect(load({ TRACING_SAMPLE_RATIO: ' 0.25 ' }).observability.sampleRatio).toBe(0.25);
    expect(load({ TRACING_SAMPLE_RATIO: '0' }).observability.sampleRatio).toBe(0);
    expect(issuesOf({ HOST: '0.0.0.0' })).toContain('Set API_KEYS=key:user,... to require keys, or leave HOST at 127.0.0.1 for keyless local development.');
  });

  it('an API_KEYS entry without :user is refused for its missing user, whatever its length', () => {
    expect(issuesOf({ API_KEYS: 'abcdefgh' })).toContain('each entry must be key:user');
    expect(issuesOf({ API_KEYS: 'abcdefgh' })).not.toContain('at least 8 characters');
  });

  it('reads only exactly-named AGENT_MODEL_, AGENT_USERS_ and ATPROTO_PASSWORD_ variables, skipping unset ones', () => {
    const c = loadConfig({
      API_KEYS: 'k-aaaaaaaa:alice',
      'AGENT_MODEL_A.B': 'x/y',
      XAGENT_USERS_Z: 'alice',
      'AGENT_USERS_A.B': 'alice',
      XATPROTO_PASSWORD_Z: 'pw',
      'ATPROTO_PASSWORD_A.B': 'pw',
      AGENT_MODEL_U: undefined,
      AGENT_USERS_U: undefined,
      ATPROTO_PASSWORD_U: undefined,
      AGENT_USERS_LIST: 'alice,, bob ,',
    });
    expect(c.model.perAgent).toEqual({});
    expect([...c.agentUsers.keys()]).toEqual(['list']);
    expect(c.agentUsers.get('list')).toEqual(new Set(['alice', 'bob']));
    expect(c.atproto.credentials).toEqual({});
    expect(load({ FEATURES: 'ipfs,, atproto,' }).features).toEqual(['ipfs', 'atproto']);
  });

  it('OTLP headers and Studio origins: spaces, empty entries and trailing slashes are tolerated', () => {
    expect(parseOtlpHeaders(' a = 1 , ,b=x%20y,')).toEqual({ a: '1', b: 'x y' });
    expect(parseOtlpHeaders(undefined)).toEqual({});
    expect(parseOtlpHeaders('a=%E0%A4%A')).toBeUndefined();
    expect(load({ STUDIO_ORIGINS: 'https://s.example.com//' }).observability.studioOrigins).toEqual(['https://s.example.com']);
    expect(issuesOf({ STUDIO_ORIGINS: 'xhttps://s.example.com' })).toContain('STUDIO_ORIGINS');
  });

  it('accepts the documented forms', () => {
    for (const b of ['512b', '512kb', '2mb', '2MB']) expect(load({ BODY_LIMIT: b }).bodyLimit, b).toBe(b.toLowerCase());
    expect(load({ MODEL: 'ollama/llama3.2:3b' }).model.default).toBe('ollama/llama3.2:3b');
    expect(load({ ATPROTO_HANDLE_DOMAIN: 'a-b.c-d.test' }).atproto.handleDomain).toBe('a-b.c-d.test');
  });

  it('collects every issue at once', () => {
    const msg = issuesOf({ PORT: 'x', LOG_LEVEL: 'loud', AGENT_MODEL_A: 'gpt', TRACING_FLUSH_MS: '1' });
    expect(msg).toMatch(/^Invalid configuration:\n {2}- /);
    for (const v of ['PORT', 'LOG_LEVEL', 'AGENT_MODEL_A', 'TRACING_FLUSH_MS']) expect(msg).toContain(v);
  });

  it('FEATURES: all, none, or a list of known features', () => {
    expect(load({ FEATURES: 'all' }).features).toBe('all');
    expect(load({ FEATURES: 'atproto,atproto, ipfs' }).features).toEqual(['atproto', 'ipfs']);
    expect(issuesOf({ FEATURES: 'teleport,warp' })).toContain('FEATURES: unknown feature(s) teleport, warp; known: atproto, ipfs, powersync, or all / none');
  });

  it('AGENT_MODEL_ and AGENT_USERS_ ignore blank values and other variables', () => {
    const c = load({ API_KEYS: 'k-aaaaaaaa:alice', AGENT_MODEL_X: ' ', AGENT_MODEL_: 'a/b', XAGENT_MODEL_Y: 'a/b', AGENT_MODEL_lower: 'a/b', AGENT_USERS_X: ' ', AGENT_USERS_Y: 'alice,*' });
    expect(c.model.perAgent).toEqual({});
    expect([...c.agentUsers]).toEqual([['y', '*']]);
    expect(issuesOf({ AGENT_MODEL_SOCIAL: 'gpt' })).toContain('AGENT_MODEL_SOCIAL: must look like provider/model');
  });

  it('observability: OTLP export when an endpoint is set and not turned off', () => {
    const base = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' };
    expect(load(base).observability.otlp).toEqual({ endpoint: 'http://otel:4318', protocol: 'http/protobuf', headers: {} });
    expect(load({ ...base, OTEL_TRACES_EXPORTER: 'none' }).observability.otlp).toBeUndefined();
    expect(load({ ...base, OTEL_TRACES_EXPORTER: 'otlp' }).observability.otlp?.endpoint).toBe('http://otel:4318');
    expect(load({ ...base, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1/v1/traces' }).observability.otlp?.endpoint).toBe('http://t:1/v1/traces');
    expect(load({ ...base, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).observability.otlp?.protocol).toBe('http/json');
    expect(load({ ...base, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }).observability.otlp?.protocol).toBe('http/protobuf');
    expect(load({ ...base, OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=x%20y', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'b=2' }).observability.otlp?.headers).toEqual({ a: '1', b: '2' });
    const o = load({ OBSERVABILITY_DATABASE_URL: 'postgres://o@h/db', OTEL_SERVICE_NAME: 'svc', STUDIO_ORIGINS: 'https://s.example.com/, http://localhost:4111' }).observability;
    expect(o).toMatchObject({ databaseUrl: 'postgres://o@h/db', serviceName: 'svc', studioOrigins: ['https://s.example.com', 'http://localhost:4111'] });
  });
});
