/**
 * Errors of the embedded node, shaped as Kubo shapes them. Kubo's command library
 * (go-ipfs-cmds) answers `{Message, Code, Type: "error"}` and maps the code to the
 * HTTP status: 0 normal → 500, 1 client → 400, 3 not found → 404. Most of Kubo's own
 * failures (a missing block, "not pinned") are code 0 with status 500; argument
 * errors are code 1 with status 400.
 */
export const KuboCode = { normal: 0, client: 1, implementation: 2, notFound: 3 } as const;
export type KuboCodeValue = (typeof KuboCode)[keyof typeof KuboCode];

export class KuboError extends Error {
  constructor(
    message: string,
    public readonly code: KuboCodeValue = KuboCode.normal,
  ) {
    super(message);
    this.name = 'KuboError';
  }

  get status(): number {
    switch (this.code) {
      case KuboCode.client:
        return 400;
      case KuboCode.notFound:
        return 404;
      default:
        return 500;
    }
  }

  body() {
    return { Message: this.message, Code: this.code, Type: 'error' as const };
  }
}

export const argError = (message: string) => new KuboError(message, KuboCode.client);

/** Kubo's wording for a block that is not in the local repo of an offline node. */
export const notFoundLocally = (cid: string) => new KuboError(`block was not found locally (offline): ipld: could not find ${cid}`);

/** Anything that is not already a KuboError becomes code 0 / status 500 with its message. */
export function toKuboError(err: unknown): KuboError {
  if (err instanceof KuboError) return err;
  const e = err as { name?: string; code?: string; message?: string };
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return new KuboError('context deadline exceeded');
  return new KuboError(e?.message || String(err));
}
