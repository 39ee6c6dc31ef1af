/**
 * Recognises key material in text an agent is about to publish or store (a post, an
 * IPFS pin, a synced note): provider API keys, cloud and VCS tokens, private keys,
 * JWTs, AT Protocol app passwords, `password: …` pairs, and every secret this process
 * registered (its own keys and passwords). SECRET_DETECTED is raised here and only
 * here; what matched is named by kind, never echoed.
 */
import { AppError } from '../errors';
import { containsRegisteredSecret } from '../logger';

const PATTERNS: Array<[kind: string, re: RegExp]> = [
  ['private key', /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/],
  ['OpenAI-style API key', /\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}/],
  ['AWS access key', /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/],
  ['GitHub token', /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})\b/],
  ['Slack token', /\bxox[abprs]-[A-Za-z0-9-]{10,}/],
  ['Google API key', /\bAIza[0-9A-Za-z_-]{35}\b/],
  ['JSON Web Token', /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ['AT Protocol app password', /\b[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}\b/],
  ['password or key assignment', /\b(?:password|passwd|pwd|secret|api[_ -]?key|access[_ -]?token|private[_ -]?key)\s*[:=]\s*["']?[^\s"']{8,}/i],
];

/** The kind of the first secret found in `text`, or undefined. */
export function findSecret(text: string): string | undefined {
  for (const [kind, re] of PATTERNS) if (re.test(text)) return kind;
  if (containsRegisteredSecret(text)) return "one of this server's own secrets";
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

/** Throws SECRET_DETECTED when any of `texts` holds key material. */
export function assertNoSecret(where: string, ...texts: Array<string | undefined>): void {
  const refused = secretIn(where, ...texts);
  if (refused) throw refused;
}
