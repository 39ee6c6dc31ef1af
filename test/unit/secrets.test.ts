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
