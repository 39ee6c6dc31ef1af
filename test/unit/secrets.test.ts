import { describe, expect, it } from 'vitest';
import { redactText, registerSecret } from '../../src/logger';
import { assertNoSecret, assertNoSecretInBytes, findSecret, findSecretInBytes, SCAN_CHUNK_BYTES, SCAN_OVERLAP_BYTES } from '../../src/util/secrets';

describe('secret detection', () => {
  it.each([
    ['my key is sk-proj-abcdefghijklmnopqrstuvwxyz012345', 'OpenAI-style API key'],
    ['AKIAIOSFODNN7EXAMPLE', 'AWS access key'],
    ['ghp_0123456789abcdefghijklmnopqrstuvwxyzAB', 'GitHub token'],
    ['-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE', 'private key'],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 'JSON Web Token'],
    ['app password abcd-efgh-ijkl-mnop', 'AT Protocol app password'],
    ['password: hunter2hunter2', 'password or key assignment'],
  ])('finds %s', (text, kind) => {
    expect(findSecret(text)).toBe(kind);
  });

  it('passes ordinary text, CIDs, AT URIs and handles', () => {
    for (const t of [
      'Meeting notes: ship the sync feature on Friday.',
      'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
      'at://did:plc:abc123/app.bsky.feed.post/3kxyz',
      'follow @social.agents.test for updates #release',
      'the password must be changed every year',
    ])
      expect(findSecret(t)).toBeUndefined();
  });

  it("finds this server's own registered secrets and names only the kind", () => {
    registerSecret('server-own-secret-value-42');
    expect(findSecret('leak: server-own-secret-value-42')).toBe("one of this server's own secrets");
    expect(() => assertNoSecret('note', 'x', 'sk-abcdefghijklmnopqrstuvwxyz')).toThrow(/SECRET|secret \(OpenAI-style API key\)/);
    try {
      assertNoSecret('note', 'sk-abcdefghijklmnopqrstuvwxyz');
    } catch (e) {
      expect((e as Error).message).not.toContain('sk-abcdefghijklmnopqrstuvwxyz');
      expect((e as { code?: string }).code).toBe('SECRET_DETECTED');
    }
  });
});

describe('secret detection in bytes (content about to be pinned)', () => {
  const key = 'sk-proj-abcdefghijklmnopqrstuvwxyz012345';

  it('finds a key in UTF-8 text, in binary surroundings and in UTF-16', () => {
    expect(findSecretInBytes(Buffer.from(`OPENAI_API_KEY=${key}\n`))).toBe('OpenAI-style API key');
    const bin = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0xff]), Buffer.from(key), Buffer.from([0, 1, 2])]);
    expect(findSecretInBytes(bin)).toBe('OpenAI-style API key');
    expect(findSecretInBytes(Buffer.from(`token ${key}`, 'utf16le'))).toBe('OpenAI-style API key');
    expect(findSecretInBytes(new Uint8Array(0))).toBeUndefined();
  });

  it('finds a key split across a chunk boundary, wherever the boundary falls', () => {
    for (const before of [SCAN_CHUNK_BYTES - 1, SCAN_CHUNK_BYTES - 10, SCAN_CHUNK_BYTES - key.length + 1, SCAN_CHUNK_BYTES + SCAN_OVERLAP_BYTES - 5, 3 * SCAN_CHUNK_BYTES - 20]) {
      const bytes = Buffer.concat([Buffer.alloc(before, 0x20), Buffer.from(key), Buffer.alloc(100, 0x20)]);
      expect(findSecretInBytes(bytes), `key at ${before}`).toBe('OpenAI-style API key');
    }
  });

  it('finds a registered secret longer than the overlap across a boundary', () => {
    const long = `registered-${'q'.repeat(SCAN_OVERLAP_BYTES + 200)}`;
    registerSecret(long);
    const bytes = Buffer.concat([Buffer.alloc(SCAN_CHUNK_BYTES - 50, 0x2e), Buffer.from(long), Buffer.alloc(10, 0x2e)]);
    expect(findSecretInBytes(bytes)).toBe("one of this server's own secrets");
  });

  it('passes benign binary (random bytes, a PNG header)', () => {
    let x = 12345;
    const rnd = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < rnd.length; i++) rnd[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    expect(findSecretInBytes(rnd)).toBeUndefined();
    expect(() => assertNoSecretInBytes('content', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).not.toThrow();
    expect(() => assertNoSecretInBytes('content', Buffer.from(key))).toThrow(/OpenAI-style API key/);
  });
});

