/**
 * /ready and the AT accounts: every agent account must log in for the system to be
 * ready (a wrong password is reported as not ready, naming the agent, without the
 * password), and the embedded PDS resolves its own accounts' DIDs (describeRepo).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startTestSystem, type TestSystem } from '../../harness/system';

const started: TestSystem[] = [];
afterAll(async () => {
  for (const t of started) await t.stop();
});

describe('AT accounts and /ready', () => {
  it('ready with working accounts; describeRepo on the embedded PDS answers for an agent DID and handle', async () => {
    const ts = await startTestSystem({ env: { FEATURES: 'atproto', ATPROTO_AUTOREPLY: '0' } });
    started.push(ts);
    const ready = await fetch(`${ts.system.url}/ready`);
    const body = await ready.json();
    expect(ready.status).toBe(200);
    expect(body.services['atproto:social']).toMatchObject({ ok: true });
    const social = ts.system.ctx.clients.atproto!.account('social');
    for (const repo of [social.did, social.handle]) {
      const r = await fetch(`${ts.system.ctx.urls.pdsUrl}/xrpc/com.atproto.repo.describeRepo?repo=${encodeURIComponent(repo)}`);
      expect(r.status, await r.clone().text()).toBe(200);
      expect(await r.json()).toMatchObject({ did: social.did, handle: social.handle });
    }
  });

  it('a wrong AT password: /ready answers 503 naming the agent, never the password, and keeps answering', async () => {
    const password = 'wrong-app-password-for-social';
    const ts = await startTestSystem({ env: { FEATURES: 'atproto', ATPROTO_AUTOREPLY: '0', ATPROTO_PASSWORD_SOCIAL: password } });
    started.push(ts);
    for (let i = 0; i < 2; i++) {
      const ready = await fetch(`${ts.system.url}/ready`);
      const text = await ready.text();
      expect(ready.status).toBe(503);
      const body = JSON.parse(text);
      expect(body.ready).toBe(false);
      expect(body.services.pds.ok).toBe(true);
      expect(body.services['atproto:social']).toMatchObject({ ok: false });
      expect(body.services['atproto:social'].error).toMatch(/^AUTH_FAILED: agent "social" could not log in/);
      expect(text).not.toContain(password);
    }
  });
});
