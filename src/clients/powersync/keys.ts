/**
 * The key that signs PowerSync tokens. From POWERSYNC_JWT_PRIVATE_KEY (a private JWK
 * as JSON) when set, otherwise generated once and kept in DATA_DIR/powersync/jwt-key.json
 * (mode 600) so tokens survive a restart. Only the public half is ever served (JWKS).
 * The private key is registered as a secret so it can never reach a log line.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, calculateJwkThumbprint, type JWK, type JWTVerifyGetKey, type CryptoKey } from 'jose';
import { registerSecret } from '../../logger';

/**
 * How a data file under DATA_DIR is parsed and its problems reported: services/lib/data-file.ts
 * (`dataFiles`), passed in by the start-up code (clients import nothing from services/).
 */
export interface DataFiles {
  parse<T extends object>(file: string, text: string, check?: (v: Record<string, unknown>) => string | undefined): T;
  /** The error for a file that exists but cannot be used (src/main.ts exits 78 on it). */
  unusable(file: string, reason: string): Error;
}

export interface TokenKeys {
  kid: string;
  alg: 'RS256';
  publicJwk: JWK;
  jwks: { keys: JWK[] };
  /** For the embedded sync service (in-process JWKS). */
  verifier: JWTVerifyGetKey;
  sign(claims: { sub: string; audience: string; ttlSeconds: number; now?: number }): Promise<{ token: string; expiresAt: number }>;
}

const ALG = 'RS256';

async function loadOrCreatePrivateJwk(files: DataFiles, dataDir: string, fromEnv?: string): Promise<JWK> {
  if (fromEnv) {
    let jwk: JWK;
    try {
      jwk = JSON.parse(fromEnv) as JWK;
    } catch {
      throw new Error('POWERSYNC_JWT_PRIVATE_KEY must be a private JWK as JSON');
    }
    if (jwk.kty !== 'RSA' || !jwk.d) throw new Error('POWERSYNC_JWT_PRIVATE_KEY must be an RSA private JWK (with "d")');
    return jwk;
  }
  const file = path.join(dataDir, 'powersync', 'jwt-key.json');
  let text: string | undefined;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw files.unusable(file, (err as NodeJS.ErrnoException).code ?? 'unreadable');
  }
  if (text !== undefined) {
    return files.parse<JWK>(file, text, (v) => (v.kty === 'RSA' && typeof v.d === 'string' && typeof v.n === 'string' ? undefined : 'not an RSA private JWK'));
  }
  const { privateKey } = await generateKeyPair(ALG, { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify(jwk), { mode: 0o600 });
  return jwk;
}

export async function loadTokenKeys(files: DataFiles, dataDir: string, fromEnv?: string): Promise<TokenKeys> {
  const priv = await loadOrCreatePrivateJwk(files, dataDir, fromEnv);
  for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) registerSecret(priv[part]);
  const publicJwk: JWK = { kty: priv.kty, n: priv.n, e: priv.e };
  const kid = priv.kid ?? (await calculateJwkThumbprint(publicJwk));
  Object.assign(publicJwk, { kid, alg: ALG, use: 'sig' });
  const key = (await importJWK({ ...priv, alg: ALG }, ALG)) as CryptoKey;
  const jwks = { keys: [publicJwk] };
  return {
    kid,
    alg: ALG,
    publicJwk,
    jwks,
    verifier: createLocalJWKSet(jwks),
    async sign({ sub, audience, ttlSeconds, now = Math.floor(Date.now() / 1000) }) {
      const expiresAt = now + ttlSeconds;
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: ALG, kid })
        .setSubject(sub)
        .setAudience(audience)
        .setIssuedAt(now)
        .setExpirationTime(expiresAt)
        .sign(key);
      return { token, expiresAt };
    },
  };
}

/** ctx.clients.powersync: what the PowerSync feature's routes and tools share. */
export interface PowerSyncClients {
  keys: TokenKeys;
}
