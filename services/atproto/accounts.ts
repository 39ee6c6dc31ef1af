/**
 * The agents' accounts on the embedded PDS: created on first start with a generated
 * password, kept in DATA_DIR/atproto/accounts.json (mode 600, never logged). Each new
 * account gets a profile that says it is automated (self-label `bot`).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AtpAgent } from '@atproto/api';
import type { Logger, SecretSink } from '../lib/logger';
import { DataFileError, parseDataFile } from '../lib/data-file';

export interface StoredAccount {
  handle: string;
  did: string;
  password: string;
}

export type AccountFile = Record<string, StoredAccount>;

export function accountsFile(dataDir: string): string {
  return path.join(dataDir, 'atproto', 'accounts.json');
}

/** The stored accounts; `onSecret` is told every password read. */
export async function readAccounts(dataDir: string, onSecret?: SecretSink): Promise<AccountFile> {
  const file = accountsFile(dataDir);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new DataFileError(file, (err as NodeJS.ErrnoException).code ?? 'unreadable');
  }
  const data = parseDataFile<AccountFile>(file, text, (v) =>
    Object.values(v).every((a) => a && typeof a === 'object' && typeof (a as { password?: unknown }).password === 'string' && typeof (a as { did?: unknown }).did === 'string')
      ? undefined
      : 'an account without did or password',
  );
  if (onSecret) for (const a of Object.values(data)) onSecret(a.password);
  return data;
}

async function writeAccounts(dataDir: string, data: AccountFile): Promise<void> {
  const file = accountsFile(dataDir);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 });
  await fs.rename(tmp, file);
}

/** The profile record every agent account carries: a self-label that it is automated. */
export function automatedProfile(name: string) {
  return {
    $type: 'app.bsky.actor.profile',
    displayName: name,
    description: `Automated account: the "${name}" agent of ONE Agents. Replies are written by a language model.`,
    labels: { $type: 'com.atproto.label.defs#selfLabels', values: [{ val: 'bot' }] },
  };
}

/** Creates the missing accounts on the embedded PDS; returns every agent's stored account. */
export async function ensureEmbeddedAccounts(opts: {
  pdsUrl: string;
  dataDir: string;
  names: string[];
  handleDomain: string;
  logger?: Logger;
  onSecret?: SecretSink;
}): Promise<AccountFile> {
  const data = await readAccounts(opts.dataDir, opts.onSecret);
  let changed = false;
  for (const name of opts.names) {
    if (data[name]) continue;
    const handle = `${name}.${opts.handleDomain}`;
    const password = randomBytes(24).toString('base64url');
    opts.onSecret?.(password);
    const agent = new AtpAgent({ service: opts.pdsUrl });
    const res = await agent.createAccount({ handle, password, email: `${name}@${opts.handleDomain}` });
    await agent.com.atproto.repo.putRecord({
      repo: res.data.did,
      collection: 'app.bsky.actor.profile',
      rkey: 'self',
      record: automatedProfile(name),
    });
    data[name] = { handle, did: res.data.did, password };
    changed = true;
    opts.logger?.info('created AT account for agent', { agent: name, handle, did: res.data.did });
  }
  if (changed) await writeAccounts(opts.dataDir, data);
  return data;
}
