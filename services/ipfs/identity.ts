/**
 * The node's peer identity: an Ed25519 key kept as Kubo keeps it (the libp2p
 * protobuf, base64, as in the `Identity.PrivKey` of Kubo's config), in
 * DATA_DIR/ipfs/identity.json with mode 0600. Created once, reused on every start, so
 * the peer ID survives restarts. The private key never leaves this module's caller.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';

export interface NodeIdentity {
  /** The peer ID, e.g. 12D3KooW… */
  peerId: string;
  /** Base64 libp2p protobuf of the public key (what `ipfs id` prints as PublicKey). */
  publicKey: string;
}

export async function loadOrCreateIdentity(dir: string): Promise<NodeIdentity> {
  const file = path.join(dir, 'identity.json');
  let privB64: string | undefined;
  try {
    const stored = JSON.parse(await fs.readFile(file, 'utf8')) as { PrivKey?: string };
    privB64 = stored.PrivKey;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the IPFS identity at ${file}: ${(err as Error).message}`);
  }
  let key;
  if (privB64) {
    key = privateKeyFromProtobuf(Buffer.from(privB64, 'base64'));
  } else {
    key = await generateKeyPair('Ed25519');
    const tmp = `${file}.${process.pid}.tmp`;
    const peerId = peerIdFromPrivateKey(key).toString();
    await fs.writeFile(tmp, JSON.stringify({ PeerID: peerId, PrivKey: Buffer.from(privateKeyToProtobuf(key)).toString('base64') }) + '\n', { mode: 0o600 });
    await fs.rename(tmp, file);
  }
  return {
    peerId: peerIdFromPrivateKey(key).toString(),
    publicKey: Buffer.from(publicKeyToProtobuf(key.publicKey)).toString('base64'),
  };
}
