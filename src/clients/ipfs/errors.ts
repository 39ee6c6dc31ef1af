/**
 * IPFS failures as values with stable codes, for tool outputs and workflow results:
 *   BAD_CID        the text is not a CID
 *   BAD_INPUT      other invalid input (bad base64, path outside the files dir, …)
 *   TOO_LARGE      content over IPFS_MAX_PIN_BYTES / the read limit
 *   NOT_FOUND      the content is not on the node (a local file that does not exist, or no block)
 *   NOT_PINNED     unpin of something not pinned
 *   TIMEOUT        the node did not answer within IPFS_TIMEOUT_MS
 *   UNAVAILABLE    the node (or cluster) cannot be reached
 *   REPLICATION    the cluster cannot meet the replication factor
 *   IPFS_ERROR     anything else the node reported
 */
import { AppError } from '../../errors';

export type IpfsErrorCode = 'BAD_CID' | 'BAD_INPUT' | 'TOO_LARGE' | 'NOT_FOUND' | 'NOT_PINNED' | 'TIMEOUT' | 'UNAVAILABLE' | 'REPLICATION' | 'SECRET_DETECTED' | 'IPFS_ERROR';

export class IpfsError extends AppError<IpfsErrorCode> {}

export function toIpfsError(err: unknown): AppError<IpfsErrorCode> {
  if (err instanceof AppError) return err as AppError<IpfsErrorCode>;
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string }; response?: { status?: number } };
  const msg = e?.message ?? String(err);
  const cause = e?.cause?.code ?? e?.code ?? '';
  if (e?.name === 'TimeoutError' || /context deadline exceeded|timed out|request timed out/i.test(msg)) return new IpfsError('TIMEOUT', `the IPFS node did not answer in time: ${msg}`);
  if (e?.name === 'AbortError') return new IpfsError('TIMEOUT', 'the IPFS call was aborted (timeout)');
  if (/ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|fetch failed|socket hang up/i.test(`${cause} ${msg} ${e?.cause?.message ?? ''}`))
    return new IpfsError('UNAVAILABLE', 'the IPFS node cannot be reached');
  if (/not enough peers to allocate/i.test(msg)) return new IpfsError('REPLICATION', msg);
  if (/invalid path|invalid cid|selected encoding not supported/i.test(msg)) return new IpfsError('BAD_CID', msg);
  if (/not found locally|could not find|no link named/i.test(msg)) return new IpfsError('NOT_FOUND', msg);
  return new IpfsError('IPFS_ERROR', msg);
}
