import { describe, expect, it } from 'vitest';
import { redactText, registerSecret } from '../../src/logger';
import { assertNoSecret, findSecret } from '../../src/util/secrets';

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