describe('redactText: help text vs. real tokens', () => {
  it('keeps placeholders in help text', () => {
    for (const s of ["Send it as 'Authorization: Bearer YOUR_KEY'.", 'Authorization: Bearer API_KEY', 'Token YOUR_ACCESS_TOKEN']) expect(redactText(s)).toBe(s);
  });
  it('still redacts real bearer tokens, whatever they look like', () => {
    for (const tok of ['sk-live-abc123def456', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc', 'ABCDEF1234567890', 'abcdefghijklmnop', 'MY_KEY_1']) {
      expect(redactText(`Authorization: Bearer ${tok}`)).toBe('Authorization: Bearer [redacted]');
    }
  });
});

describe('secret detection: every kind, and the benign look-alikes', () => {
  const A36 = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ';
  it.each([
    ['-----BEGIN PRIVATE KEY-----\nMIIEvQ', 'private key'],
    ['-----BEGIN RSA PRIVATE KEY-----', 'private key'],
    ['-----BEGIN OPENSSH PRIVATE KEY-----', 'private key'],
    ['-----BEGIN ENCRYPTED PRIVATE KEY-----', 'private key'],
    ['sk-abcdefghijklmnopqrst', 'OpenAI-style API key'],
    ['sk-ant-api03_abcdefghijklmnopqrst', 'OpenAI-style API key'],
    ['sk-live-abcdefghijklmnopqrst', 'OpenAI-style API key'],
    ['sk-test-abcdefghijklmnopqrst', 'OpenAI-style API key'],
    ['ASIAIOSFODNN7EXAMPLE', 'AWS access key'],
    [`gho_${'a1'.repeat(15)}`, 'GitHub token'],
    [`ghu_${'a1'.repeat(15)}`, 'GitHub token'],
    [`ghs_${'a1'.repeat(15)}`, 'GitHub token'],
    [`ghr_${'a1'.repeat(15)}`, 'GitHub token'],
    [`github_pat_11ABCDEFG0${'a_b1'.repeat(10)}`, 'GitHub token'],
    ['xoxb-1234567890-abcdef', 'Slack token'],
    ['xoxa-1234567890', 'Slack token'],
    ['xoxp-1234567890', 'Slack token'],
    ['xoxr-1234567890', 'Slack token'],
    ['xoxs-1234567890', 'Slack token'],
    [`AIza${'Sy0123456789_-abcdefghijklmnopqrst'}u`, 'Google API key'],
    ['eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJkaWQ6.c2lnbmF0dXJl', 'JSON Web Token'],
    ['wxyz-2345-abcd-7777', 'AT Protocol app password'],
    ['password=hunter2hunter2', 'password or key assignment'],
    ['PASSWORD = "correct-horse"', 'password or key assignment'],
    ["passwd: 'abcdefgh'", 'password or key assignment'],
    ['pwd=abcdefgh', 'password or key assignment'],
    ['client secret: s3cr3t-value', 'password or key assignment'],
    ['apikey=abcd1234efgh', 'password or key assignment'],
    ['api_key: abcd1234efgh', 'password or key assignment'],
    ['api-key=abcd1234efgh', 'password or key assignment'],
    ['API KEY: abcd1234efgh', 'password or key assignment'],
    ['accesstoken: abcd1234efgh', 'password or key assignment'],
    ['access_token=abcd1234efgh', 'password or key assignment'],
    ['Access-Token: abcd1234efgh', 'password or key assignment'],
    ['private_key=abcd1234efgh', 'password or key assignment'],
    ['privatekey: abcd1234efgh', 'password or key assignment'],
  ])('finds %s', (text, kind) => {
    expect(findSecret(text)).toBe(kind);
    expect(findSecret(`before ${text} after`)).toBe(kind);
  });

  it.each([
    ['sk-learn is a Python library'],
    ['sk-short123'],
    ['task-abcdefghijklmnopqrstuvwxyz'],
    ['AKIA1234'],
    ['XAKIAIOSFODNN7EXAMPLE'],
    ['AKIAIOSFODNN7EXAMPLEX'],
    ['akiaiosfodnn7example'],
    ['ghp_short'],
    [`ghx_${'a1'.repeat(15)}`],
    [`github_pat_${'a'.repeat(39)}`],
    ['xoxb-short'],
    ['xoxz-1234567890'],
    [`AIza${'a'.repeat(34)}`],
    [`AIza${'a'.repeat(36)}`],
    ['eyJhbGciOi.eyJzdWIi.sig'],
    ['eyJhbGciOiJIUzI1NiJ9.payload12.signature'],
    ['the-quick-brown-foxes'],
    ['abc1-efgh-ijkl-mnop'],
    ['ABCD-EFGH-IJKL-MNOP'],
    ['password: none'],
    ['password: short'],
    ['password is hunter2hunter2'],
    ['api key rotation - every 90 days'],
    ['----BEGIN PRIVATE KEY----'],
    ['-----BEGIN PUBLIC KEY-----'],
    ['-----BEGIN CERTIFICATE-----'],
    ['-----BEGIN rsa PRIVATE KEY-----'],
    ['mypassword=hunter2hunter2'],
    ['secretary: Alice Johnson'],
  ])('passes the look-alike %s', (text) => {
    expect(findSecret(text)).toBeUndefined();
  });

  it('a GitHub fine-grained token is 40+ characters after github_pat_, and a classic one 30+', () => {
    expect(findSecret(`github_pat_${'a'.repeat(40)}`)).toBe('GitHub token');
    expect(findSecret(`ghp_${'a'.repeat(30)}`)).toBe('GitHub token');
    expect(findSecret(`ghp_${'a'.repeat(29)}`)).toBeUndefined();
    expect(findSecret(`sk-${'a'.repeat(19)}`)).toBeUndefined();
    expect(findSecret(`sk-${'a'.repeat(20)}`)).toBe('OpenAI-style API key');
    expect(findSecret(`xoxb-${'a'.repeat(9)}`)).toBeUndefined();
    expect(findSecret('eyJhbGciOiJI.eyJzdWIiOiIx.abcdefg')).toBeUndefined();
    expect(findSecret('eyJhbGciOiJI.eyJzdWIiOiIx.abcdefgh')).toBe('JSON Web Token');
    expect(findSecret('password=abcdefg')).toBeUndefined();
    expect(findSecret('password=abcdefgh')).toBe('password or key assignment');
  });

  it('names the first matching kind and refuses through secretIn/assertNoSecret', async () => {
    const { secretIn, SecretDetectedError } = await import('../../src/util/secrets');
    expect(secretIn('post', undefined, '', 'fine text')).toBeUndefined();
    const e = secretIn('post', 'fine', 'token AKIAIOSFODNN7EXAMPLE');
    expect(e).toBeInstanceOf(SecretDetectedError);
    expect(e?.code).toBe('SECRET_DETECTED');
    expect(e?.message).toBe('refused: the post contains what looks like a secret (AWS access key); secrets are never published or stored by agents');
    expect(() => assertNoSecret('note', undefined, 'nothing here')).not.toThrow();
    expect(() => assertNoSecretInBytes('pin', Buffer.from('nothing here'))).not.toThrow();
    expect(() => assertNoSecretInBytes('pin', Buffer.from('AKIAIOSFODNN7EXAMPLE'))).toThrow('the pin contains what looks like a secret (AWS access key)');
  });

  it('scans only what it was given of a larger buffer', () => {
    const whole = Buffer.from(`AKIAIOSFODNN7EXAMPLE ${'.'.repeat(100)} plain text`);
    expect(findSecretInBytes(whole.subarray(21))).toBeUndefined();
    expect(findSecretInBytes(whole.subarray(0, 20))).toBe('AWS access key');
  });

  it('finds a key at the very end of a buffer a few bytes longer than one chunk', () => {
    for (const extra of [1, 20, SCAN_OVERLAP_BYTES, SCAN_OVERLAP_BYTES + 1, SCAN_OVERLAP_BYTES + 30]) {
      const bytes = Buffer.concat([Buffer.alloc(SCAN_CHUNK_BYTES + extra - 20, 0x20), Buffer.from('AKIAIOSFODNN7EXAMPLE')]);
      expect(findSecretInBytes(bytes), `+${extra}`).toBe('AWS access key');
    }
    expect(SCAN_CHUNK_BYTES).toBe(64 * 1024);
    expect(SCAN_OVERLAP_BYTES).toBe(1024);
  });

  it('a NUL-free chunk is not rescanned: NULs only hide keys in UTF-16-like text', () => {
    expect(findSecretInBytes(Buffer.from('A\0K\0I\0A\0IOSFODNN7EXAMPLE'))).toBe('AWS access key');
    expect(findSecretInBytes(Buffer.from('plain\0text\0only'))).toBeUndefined();
  });
});

describe('keys glued to word characters; UTF-8 bytes (issue 21 item 7)', () => {
  const glued = [
    ['token_sk-proj-abcdefghijklmnopqrstuvwxyz012345', 'OpenAI-style API key'],
    ['Xsk-aB3dE5gH7jK9mN1pQ3rS5tU7vW9xY1zA3bC5dE7f', 'OpenAI-style API key'],
    ['idAKIAIOSFODNN7EXAMPLE', 'AWS access key'],
    ['AKIAIOSFODNN7EXAMPLEsuffix', 'AWS access key'],
    ['myghp_0123456789abcdefghijklmnopqrstuvwxyzAB', 'GitHub token'],
    ['tokgithub_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGH', 'GitHub token'],
    ['slackxoxb-1234567890-abcdefghij', 'Slack token'],
    ['keyAIzaSyA1234567890abcdefghijklmnopqrstuv', 'Google API key'],
    ['jwt=xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 'JSON Web Token'],
  ] as const;

  it.each(glued)('finds %s in text and in bytes', (text, kind) => {
    expect(findSecret(text)).toBe(kind);
    expect(findSecretInBytes(Buffer.from(`notes: ${text} end`))).toBe(kind);
  });

  it('a no-break space after password: in UTF-8 bytes is whitespace, as in text', () => {
    const text = 'password:\u00a0hunter2hunter2';
    expect(findSecret(text)).toBe('password or key assignment');
    expect(findSecretInBytes(Buffer.from(text, 'utf8'))).toBe('password or key assignment');
  });

  it('ordinary words with sk-, ghp-like or AKIA-like pieces pass', () => {
    for (const text of [
      'task-management-dashboard-component-v2',
      'the risk-assessment-framework-2024-edition',
      'ask-me-anything-about-everything-today',
      'Whisk-together-the-flour-and-sugar-slowly',
      'disk-usage-report-for-2024-11-30-quarterly',
      'AKIAbc is not a key',
    ]) {
      expect(findSecret(text), text).toBeUndefined();
      expect(findSecretInBytes(Buffer.from(text)), text).toBeUndefined();
    }
  });
});
