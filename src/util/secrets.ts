/**
 * Recognises key material in text an agent is about to publish or store (a post, an
 * IPFS pin, a synced note): provider API keys, cloud and VCS tokens, private keys,
 * JWTs, AT Protocol app passwords, `password: …` pairs, and every secret this process
 * registered (its own keys and passwords). SECRET_DETECTED is raised here and only
 * here; what matched is named by kind, never echoed.
 */
import { AppError } from '../errors';
import { containsRegisteredSecret, longestRegisteredSecret } from '../logger';

/**
 * Key prefixes are not anchored with \b: a key glued to word characters (`token_sk-proj-…`,
 * `idAKIA…`, `myghp_…`) is still a key. What keeps ordinary words out is the key's body
 * (length, alphabet, and for a bare `sk-` glued to a word, a random-looking mix of digits,
 * upper and lower case: `task-management-dashboard` is no key). Fixed-length keys (AWS,
 * Google) must not be part of a longer run of their own alphabet (`XAKIA…` is no key).
 */
const PATTERNS: Array<[kind: string, re: RegExp]> = [
  ['private key', /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/],
  [
    'OpenAI-style API key',
    /\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}|sk-(?:proj-|ant-|live-|test-|svcacct-|admin-)[A-Za-z0-9_-]{20,}|sk-(?=[A-Za-z0-9]{0,64}?\d)(?=[A-Za-z0-9]{0,64}?[A-Z])(?=[A-Za-z0-9]{0,64}?[a-z])[A-Za-z0-9]{20,}/,
  ],
  ['AWS access key', /(?<![0-9A-Z])(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])/],
  ['GitHub token', /gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}/],
  ['Slack token', /xox[abprs]-[A-Za-z0-9-]{10,}/],
  ['Google API key', /AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/],
  ['JSON Web Token', /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ['AT Protocol app password', /\b[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}\b/],
  ['password or key assignment', /\b(?:password|passwd|pwd|secret|api[_ -]?key|access[_ -]?token|private[_ -]?key)\s*[:=]\s*["']?[^\s"']{8,}/i],
];

/** The kind of the first secret found in `text`, or undefined. */
export function findSecret(text: string): string | undefined {
  for (const [kind, re] of PATTERNS) if (re.test(text)) return kind;
  if (containsRegisteredSecret(text)) return "one of this server's own secrets";
  return undefined;
}

/** Bytes scanned per step of findSecretInBytes. */
export const SCAN_CHUNK_BYTES = 64 * 1024;
/**
 * How far consecutive chunks overlap: longer than the shortest match of every pattern
 * above (the longest, a fine-grained GitHub token, is 51 characters; a private-key header
 * with several words well under 200), so a key split across a chunk boundary is still
 * whole in one chunk. Registered secrets longer than this widen the overlap.
 */
export const SCAN_OVERLAP_BYTES = 1024;

/**
 * The kind of the first secret found in `bytes` (content about to be stored: a file, a
 * decoded upload), or undefined. The bytes are read as UTF-8 (what text is: a no-break
 * space after `password:` is then the whitespace it is, as in findSecret on a string;
 * bytes that are not UTF-8 become U+FFFD one by one, so an ASCII key in binary is still
 * found whole) in
 * chunks of SCAN_CHUNK_BYTES overlapping by SCAN_OVERLAP_BYTES: linear in the size, with
 * bounded work per byte. A chunk holding NUL bytes is scanned a second time without them,
 * so UTF-16 text does not hide a key either.
 */
export function findSecretInBytes(bytes: Uint8Array): string | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const overlap = Math.max(SCAN_OVERLAP_BYTES, longestRegisteredSecret());
  const step = SCAN_CHUNK_BYTES;
  for (let start = 0; start < buf.length; start += step) {
    const chunk = buf.toString('utf8', start, Math.min(buf.length, start + step + overlap));
    const kind = findSecret(chunk) ?? (chunk.includes('\0') ? findSecret(chunk.replace(/\0/g, '')) : undefined);
    if (kind) return kind;
    if (start + step + overlap >= buf.length) break;
  }
  return undefined;
}

export class SecretDetectedError extends AppError<'SECRET_DETECTED'> {
  constructor(kind: string, where: string) {
    super('SECRET_DETECTED', `refused: the ${where} contains what looks like a secret (${kind}); secrets are never published or stored by agents`);
  }
}

/** The refusal for the first of `texts` that holds key material, or undefined. */
export function secretIn(where: string, ...texts: Array<string | undefined>): SecretDetectedError | undefined {
  for (const t of texts) {
    const kind = t ? findSecret(t) : undefined;
    if (kind) return new SecretDetectedError(kind, where);
  }
  return undefined;
}

/** Throws SECRET_DETECTED when `bytes` hold key material (findSecretInBytes). */
export function assertNoSecretInBytes(where: string, bytes: Uint8Array): void {
  const kind = findSecretInBytes(bytes);
  if (kind) throw new SecretDetectedError(kind, where);
}

/** Throws SECRET_DETECTED when any of `texts` holds key material. */
export function assertNoSecret(where: string, ...texts: Array<string | undefined>): void {
  const refused = secretIn(where, ...texts);
  if (refused) throw refused;
}
